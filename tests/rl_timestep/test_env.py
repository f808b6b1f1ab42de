"""The time-step environment: determinism, vmap, integration, episodes, reward, safeguard."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physics.nbody as nb
from rl_timestep.env import (
    PUBLISHED_ETAS,
    STATUS_ENERGY,
    TRAIN_SEED_LOW,
    TimestepEnv,
    control_reward,
    env_params,
)

ACTION = 8  # η ≈ 0.046: a few steps per interval keeps the tests fast
INTERVAL = 1.09


@pytest.fixture(scope="module")
def env():
    return TimestepEnv("hermite4", "invariant", max_steps=20_000)


@pytest.fixture(scope="module")
def params():
    return env_params(t_end=3 * INTERVAL)


@pytest.fixture(scope="module")
def step(env):
    return jax.jit(env.step)


@pytest.fixture(scope="module")
def reset(env):
    return jax.jit(env.reset)


def leaves_equal(a, b):
    """Same pytree, bit for bit (nan equal to nan)."""
    return all(
        np.array_equal(np.asarray(x), np.asarray(y), equal_nan=np.asarray(x).dtype.kind == "f")
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def test_reset_and_step_are_deterministic_for_a_key(reset, step, params):
    key = jax.random.PRNGKey(3)
    first = reset(key, params)
    again = reset(key, params)
    assert leaves_equal(first, again)
    other = reset(jax.random.PRNGKey(4), params)
    assert int(other[1].seed) != int(first[1].seed)
    out = step(jax.random.PRNGKey(5), first[1], ACTION, params)
    out_again = step(jax.random.PRNGKey(5), again[1], ACTION, params)
    assert leaves_equal(out, out_again)


def test_training_systems_avoid_the_held_out_seeds(reset, params):
    seeds = [int(reset(key, params)[1].seed) for key in jax.random.split(jax.random.PRNGKey(0), 16)]
    assert min(seeds) >= TRAIN_SEED_LOW and len(set(seeds)) == 16


def test_vmapped_environments_equal_single_ones(env, reset, step, params):
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    actions = jnp.array([7, 8, 9])
    obs, states = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    stepped = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))(keys, states, actions, params)
    for i in range(3):
        single_obs, single_state = reset(keys[i], params)
        np.testing.assert_allclose(obs[i], single_obs, rtol=1e-6)
        single = step(keys[i], single_state, actions[i], params)
        batched = jax.tree.map(lambda leaf, i=i: leaf[i], stepped)
        for got, want in zip(jax.tree.leaves(batched), jax.tree.leaves(single), strict=True):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-9, atol=1e-12)


def test_control_steps_continue_one_integration(env, params):
    """Three intervals at one η are nbody.trajectory sampled at the interval ends."""
    masses, system = nb.random_triple(11)
    _, state = env.reset_to(masses, system, params)
    step_env = jax.jit(env.step_env)
    evals = 1
    for _ in range(3):
        _, state, _, done, info = step_env(state, ACTION, params)
        evals += int(info.force_evals)
    assert bool(done) and bool(info.truncated) and not bool(info.terminated)
    t_out = INTERVAL * jnp.arange(1, 4)
    states, energies, stats = nb.trajectory(masses, system, t_out, eta=PUBLISHED_ETAS[ACTION])
    np.testing.assert_allclose(state.carry.state.positions, states.positions[-1], rtol=1e-12)
    assert evals == int(stats.n_force_evals) == int(state.force_evals)
    e0 = nb.total_energy(masses, system.positions, system.velocities)
    assert float(info.energy_error) == pytest.approx(abs(float(energies[-1] / e0 - 1)), rel=1e-9)


def test_natural_steps_make_one_uninterrupted_integration(env, params):
    """Without clipping, intervals at one η cost what one run to t_end costs, whatever their
    length, and end where it ends; clipping to 4× shorter intervals costs more."""
    masses, system = nb.random_triple(11)
    natural = params._replace(clip_to_interval=jnp.asarray(False))
    step_env = jax.jit(env.step_env)

    def run(p, interval):
        p = p._replace(interval=jnp.asarray(interval))
        _, state = env.reset_to(masses, system, p)
        done = False
        while not done:
            _, state, _, done, info = step_env(state, ACTION, p)
        assert bool(info.truncated)
        return state

    states, _, stats = nb.trajectory(
        masses, system, jnp.array([3 * INTERVAL]), eta=PUBLISHED_ETAS[ACTION]
    )
    for interval in (INTERVAL, INTERVAL / 4):
        state = run(natural, interval)
        assert int(state.force_evals) == int(stats.n_force_evals)
        np.testing.assert_allclose(state.carry.state.positions, states.positions[-1], rtol=1e-12)
    assert int(run(params, INTERVAL / 4).force_evals) > int(stats.n_force_evals)


def test_episode_end_resets_and_keeps_the_final_observation(reset, step, params):
    obs, state = reset(jax.random.PRNGKey(1), params)
    for k in range(3):
        obs, state, reward, done, info = step(jax.random.PRNGKey(10 + k), state, ACTION, params)
    assert bool(done) and bool(info.truncated) and int(info.steps) == 3
    assert int(state.steps) == 0 and float(state.carry.state.t) == 0.0
    assert not np.allclose(obs, info.final_obs)


def test_energy_failure_terminates_with_the_penalty(env, params):
    strict = params._replace(max_energy_error=jnp.asarray(1e-15))
    _, state = env.reset_to(*nb.random_triple(2), strict)
    _, _, reward, done, info = jax.jit(env.step_env)(state, 9, strict)
    assert bool(done) and bool(info.terminated) and int(info.status) == STATUS_ENERGY
    assert float(reward) < -float(strict.failure_penalty)


def test_reward_decreases_with_error_and_with_cost(params):
    params = params._replace(switch_penalty=jnp.asarray(0.2))

    def reward(error_after, evals, switched=False):
        return float(control_reward(params, 1e-9, error_after, evals, False, switched))

    errors = [1e-12, 1e-10, 1e-9, 1e-8, 1e-6]
    assert np.all(np.diff([reward(e, 100) for e in errors]) < 0)
    assert np.all(np.diff([reward(1e-8, n) for n in (1, 10, 100, 1000)]) < 0)
    assert reward(1e-8, 100, switched=True) < reward(1e-8, 100)
    assert float(control_reward(params, 1e-9, 1e-9, 100, True, False)) < reward(1e-9, 100)


def test_jump_term_charges_the_interval_alone_whatever_came_before(env, params):
    """With jump_weight > 0 an interval's own energy change costs the same after a clean start
    and after a run has gone bad; the telescoped log error alone charges it far less then."""
    charged = params._replace(jump_weight=jnp.asarray(0.5), jump_scale=jnp.asarray(1e-8))

    def reward(params, before, jump):
        return float(control_reward(params, before, before + jump, 100, False, False, jump=jump))

    for before in (1e-9, 1e-5):
        extra = reward(params, before, 1e-7) - reward(charged, before, 1e-7)
        assert extra == pytest.approx(0.5 * np.log10(11.0), rel=1e-12)
    assert reward(params, 1e-5, 1e-7) - reward(params, 1e-5, 0.0) > -0.01  # nearly free
    assert np.all(np.diff([reward(charged, 1e-6, j) for j in (0.0, 1e-9, 1e-7, 1e-5)]) < 0)
    # The environment charges the step's own energy change.
    _, state = env.reset_to(*nb.random_triple(2), params)
    step_env = jax.jit(env.step_env)
    _, plain_state, plain, _, info = step_env(state, ACTION, params)
    _, _, with_jump, _, _ = step_env(state, ACTION, charged)
    jump = float(plain_state.last_jump)
    assert jump == pytest.approx(float(info.energy_error), rel=1e-12)  # the first interval
    assert float(plain - with_jump) == pytest.approx(0.5 * np.log10(1 + jump / 1e-8), rel=1e-9)


def test_episode_cost_weights_span_the_spread_and_set_the_reward(params):
    env = TimestepEnv("hermite4", "tradeoff")
    spread = params._replace(cost_weight=jnp.asarray(2.0), cost_weight_spread=jnp.asarray(1.0))
    keys = jax.random.split(jax.random.PRNGKey(0), 64)
    obs, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, spread)
    weights = np.asarray(states.cost_weight)
    assert np.all((weights >= 2.0 / 10**0.5) & (weights <= 2.0 * 10**0.5))
    assert weights.min() < 1.0 and weights.max() > 4.0  # the whole decade is drawn
    np.testing.assert_allclose(np.asarray(obs)[:, -1], np.log10(weights), rtol=1e-5)
    _, fixed = jax.jit(env.reset)(keys[0], params)
    assert float(fixed.cost_weight) == float(params.cost_weight)
    # The step's reward charges the episode's weight: same step, cheaper at a lower weight.
    cheap, dear = (fixed._replace(cost_weight=jnp.asarray(w)) for w in (0.1, 10.0))
    step_env = jax.jit(env.step_env)
    reward_cheap, reward_dear = (
        step_env(cheap, ACTION, params)[2],
        step_env(dear, ACTION, params)[2],
    )
    evals = step_env(cheap, ACTION, params)[4].force_evals
    expected = 9.9 * float(evals) / float(params.cost_scale)
    assert float(reward_cheap - reward_dear) == pytest.approx(expected, rel=1e-9)


def test_safeguard_redoes_a_jump_with_a_smaller_eta(env, params):
    _, state = env.reset_to(*nb.random_triple(5), params)
    step_env = jax.jit(env.step_env)
    _, _, _, _, plain = step_env(state, 9, params)
    eager = params._replace(safeguard=jnp.asarray(True), safeguard_threshold=jnp.asarray(1e-3))
    _, _, _, _, guarded = step_env(state, 9, eager)
    assert int(plain.retries) == 0 and float(plain.eta) == PUBLISHED_ETAS[9]
    retries = int(eager.safeguard_retries)
    assert int(guarded.retries) == retries
    assert float(guarded.eta) == pytest.approx(PUBLISHED_ETAS[9] / 10.0**retries)
    # The discarded attempts count: more than the plain step and the final attempt alone.
    assert int(guarded.force_evals) > int(plain.force_evals) * (1 + 10 ** (retries - 1))
    assert float(guarded.energy_error) < float(plain.energy_error)


def test_unknown_integrator_or_observation_is_refused():
    with pytest.raises(ValueError, match="integrator"):
        TimestepEnv("leapfrog")
    with pytest.raises(ValueError, match="observation"):
        TimestepEnv("hermite4", "positions")

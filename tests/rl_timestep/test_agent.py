"""DQN pieces: replay buffer, exploration schedule, transition pairing, and learning a variant
of the task where only one action is ever good."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physics.nbody import random_triples
from rl_timestep import replay
from rl_timestep.dqn import DQNSettings, epsilon_at, init_learner, make_iteration
from rl_timestep.env import PUBLISHED_INTERVAL
from rl_timestep.evaluate import common_row, paired_ratios, rollout
from rl_timestep.policy import make_act
from rl_timestep.train import TrainConfig, dominance, selection_score, train


def test_replay_buffer_wraps_around_and_samples_filled_rows():
    buffer = replay.init_buffer(capacity=5, n_features=2)

    def batch(start, n):
        values = jnp.arange(start, start + n, dtype=jnp.float32)
        return replay.Transitions(
            obs=jnp.stack([values, values], axis=-1),
            action=jnp.arange(start, start + n, dtype=jnp.int32),
            reward=values,
            next_obs=jnp.stack([values, values], axis=-1) + 0.5,
            terminated=jnp.zeros(n, bool),
        )

    buffer = replay.add(buffer, batch(0, 3))
    assert int(buffer.size) == 3 and int(buffer.position) == 3
    sample = replay.sample(buffer, jax.random.PRNGKey(0), 64)
    assert set(np.asarray(sample.action).tolist()) <= {0, 1, 2}
    buffer = replay.add(buffer, batch(3, 4))  # 7 rows into 5: the oldest two are overwritten
    assert int(buffer.size) == 5 and int(buffer.position) == 2
    assert sorted(np.asarray(buffer.data.action).tolist()) == [2, 3, 4, 5, 6]
    np.testing.assert_array_equal(buffer.data.next_obs[:, 0], buffer.data.obs[:, 0] + 0.5)


def test_exploration_decays_over_training_and_is_never_reset():
    settings = DQNSettings(eps_start=1.0, eps_end=0.1, eps_decay_iterations=100)
    values = [float(epsilon_at(settings, jnp.asarray(i))) for i in (0, 50, 100, 1000)]
    assert values == pytest.approx([1.0, 0.55, 0.1, 0.1])


@pytest.fixture(scope="module")
def small_config():
    return TrainConfig(
        n_envs=4,
        iterations=2,
        n_chunks=1,
        hidden=(8,),
        batch_size=4,
        learning_starts=4,
        buffer_size=64,
        episode_steps=3,
        validation_systems=2,
        max_steps_per_interval=5_000,
        etas=(0.01, 0.0464, 0.1),
    )


def test_stored_transitions_pair_the_observation_the_action_was_chosen_from(small_config):
    config = small_config
    env, params, network = config.make_env(), config.make_env_params(), config.network()
    optimizer = config.optimizer()
    learner = init_learner(env, params, network, optimizer, jax.random.PRNGKey(0), 4, 64)
    iteration = jax.jit(make_iteration(env, params, network, optimizer, config.dqn_settings()))
    first, _ = iteration(learner)
    second, _ = iteration(first)
    data = second.buffer.data
    # Rows 0-3 come from the first iteration, rows 4-7 from the second.
    np.testing.assert_array_equal(data.obs[:4], learner.obs)
    np.testing.assert_array_equal(data.next_obs[:4], first.obs)  # no episode has ended yet
    np.testing.assert_array_equal(data.obs[4:8], first.obs)
    np.testing.assert_array_equal(data.next_obs[4:8], second.obs)
    assert not np.array_equal(data.next_obs[:4], data.obs[:4])


def test_dqn_learns_a_variant_where_one_action_is_always_best():
    """Accuracy is all that counts and the outer actions take steps 30 times too long, which
    blows up the energy error: the greedy policy must pick the middle action everywhere."""
    config = TrainConfig(
        seed=1,
        n_envs=8,
        iterations=240,
        n_chunks=2,
        hidden=(32,),
        batch_size=64,
        learning_starts=256,
        buffer_size=4_096,
        updates_per_iteration=2,
        gamma=0.9,
        eps_decay_fraction=0.5,
        learning_rate=3e-3,
        episode_steps=5,
        validation_systems=8,
        max_steps_per_interval=5_000,
        etas=(0.3, 0.01, 0.3),
        interval=PUBLISHED_INTERVAL,
        cost_weight=0.0,
        switch_penalty=0.0,
    )
    result = train(config)
    env, params = config.make_env(), config.make_env_params()
    masses, systems = random_triples(jnp.arange(20, 28))
    act = make_act(config.hidden, 3)
    greedy = rollout(env, act, 5, (result.params, jnp.asarray(-1)), params, masses, systems)
    used = np.asarray(greedy.etas)
    assert np.all(used[np.isfinite(used)] == 0.01), used
    assert result.history[-1]["val_energy_error_median"] < 1e-8
    # Only η = 0.01 is ever chosen, so system by system it ties with the common setting η = 0.01.
    assert result.history[-1]["val_paired_dominance"] == pytest.approx(1.0)


def test_tradeoff_training_calibrates_the_cost_weight_on_validation():
    config = TrainConfig(
        observation="tradeoff",
        cost_weight=2.0,
        cost_weight_spread=1.0,
        calibration_points=3,
        n_envs=2,
        iterations=4,
        n_chunks=1,
        hidden=(8,),
        batch_size=4,
        learning_starts=4,
        buffer_size=64,
        episode_steps=2,
        validation_systems=2,
        max_steps_per_interval=5_000,
        etas=(0.01, 0.0464, 0.1),
    )
    result = train(config)
    weights = [record["cost_weight"] for record in result.calibration]
    np.testing.assert_allclose(weights, [2.0 / 10**0.5, 2.0, 2.0 * 10**0.5])
    best = min(result.calibration, key=lambda record: record["dominance"])
    assert result.cost_weight == best["cost_weight"]
    assert all(record["force_evals_median"] > 0 for record in result.calibration)


def test_model_selection_ranks_chunks_by_the_chosen_criterion():
    front = [
        {
            "eta": eta,
            "energy_error_median": 1e-8 * (eta / 0.01) ** 4,
            "force_evals_median": 30 / eta,
        }
        for eta in (0.00464, 0.01, 0.0215)
    ]
    common = common_row(front, 0.01)
    assert common["eta"] == 0.01
    # Cheaper and more accurate than the common setting: dominance below 1.
    assert dominance(0.8e-8, 2900.0, common) == pytest.approx(0.9667, rel=1e-3)
    # Far below the front but costlier than the common setting: dominance above 1.
    assert dominance(1e-10, 9000.0, common) == pytest.approx(3.0)
    cheap_and_accurate = {"val_front_ratio": 0.8, "val_dominance": 0.97}
    far_below_but_costly = {"val_front_ratio": 0.3, "val_dominance": 3.0}
    records = [cheap_and_accurate, far_below_but_costly]
    assert min(records, key=lambda r: selection_score(r, "front_ratio")) is far_below_but_costly
    assert min(records, key=lambda r: selection_score(r, "dominance")) is cheap_and_accurate
    # A policy that gives up on the two hardest of six systems (the costliest, with the largest
    # errors) and spends 2 % more on the others wins on the medians, not system by system.
    reference_errors = np.array([1e-9, 2e-9, 4e-9, 8e-9, 1.6e-8, 3.2e-8])
    reference_evals = np.array([1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 6000.0])
    errors, evals = 0.95 * reference_errors, 1.02 * reference_evals
    errors[4:], evals[4:] = [1e-4, 1e-3], [600.0, 800.0]
    assert np.median(errors) < np.median(reference_errors)
    assert np.median(evals) < 0.5 * np.median(reference_evals)
    paired = paired_ratios(errors, evals, reference_errors, reference_evals)
    assert paired == pytest.approx((0.95, 1.02))
    steady = paired_ratios(
        0.9 * reference_errors, 0.97 * reference_evals, reference_errors, reference_evals
    )
    assert steady == pytest.approx((0.9, 0.97))
    # Errors below round-off compare as equal.
    assert paired_ratios(np.full(2, 1e-18), np.ones(2), np.full(2, 1e-17), np.ones(2))[0] == 1.0
    paired_choice = [
        {**cheap_and_accurate, "val_paired_dominance": 1.0},
        {**far_below_but_costly, "val_paired_dominance": 0.95},
    ]
    assert min(paired_choice, key=lambda r: selection_score(r, "paired")) is paired_choice[1]
    with pytest.raises(ValueError, match="selection must be one of"):
        selection_score(cheap_and_accurate, "return")

"""The variable-step Yoshida4 integrator ("yoshida4_adaptive") against closed forms: convergence
order, conservation, force-evaluation count, step floor, batching."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import physics.nbody as nb

PERIOD = nb.FIGURE_EIGHT_PERIOD


@pytest.fixture(scope="module")
def figure_eight():
    return nb.figure_eight()


@pytest.fixture(scope="module")
def reference(figure_eight):
    """Phase-space state after one period from scipy's DOP853 (independent of our code)."""
    masses, state = np.asarray(figure_eight[0]), figure_eight[1]

    def rhs(_, y):
        x, v = y[:6].reshape(3, 2), y[6:]
        dx = x[None, :, :] - x[:, None, :]
        r2 = np.sum(dx**2, axis=-1) + np.eye(3)
        acc = np.einsum("ij,ijk->ik", masses[None, :] * (1 - np.eye(3)) * r2**-1.5, dx)
        return np.concatenate([v, acc.ravel()])

    y0 = np.concatenate([np.ravel(state.positions), np.ravel(state.velocities)])
    y = solve_ivp(rhs, (0.0, PERIOD), y0, method="DOP853", rtol=1e-13, atol=1e-14).y[:, -1]
    return y[:6].reshape(3, 2), y[6:].reshape(3, 2)


def test_fourth_order_convergence(figure_eight, reference):
    masses, state = figure_eight
    errors, mean_steps = [], []
    for eta in [0.04, 0.02, 0.01, 0.005]:
        final, stats = nb.integrate(masses, state, PERIOD, integrator="yoshida4_adaptive", eta=eta)
        assert int(stats.status) == nb.STATUS_OK and float(final.t) == PERIOD
        x, v = reference
        errors.append(max(np.abs(final.positions - x).max(), np.abs(final.velocities - v).max()))
        mean_steps.append(PERIOD / int(stats.n_steps))
    order = np.polyfit(np.log(mean_steps), np.log(errors), 1)[0]
    assert order == pytest.approx(4.0, abs=0.5), (errors, mean_steps)


def test_conservation_over_five_periods(figure_eight):
    masses, state = figure_eight
    t_out = jnp.linspace(PERIOD / 4, 5 * PERIOD, 20)
    states, energies, stats = nb.trajectory(
        masses, state, t_out, integrator="yoshida4_adaptive", eta=0.01
    )
    assert int(stats.status) == nb.STATUS_OK and np.array_equal(states.t, t_out)
    e0 = nb.total_energy(masses, state.positions, state.velocities)
    assert float(jnp.max(jnp.abs(energies / e0 - 1))) < 1e-9
    l0 = nb.angular_momentum(masses, state.positions, state.velocities)
    momenta = jax.vmap(nb.angular_momentum, (None, 0, 0))(
        masses, states.positions, states.velocities
    )
    assert float(jnp.max(jnp.abs(momenta - l0))) < 1e-12


def test_three_force_evaluations_per_step(figure_eight):
    masses, state = figure_eight
    _, stats = nb.integrate(masses, state, 1.0, integrator="yoshida4_adaptive", eta=0.05)
    assert int(stats.n_force_evals) == 1 + 3 * int(stats.n_steps)


def test_collision_stops_on_the_step_floor():
    masses, state = nb.custom([1.0, 1.0], [[0.0, 0.0], [1.0, 0.0]], jnp.zeros((2, 2)))
    final, stats = nb.integrate(masses, state, 2.0, integrator="yoshida4_adaptive", eta=0.01)
    assert int(stats.status) == nb.STATUS_STEP_FLOOR
    assert float(stats.fail_time) == pytest.approx(np.pi / 4, abs=1e-4)
    assert stats.fail_pair.tolist() == [0, 1]


def test_vmapped_equals_one_by_one():
    masses, states = nb.random_triples(jnp.arange(3))
    run = functools.partial(nb.integrate, t_end=3.0, integrator="yoshida4_adaptive", eta=0.02)
    finals, stats = jax.vmap(run)(masses, states)
    for i in range(3):
        final, single = run(masses[i], jax.tree.map(lambda field, i=i: field[i], states))
        np.testing.assert_allclose(finals.positions[i], final.positions, rtol=1e-12, atol=1e-12)
        assert int(stats.n_steps[i]) == int(single.n_steps)

"""Integrators against closed forms: convergence order, periodic return, conservation laws,
time reversibility, exact landing, failure detection and batching."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import physics.nbody as nb

EPS = float(jnp.finfo(jnp.float64).eps)
PERIOD = nb.FIGURE_EIGHT_PERIOD


def _numpy_accelerations(masses, positions):
    dx = positions[None, :, :] - positions[:, None, :]
    r2 = np.sum(dx**2, axis=-1) + np.eye(len(masses))
    inv_r3 = (1.0 - np.eye(len(masses))) * r2**-1.5
    return np.einsum("ij,ijk->ik", masses[None, :] * inv_r3, dx)


@pytest.fixture(scope="module")
def figure_eight():
    return nb.figure_eight()


@pytest.fixture(scope="module")
def reference_after_one_period(figure_eight):
    """Positions and velocities after one period from scipy's DOP853, independent of our code."""
    masses, state = np.asarray(figure_eight[0]), figure_eight[1]
    n, d = state.positions.shape

    def rhs(_, y):
        x, v = y[: n * d].reshape(n, d), y[n * d :]
        return np.concatenate([v, _numpy_accelerations(masses, x).ravel()])

    y0 = np.concatenate([np.ravel(state.positions), np.ravel(state.velocities)])
    y = solve_ivp(rhs, (0.0, PERIOD), y0, method="DOP853", rtol=1e-13, atol=1e-14).y[:, -1]
    return y[: n * d].reshape(n, d), y[n * d :].reshape(n, d)


def _phase_error(state, reference):
    x, v = reference
    return float(max(np.max(np.abs(state.positions - x)), np.max(np.abs(state.velocities - v))))


CONVERGENCE_CASES = [
    ("leapfrog", {}, "dt", [0.02, 0.01, 0.005, 0.0025], 2.0, 0.3),
    ("yoshida4", {}, "dt", [0.04, 0.02, 0.01, 0.005], 4.0, 0.3),
    ("hermite4", {"criterion": "rv"}, "eta", [0.04, 0.02, 0.01, 0.005], 4.0, 0.5),
    ("hermite4", {"criterion": "aarseth"}, "eta", [0.004, 0.002, 0.001, 0.0005], 4.0, 0.5),
]


@pytest.mark.parametrize(
    ("integrator", "options", "knob", "values", "order", "tolerance"),
    CONVERGENCE_CASES,
    ids=["leapfrog", "yoshida4", "hermite4-rv", "hermite4-aarseth"],
)
def test_convergence_order_on_figure_eight(
    figure_eight, reference_after_one_period, integrator, options, knob, values, order, tolerance
):
    """Global error after one period against the mean step PERIOD / n_steps, fitted in log-log."""
    masses, state = figure_eight
    errors, mean_steps = [], []
    for value in values:
        final, stats = nb.integrate(
            masses, state, PERIOD, integrator=integrator, **{knob: value}, **options
        )
        assert int(stats.status) == nb.STATUS_OK
        errors.append(_phase_error(final, reference_after_one_period))
        mean_steps.append(PERIOD / int(stats.n_steps))
    measured = np.polyfit(np.log(mean_steps), np.log(errors), 1)[0]
    assert measured == pytest.approx(order, abs=tolerance), (errors, mean_steps)


@pytest.mark.parametrize(
    ("integrator", "options", "tolerance"),
    [
        ("leapfrog", {"dt": 1e-3}, 1e-5),
        ("yoshida4", {"dt": 5e-3}, 1e-6),
        ("hermite4", {"eta": 5e-3}, 1e-6),
    ],
)
def test_figure_eight_returns_after_one_period(figure_eight, integrator, options, tolerance):
    """The published initial conditions have 8 digits, so even an exact orbit closes to ~1e-7."""
    masses, state = figure_eight
    final, _ = nb.integrate(masses, state, PERIOD, integrator=integrator, **options)
    np.testing.assert_allclose(final.positions, state.positions, atol=tolerance)
    np.testing.assert_allclose(final.velocities, state.velocities, atol=tolerance)


@pytest.mark.parametrize(
    ("integrator", "options", "energy_tolerance", "angular_tolerance"),
    [
        ("leapfrog", {"dt": 1e-3}, 5e-6, 1e-12),
        ("yoshida4", {"dt": 1e-2}, 5e-8, 1e-12),
        ("hermite4", {"eta": 1e-2}, 5e-9, 5e-9),
        ("hermite4", {"eta": 2e-3, "criterion": "aarseth"}, 5e-7, 1e-7),
    ],
    ids=["leapfrog", "yoshida4", "hermite4-rv", "hermite4-aarseth"],
)
def test_conservation_over_five_periods(
    figure_eight, integrator, options, energy_tolerance, angular_tolerance
):
    masses, state = figure_eight
    t_out = jnp.linspace(PERIOD / 4, 5 * PERIOD, 20)
    states, energies, stats = nb.trajectory(masses, state, t_out, integrator=integrator, **options)
    assert int(stats.status) == nb.STATUS_OK
    assert np.array_equal(states.t, t_out)
    e0 = nb.total_energy(masses, state.positions, state.velocities)
    assert float(jnp.max(jnp.abs(energies / e0 - 1))) < energy_tolerance
    l0 = nb.angular_momentum(masses, state.positions, state.velocities)
    momenta = jax.vmap(nb.angular_momentum, (None, 0, 0))(
        masses, states.positions, states.velocities
    )
    assert float(jnp.max(jnp.abs(momenta - l0))) < angular_tolerance
    linear = jax.vmap(nb.linear_momentum, (None, 0))(masses, states.velocities)
    assert float(jnp.max(jnp.abs(linear))) < 1e4 * EPS


def test_leapfrog_is_time_reversible(figure_eight):
    masses, state = figure_eight
    forward, _ = nb.integrate(masses, state, PERIOD, integrator="leapfrog", dt=1e-3)
    flipped = forward._replace(velocities=-forward.velocities)
    back, _ = nb.integrate(masses, flipped, 2 * PERIOD, integrator="leapfrog", dt=1e-3)
    np.testing.assert_allclose(back.positions, state.positions, atol=1e-12)
    np.testing.assert_allclose(-back.velocities, state.velocities, atol=1e-12)


@pytest.mark.parametrize("integrator", nb.INTEGRATORS)
def test_lands_exactly_on_t_end(figure_eight, integrator):
    masses, state = figure_eight
    t_end = 1.2345678901
    final, stats = nb.integrate(masses, state, t_end, integrator=integrator, dt=0.1, eta=0.05)
    assert float(final.t) == t_end
    assert int(stats.status) == nb.STATUS_OK


def test_force_evaluations_are_counted(figure_eight):
    masses, state = figure_eight
    for integrator, per_step in [("leapfrog", 1), ("yoshida4", 3), ("hermite4", 1)]:
        _, stats = nb.integrate(masses, state, 1.0, integrator=integrator, dt=0.1, eta=0.05)
        # One evaluation starts the run; fixed steps: ceil(1.0 / 0.1) = 10.
        assert int(stats.n_force_evals) == 1 + per_step * int(stats.n_steps)
        if integrator != "hermite4":
            assert int(stats.n_steps) == 10


@pytest.fixture(scope="module")
def head_on():
    """Two unit masses at rest, one length unit apart: they collide at the free-fall time."""
    masses, state = nb.custom([1.0, 1.0], [[0.0, 0.0], [1.0, 0.0]], jnp.zeros((2, 2)))
    free_fall_time = np.pi / 2 * np.sqrt(1.0**3 / (2 * 2.0))
    return masses, state, free_fall_time


@pytest.mark.parametrize("criterion", nb.CRITERIA)
def test_collision_stops_on_the_step_floor(head_on, criterion):
    masses, state, collision_time = head_on
    final, stats = nb.integrate(masses, state, 2.0, eta=0.01, criterion=criterion)
    assert int(stats.status) == nb.STATUS_STEP_FLOOR
    assert float(stats.fail_time) == pytest.approx(collision_time, abs=1e-5)
    assert float(final.t) == float(stats.fail_time)
    assert stats.fail_pair.tolist() == [0, 1]
    assert bool(jnp.all(jnp.isfinite(final.positions)))


def test_trajectory_failure_is_sticky(head_on):
    masses, state, collision_time = head_on
    t_out = jnp.array([0.5, 0.7, 1.0, 1.5])
    states, energies, stats = nb.trajectory(masses, state, t_out, eta=0.01)
    assert int(stats.status) == nb.STATUS_STEP_FLOOR
    np.testing.assert_array_equal(states.t[:2], t_out[:2])
    assert float(states.t[2]) == float(states.t[3]) == float(stats.fail_time)
    np.testing.assert_array_equal(states.positions[2], states.positions[3])
    assert float(energies[2]) == float(energies[3])


def test_coincident_bodies_are_non_finite():
    masses, state = nb.custom(
        [1.0, 1.0, 1.0], [[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]], jnp.zeros((3, 2))
    )
    final, stats = nb.integrate(masses, state, 1.0, integrator="leapfrog", dt=0.1)
    assert int(stats.status) == nb.STATUS_NON_FINITE
    assert int(stats.n_steps) == 0 and float(stats.fail_time) == 0.0
    assert stats.fail_pair.tolist() == [0, 1]
    np.testing.assert_array_equal(final.positions, state.positions)


def test_step_budget(figure_eight):
    masses, state = figure_eight
    final, stats = nb.integrate(masses, state, PERIOD, eta=0.01, max_steps=100)
    assert int(stats.status) == nb.STATUS_MAX_STEPS
    assert int(stats.n_steps) == 100
    assert float(stats.fail_time) == float(final.t) < PERIOD


@pytest.fixture(scope="module")
def triples():
    return nb.random_triples(jnp.arange(4))


def _system(masses, states, i):
    return masses[i], jax.tree.map(lambda field: field[i], states)


def test_vmapped_integrate_equals_one_by_one(triples):
    masses, states = triples
    batched = jax.vmap(functools.partial(nb.integrate, t_end=5.0, eta=0.01))
    finals, stats = batched(masses, states)
    assert stats.status.shape == (4,)
    for i in range(4):
        final, single_stats = nb.integrate(*_system(masses, states, i), 5.0, eta=0.01)
        np.testing.assert_allclose(finals.positions[i], final.positions, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(finals.velocities[i], final.velocities, rtol=1e-12, atol=1e-12)
        assert int(stats.n_steps[i]) == int(single_stats.n_steps)
        assert float(finals.t[i]) == 5.0


def test_vmapped_trajectory_equals_one_by_one(triples):
    masses, states = triples
    t_out = jnp.array([1.0, 2.5])
    batched = jax.vmap(functools.partial(nb.trajectory, t_out=t_out, eta=0.02))
    outputs, energies, _ = batched(masses, states)
    assert outputs.positions.shape == (4, 2, 3, 2) and energies.shape == (4, 2)
    for i in range(4):
        single, single_energies, _ = nb.trajectory(*_system(masses, states, i), t_out, eta=0.02)
        np.testing.assert_allclose(outputs.positions[i], single.positions, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(energies[i], single_energies, rtol=1e-12)

"""Dense output: the quintic Hermite interpolant's order, and sampling that leaves the natural
steps (and so the integration) untouched."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import physics.nbody as nb
from physics.nbody.interpolation import interpolate_state

PERIOD = nb.FIGURE_EIGHT_PERIOD
SAMPLES = np.linspace(0.0, PERIOD, 101)[1:]


def circular_orbit(t):
    """x = (cos t, sin t): positions, velocities and accelerations (1, 2) of a unit circle."""
    x = np.array([[np.cos(t), np.sin(t)]])
    return x, np.array([[-np.sin(t), np.cos(t)]]), -x


def _interpolation_errors(h):
    t0 = 0.3
    start, end = (t0, *circular_orbit(t0)), (t0 + h, *circular_orbit(t0 + h))
    errors = []
    for s in (0.25, 0.5, 0.7):
        x, v = interpolate_state(start, end, t0 + s * h)
        exact_x, exact_v, _ = circular_orbit(t0 + s * h)
        errors.append((np.abs(x - exact_x).max(), np.abs(v - exact_v).max()))
    return np.max(errors, axis=0)


def test_quintic_interpolation_orders():
    """Position error O(h^6), velocity error O(h^5), inside a step of a smooth orbit."""
    coarse, fine = _interpolation_errors(0.2), _interpolation_errors(0.1)
    orders = np.log2(coarse / fine)
    assert orders[0] == pytest.approx(6.0, abs=0.3)
    assert orders[1] == pytest.approx(5.0, abs=0.3)


@pytest.fixture(scope="module")
def figure_eight_reference():
    """Positions at the sample times from scipy's DOP853 (independent of our code)."""
    masses, state = nb.figure_eight()
    m = np.asarray(masses)

    def rhs(_, y):
        x = y[:6].reshape(3, 2)
        dx = x[None] - x[:, None]
        inv_r3 = (1 - np.eye(3)) * (np.sum(dx**2, axis=-1) + np.eye(3)) ** -1.5
        return np.concatenate([y[6:], np.einsum("ij,ijk->ik", m[None] * inv_r3, dx).ravel()])

    y0 = np.concatenate([np.ravel(state.positions), np.ravel(state.velocities)])
    solution = solve_ivp(rhs, (0, PERIOD), y0, "DOP853", SAMPLES, rtol=1e-13, atol=1e-13)
    return masses, state, solution.y.T[:, :6]


@pytest.mark.parametrize("integrator", ["hermite4", "yoshida4_adaptive"])
def test_dense_sampling_keeps_the_natural_steps(figure_eight_reference, integrator):
    masses, state, reference = figure_eight_reference
    dense, energies, stats = nb.dense_trajectory(masses, state, SAMPLES, integrator=integrator)
    final, final_stats = nb.integrate(masses, state, PERIOD, integrator=integrator)
    stepped, _, stepped_stats = nb.trajectory(masses, state, SAMPLES, integrator=integrator)
    # Same steps as one uninterrupted integration: same work, same final state bit for bit.
    assert int(stats.n_force_evals) == int(final_stats.n_force_evals)
    assert int(stats.n_force_evals) < int(stepped_stats.n_force_evals)
    np.testing.assert_array_equal(np.asarray(dense.positions[-1]), np.asarray(final.positions))
    np.testing.assert_array_equal(np.asarray(dense.velocities[-1]), np.asarray(final.velocities))
    np.testing.assert_array_equal(np.asarray(dense.t), SAMPLES)
    # Interpolated samples are as accurate as samples that end a step.
    dense_error = np.abs(np.asarray(dense.positions).reshape(len(SAMPLES), -1) - reference).max()
    stepped_error = np.abs(
        np.asarray(stepped.positions).reshape(len(SAMPLES), -1) - reference
    ).max()
    assert dense_error < 1.5 * stepped_error
    assert np.abs(np.asarray(energies) / float(energies[0]) - 1).max() < 1e-6


def test_dense_sampling_stops_at_a_collision():
    masses, state = nb.custom([1, 1], [[0, 0], [1, 0]], [[0, 0], [0, 0]])
    states, _, stats = nb.dense_trajectory(masses, state, np.linspace(0, 1, 9)[1:], dt_min=1e-11)
    assert int(stats.status) == nb.STATUS_STEP_FLOOR
    assert float(stats.fail_time) == pytest.approx(np.pi / 4, abs=1e-3)
    times = np.asarray(states.t)
    np.testing.assert_array_equal(times[:6], np.linspace(0, 1, 9)[1:7])
    assert np.all(times[6:] == float(stats.fail_time))  # later samples repeat the last good state


def test_dense_output_refuses_fixed_step_schemes(figure_eight_reference):
    masses, state, _ = figure_eight_reference
    with pytest.raises(ValueError, match="dense output needs"):
        nb.dense_trajectory(masses, state, SAMPLES, integrator="leapfrog")

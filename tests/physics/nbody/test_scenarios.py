"""Long and unstable integrations with known outcomes: Burrau's Pythagorean problem and the
equal-mass Lagrange triangle."""

import jax.numpy as jnp
import numpy as np
import pytest

import physics.nbody as nb


def _two_body_energy(m1, m2, x1, x2, v1, v2):
    """Energy of the relative motion of two bodies (or of a body and a binary's centre)."""
    r, u = x1 - x2, v1 - v2
    return 0.5 * m1 * m2 / (m1 + m2) * float(u @ u) - m1 * m2 / float(np.linalg.norm(r))


@pytest.fixture(scope="module")
def pythagorean_at_70():
    masses, state = nb.pythagorean()
    final, stats = nb.integrate(masses, state, 70.0, eta=3e-3, criterion="rv")
    return np.asarray(masses), state, final, stats


def test_pythagorean_lightest_body_escapes(pythagorean_at_70):
    masses, _, final, stats = pythagorean_at_70
    assert int(stats.status) == nb.STATUS_OK
    x, v = np.asarray(final.positions), np.asarray(final.velocities)
    m3, m4, m5 = masses
    binary_mass = m4 + m5
    binary_x = (m4 * x[1] + m5 * x[2]) / binary_mass
    binary_v = (m4 * v[1] + m5 * v[2]) / binary_mass
    # The mass-3 body is unbound from the 4-5 pair's centre of mass and receding from it ...
    assert _two_body_energy(m3, binary_mass, x[0], binary_x, v[0], binary_v) > 0
    assert float((x[0] - binary_x) @ (v[0] - binary_v)) > 0
    # ... which leaves as a bound binary.
    assert _two_body_energy(m4, m5, x[1], x[2], v[1], v[2]) < 0


def test_pythagorean_energy_error_is_small(pythagorean_at_70):
    masses, initial, final, _ = pythagorean_at_70
    e0 = nb.total_energy(masses, initial.positions, initial.velocities)
    e1 = nb.total_energy(masses, final.positions, final.velocities)
    assert abs(float(e1 / e0 - 1)) < 1e-7


def test_lagrange_triangle_rotates_rigidly_for_one_period():
    masses, state = nb.lagrange()
    omega = np.sqrt(3.0)
    t_out = jnp.linspace(0.25, 2 * np.pi / omega, 8)
    states, _, stats = nb.trajectory(masses, state, t_out, eta=0.01)
    assert int(stats.status) == nb.STATUS_OK
    for t, x, v in zip(t_out, states.positions, states.velocities, strict=True):
        c, s = np.cos(omega * t), np.sin(omega * t)
        rotation = jnp.array([[c, -s], [s, c]])
        np.testing.assert_allclose(x, state.positions @ rotation.T, atol=1e-7)
        np.testing.assert_allclose(v, state.velocities @ rotation.T, atol=1e-7)

"""Forces against derivatives of the potential, and the conserved quantities' definitions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physics.nbody as nb

EPS = float(jnp.finfo(jnp.float64).eps)


@pytest.fixture(scope="module")
def system_3d():
    """Four unequal masses in 3D with generic positions and velocities."""
    kx, kv = jax.random.split(jax.random.PRNGKey(7))
    masses = jnp.array([1.0, 0.5, 2.0, 0.25])
    positions = jax.random.normal(kx, (4, 3), jnp.float64)
    velocities = jax.random.normal(kv, (4, 3), jnp.float64)
    return masses, positions, velocities


def test_float64_is_on():
    assert jnp.zeros(1).dtype == jnp.float64


def test_accelerations_are_minus_potential_gradient_over_mass(system_3d):
    masses, positions, _ = system_3d
    grad = jax.grad(nb.potential_energy, argnums=1)(masses, positions)
    np.testing.assert_allclose(
        nb.accelerations(masses, positions), -grad / masses[:, None], rtol=1e3 * EPS
    )


def test_jerks_are_time_derivative_of_accelerations(system_3d):
    masses, positions, velocities = system_3d
    _, along_v = jax.jvp(lambda x: nb.accelerations(masses, x), (positions,), (velocities,))
    acc, jerk = nb.accelerations_and_jerks(masses, positions, velocities)
    np.testing.assert_allclose(acc, nb.accelerations(masses, positions), rtol=1e3 * EPS)
    np.testing.assert_allclose(jerk, along_v, rtol=1e3 * EPS, atol=1e3 * EPS)


def test_two_body_force_is_newtonian():
    masses = jnp.array([2.0, 3.0])
    positions = jnp.array([[0.0, 0.0], [2.0, 0.0]])
    acc = nb.accelerations(masses, positions)
    np.testing.assert_allclose(acc, [[3.0 / 4.0, 0.0], [-2.0 / 4.0, 0.0]], rtol=10 * EPS)
    assert float(nb.potential_energy(masses, positions)) == pytest.approx(-3.0, rel=10 * EPS)


def test_momenta_have_the_documented_shapes(system_3d):
    masses, positions, velocities = system_3d
    assert nb.linear_momentum(masses, velocities).shape == (3,)
    assert nb.angular_momentum(masses, positions, velocities).shape == (3,)
    assert nb.angular_momentum(masses[:2], positions[:2, :2], velocities[:2, :2]).shape == ()


def test_planar_angular_momentum_is_z_component_of_3d(system_3d):
    masses, positions, velocities = system_3d
    flat_x, flat_v = positions.at[:, 2].set(0.0), velocities.at[:, 2].set(0.0)
    l3 = nb.angular_momentum(masses, flat_x, flat_v)
    l2 = nb.angular_momentum(masses, flat_x[:, :2], flat_v[:, :2])
    np.testing.assert_allclose(l3, [0.0, 0.0, float(l2)], atol=10 * EPS)


def test_centre_of_mass_frame_removes_com_motion(system_3d):
    masses, positions, velocities = system_3d
    moved = nb.centre_of_mass_frame(masses, nb.NBodyState(positions, velocities, jnp.zeros(())))
    np.testing.assert_allclose(nb.linear_momentum(masses, moved.velocities), 0.0, atol=100 * EPS)
    np.testing.assert_allclose(masses @ moved.positions, 0.0, atol=100 * EPS)
    # Relative coordinates, hence the potential energy, are unchanged.
    assert float(nb.potential_energy(masses, moved.positions)) == pytest.approx(
        float(nb.potential_energy(masses, positions)), rel=100 * EPS
    )


def test_closest_pair_is_ordered():
    positions = jnp.array([[0.0, 0.0], [5.0, 0.0], [10.0, 0.0], [0.1, 0.0]])
    assert nb.closest_pair(positions).tolist() == [0, 3]


def test_shared_timestep_is_the_rv_criterion():
    masses = jnp.array([1.0, 3.0])
    positions = jnp.array([[0.0, 0.0], [2.0, 0.0]])
    velocities = jnp.array([[0.0, 0.0], [0.0, 4.0]])
    # r / v = 0.5 is smaller than sqrt(r^3 / M) = sqrt(2).
    assert float(nb.shared_timestep(masses, positions, velocities, 0.1)) == pytest.approx(0.05)
    at_rest = nb.shared_timestep(masses, positions, jnp.zeros((2, 2)), 0.1)
    assert float(at_rest) == pytest.approx(0.1 * np.sqrt(2.0))

"""Initial conditions: published invariants and the RL paper's random family."""

import jax.numpy as jnp
import numpy as np
import pytest

import physics.nbody as nb

EPS = float(jnp.finfo(jnp.float64).eps)


def _energy(masses, state):
    return float(nb.total_energy(masses, state.positions, state.velocities))


def test_figure_eight_invariants():
    masses, state = nb.figure_eight()
    assert state.positions.dtype == jnp.float64 and float(state.t) == 0.0
    # The published energy has 7 significant digits.
    assert _energy(masses, state) == pytest.approx(-1.287142, abs=5e-7)
    assert abs(float(nb.angular_momentum(masses, state.positions, state.velocities))) < 1e-7
    np.testing.assert_allclose(nb.linear_momentum(masses, state.velocities), 0.0, atol=10 * EPS)


def test_pythagorean_energy():
    masses, state = nb.pythagorean()
    assert _energy(masses, state) == pytest.approx(-769 / 60, rel=10 * EPS)
    np.testing.assert_allclose(masses @ state.positions, 0.0, atol=10 * EPS)


@pytest.mark.parametrize("side", [1.0, 2.5])
def test_lagrange_triangle(side):
    masses, state = nb.lagrange(side)
    assert _energy(masses, state) == pytest.approx(-1.5 / side, rel=100 * EPS)
    x = state.positions
    sides = jnp.linalg.norm(x - jnp.roll(x, 1, axis=0), axis=-1)
    np.testing.assert_allclose(sides, side, rtol=100 * EPS)
    np.testing.assert_allclose(masses @ x, 0.0, atol=100 * EPS)
    np.testing.assert_allclose(nb.linear_momentum(masses, state.velocities), 0.0, atol=100 * EPS)
    # Rigid rotation: centripetal acceleration omega^2 r towards the centre.
    omega2 = 3.0 / side**3
    np.testing.assert_allclose(
        nb.accelerations(masses, x), -omega2 * x, rtol=1e3 * EPS, atol=1e3 * EPS
    )


def test_random_triple_follows_the_paper_recipe():
    masses, state = nb.random_triple(3)
    x, v = state.positions, state.velocities
    v0 = nb.RANDOM_TRIPLE_SPEED
    assert v0 == pytest.approx(0.33574, abs=1e-5)
    np.testing.assert_allclose(masses, 1.0)
    # Centre of mass at rest at the origin.
    np.testing.assert_allclose(jnp.sum(x, axis=0), 0.0, atol=100 * EPS)
    np.testing.assert_allclose(jnp.sum(v, axis=0), 0.0, atol=100 * EPS)
    # Velocities relative to body 2 (at rest before the frame change) and positions relative to
    # body 0 (at the origin before it) are frame-independent.
    np.testing.assert_allclose(v[0] - v[2], [0.0, v0], atol=100 * EPS)
    np.testing.assert_allclose(v[1] - v[2], [-v0, 0.0], atol=100 * EPS)
    x1, x2 = np.asarray(x[1] - x[0]), np.asarray(x[2] - x[0])
    assert 5 <= x1[0] <= 20 and 0 <= x1[1] <= 10
    assert -10 <= x2[0] <= 0 and 5 <= x2[1] <= 20


def test_random_triples_batch_matches_single_seeds():
    seeds = jnp.arange(5)
    masses, states = nb.random_triples(seeds)
    assert masses.shape == (5, 3) and states.positions.shape == (5, 3, 2)
    assert states.t.shape == (5,)
    for i in range(5):
        single_masses, single = nb.random_triple(i)
        np.testing.assert_array_equal(masses[i], single_masses)
        np.testing.assert_array_equal(states.positions[i], single.positions)
        np.testing.assert_array_equal(states.velocities[i], single.velocities)
    flat = np.asarray(states.positions).reshape(5, -1)
    assert len({tuple(row) for row in flat}) == 5


def test_custom_builds_float64_arrays():
    masses, state = nb.custom([1, 2], [[0, 0, 0], [1, 0, 0]], [[0, 0, 0], [0, 1, 0]])
    assert masses.dtype == state.positions.dtype == state.velocities.dtype == jnp.float64
    assert state.positions.shape == (2, 3) and float(state.t) == 0.0

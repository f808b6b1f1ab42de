"""Observations: sizes, invariance of the invariant kind, sensitivity of the published one."""

import jax.numpy as jnp
import numpy as np
import pytest

import physics.nbody as nb
from rl_timestep.features import n_features, observe, pair_features

ARGS = {"energy_error": 3e-9, "last_jump": 1e-9, "previous_action": 0.5, "interval": 1.09}


@pytest.fixture(scope="module")
def triple():
    masses, state = nb.random_triple(42)
    energy0 = nb.total_energy(masses, state.positions, state.velocities)
    return masses, state.positions, state.velocities, energy0


def features(kind, masses, positions, velocities, energy0, **extra):
    return np.asarray(observe(kind, masses, positions, velocities, energy0, **{**ARGS, **extra}))


@pytest.mark.parametrize("kind", ["invariant", "published", "tradeoff"])
def test_sizes(triple, kind):
    assert features(kind, *triple).shape == (n_features(kind),)
    assert features(kind, *triple).dtype == np.float32


def test_invariant_under_relabelling_rotation_and_units(triple):
    masses, x, v, energy0 = triple
    reference = features("invariant", masses, x, v, energy0)
    order = jnp.array([2, 0, 1])
    relabelled = features("invariant", masses[order], x[order], v[order], energy0)
    np.testing.assert_allclose(relabelled, reference, rtol=1e-5, atol=1e-6)
    angle = 0.7
    rotation = jnp.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rotated = features("invariant", masses, x @ rotation.T, v @ rotation.T, energy0)
    np.testing.assert_allclose(rotated, reference, rtol=1e-5, atol=1e-6)
    # Lengths x L, speeds x L^-1/2, energies x L^-1, times x L^3/2 (G = M = 1 kept).
    scale = 7.0
    scaled = features(
        "invariant",
        masses,
        scale * x,
        v / np.sqrt(scale),
        energy0 / scale,
        interval=ARGS["interval"] * scale**1.5,
    )
    np.testing.assert_allclose(scaled, reference, rtol=1e-5, atol=1e-5)


def test_tradeoff_features_add_the_log_cost_weight(triple):
    invariant = features("invariant", *triple)
    for weight in (0.5, 2.0):
        tradeoff = features("tradeoff", *triple, cost_weight=weight)
        np.testing.assert_array_equal(tradeoff[:-1], invariant)
        assert tradeoff[-1] == pytest.approx(np.log10(weight), rel=1e-6)


def test_published_features_see_labels_and_units(triple):
    masses, x, v, energy0 = triple
    order = jnp.array([2, 0, 1])
    reference = features("published", masses, x, v, energy0)
    assert not np.allclose(
        features("published", masses[order], x[order], v[order], energy0), reference
    )
    assert not np.allclose(features("published", masses, 2 * x, v, energy0), reference)


def test_pair_orbit_features_of_a_known_binary():
    """A Kepler pair of unit masses at apocentre of an e = 0.5 orbit (a = 1): q / r = 1/3."""
    masses = jnp.array([1.0, 1.0])
    a, e = 1.0, 0.5
    r_apo = a * (1 + e)
    v_apo = np.sqrt(2.0 * (1 - e) / r_apo)  # vis-viva with total mass 2
    _, state = nb.custom(masses, [[0.0, 0.0], [r_apo, 0.0]], [[0.0, 0.0], [0.0, v_apo]])
    state = nb.centre_of_mass_frame(masses, state)
    x, v = state.positions, state.velocities
    energy0 = nb.total_energy(masses, x, v)
    (row,) = np.asarray(pair_features(masses, x, v, energy0, 1.0))
    assert row[5] == pytest.approx(e / (1 + e), rel=1e-9)
    assert row[6] == pytest.approx(np.log10(1 / 3), rel=1e-9)
    assert row[2] == pytest.approx(0.0, abs=1e-12)  # apocentre: velocity perpendicular
    assert row[3] == pytest.approx(-np.log10(2.0), rel=1e-9)  # the pair holds all the energy
    assert row[7] == pytest.approx(np.log10(0.5), rel=1e-9)  # each body r / 2 from the centre

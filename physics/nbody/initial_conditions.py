"""Initial conditions with known answers, and the random triples of the RL time-stepping paper.

Each returns ``(masses (N,), NBodyState)`` in float64 at t = 0, G = 1.
"""

import jax
import jax.numpy as jnp
from jax import Array

from physics.nbody.invariants import centre_of_mass_frame
from physics.nbody.state import NBodyState

FIGURE_EIGHT_PERIOD = 6.32591398
"""Period of the Chenciner-Montgomery figure-eight orbit below (N-body time units)."""

KM_PER_S_PER_VELOCITY_UNIT = 29.78469
"""sqrt(G M_sun / au) in km/s: the velocity unit when G = M_sun = au = 1."""

RANDOM_TRIPLE_SPEED = 10.0 / KM_PER_S_PER_VELOCITY_UNIT
"""v0 = 10 km/s in units G = M_sun = au = 1 (about 0.33574)."""


def custom(masses: Array, positions: Array, velocities: Array) -> tuple[Array, NBodyState]:
    """A system from given masses (N,), positions and velocities (N, d), at t = 0."""
    return jnp.asarray(masses, jnp.float64), NBodyState(
        jnp.asarray(positions, jnp.float64),
        jnp.asarray(velocities, jnp.float64),
        jnp.zeros((), jnp.float64),
    )


def figure_eight() -> tuple[Array, NBodyState]:
    """Three unit masses on the figure-eight choreography (Chenciner & Montgomery 2000).

    Period FIGURE_EIGHT_PERIOD, energy -1.287142, zero angular momentum. 2D.
    """
    x1 = jnp.array([0.97000436, -0.24308753])
    v3 = jnp.array([-0.93240737, -0.86473146])
    return custom(
        jnp.ones(3), jnp.stack([x1, -x1, jnp.zeros(2)]), jnp.stack([-v3 / 2, -v3 / 2, v3])
    )


def pythagorean() -> tuple[Array, NBodyState]:
    """Burrau's Pythagorean problem: masses 3, 4, 5 at rest on a 3-4-5 triangle; E = -769/60.

    The lightest body escapes after a sequence of close encounters; 4 and 5 leave as a binary. 2D.
    """
    positions = jnp.array([[1.0, 3.0], [-2.0, -1.0], [1.0, -1.0]])
    return custom(jnp.array([3.0, 4.0, 5.0]), positions, jnp.zeros((3, 2)))


def lagrange(side: float = 1.0) -> tuple[Array, NBodyState]:
    """Three unit masses on an equilateral triangle of the given side, rotating rigidly.

    Angular velocity sqrt(3 / side^3) about the centre of mass (at rest at the origin);
    energy -1.5 / side. Unstable for equal masses. 2D.
    """
    angles = jnp.pi / 2 + 2 * jnp.pi / 3 * jnp.arange(3)
    radius = side / jnp.sqrt(3.0)
    positions = radius * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1)
    omega = jnp.sqrt(3.0 / side**3)
    velocities = omega * jnp.stack([-positions[:, 1], positions[:, 0]], axis=-1)
    return custom(jnp.ones(3), positions, velocities)


def random_triple(seed: Array | int) -> tuple[Array, NBodyState]:
    """One planar triple of 1 M_sun stars from the RL time-stepping paper's family.

    Units G = M_sun = au = 1. Body 0 at the origin moving at v0 = RANDOM_TRIPLE_SPEED along +y;
    body 1 at (U[5, 20], U[0, 10]) moving at -v0 along x; body 2 at (U[-10, 0], U[5, 20]) at rest;
    then moved to the centre-of-mass frame. seed: () integer, used as jax.random.PRNGKey(seed),
    so the function can be vmapped over an array of seeds.
    """
    low = jnp.array([5.0, 0.0, -10.0, 5.0])
    high = jnp.array([20.0, 10.0, 0.0, 20.0])
    coordinates = jax.random.uniform(
        jax.random.PRNGKey(seed), (4,), jnp.float64, minval=low, maxval=high
    )
    positions = jnp.concatenate([jnp.zeros(2), coordinates]).reshape(3, 2)
    v0 = RANDOM_TRIPLE_SPEED
    velocities = jnp.array([[0.0, v0], [-v0, 0.0], [0.0, 0.0]])
    masses, state = custom(jnp.ones(3), positions, velocities)
    return masses, centre_of_mass_frame(masses, state)


def random_triples(seeds: Array) -> tuple[Array, NBodyState]:
    """:func:`random_triple` for each of seeds (B,): masses (B, 3), state fields with leading B."""
    return jax.vmap(random_triple)(jnp.asarray(seeds))

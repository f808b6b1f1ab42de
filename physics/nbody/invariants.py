"""Conserved quantities of the Newtonian N-body problem (G = 1) and the centre-of-mass frame."""

import jax.numpy as jnp
from jax import Array

from physics.nbody.forces import pair_separations
from physics.nbody.state import NBodyState


def kinetic_energy(masses: Array, velocities: Array) -> Array:
    """Sum of m v^2 / 2. masses: (N,). velocities: (N, d). Returns ()."""
    return 0.5 * jnp.sum(masses * jnp.sum(velocities**2, axis=-1))


def potential_energy(masses: Array, positions: Array) -> Array:
    """-sum over pairs i < j of m_i m_j / r_ij. masses: (N,). positions: (N, d). Returns ()."""
    _, r2 = pair_separations(positions)
    off_diagonal = ~jnp.eye(masses.shape[0], dtype=bool)
    inverse_r = jnp.where(off_diagonal, r2**-0.5, 0.0)
    # Every pair appears twice in the full matrix.
    return -0.5 * jnp.sum(masses[:, None] * masses[None, :] * inverse_r)


def total_energy(masses: Array, positions: Array, velocities: Array) -> Array:
    """Kinetic plus potential energy. masses: (N,). positions, velocities: (N, d). Returns ()."""
    return kinetic_energy(masses, velocities) + potential_energy(masses, positions)


def linear_momentum(masses: Array, velocities: Array) -> Array:
    """Total momentum sum m v. masses: (N,). velocities: (N, d). Returns (d,)."""
    return jnp.sum(masses[:, None] * velocities, axis=0)


def angular_momentum(masses: Array, positions: Array, velocities: Array) -> Array:
    """Total angular momentum about the origin, sum m x cross v.

    masses: (N,). positions, velocities: (N, d). Returns () (the z component) for d = 2,
    (3,) for d = 3.
    """
    momenta = masses[:, None] * velocities
    if positions.shape[-1] == 2:
        return jnp.sum(positions[:, 0] * momenta[:, 1] - positions[:, 1] * momenta[:, 0])
    return jnp.sum(jnp.cross(positions, momenta), axis=0)


def centre_of_mass_frame(masses: Array, state: NBodyState) -> NBodyState:
    """The same state seen from the centre of mass (at the origin, at rest). masses: (N,)."""
    total = jnp.sum(masses)
    com_position = jnp.sum(masses[:, None] * state.positions, axis=0) / total
    com_velocity = linear_momentum(masses, state.velocities) / total
    return state._replace(
        positions=state.positions - com_position, velocities=state.velocities - com_velocity
    )

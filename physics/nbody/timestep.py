"""Shared (global) time-step criteria for the adaptive Hermite integrator.

Each returns one step for the whole system, the minimum over pairs or bodies, in time units.
"""

import jax.numpy as jnp
from jax import Array

from physics.nbody.forces import pair_separations


def _ratio_or_inf(numerator: Array, denominator: Array) -> Array:
    """numerator / denominator where the denominator is positive, inf elsewhere (nan-free)."""
    positive = denominator > 0
    return jnp.where(positive, numerator / jnp.where(positive, denominator, 1.0), jnp.inf)


def _norm(vectors: Array) -> Array:
    """Euclidean norms of (N, d) vectors, (N,)."""
    return jnp.sqrt(jnp.sum(vectors**2, axis=-1))


def shared_timestep(masses: Array, positions: Array, velocities: Array, eta: Array) -> Array:
    """The "rv" criterion: eta * min over pairs of (r / |v_rel|, sqrt(r^3 / (m_i + m_j))).

    The first term resolves fly-bys, the second the free-fall time of each pair; pairs at rest
    relative to each other contribute only the second. masses: (N,). positions, velocities:
    (N, d). eta: () dimensionless accuracy parameter. Returns () step.
    """
    _, r2 = pair_separations(positions)
    dv = velocities[None, :, :] - velocities[:, None, :]
    off_diagonal = ~jnp.eye(masses.shape[0], dtype=bool)
    crossing = jnp.sqrt(_ratio_or_inf(r2, jnp.sum(dv * dv, axis=-1)))
    free_fall = jnp.sqrt(r2**1.5 / (masses[:, None] + masses[None, :]))
    pair_times = jnp.where(off_diagonal, jnp.minimum(crossing, free_fall), jnp.inf)
    return eta * jnp.min(pair_times)


def aarseth_timestep(acc: Array, jerk: Array, snap: Array, crackle: Array, eta: Array) -> Array:
    """Aarseth's standard criterion, minimised over bodies.

    dt_i = sqrt(eta * (|a||a2| + |a1|^2) / (|a1||a3| + |a2|^2)), with a1 the jerk, a2 the snap
    and a3 the crackle of body i at the current time. Arrays: (N, d); eta: () dimensionless.
    Returns () step; inf when every body's denominator vanishes (no information on the scale).
    """
    a, j, s, c = _norm(acc), _norm(jerk), _norm(snap), _norm(crackle)
    return jnp.sqrt(eta * jnp.min(_ratio_or_inf(a * s + j**2, j * c + s**2)))

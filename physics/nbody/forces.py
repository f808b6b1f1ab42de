"""Direct-summation Newtonian gravity (G = 1) and its time derivative, all pairs at once.

Self-interaction is removed by masking the diagonal of the (N, N) pair matrices; the masked
entries are replaced by 1 before dividing so that neither values nor gradients produce nan.
"""

import jax.numpy as jnp
from jax import Array


def pair_separations(positions: Array) -> tuple[Array, Array]:
    """Separation vectors and squared distances of all ordered pairs.

    positions: (N, d). Returns dx (N, N, d) with dx[i, j] = x_j - x_i, and r2 (N, N) = |dx|^2
    with the diagonal set to 1 (callers mask it).
    """
    dx = positions[None, :, :] - positions[:, None, :]
    off_diagonal = ~jnp.eye(positions.shape[0], dtype=bool)
    r2 = jnp.where(off_diagonal, jnp.sum(dx * dx, axis=-1), 1.0)
    return dx, r2


def _inverse_cubes(r2: Array) -> Array:
    """1/r^3 for every pair, 0 on the diagonal. r2: (N, N) with diagonal 1."""
    off_diagonal = ~jnp.eye(r2.shape[0], dtype=bool)
    return jnp.where(off_diagonal, r2**-1.5, 0.0)


def accelerations(masses: Array, positions: Array) -> Array:
    """Gravitational accelerations a_i = sum_j m_j (x_j - x_i) / r_ij^3.

    masses: (N,). positions: (N, d). Returns (N, d).
    """
    dx, r2 = pair_separations(positions)
    weights = masses[None, :] * _inverse_cubes(r2)
    return jnp.einsum("ij,ijk->ik", weights, dx)


def accelerations_and_jerks(
    masses: Array, positions: Array, velocities: Array
) -> tuple[Array, Array]:
    """Accelerations and their time derivatives (jerks), one all-pairs evaluation.

    j_i = sum_j m_j [dv_ij / r_ij^3 - 3 (dx_ij . dv_ij) dx_ij / r_ij^5].
    masses: (N,). positions, velocities: (N, d). Returns (acc (N, d), jerk (N, d)).
    """
    dx, r2 = pair_separations(positions)
    dv = velocities[None, :, :] - velocities[:, None, :]
    weights = masses[None, :] * _inverse_cubes(r2)
    radial_rate = 3.0 * jnp.sum(dx * dv, axis=-1) / r2
    acc = jnp.einsum("ij,ijk->ik", weights, dx)
    jerk = jnp.einsum("ij,ijk->ik", weights, dv - radial_rate[..., None] * dx)
    return acc, jerk


def closest_pair(positions: Array) -> Array:
    """Indices (i, j), i < j, of the two closest bodies. positions: (N, d). Returns (2,) int32."""
    _, r2 = pair_separations(positions)
    i, j = jnp.triu_indices(positions.shape[0], k=1)
    k = jnp.argmin(r2[i, j])
    return jnp.stack([i[k], j[k]]).astype(jnp.int32)

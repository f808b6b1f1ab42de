"""Rotation invariants and the tensor basis of rotation-equivariant (learned) closures.

A pointwise closure that maps the invariants (D:D, E:E, D:E) to five scalar coefficients and sets

    S:D ≈ β₀ I + β₁ D,    S:E ≈ α₀ I + α₁ D + α₂ E,

is equivariant under rotations (D, E → R D Rᵀ, R E Rᵀ) by construction. Coefficients are ordered
(α₀, α₁, α₂, β₀, β₁) along the last axis.
"""

import jax.numpy as jnp
from jax import Array


def invariants(D: Array, E: Array) -> Array:
    """(tr(D·D), tr(E·E), D:E) of symmetric D, E: (..., 2, 2). Returns (..., 3)."""
    return jnp.stack(
        [
            jnp.einsum("...ij,...ij->...", D, D),
            jnp.einsum("...ij,...ij->...", E, E),
            jnp.einsum("...ij,...ij->...", D, E),
        ],
        axis=-1,
    )


def tensor_basis(coefficients: Array, D: Array, E: Array) -> tuple[Array, Array]:
    """(S:D, S:E) = (β₀ I + β₁ D, α₀ I + α₁ D + α₂ E).

    coefficients: (..., 5) ordered (α₀, α₁, α₂, β₀, β₁). D, E: (..., 2, 2). Returns two
    (..., 2, 2) arrays, symmetric when D and E are.
    """
    a0, a1, a2, b0, b1 = (coefficients[..., k, None, None] for k in range(5))
    identity = jnp.eye(2, dtype=D.dtype)
    return b0 * identity + b1 * D, a0 * identity + a1 * D + a2 * E


def isotropic_coefficients(c: Array) -> Array:
    """Coefficients of the exact closure at isotropy, D = cI/2, tr E = 0: (0, 0, c/4, −c²/8, 3c/4).

    c: (...). Returns (..., 5). At the isotropic point only β₀ + β₁c/2 = c²/4 and α₀ + α₁c/2 = 0,
    α₂ = c/4 are fixed, because D ∝ I there. But coefficients that are functions of the invariants
    are constant to first order about isotropy (D:D = c²/2 + |D'|² for traceless D'), so they also
    set the linear response, S:D ≈ c²/4 I + (3c/4) D' (Bingham's, and the kinetic theory's: m₄ is
    not excited at first order); that requires β₁ = 3c/4 and gives the growth rates of the
    isotropic state. The split β₀ = c/8, β₁ = ¼ (c = 1) matches S:D at the point only, with a
    linear response of D'/4.
    """
    zero = jnp.zeros_like(c)
    return jnp.stack([zero, zero, c / 4, -(c**2) / 8, 3 * c / 4], axis=-1)

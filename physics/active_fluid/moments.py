"""Orientation moments of Ψ(x, θ) from its θ-harmonics, and the exact closure they define.

With p = (cos θ, sin θ) and m_n = ∫Ψ e^{inθ} dθ: c = m₀, D = ∫pp Ψ dθ has D11 = (c + Re m₂)/2,
D12 = Im m₂/2, D22 = (c − Re m₂)/2, and the fully symmetric S = ∫pppp Ψ dθ has
S1111 = (3c + 4 Re m₂ + Re m₄)/8, S1112 = (2 Im m₂ + Im m₄)/8, the rest from the trace
identities S_ijkk = D_ij (S1122 = D11 − S1111, S1222 = D12 − S1112, S2222 = D22 − S1122).

A closure has the signature ``closure(params, c, D, E) -> (S:D, S:E)`` with c (...),
D, E (..., 2, 2); :func:`exact_closure` is the one whose params are a known S field, and
:func:`harmonic_closure` / :func:`strain_affine_closure` those whose params are known harmonics
(the prepared forms of closures, see :func:`physics.active_fluid.stokes.prepare_closure`).
"""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array


class Snapshot(NamedTuple):
    """Real-space observables of a kinetic or moment state: t (), c (n, n), D (n, n, 2, 2),
    u (n, n, 2)."""

    t: Array
    c: Array
    D: Array
    u: Array


# By full symmetry S_ijkl depends only on how many of i, j, k, l equal 2:
# (S1111, S1112, S1122, S1222, S2222)[COUNT].
_COMPONENT = np.indices((2, 2, 2, 2)).sum(axis=0)


_SYMMETRIC_BASIS = np.array([[[1, 0], [0, 0]], [[0, 1], [1, 0]], [[0, 0], [0, 1]]], dtype=float)


def symmetric(t11: Array, t12: Array, t22: Array, axis: int = -1) -> Array:
    """The symmetric 2 × 2 tensor [[t11, t12], [t12, t22]] of three components of one shape,
    its two indices last (axis −1) or first (axis 0)."""
    # Broadcast products with a constant basis rather than a stack: elementwise, so XLA fuses
    # them into the consumer instead of materialising a concatenation.
    components = jnp.broadcast_arrays(t11, t12, t22)
    basis = [jnp.asarray(b, components[0].dtype) for b in _SYMMETRIC_BASIS]
    if axis == 0:
        expand = (slice(None), slice(None)) + (None,) * components[0].ndim
        return sum(b[expand] * t for b, t in zip(basis, components, strict=True))
    return sum(t[..., None, None] * b for b, t in zip(basis, components, strict=True))


def second_moment_from_harmonics(c: Array, m2: Array) -> Array:
    """D (..., 2, 2) of a distribution with harmonics c (...) real and m₂ (...) complex."""
    return symmetric((c + jnp.real(m2)) / 2, jnp.imag(m2) / 2, (c - jnp.real(m2)) / 2)


def fourth_moment_components(c: Array, m2: Array, m4: Array) -> tuple[Array, ...]:
    """The five distinct components (S1111, S1112, S1122, S1222, S2222), each (...), of the fully
    symmetric S of a distribution with harmonics c (...) and m₂, m₄ (...) complex."""
    re2, im2, re4, im4 = jnp.real(m2), jnp.imag(m2), jnp.real(m4), jnp.imag(m4)
    d11, d12, d22 = (c + re2) / 2, im2 / 2, (c - re2) / 2
    s1111 = (3 * c + 4 * re2 + re4) / 8
    s1112 = (2 * im2 + im4) / 8
    s1122 = d11 - s1111
    s1222 = d12 - s1112
    s2222 = d22 - s1122
    return tuple(jnp.broadcast_arrays(s1111, s1112, s1122, s1222, s2222))


def fourth_moment_from_harmonics(c: Array, m2: Array, m4: Array) -> Array:
    """S (..., 2, 2, 2, 2) of a distribution with harmonics c (...) and m₂, m₄ (...) complex.

    Satisfies S_ijkk = D_ij with D from :func:`second_moment_from_harmonics` for any m₄;
    m₄ = 0 gives the isotropic S = (c/8)(δδ + δδ + δδ) when m₂ = 0.
    """
    distinct = fourth_moment_components(c, m2, m4)
    # Stacked, not gathered: a constant-index gather is slow on CPU.
    S = jnp.stack([distinct[k] for k in _COMPONENT.ravel()], axis=-1)
    return S.reshape(*S.shape[:-1], 2, 2, 2, 2)


def second_harmonic(D: Array) -> tuple[Array, Array]:
    """(c, m₂) = (tr D, D11 − D22 + 2i D12) of D (..., 2, 2)."""
    return D[..., 0, 0] + D[..., 1, 1], (D[..., 0, 0] - D[..., 1, 1]) + 2j * D[..., 0, 1]


def contract(S: Array, T: Array) -> Array:
    """(S:T)_ij = S_ijkl T_kl. S: (..., 2, 2, 2, 2); T: (..., 2, 2). Returns (..., 2, 2)."""
    # Four broadcast products rather than an einsum: elementwise, so it fuses with what produces
    # T and consumes S:T (a batched 4 × 4 product is a separate, slow kernel on CPU).
    return sum(S[..., k, l] * T[..., k, l, None, None] for k in range(2) for l in range(2))


def product(a: Array, b: Array) -> Array:
    """The matrix product a·b of 2 × 2 tensors (..., 2, 2), by broadcast products: elementwise,
    so it fuses with its neighbours (a batched 2 × 2 dot is a separate, slow kernel on CPU)."""
    return sum(a[..., :, k, None] * b[..., None, k, :] for k in range(2))


def contract_components(components: tuple[Array, ...], T: Array) -> Array:
    """S:T (..., 2, 2) of a fully symmetric S given by its five distinct components
    (S1111, S1112, S1122, S1222, S2222) (:func:`fourth_moment_components`); T (..., 2, 2).

    Equal to :func:`contract` of the full S, without forming it (5 numbers per point, not 16).
    """
    s1111, s1112, s1122, s1222, s2222 = components
    t11, t_off, t22 = T[..., 0, 0], T[..., 0, 1] + T[..., 1, 0], T[..., 1, 1]
    return symmetric(
        s1111 * t11 + s1112 * t_off + s1122 * t22,
        s1112 * t11 + s1122 * t_off + s1222 * t22,
        s1122 * t11 + s1222 * t_off + s2222 * t22,
    )


def harmonic_closure(harmonics: tuple[Array, Array, Array], c: Array, D: Array, E: Array):
    """(S:D, S:E) of the S of known harmonics (c, m₂, m₄) (...), passed as the closure params:
    :func:`exact_closure` of :func:`fourth_moment_from_harmonics`, without forming S."""
    del c
    components = fourth_moment_components(*harmonics)
    return contract_components(components, D), contract_components(components, E)


def strain_affine_closure(
    harmonics: tuple[Array, Array, Array, Array, Array], c: Array, D: Array, E: Array
) -> tuple[Array, Array]:
    """(S:D, S:E) of the fully symmetric S with harmonics c, m₂ and m₄ = m₄⁰ + a e + b ē, e =
    E11 − E22 + 2iE12 the strain's harmonic; harmonics = (c, m₂, m₄⁰, a, b) (...), passed as the
    closure params. The prepared form of a closure whose m₄ is affine in the local strain: the
    parts that depend on D alone are computed once, the rest is a few products per point."""
    return harmonic_closure(harmonics_at_strain(harmonics, E), c, D, E)


def harmonics_at_strain(
    harmonics: tuple[Array, Array, Array, Array, Array], E: Array
) -> tuple[Array, Array, Array]:
    """(c, m₂, m₄) (...) at the strain E (..., 2, 2) of strain-affine harmonics
    (c, m₂, m₄⁰, a, b): m₄ = m₄⁰ + a e + b ē, e = E11 − E22 + 2iE12."""
    c, m2, m4_fixed, per_e, per_conj_e = harmonics
    _, e = second_harmonic(E)
    return c, m2, m4_fixed + per_e * e + per_conj_e * jnp.conj(e)


def exact_closure(S: Array, c: Array, D: Array, E: Array) -> tuple[Array, Array]:
    """(S:D, S:E) of a known fourth moment S (..., 2, 2, 2, 2), passed as the closure params.

    The shared closure signature with params = S; c is unused. Passing S as params (not
    capturing it) lets one compiled solver take a new S every call.
    """
    del c
    return contract(S, D), contract(S, E)


def harmonics(psi: Array, orders: tuple[int, ...] = (0, 2, 4)) -> tuple[Array, ...]:
    """m_n = ∫Ψ e^{inθ} dθ of Ψ sampled at θ_j = 2πj/n_θ (the last axis), for n in orders.

    psi: (..., n_theta). Returns one complex (...) array per order (exact for Ψ band-limited
    below n_theta/2).
    """
    n_theta = psi.shape[-1]
    # rfft computes Σ_j Ψ_j e^{−inθ_j}; Ψ is real, so m_n is its conjugate.
    spectrum = jnp.conj(jnp.fft.rfft(psi, axis=-1)) * (2 * jnp.pi / n_theta)
    return tuple(spectrum[..., n] for n in orders)


def moments_of_psi(psi: Array) -> tuple[Array, Array, Array]:
    """(c, D, S) of a real-space distribution Ψ (..., n_theta) on θ_j = 2πj/n_θ.

    Returns c (...), D (..., 2, 2), S (..., 2, 2, 2, 2); units of Ψ times radians.
    """
    m0, m2, m4 = harmonics(psi)
    c = jnp.real(m0)
    return c, second_moment_from_harmonics(c, m2), fourth_moment_from_harmonics(c, m2, m4)

"""The 2D Bingham (maximum-entropy) closure, exact in closed form.

Ψ_B ∝ exp(B:pp) = exp(b cos 2(θ − φ)) with ∫pp Ψ_B dθ = D has harmonics m₂ = c (I₁/I₀)(b) e^{2iφ}
and m₄ = c (I₂/I₀)(b) e^{4iφ}, with b ≥ 0 solving I₁(b)/I₀(b) = s = |m̂₂|, the scalar order parameter
2μ₁ − 1 of D/c. Written as m₄ = g(s²) m₂²/c with g = I₂I₀/I₁², the closure needs neither the
eigenvectors of D (whose derivatives blow up at isotropy, where the eigenvalues coincide) nor b
itself, and is smooth in D everywhere on the physical set, from isotropy (S1111 = 3c/8) to the
uniaxial limit μ₁ = 1 (S = c nnnn exactly). See :mod:`closures.kinetic.bessel` for g.
"""

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from jax import Array

from closures.kinetic.bessel import bingham_harmonic_factor
from physics.active_fluid.moments import (
    fourth_moment_from_harmonics,
    harmonic_closure,
    second_harmonic,
)


def _harmonics(D: Array) -> tuple[Array, Array, Array]:
    """(c, m₂, m₄) of the Bingham distribution with second moment D (..., 2, 2)."""
    c, m2 = second_harmonic(D)
    c_or_one = jnp.where(c > 0, c, 1.0)
    # s² = |m₂/c|², a polynomial in D: no square root, so no singular derivative at isotropy.
    s2 = (jnp.real(m2) ** 2 + jnp.imag(m2) ** 2) / c_or_one**2
    return c, m2, (bingham_harmonic_factor(s2) / c_or_one) * m2**2


def fourth_moment(D: Array) -> Array:
    """The Bingham fourth moment S = ∫pppp Ψ_B dθ of a second moment D, with c = tr D.

    D: (..., 2, 2) symmetric positive semi-definite (c > 0; c = 0 with D = 0 gives S = 0).
    Returns S (..., 2, 2, 2, 2), fully symmetric, with S_ijkk = D_ij. Same units as D.
    """
    return fourth_moment_from_harmonics(*_harmonics(D))


def bingham_closure(params: Any, c: Array, D: Array, E: Array) -> tuple[Array, Array]:
    """(S:D, S:E) with the Bingham S of D; the shared closure signature.

    params: ignored (pass ()). c: (...) concentration, ignored: S is a function of D alone, with
    c = tr D (the moment model keeps tr D = c). D, E: (..., 2, 2) symmetric. Returns two
    (..., 2, 2) symmetric arrays.
    """
    closure, harmonics = _prepare(params, c, D)
    return closure(harmonics, c, D, E)


def _prepare(params: Any, c: Array, D: Array) -> tuple[Callable, tuple[Array, Array, Array]]:
    """The Stokes solve's prepared form (:func:`~physics.active_fluid.stokes.prepare_closure`),
    which the closure itself applies: the harmonics of D's Bingham distribution, computed once
    per solve."""
    del params, c
    return harmonic_closure, _harmonics(D)


bingham_closure.prepare = _prepare

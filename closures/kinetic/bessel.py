"""The Bessel-function ratios of the 2D Bingham distribution, inverted and differentiated.

Ψ ∝ exp(b cos 2(θ − φ)) has normalised harmonics |m̂₂| = s = I₁(b)/I₀(b) and
|m̂₄| = I₂(b)/I₀(b). The closure needs the factor g = I₂I₀/I₁² evaluated at the b ≥ 0 that solves
I₁(b)/I₀(b) = s, as a function of x = s² (which, unlike s or b, is smooth in D at isotropy).

Two representations, each accurate to round-off on its own side of b = 25 (s ≈ 0.9797):

- b ≤ 25: power series in y = b²/4 of P_n(y) = I_n(b) / (b/2)^n = Σ_k y^k / (k! (k+n)!). All terms
  are positive (no cancellation) and every ratio is analytic in y, e.g. I₁/I₀ = (b/2) P₁/P₀,
  1 − 2(I₁/I₀)/b = y P₂/P₀, g = P₂P₀/P₁² (→ ½ at isotropy).
- b > 25: Hankel's expansion in u = 1/b of N_n(u) = I_n(b) √(2πb) e^{−b}, truncated where it is
  accurate to round-off. 1 − I₁/I₀ = (N₀ − N₁)/N₀ with N₀ − N₁ summed coefficient by coefficient,
  so nothing cancels as s → 1; everything stays smooth up to u = 0, the uniaxial limit s = 1,
  where g = 1. No clipping of s below 1 is needed.

Each branch solves for its own smooth unknown (y, resp. u) by Newton's method from a close initial
guess, and gets its derivative from the implicit function theorem (``jax.custom_jvp``) rather than
by differentiating the iterations; the rules call the solvers again, so derivatives of any order
are exact and finite everywhere, including s = 0 and s = 1.
"""

from fractions import Fraction
from math import factorial

import jax
import jax.numpy as jnp
from jax import Array, lax

# Largest concentration handled by the power series; Hankel's expansion takes over above it.
SWITCH_CONCENTRATION = 25.0
# Enough terms for relative errors below 1e-17 up to b = 25 (series) and 3e-16 from b = 25 on
# (Hankel: its smallest term there); checked against mpmath.
_SERIES_TERMS = 42
_HANKEL_TERMS = 22
# Newton iterations: from the initial guesses below, the solutions reach round-off in 3 (series)
# and 2 (Hankel) steps for every s in [0, 1] (checked against mpmath); one more of each for margin.
_SERIES_NEWTON_STEPS = 4
_HANKEL_NEWTON_STEPS = 3


def _series_coefficients(n: int) -> tuple[float, ...]:
    """Coefficients of P_n(y) = Σ_k y^k / (k! (k+n)!), k < _SERIES_TERMS."""
    return tuple(1.0 / (factorial(k) * factorial(k + n)) for k in range(_SERIES_TERMS))


def _hankel_coefficients(n: int) -> tuple[Fraction, ...]:
    """Exact coefficients of N_n(u) = Σ_k (−1)^k Π_{j≤k} (4n² − (2j−1)²) / (k! 8^k) u^k."""
    coefficients, term = [], Fraction(1)
    for k in range(_HANKEL_TERMS):
        coefficients.append(term)
        term = -term * (4 * n * n - (2 * k + 1) ** 2) / ((k + 1) * 8)
    return tuple(coefficients)


def _floats(coefficients) -> tuple[float, ...]:
    """Round exact coefficients to floats."""
    return tuple(float(a) for a in coefficients)


_P0, _P1, _P2 = (_series_coefficients(n) for n in range(3))
_HANKEL = [_hankel_coefficients(n) for n in range(3)]
_N0, _N1, _N2 = (_floats(h) for h in _HANKEL)
# N₀ − N₁, exact before rounding: 1 − I₁/I₀ without cancellation.
_N0_MINUS_N1 = _floats(a - b for a, b in zip(_HANKEL[0], _HANKEL[1], strict=True))


def _polynomial(coefficients: tuple[float, ...], z):
    """Σ_k coefficients[k] z^k by Horner's rule (works on floats and arrays alike)."""
    total = coefficients[-1]
    for a in reversed(coefficients[:-1]):
        total = total * z + a
    return total


def _series_mean_resultant(b):
    """I₁(b)/I₀(b) and its derivative 1 − I₁/(b I₀) − (I₁/I₀)², from the power series."""
    y = b * b / 4
    r = _polynomial(_P1, y) / (2 * _polynomial(_P0, y))  # I₁/(b I₀), finite at b = 0
    a = b * r
    return a, 1 - r - a * a


SWITCH_ORDER_PARAMETER = _series_mean_resultant(SWITCH_CONCENTRATION)[0]
_SWITCH_X = SWITCH_ORDER_PARAMETER**2


def _series_initial_guess(s: Array) -> Array:
    """Best & Fisher's (1981) approximate inverse of I₁/I₀, within 1.1% of b on [0, 1)."""
    small = 2 * s + s**3 + 5 * s**5 / 6
    middle = -0.4 + 1.39 * s + 0.43 / (1 - s)
    large = 1 / (s**3 - 4 * s**2 + 3 * s)
    return jnp.where(s < 0.53, small, jnp.where(s < 0.85, middle, large))


@jax.custom_jvp
def _series_y(x: Array) -> Array:
    """y = b²/4 with I₁(b)/I₀(b) = √x, for 0 ≤ x ≤ _SWITCH_X. Shape of x."""
    s = jnp.sqrt(x)

    def newton(_, b):
        a, slope = _series_mean_resultant(b)
        # I₁/I₀ is increasing and concave, so the iterates approach the root from below after
        # the first step and never leave b ≥ 0 (the clamp only guards that first step).
        return jnp.maximum(b - (a - s) / slope, 0.0)

    b = lax.fori_loop(0, _SERIES_NEWTON_STEPS, newton, _series_initial_guess(s))
    return b * b / 4


@_series_y.defjvp
def _series_y_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    y = _series_y(x)
    r = _polynomial(_P1, y) / (2 * _polynomial(_P0, y))
    # x = (I₁/I₀)² = 4 y r², whose y-derivative is 4 r (1 − r − 4 y r²), equal to 1 at y = 0.
    return y, dx / (4 * r * (1 - r - 4 * y * r * r))


def _hankel_one_minus_mean_resultant(u):
    """1 − I₁(1/u)/I₀(1/u) from Hankel's expansion."""
    return _polynomial(_N0_MINUS_N1, u) / _polynomial(_N0, u)


def _hankel_slope(u):
    """d/du of 1 − I₁(1/u)/I₀(1/u)."""
    return jax.jvp(_hankel_one_minus_mean_resultant, (u,), (jnp.ones_like(u),))[1]


@jax.custom_jvp
def _hankel_u(t: Array) -> Array:
    """u = 1/b with 1 − I₁(b)/I₀(b) = t, for 0 ≤ t ≤ 1 − SWITCH_ORDER_PARAMETER. Shape of t."""

    def newton(_, u):
        return u - (_hankel_one_minus_mean_resultant(u) - t) / _hankel_slope(u)

    # Inverse of t = u/2 + u²/8 + O(u³) to second order.
    return lax.fori_loop(0, _HANKEL_NEWTON_STEPS, newton, 2 * t - t * t)


@_hankel_u.defjvp
def _hankel_u_jvp(primals, tangents):
    (t,), (dt,) = primals, tangents
    u = _hankel_u(t)
    return u, dt / _hankel_slope(u)


@jax.jit
def bingham_harmonic_factor(x: Array) -> Array:
    """g = m̂₄ / m̂₂² = I₂(b) I₀(b) / I₁(b)² of the 2D Bingham distribution with |m̂₂|² = x.

    x: (...) squared scalar order parameter s² = |m̂₂|², in [0, 1]; values above 1 (round-off in an
    unphysical D) are treated as 1. Returns (...) g, from ½ at x = 0 to 1 at x = 1. Smooth in x,
    with finite derivatives of every order on [0, 1].
    """
    x = jnp.where(x <= 1, x, 1.0)
    small = x <= _SWITCH_X
    # Each branch sees an input clamped to its own range so that neither produces nan (nor nan
    # gradients) where the other one is selected.
    y = _series_y(jnp.where(small, x, _SWITCH_X))
    u = _hankel_u(1 - jnp.sqrt(jnp.where(small, _SWITCH_X, x)))
    series = _polynomial(_P2, y) * _polynomial(_P0, y) / _polynomial(_P1, y) ** 2
    hankel = _polynomial(_N2, u) * _polynomial(_N0, u) / _polynomial(_N1, u) ** 2
    return jnp.where(small, series, hankel)

"""The Bessel-function ratios of the 2D Bingham distribution, inverted and tabulated.

Ψ ∝ exp(b cos 2(θ − φ)) has normalised harmonics |m̂₂| = s = I₁(b)/I₀(b) and
|m̂₄| = I₂(b)/I₀(b). The closure needs the factor g = I₂I₀/I₁² evaluated at the b ≥ 0 that solves
I₁(b)/I₀(b) = s, as a function of x = s² (which, unlike s or b, is smooth in D at isotropy).

Exact representation (:func:`reference_harmonic_factor`), accurate to round-off on each side of
b = 25 (s ≈ 0.9797):

- b ≤ 25: power series in y = b²/4 of P_n(y) = I_n(b) / (b/2)^n = Σ_k y^k / (k! (k+n)!). All terms
  are positive (no cancellation) and every ratio is analytic in y, e.g. I₁/I₀ = (b/2) P₁/P₀,
  1 − 2(I₁/I₀)/b = y P₂/P₀, g = P₂P₀/P₁² (→ ½ at isotropy).
- b > 25: Hankel's expansion in u = 1/b of N_n(u) = I_n(b) √(2πb) e^{−b}, truncated where it is
  accurate to round-off. 1 − I₁/I₀ = (N₀ − N₁)/N₀ with N₀ − N₁ summed coefficient by coefficient,
  so nothing cancels as s → 1; everything stays smooth up to u = 0, the uniaxial limit s = 1,
  where g = 1. No clipping of s below 1 is needed.

Each branch solves for its own smooth unknown (y, resp. u) by Newton's method from a close initial
guess. That costs a few hundred flops per point, so the closure evaluates g from a table built
from it once, at import: g is analytic in x on [0, 1], and a polynomial of degree 14 in
x − x_p on each of the 16 pieces [p/16, (p + 1)/16) reproduces it to within a few ulp (2e-16
relative against mpmath, 1e-15 against the Newton solution, which has round-off of its own). On
the first piece the polynomial is g's Taylor series at isotropy, g = ½ + x/6 + 5x²/48 + …, so the
value and the derivatives there are exact; elsewhere it interpolates the exact representation at
Chebyshev points. Derivatives of every order are those of the polynomials: finite everywhere,
including s = 0 and s = 1.
"""

from fractions import Fraction
from math import factorial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

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
# The table: PIECES equal pieces of [0, 1] in x, one polynomial of DEGREE on each.
_PIECES = 16
_DEGREE = 14


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


def _polynomial(coefficients, z):
    """Σ_k coefficients[k] z^k by Horner's rule (works on floats and arrays alike)."""
    total = coefficients[-1]
    for a in reversed(coefficients[:-1]):
        total = total * z + a
    return total


def _derivative(coefficients) -> tuple[float, ...]:
    """Coefficients of the derivative of Σ_k coefficients[k] z^k."""
    return tuple(k * a for k, a in enumerate(coefficients))[1:]


def _series_mean_resultant(b):
    """I₁(b)/I₀(b) and its derivative 1 − I₁/(b I₀) − (I₁/I₀)², from the power series."""
    y = b * b / 4
    r = _polynomial(_P1, y) / (2 * _polynomial(_P0, y))  # I₁/(b I₀), finite at b = 0
    a = b * r
    return a, 1 - r - a * a


SWITCH_ORDER_PARAMETER = _series_mean_resultant(SWITCH_CONCENTRATION)[0]
_SWITCH_X = SWITCH_ORDER_PARAMETER**2


def _series_initial_guess(s: np.ndarray) -> np.ndarray:
    """Best & Fisher's (1981) approximate inverse of I₁/I₀, within 1.1% of b on [0, 1)."""
    small = 2 * s + s**3 + 5 * s**5 / 6
    with np.errstate(divide="ignore"):
        middle = -0.4 + 1.39 * s + 0.43 / (1 - s)
        large = 1 / (s**3 - 4 * s**2 + 3 * s)
    return np.where(s < 0.53, small, np.where(s < 0.85, middle, large))


def _series_y(x: np.ndarray) -> np.ndarray:
    """y = b²/4 with I₁(b)/I₀(b) = √x, for 0 ≤ x ≤ _SWITCH_X."""
    s = np.sqrt(x)
    b = _series_initial_guess(s)
    for _ in range(_SERIES_NEWTON_STEPS):
        a, slope = _series_mean_resultant(b)
        # I₁/I₀ is increasing and concave, so the iterates approach the root from below after
        # the first step and never leave b ≥ 0 (the clamp only guards that first step).
        b = np.maximum(b - (a - s) / slope, 0.0)
    return b * b / 4


def _hankel_u(t: np.ndarray) -> np.ndarray:
    """u = 1/b with 1 − I₁(b)/I₀(b) = t, for 0 ≤ t ≤ 1 − SWITCH_ORDER_PARAMETER."""
    numerator, denominator = _N0_MINUS_N1, _N0
    u = 2 * t - t * t  # inverse of t = u/2 + u²/8 + O(u³) to second order
    for _ in range(_HANKEL_NEWTON_STEPS):
        top, bottom = _polynomial(numerator, u), _polynomial(denominator, u)
        slope = (
            _polynomial(_derivative(numerator), u) * bottom
            - top * _polynomial(_derivative(denominator), u)
        ) / bottom**2
        u = u - (top / bottom - t) / slope
    return u


def reference_harmonic_factor(x: np.ndarray) -> np.ndarray:
    """g(x) (float64 NumPy) from the exact representation: Newton's method on the power series
    (x ≤ SWITCH_ORDER_PARAMETER²) or on Hankel's expansion (above). x: (...) in [0, 1]."""
    x = np.asarray(x, dtype=float)
    small = x <= _SWITCH_X
    y = _series_y(np.where(small, x, _SWITCH_X))
    u = _hankel_u(1 - np.sqrt(np.where(small, _SWITCH_X, x)))
    series = _polynomial(_P2, y) * _polynomial(_P0, y) / _polynomial(_P1, y) ** 2
    hankel = _polynomial(_N2, u) * _polynomial(_N0, u) / _polynomial(_N1, u) ** 2
    return np.where(small, series, hankel)


def _taylor_coefficients(order: int) -> np.ndarray:
    """Taylor coefficients (order + 1,) of g at x = 0, by reverting x = y (P₁/P₀)² in y."""
    size = order + 1

    def product(a, b):
        return np.convolve(a, b)[:size]

    def quotient(a, b):
        q = np.zeros(size)
        for k in range(size):
            q[k] = (a[k] - np.dot(q[:k], b[k:0:-1])) / b[0]
        return q

    def compose(a, b):  # a(b(x)) for b(0) = 0
        total = np.zeros(size)
        for coefficient in a[::-1]:
            total = product(total, b)
            total[0] += coefficient
        return total

    p0, p1, p2 = (np.array(p[:size]) for p in (_P0, _P1, _P2))
    ratio = quotient(p1, p0)
    x_of_y = np.concatenate([[0.0], product(ratio, ratio)[:-1]])
    identity = np.eye(size)[1]
    y_of_x = identity
    for _ in range(size):  # x(y) = y + O(y²): each pass fixes one more order
        y_of_x = y_of_x - (compose(x_of_y, y_of_x) - identity)
    return compose(quotient(product(p2, p0), product(p1, p1)), y_of_x)


def _origin(piece):
    """The point each piece's polynomial is expanded about: x = 0 on the first piece (Taylor),
    the right end (p + 1)/_PIECES on piece p ≥ 1 (so that g(1) = 1 exactly)."""
    return (piece > 0) * (piece + 1) / _PIECES


def power_coefficients(fit: np.polynomial.Chebyshev, degree: int) -> np.ndarray:
    """Coefficients (degree + 1,) of a Chebyshev series in powers of its own variable.

    ``convert`` drops trailing coefficients that are exactly zero; a least-squares fit's top
    coefficient sits at round-off and comes out 0.0 with some CPUs' BLAS, so the row is padded
    back to full length (its missing entries are those zeros).
    """
    power = fit.convert(domain=fit.domain, kind=np.polynomial.Polynomial, window=fit.domain)
    return np.pad(power.coef, (0, degree + 1 - power.coef.size))


def _table() -> np.ndarray:
    """Coefficients (_PIECES, _DEGREE + 1) of g in powers of x − _origin(p) on piece p: the
    Taylor series on the first piece, least-squares fits at 2(_DEGREE + 1) Chebyshev points on
    the others."""
    width = 1 / _PIECES
    t = width * (np.polynomial.chebyshev.chebpts1(2 * (_DEGREE + 1)) - 1) / 2  # in (−width, 0)
    rows = [_taylor_coefficients(_DEGREE)]
    for p in range(1, _PIECES):
        values = reference_harmonic_factor(_origin(p) + t)
        fit = np.polynomial.Chebyshev.fit(t, values, _DEGREE, domain=[-width, 0])
        rows.append(power_coefficients(fit, _DEGREE))
    rows[-1][0] = 1.0  # g(1) = 1 exactly (the fit's constant differs by an ulp)
    return np.array(rows)


_TABLE = _table()


@jax.jit
def bingham_harmonic_factor(x: Array) -> Array:
    """g = m̂₄ / m̂₂² = I₂(b) I₀(b) / I₁(b)² of the 2D Bingham distribution with |m̂₂|² = x.

    x: (...) squared scalar order parameter s² = |m̂₂|², in [0, 1]; values above 1 (round-off in an
    unphysical D) are treated as 1. Returns (...) g, from ½ at x = 0 to 1 at x = 1. Smooth in x,
    with finite derivatives of every order on [0, 1].
    """
    x = jnp.where(x <= 1, x, 1.0)
    piece = jnp.clip(jnp.floor(x * _PIECES), 0, _PIECES - 1)
    t = x - _origin(piece)
    coefficients = jnp.asarray(_TABLE, dtype=x.dtype)[piece.astype(jnp.int32)]
    total = coefficients[..., -1]
    for k in range(_DEGREE - 1, -1, -1):
        total = total * t + coefficients[..., k]
    return total

"""Independent reference values: numpy, scipy Bessel functions, root finding and quadrature.

Nothing here uses closureflow, so the tests compare the JAX closures with a second implementation.
"""

import numpy as np
from scipy import integrate, optimize, special


def rotation(phi: float) -> np.ndarray:
    """The 2D rotation by phi radians, (2, 2)."""
    return np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])


def second_moment(c: float, mu1: float, phi: float) -> np.ndarray:
    """D with trace c, largest eigenvalue c mu1 and director (cos phi, sin phi); (2, 2)."""
    R = rotation(phi)
    return c * R @ np.diag([mu1, 1.0 - mu1]) @ R.T


def bingham_concentration(s: float) -> float:
    """b >= 0 with I1(b)/I0(b) = s, by Brent's method on exponentially scaled Bessels."""
    if s == 0.0:
        return 0.0
    ratio = lambda b: special.ive(1, b) / special.ive(0, b) - s  # noqa: E731
    # I1/I0 ≈ 1 − 1/(2b) for large b and ≈ b/2 for small b: 1 + 1/(1 − s) brackets the root.
    upper = 1.0 + 1.0 / (1.0 - s)
    return optimize.brentq(ratio, 0.0, upper, xtol=1e-300, rtol=4 * np.finfo(float).eps)


def bingham_harmonic_factor(s: float) -> float:
    """I2 I0 / I1^2 at b(s); 1/2 at s = 0."""
    if s == 0.0:
        return 0.5
    b = bingham_concentration(s)
    return special.ive(2, b) * special.ive(0, b) / special.ive(1, b) ** 2


def quadrature_moment(psi, order: int, centre: float = 0.0) -> np.ndarray:
    """The moment of the given order, ∫ p⊗...⊗p psi(theta) dtheta, by adaptive quadrature.

    Returns an array of shape (2,) * order (a float for order 0). One integral per distinct
    component (the moment is fully symmetric). psi is integrated over one period starting at
    centre - pi/2, with break points at centre and centre + pi (where a Bingham distribution with
    director angle centre peaks).
    """

    def component(index):
        twos = sum(index)

        def integrand(t):
            return np.cos(t) ** (order - twos) * np.sin(t) ** twos * psi(t)

        value, _ = integrate.quad(
            integrand,
            centre - np.pi / 2,
            centre + 3 * np.pi / 2,
            points=[centre, centre + np.pi],
            epsabs=1e-12,
            epsrel=1e-13,
            limit=400,
        )
        return value

    by_twos = [component((0,) * (order - k) + (1,) * k) for k in range(order + 1)]
    moment = np.empty((2,) * order)
    for index in np.ndindex(moment.shape):
        moment[index] = by_twos[sum(index)]
    return moment


def bingham_fourth_moment(c: float, mu1: float, phi: float) -> np.ndarray:
    """S of the Bingham distribution with trace c, eigenvalue c mu1 and director angle phi.

    Psi = c exp(b cos 2(theta - phi)) / normalisation, b from :func:`bingham_concentration`;
    returns (2, 2, 2, 2) by quadrature.
    """
    b = bingham_concentration(2 * mu1 - 1)
    # Scaled by exp(-b) so that the integrand stays O(1) for large b.
    weight = lambda t: np.exp(b * (np.cos(2 * (t - phi)) - 1.0))  # noqa: E731
    z = quadrature_moment(weight, 0, centre=phi)
    return c * quadrature_moment(weight, 4, centre=phi) / z

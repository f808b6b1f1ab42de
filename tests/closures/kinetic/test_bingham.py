"""The Bingham closure: exact values, identities, symmetry, derivatives and batching."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import closures.kinetic as ck
from closures.kinetic.bessel import SWITCH_ORDER_PARAMETER, power_coefficients
from tests.closures.kinetic import reference

EPS = float(jnp.finfo(jnp.float64).eps)

# Eigenvalue fractions mu1 of D/c from isotropy to nearly uniaxial, on both sides of the switch
# between the power series and Hankel's expansion (mu1 = 0.9899), and director angles.
MU1 = [0.5, 0.5 + 1e-7, 0.6, 0.75, 0.9, 0.98, (1 + SWITCH_ORDER_PARAMETER) / 2, 0.99, 0.999]
ANGLES = [0.0, 0.4, 1.3, -2.0]


@pytest.fixture(scope="module")
def quadrature_cases():
    """Second moments (n, 2, 2) and their Bingham fourth moments by scipy quadrature."""
    pairs = itertools.product(MU1, ANGLES)
    cases = [(1.0 + 0.7 * (k % 2), mu1, phi) for k, (mu1, phi) in enumerate(pairs)]
    D = np.array([reference.second_moment(*case) for case in cases])
    S = np.array([reference.bingham_fourth_moment(*case) for case in cases])
    return jnp.asarray(D), S


@pytest.fixture(scope="module")
def random_second_moments():
    """A (6, 5, 2, 2) field of second moments with random c, mu1 in [1/2, 1] and angles."""
    kc, kmu, kphi = jax.random.split(jax.random.PRNGKey(3), 3)
    c = jax.random.uniform(kc, (6, 5), minval=0.2, maxval=3.0)
    mu1 = jax.random.uniform(kmu, (6, 5), minval=0.5, maxval=1.0)
    mu1 = mu1.at[0, 0].set(0.5).at[0, 1].set(1.0)
    phi = jax.random.uniform(kphi, (6, 5), minval=-np.pi, maxval=np.pi)
    return _second_moments(c, mu1, phi)


def _second_moments(c, mu1, phi):
    """D = c R(phi) diag(mu1, 1 - mu1) R(phi)^T for arrays c, mu1, phi of one shape (...)."""
    n = jnp.stack([jnp.cos(phi), jnp.sin(phi)], axis=-1)
    m = jnp.stack([-jnp.sin(phi), jnp.cos(phi)], axis=-1)
    nn = n[..., :, None] * n[..., None, :]
    mm = m[..., :, None] * m[..., None, :]
    return c[..., None, None] * (mu1[..., None, None] * nn + (1 - mu1)[..., None, None] * mm)


def _uniaxial(c, phi):
    """c nnnn with n = (cos phi, sin phi); (2, 2, 2, 2)."""
    n = jnp.array([jnp.cos(phi), jnp.sin(phi)])
    return c * jnp.einsum("i,j,k,l->ijkl", n, n, n, n)


def test_agrees_with_scipy_quadrature(quadrature_cases):
    D, S_quadrature = quadrature_cases
    np.testing.assert_allclose(ck.bingham_fourth_moment(D), S_quadrature, rtol=0, atol=1e-10)


def test_harmonic_factor_agrees_with_scipy_bessel_ratios():
    s = np.concatenate(
        [
            np.linspace(0.0, 0.999, 38),
            SWITCH_ORDER_PARAMETER * (1 + np.array([-1e-12, 0.0, 1e-12])),
            1 - np.logspace(-8, -3, 6),
        ]
    )
    expected = [reference.bingham_harmonic_factor(v) for v in s]
    np.testing.assert_allclose(ck.bingham_harmonic_factor(jnp.asarray(s**2)), expected, rtol=1e-13)


def test_power_coefficients_keep_a_zero_top_coefficient():
    # A least-squares fit's top coefficient can come out exactly 0.0 (it did with one CPU's
    # BLAS, and the Bessel table then failed to build): the row keeps its full length.
    fit = np.polynomial.Chebyshev([1.0, 2.0, -0.5, 0.0], domain=[-0.25, 0.0])
    row = power_coefficients(fit, 3)
    assert row.shape == (4,) and row[-1] == 0.0
    t = np.linspace(-0.25, 0.0, 7)
    np.testing.assert_allclose(np.polynomial.polynomial.polyval(t, row), fit(t), rtol=1e-14)


def test_trace_identity_and_full_symmetry(random_second_moments):
    D = random_second_moments
    S = ck.bingham_fourth_moment(D)
    np.testing.assert_allclose(jnp.einsum("...ijkk->...ij", S), D, atol=10 * EPS)
    for axes in ["...jikl", "...kjil", "...ljki", "...klij"]:
        np.testing.assert_array_equal(jnp.einsum(f"...ijkl->{axes}", S), S)


@pytest.mark.parametrize("c", [1.0, 0.3, 2.5])
def test_isotropic_value_scales_with_c(c):
    S = ck.bingham_fourth_moment(c * jnp.eye(2) / 2)
    assert float(S[0, 0, 0, 0]) == pytest.approx(3 * c / 8, rel=10 * EPS)
    np.testing.assert_allclose(
        S, ck.fourth_moment_from_harmonics(jnp.asarray(c), 0.0, 0.0), atol=10 * EPS
    )


@pytest.mark.parametrize("phi", ANGLES)
def test_uniaxial_limit(phi):
    c = 1.7
    exact = ck.bingham_fourth_moment(_second_moments(*jnp.array([c, 1.0, phi])))
    np.testing.assert_allclose(exact, _uniaxial(c, phi), atol=10 * EPS)
    # The approach is linear in 1 - mu1 (about 2 c (1 - mu1) for the largest component).
    for gap in [1e-3, 1e-6, 1e-9]:
        near = ck.bingham_fourth_moment(_second_moments(*jnp.array([c, 1.0 - gap, phi])))
        assert float(jnp.max(jnp.abs(near - _uniaxial(c, phi)))) < 3 * c * gap


def test_rotation_equivariance(random_second_moments):
    D = random_second_moments
    R = jnp.asarray(reference.rotation(0.83))
    rotated = ck.bingham_fourth_moment(R @ D @ R.T)
    expected = jnp.einsum("ia,jb,kc,ld,...abcd->...ijkl", R, R, R, R, ck.bingham_fourth_moment(D))
    np.testing.assert_allclose(rotated, expected, atol=100 * EPS)


# Where derivatives are delicate: isotropy (degenerate eigenvalues), the switch between the series
# and Hankel's expansion, and the uniaxial limit; plus generic points for finite differences.
DERIVATIVE_MU1 = [0.5, 0.5 + 1e-9, 0.6, 0.8, (1 + SWITCH_ORDER_PARAMETER) / 2, 0.995, 1 - 1e-9, 1.0]


@pytest.fixture(scope="module")
def derivative_cases():
    """Second moments (8, 2, 2) at DERIVATIVE_MU1 and their Jacobians (8, 2, 2, 2, 2, 2, 2)."""
    mu1 = jnp.array(DERIVATIVE_MU1)
    D = _second_moments(jnp.full_like(mu1, 1.3), mu1, jnp.full_like(mu1, 0.6))
    return D, jax.jit(jax.vmap(jax.jacfwd(ck.bingham_fourth_moment)))(D)


def test_derivatives_are_finite(derivative_cases):
    D, jacobian = derivative_cases
    E = jnp.broadcast_to(jnp.array([[0.2, -0.5], [-0.5, -0.2]]), D.shape)
    c = jnp.trace(D, axis1=-2, axis2=-1)
    closure_jacobian = jax.jit(jax.vmap(jax.jacrev(ck.bingham_closure, argnums=(2, 3))))
    for derivative in [jacobian, *jax.tree.leaves(closure_jacobian((), c, D, E))]:
        assert bool(jnp.all(jnp.isfinite(derivative)))


def test_jacobian_matches_finite_differences(derivative_cases):
    D, jacobian = derivative_cases
    generic = jnp.array([2, 3, 5])  # mu1 = 0.6, 0.8, 0.995
    D, jacobian = D[generic], jacobian[generic]
    S, h = jax.jit(ck.bingham_fourth_moment), 1e-6
    for k, l in [(0, 0), (0, 1), (1, 1)]:
        # Symmetric perturbations keep D symmetric, as the closure assumes.
        dD = jnp.zeros((2, 2)).at[k, l].set(1.0).at[l, k].set(1.0)
        difference = (S(D + h * dD) - S(D - h * dD)) / (2 * h)
        directional = jnp.einsum("...ab,ab->...", jacobian, dD)
        np.testing.assert_allclose(directional, difference, rtol=0, atol=1e-8)


def test_harmonic_factor_has_finite_second_derivatives():
    x = jnp.array([0.0, 0.2, SWITCH_ORDER_PARAMETER**2, 0.995, 1.0])
    first = jax.jit(jax.vmap(jax.grad(ck.bingham_harmonic_factor)))
    second = jax.jit(jax.vmap(jax.grad(jax.grad(ck.bingham_harmonic_factor))))(x)
    assert bool(jnp.all(jnp.isfinite(second)))
    # g = 1/2 + x/6 + 5x²/48 + ... about isotropy; g is flat at the uniaxial end.
    np.testing.assert_allclose(first(x[:1]), [1 / 6], rtol=10 * EPS)
    np.testing.assert_allclose(second[0], 5 / 24, rtol=100 * EPS)
    h = 1e-6
    interior = x[1:4]
    difference = (first(interior + h) - first(interior - h)) / (2 * h)
    np.testing.assert_allclose(second[1:4], difference, rtol=1e-6)


def test_linear_response_at_isotropy():
    # S:D = c²/4 I + (3c/4) D' and S:E = (c/4) E + (D':E)/2 I to first order in a traceless D':
    # the response the growth rates of the isotropic state depend on.
    c = 1.6
    D_prime = jnp.array([[0.3, 0.2], [0.2, -0.3]])
    E = jnp.array([[0.1, -0.4], [-0.4, -0.1]])
    (S_D, S_E), (dS_D, dS_E) = jax.jvp(
        lambda eps: ck.bingham_closure((), c, c * jnp.eye(2) / 2 + eps * D_prime, E),
        (0.0,),
        (1.0,),
    )
    np.testing.assert_allclose(S_D, c**2 / 4 * jnp.eye(2), atol=10 * EPS)
    np.testing.assert_allclose(S_E, c / 4 * E, atol=10 * EPS)
    np.testing.assert_allclose(dS_D, 3 * c / 4 * D_prime, atol=100 * EPS)
    np.testing.assert_allclose(dS_E, jnp.sum(D_prime * E) / 2 * jnp.eye(2), atol=100 * EPS)


def test_jit_and_vmap_over_a_grid(random_second_moments):
    D = random_second_moments
    broadcast = ck.bingham_fourth_moment(D)
    np.testing.assert_allclose(jax.jit(ck.bingham_fourth_moment)(D), broadcast, atol=10 * EPS)
    mapped = jax.vmap(jax.vmap(ck.bingham_fourth_moment))(D)
    np.testing.assert_allclose(mapped, broadcast, atol=10 * EPS)
    one = ck.bingham_fourth_moment(D[2, 3])
    np.testing.assert_allclose(broadcast[2, 3], one, atol=10 * EPS)


def test_order_parameter_beyond_one_counts_as_uniaxial():
    # Round-off can push s² = |m̂₂|² of a nearly uniaxial D just above 1.
    g = ck.bingham_harmonic_factor(jnp.array([1.0, 1.0 + 1e-14, 1.5]))
    np.testing.assert_array_equal(g, 1.0)

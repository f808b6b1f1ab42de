"""The shared closure signature, the registry and the tensor basis of learned closures."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import closures.kinetic as ck
from tests.closures.kinetic import reference

EPS = float(jnp.finfo(jnp.float64).eps)


@pytest.fixture(scope="module")
def fields():
    """c (4, 3), D and a traceless E (4, 3, 2, 2), D positive definite with tr D = c."""
    ka, ke = jax.random.split(jax.random.PRNGKey(11))
    A = jax.random.normal(ka, (4, 3, 2, 2))
    D = A @ jnp.swapaxes(A, -1, -2) + 0.05 * jnp.eye(2)
    G = jax.random.normal(ke, (4, 3, 2, 2))
    E = (G + jnp.swapaxes(G, -1, -2)) / 2
    E = E - jnp.trace(E, axis1=-2, axis2=-1)[..., None, None] * jnp.eye(2) / 2
    return jnp.trace(D, axis1=-2, axis2=-1), D, E


def test_registry_names_the_classical_closures():
    assert ck.CLOSURES == {"bingham": ck.bingham_closure, "quadratic": ck.quadratic_closure}


@pytest.mark.parametrize("name", sorted(ck.CLOSURES))
def test_closures_have_the_shared_signature(name, fields):
    c, D, E = fields
    S_D, S_E = jax.jit(ck.CLOSURES[name])((), c, D, E)
    for out in (S_D, S_E):
        assert out.shape == D.shape and out.dtype == jnp.float64
        np.testing.assert_allclose(out, jnp.swapaxes(out, -1, -2), atol=100 * EPS)
    # Trace identity S_iikl = D_kl: tr(S:T) = D:T.
    for out, T in ((S_D, D), (S_E, E)):
        np.testing.assert_allclose(
            jnp.trace(out, axis1=-2, axis2=-1), jnp.sum(D * T, axis=(-2, -1)), atol=1e3 * EPS
        )


@pytest.mark.parametrize("name", sorted(ck.CLOSURES))
def test_empty_cells_give_zero(name):
    zero = jnp.zeros((2, 2))
    S_D, S_E = ck.CLOSURES[name]((), 0.0, zero, jnp.array([[1.0, 0.5], [0.5, -1.0]]))
    np.testing.assert_array_equal(S_D, zero)
    np.testing.assert_array_equal(S_E, zero)


def test_exact_closure_of_the_bingham_moment_is_the_bingham_closure(fields):
    c, D, E = fields
    exact = ck.exact_closure(ck.bingham_fourth_moment(D), c, D, E)
    for got, want in zip(exact, ck.bingham_closure((), c, D, E), strict=True):
        np.testing.assert_allclose(got, want, atol=10 * EPS)


@pytest.mark.parametrize("c", [1.0, 2.0])
def test_bingham_at_isotropy_gives_the_exact_isotropic_values(c, fields):
    _, _, E = fields
    D = c * jnp.eye(2) / 2
    S_D, S_E = ck.bingham_closure((), c, D, E)
    np.testing.assert_allclose(S_E, c * E / 4, atol=10 * EPS)
    np.testing.assert_allclose(
        S_D, jnp.broadcast_to(c**2 / 4 * jnp.eye(2), S_D.shape), atol=10 * EPS
    )
    if c == 1.0:  # SCIENCE.md's form, for c = 1
        np.testing.assert_allclose(S_D, jnp.broadcast_to(c / 8 * jnp.eye(2) + D / 4, S_D.shape))


def test_invariants_are_rotation_invariant(fields):
    _, D, E = fields
    R = jnp.asarray(reference.rotation(2.1))
    got = ck.invariants(D, E)
    assert got.shape == (4, 3, 3)
    np.testing.assert_allclose(ck.invariants(R @ D @ R.T, R @ E @ R.T), got, rtol=1e3 * EPS)
    np.testing.assert_allclose(got[..., 0], jnp.trace(D @ D, axis1=-2, axis2=-1), rtol=100 * EPS)
    np.testing.assert_allclose(got[..., 1], jnp.trace(E @ E, axis1=-2, axis2=-1), rtol=100 * EPS)
    np.testing.assert_allclose(got[..., 2], jnp.trace(D @ E, axis1=-2, axis2=-1), atol=100 * EPS)


def test_tensor_basis_is_rotation_equivariant(fields):
    _, D, E = fields
    coefficients = jax.random.normal(jax.random.PRNGKey(2), (4, 3, 5))
    R = jnp.asarray(reference.rotation(-0.9))
    rotated = ck.tensor_basis(coefficients, R @ D @ R.T, R @ E @ R.T)
    for got, plain in zip(rotated, ck.tensor_basis(coefficients, D, E), strict=True):
        np.testing.assert_allclose(got, R @ plain @ R.T, atol=100 * EPS)


@pytest.mark.parametrize("c", [1.0, 0.4, 2.0])
def test_isotropic_coefficients_reproduce_the_isotropic_closure(c, fields):
    _, _, E = fields
    S_iso = ck.fourth_moment_from_harmonics(jnp.asarray(c), 0.0, 0.0)
    D = c * jnp.eye(2) / 2
    coefficients = ck.isotropic_coefficients(jnp.full(E.shape[:-2], c))
    S_D, S_E = ck.tensor_basis(coefficients, D, E)
    np.testing.assert_allclose(
        S_D, jnp.broadcast_to(ck.contract(S_iso, D), S_D.shape), atol=10 * EPS
    )
    np.testing.assert_allclose(S_E, ck.contract(S_iso, E), atol=10 * EPS)


def test_isotropic_coefficients_give_the_bingham_linear_response(fields):
    # Coefficients that depend on the invariants are constant to first order about isotropy,
    # so their isotropic values alone must give the linear response of S:D.
    c = 1.0
    D_prime = jnp.array([[0.3, 0.2], [0.2, -0.3]])

    def response(closure):
        return jax.jvp(lambda eps: closure(c * jnp.eye(2) / 2 + eps * D_prime)[0], (0.0,), (1.0,))

    coefficients = ck.isotropic_coefficients(jnp.asarray(c))
    zero = jnp.zeros((2, 2))
    basis = response(lambda D: ck.tensor_basis(coefficients, D, zero))
    bingham = response(lambda D: ck.bingham_closure((), c, D, zero))
    for got, want in zip(basis, bingham, strict=True):
        np.testing.assert_allclose(got, want, atol=100 * EPS)
    # SCIENCE.md's split (beta0, beta1) = (1/8, 1/4) matches the value but not the response.
    science = response(lambda D: ck.tensor_basis(jnp.array([0, 0, 0.25, 0.125, 0.25]), D, zero))
    np.testing.assert_allclose(science[0], bingham[0], atol=10 * EPS)
    assert not np.allclose(science[1], bingham[1])

"""The quadratic closure S = DD/c."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import closures.kinetic as ck

EPS = float(jnp.finfo(jnp.float64).eps)


@pytest.mark.parametrize("c", [1.0, 2.5])
def test_quarter_instead_of_three_eighths_at_isotropy(c):
    S = ck.quadratic_fourth_moment(c * jnp.eye(2) / 2)
    assert float(S[0, 0, 0, 0]) == pytest.approx(c / 4, rel=10 * EPS)
    assert float(S[0, 0, 1, 1]) == pytest.approx(c / 4, rel=10 * EPS)
    assert float(S[0, 1, 0, 1]) == 0.0


def test_trace_identity_and_definition():
    A = jax.random.normal(jax.random.PRNGKey(5), (4, 3, 2, 2))
    D = A @ jnp.swapaxes(A, -1, -2) + 0.1 * jnp.eye(2)
    S = ck.quadratic_fourth_moment(D)
    np.testing.assert_allclose(jnp.einsum("...ijkk->...ij", S), D, rtol=100 * EPS)
    c = jnp.trace(D, axis1=-2, axis2=-1)
    np.testing.assert_allclose(S[1, 2], jnp.einsum("ij,kl->ijkl", D[1, 2], D[1, 2]) / c[1, 2])

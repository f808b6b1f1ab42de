"""Spectral grid: transforms, derivatives of trigonometric fields, 2/3-rule dealiasing and the
Stokes projection against a manufactured solution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physics.spectral as sp

EPS = float(jnp.finfo(jnp.float64).eps)
N, L = 16, 3.0


@pytest.fixture(scope="module")
def grid():
    return sp.make_grid(N, L)


@pytest.fixture(scope="module")
def xy(grid):
    x, y = jnp.meshgrid(grid.x, grid.x, indexing="ij")
    return x, y


def test_grid_layout(grid):
    assert grid.kx.shape == (N, 1) and grid.ky.shape == (1, N // 2 + 1)
    assert grid.k2.shape == grid.dealias.shape == (N, N // 2 + 1)
    kappa = 2 * np.pi / L
    np.testing.assert_allclose(grid.kx[:3, 0], kappa * np.arange(3))
    assert grid.kx[N // 2, 0] == 0 and grid.ky[0, -1] == 0  # Nyquist: no odd derivative
    assert grid.k2[N // 2, 0] == pytest.approx((kappa * N / 2) ** 2)
    kept = np.flatnonzero(np.asarray(grid.dealias[:, 0]))
    np.testing.assert_array_equal(
        sp.wavenumber_indices(N)[kept], [0, 1, 2, 3, 4, 5, -5, -4, -3, -2, -1]
    )
    with pytest.raises(ValueError, match="even"):
        sp.make_grid(15, L)


def test_transforms_round_trip_and_layout():
    f = jax.random.normal(jax.random.key(0), (N, N, 2, 3))
    f_hat = sp.rfft2(f)
    assert f_hat.shape == (2, 3, N, N // 2 + 1)
    np.testing.assert_allclose(sp.irfft2(f_hat), f, atol=10 * EPS)


def test_derivatives_of_trigonometric_fields(grid, xy):
    x, y = xy
    a, b = 2 * np.pi / L * 2, 2 * np.pi / L * 3
    f = jnp.sin(a * x) * jnp.cos(b * y)
    grad = sp.irfft2(sp.gradient(grid, sp.rfft2(f)))
    np.testing.assert_allclose(grad[..., 0], a * jnp.cos(a * x) * jnp.cos(b * y), atol=1e-12)
    np.testing.assert_allclose(grad[..., 1], -b * jnp.sin(a * x) * jnp.sin(b * y), atol=1e-12)
    lap = sp.irfft2(sp.laplacian(grid, sp.rfft2(f)))
    np.testing.assert_allclose(lap, -(a**2 + b**2) * f, atol=1e-11)
    v = jnp.stack([f, f**2], axis=-1)
    div = sp.irfft2(sp.divergence(grid, sp.rfft2(v)))
    expected = a * jnp.cos(a * x) * jnp.cos(b * y) - 2 * b * f * jnp.sin(a * x) * jnp.sin(b * y)
    np.testing.assert_allclose(div, expected, atol=1e-11)


def test_dealiased_product_is_exact(grid, xy):
    """Band-limited to |index| < n/3, the masked grid product equals the exact product's
    masked part: aliases land only on removed modes."""
    x, y = xy
    kappa = 2 * np.pi / L
    f = jnp.cos(kappa * (5 * x + 4 * y)) + jnp.sin(kappa * 3 * y)
    g = jnp.cos(kappa * (5 * x - 2 * y))
    # f g has modes (0, 6) and (10, 2) (aliased to (-6, 2) on 16 points), both removed, and
    # (5, 1), (5, -5), kept.
    exact_kept = 0.5 * (jnp.sin(kappa * (5 * x + y)) - jnp.sin(kappa * (5 * x - 5 * y)))
    masked = sp.irfft2(sp.rfft2(f * g) * grid.dealias)
    np.testing.assert_allclose(masked, exact_kept, atol=1e-13)


def test_stokes_projection_solves_a_manufactured_problem(grid, xy):
    """Σ = −(∇u* + ∇u*ᵀ) + P* I gives ∇·Σ = −Δu* + ∇P*, so the solver must return u*."""
    x, y = xy
    kappa = 2 * np.pi / L
    psi = jnp.sin(kappa * x) * jnp.cos(2 * kappa * y) + 0.3 * jnp.cos(kappa * (x + 3 * y))
    psi_hat = sp.rfft2(psi)
    # u* = ∇⊥ψ = (∂yψ, −∂xψ) is divergence-free.
    u_star = sp.irfft2(jnp.stack([1j * grid.ky * psi_hat, -1j * grid.kx * psi_hat]))
    grad = sp.irfft2(sp.gradient(grid, sp.rfft2(u_star)))
    pressure = jnp.cos(kappa * (2 * x - y))
    sigma = -(grad + jnp.swapaxes(grad, -1, -2)) + pressure[..., None, None] * jnp.eye(2)
    for viscosity in (1.0, 2.5):
        u = sp.irfft2(sp.stokes_velocity(grid, sp.rfft2(sigma), viscosity))
        np.testing.assert_allclose(u, u_star / viscosity, atol=1e-12)


def test_projected_velocity_is_divergence_free_to_round_off(grid):
    sigma = jax.random.normal(jax.random.key(1), (N, N, 2, 2))
    u_hat = sp.stokes_velocity(grid, sp.rfft2(sigma))
    div = sp.irfft2(sp.divergence(grid, u_hat))
    u = sp.irfft2(u_hat)
    assert float(jnp.max(jnp.abs(div))) < 100 * EPS * float(jnp.max(jnp.abs(u))) * N
    assert float(jnp.abs(u_hat[:, 0, 0]).max()) == 0.0


def test_two_real_fields_from_one_complex_transform():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, N, N))
    z_hat = jnp.fft.fft2(a + 1j * b)
    np.testing.assert_allclose(sp.reflected(z_hat)[2, 5], z_hat[N - 2, N - 5])
    np.testing.assert_allclose(sp.reflected(z_hat)[0, 0], z_hat[0, 0])
    a_hat, b_hat = sp.unpack_pair(z_hat)
    scale = float(jnp.max(jnp.abs(z_hat)))
    np.testing.assert_allclose(a_hat, np.fft.fft2(a), atol=100 * EPS * scale)
    np.testing.assert_allclose(b_hat, np.fft.fft2(b), atol=100 * EPS * scale)

"""Periodic 2D Fourier grid on the box [0, L)²: real FFTs, wavenumbers, 2/3-rule dealiasing,
spectral derivatives and the Stokes projection.

Layouts. A real field is grid-first, components last: (n, n, *components), axis 0 = x,
axis 1 = y, node (i, j) at (i L/n, j L/n). Its spectrum (:func:`rfft2`) is components-first, grid
last: (*components, n, n//2 + 1), full FFT in x, real FFT in y, numpy's unnormalised forward
convention. Spectra keep the grid on the trailing axes so that every FFT in the solvers is a
batched FFT over trailing axes, with no transposes inside the loops.

Odd derivatives use wavenumbers with the Nyquist entries set to 0 (the derivative of a real
field's Nyquist mode is not representable as a real field); |k|² keeps them (second derivatives
are). Units: lengths in units of L's unit, wavenumbers in radians per unit length.
"""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array


class Grid(NamedTuple):
    """Wavenumber tables of an n × n periodic grid of side L (n even).

    L: () box side. x: (n,) node coordinates i L / n (the same for y).
    kx: (n, 1) x-wavenumbers (2π/L) × (0, 1, …, n/2 − 1, −n/2, …, −1), Nyquist set to 0.
    ky: (1, n//2 + 1) y-wavenumbers (2π/L) × (0, 1, …, n/2), Nyquist set to 0.
    k2: (n, n//2 + 1) |k|², Nyquist modes included.
    dealias: (n, n//2 + 1) 1.0 on the modes the 2/3 rule keeps (|index| < n/3 along both axes),
        else 0.0.
    """

    L: Array
    x: Array
    kx: Array
    ky: Array
    k2: Array
    dealias: Array


def wavenumber_indices(n: int) -> np.ndarray:
    """(n,) integer mode numbers of a length-n FFT in numpy order: 0, 1, …, n/2 − 1, −n/2, …, −1."""
    return np.fft.fftfreq(n, d=1.0 / n).round().astype(np.int64)


def two_thirds_keep(indices: np.ndarray, n: int) -> np.ndarray:
    """Boolean mask of the mode numbers the 2/3 rule keeps on an n-point axis: |index| < n/3.

    A quadratic product of fields band-limited to |index| < n/3 aliases only onto modes with
    |index| ≥ n/3, which the mask removes again (Orszag 1971).
    """
    return 3 * np.abs(indices) < n


def make_grid(n: int, L: Array | float) -> Grid:
    """The :class:`Grid` of n × n points (n even, static) on [0, L)²; L may be traced."""
    if n % 2:
        raise ValueError(f"the grid size must be even, got n={n}")
    L = jnp.asarray(L, dtype=float)
    scale = 2 * jnp.pi / L
    ix = wavenumber_indices(n)
    iy = np.arange(n // 2 + 1)
    ix_odd = np.where(ix == -n // 2, 0, ix)
    iy_odd = np.where(iy == n // 2, 0, iy)
    dealias = two_thirds_keep(ix, n)[:, None] & two_thirds_keep(iy, n)[None, :]
    return Grid(
        L=L,
        x=L * jnp.arange(n) / n,
        kx=scale * jnp.asarray(ix_odd, dtype=float)[:, None],
        ky=scale * jnp.asarray(iy_odd, dtype=float)[None, :],
        k2=scale**2 * jnp.asarray(ix[:, None] ** 2 + iy[None, :] ** 2, dtype=float),
        dealias=jnp.asarray(dealias, dtype=float),
    )


def rfft2(f: Array) -> Array:
    """Spectrum of a real grid-first field: (n, n, *c) -> (*c, n, n//2 + 1) complex."""
    return jnp.fft.rfft2(jnp.moveaxis(f, (0, 1), (-2, -1)))


def irfft2(f_hat: Array) -> Array:
    """Real grid-first field of a spectrum: (*c, n, n//2 + 1) -> (n, n, *c)."""
    n = f_hat.shape[-2]
    return jnp.moveaxis(jnp.fft.irfft2(f_hat, s=(n, n)), (-2, -1), (0, 1))


def reflected(f_hat: Array) -> Array:
    """f_hat at −k on a full FFT grid: (..., n, n) -> (..., n, n), entry (i, j) taken from
    ((−i) mod n, (−j) mod n). conj(reflected(fft2(f))) is fft2(conj(f))."""
    # Reverse both axes, then roll by one: fewer materialised copies than reflecting each
    # axis by slices and concatenations (it sits in the Stokes iteration's inner loop).
    return jnp.roll(jnp.flip(f_hat, (-2, -1)), 1, (-2, -1))


def unpack_pair(z_hat: Array) -> tuple[Array, Array]:
    """Full-grid spectra (â, b̂) of the real fields a, b packed as z = a + ib, given
    z_hat = fft2(z) (..., n, n): two real transforms for the price of one complex one."""
    mirror = jnp.conj(reflected(z_hat))
    return (z_hat + mirror) / 2, (z_hat - mirror) / 2j


def gradient(grid: Grid, f_hat: Array) -> Array:
    """Spectrum of ∇f: (*c, n, m) -> (*c, 2, n, m), the new axis j holding ∂f/∂x_j.

    For a vector u, gradient(u)[i, j] = ∂u_i/∂x_j, the convention (∇u)_ij of the kinetic theory.
    """
    return jnp.stack([1j * grid.kx * f_hat, 1j * grid.ky * f_hat], axis=-3)


def divergence(grid: Grid, f_hat: Array) -> Array:
    """Spectrum of ∂f_{…j}/∂x_j, contracting the last component axis: (*c, 2, n, m) -> (*c, n, m).

    For a vector it is ∇·u; for a tensor Σ it is (∇·Σ)_i = ∂Σ_ij/∂x_j.
    """
    return 1j * (grid.kx * f_hat[..., 0, :, :] + grid.ky * f_hat[..., 1, :, :])


def laplacian(grid: Grid, f_hat: Array) -> Array:
    """Spectrum of Δf: (*c, n, m) -> (*c, n, m)."""
    return -grid.k2 * f_hat


def stokes_velocity(grid: Grid, sigma_hat: Array, viscosity: Array | float = 1.0) -> Array:
    """Velocity of −ν Δu + ∇P = ∇·Σ, ∇·u = 0 on the periodic box, with zero mean velocity.

    sigma_hat: (2, 2, n, m) spectrum of the stress Σ_ij. viscosity: () ν > 0.
    Returns û (2, n, m) = |k|⁻² (I − k̂k̂)(i k·Σ̂) / ν, with û(0) = 0. The projection uses the
    odd-derivative wavenumbers, so :func:`divergence` of û vanishes to round-off.
    """
    force = divergence(grid, sigma_hat)
    kd2 = grid.kx**2 + grid.ky**2
    inv_k2 = jnp.where(kd2 > 0, 1.0 / jnp.where(kd2 > 0, kd2, 1.0), 0.0)
    k_dot_f = (grid.kx * force[0] + grid.ky * force[1]) * inv_k2
    return jnp.stack([force[0] - grid.kx * k_dot_f, force[1] - grid.ky * k_dot_f]) * (
        inv_k2 / viscosity
    )

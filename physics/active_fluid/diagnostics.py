"""Pointwise and averaged diagnostics of active-fluid fields (grid-first real arrays).

c (n, n), D (n, n, 2, 2), u (n, n, 2) on the periodic box of side L; averages are over the box
area (means over grid points).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from physics.spectral import irfft2, make_grid, rfft2, wavenumber_indices


class VelocityStatistics(NamedTuple):
    """rms: () √⟨|u|²⟩. mean: (2,) ⟨u⟩. mean_speed: () ⟨|u|⟩. max_speed: () max |u|."""

    rms: Array
    mean: Array
    mean_speed: Array
    max_speed: Array


def order_parameter(c: Array, D: Array) -> Array:
    """Scalar nematic order s = 2μ₁ − 1 (n, n), μ₁ the largest eigenvalue of D/c.

    0 for isotropy, 1 for perfect alignment; uses tr D (= c for consistent fields).
    """
    trace = D[..., 0, 0] + D[..., 1, 1]
    spread = jnp.sqrt((D[..., 0, 0] - D[..., 1, 1]) ** 2 + 4 * D[..., 0, 1] ** 2)
    return (trace + spread) / c - 1


def mean_order_parameter(c: Array, D: Array) -> Array:
    """() the box average of the pointwise :func:`order_parameter`."""
    return jnp.mean(order_parameter(c, D))


def director_angle(D: Array) -> Array:
    """Angle (n, n) in (−π/2, π/2] of D's principal eigenvector: ½ atan2(2 D12, D11 − D22)."""
    return 0.5 * jnp.arctan2(2 * D[..., 0, 1], D[..., 0, 0] - D[..., 1, 1])


def velocity_statistics(u: Array) -> VelocityStatistics:
    """Box statistics of a velocity field u (n, n, 2)."""
    speed = jnp.sqrt(jnp.sum(u**2, axis=-1))
    return VelocityStatistics(
        rms=jnp.sqrt(jnp.mean(speed**2)),
        mean=jnp.mean(u, axis=(0, 1)),
        mean_speed=jnp.mean(speed),
        max_speed=jnp.max(speed),
    )


def kinetic_energy(u: Array) -> Array:
    """() ½⟨|u|²⟩, kinetic energy per unit area."""
    return 0.5 * jnp.mean(jnp.sum(u**2, axis=-1))


def vorticity(u: Array, L: Array | float) -> Array:
    """ω = ∂u_y/∂x − ∂u_x/∂y (n, n), spectrally."""
    grid = make_grid(u.shape[0], L)
    u_hat = rfft2(u)
    return irfft2(1j * (grid.kx * u_hat[1] - grid.ky * u_hat[0]))


def enstrophy(u: Array, L: Array | float) -> Array:
    """() ½⟨ω²⟩ per unit area."""
    return 0.5 * jnp.mean(vorticity(u, L) ** 2)


def velocity_spectrum(u: Array, L: Array | float) -> tuple[Array, Array]:
    """Shell-summed energy spectrum (k (n//2 + 1,), E (n//2 + 1,)) of u (n, n, 2).

    E_j sums ½|û(k)|² (û normalised so Parseval gives Σ_k ½|û|² = ½⟨|u|²⟩) over the wave
    vectors with round(|k| L/2π) = j, j = 0 … n/2; the corners beyond n/2 are left out, so
    Σ_j E_j = kinetic_energy(u) up to those modes. k_j = 2πj/L.
    """
    n = u.shape[0]
    u_hat = jnp.fft.fft2(u, axes=(0, 1)) / n**2
    density = 0.5 * jnp.sum(jnp.abs(u_hat) ** 2, axis=-1)
    index = wavenumber_indices(n)
    shell = jnp.round(jnp.sqrt(index[:, None] ** 2 + index[None, :] ** 2)).astype(int)
    # segment_sum drops the shell indices beyond n/2 (the corners).
    spectrum = jax.ops.segment_sum(density.ravel(), shell.ravel(), num_segments=n // 2 + 1)
    return 2 * jnp.pi / L * jnp.arange(n // 2 + 1), spectrum

"""Initial distributions Ψ (n, n, n_theta) on node (i, j) = (iL/n, jL/n) and θ_t = 2πt/n_θ.

All are apolar (even harmonics only), real, and have mean concentration 1 unless stated.
Wave vectors are given by integer index (ix, iy): k = (2π/L)(ix, iy), so the fields depend on
the grid only, not on L.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

NORMAL = 0.0
"""Phase of the θ-mode-2 profile cos 2(θ − φ) − 0: the normal part relative to k (no flow)."""
SHEAR = math.pi / 2
"""Phase of the θ-mode-2 profile cos(2(θ − φ) − π/2) = sin 2(θ − φ): the shear part."""


def isotropic(n: int, n_theta: int, c_mean: float = 1.0) -> Array:
    """The uniform isotropic state Ψ = c_mean/2π, shape (n, n, n_theta)."""
    return jnp.full((n, n, n_theta), c_mean / (2 * jnp.pi))


def _phases(n: int, n_theta: int, k_index: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(k·x (n, n, 1), θ (n_theta,)) for the integer wave index."""
    i = np.arange(n)
    kx = 2 * np.pi * (k_index[0] * i[:, None] + k_index[1] * i[None, :]) / n
    return kx[..., None], 2 * np.pi * np.arange(n_theta) / n_theta


def plane_wave(
    n: int, n_theta: int, k_index: tuple[int, int], m: int, amplitude: float, phase: float = 0.0
) -> Array:
    """δΨ = (amplitude/2π) cos(k·x) cos(m(θ − φ) − phase), φ the angle of k, m even.

    For m = 2, phase :data:`NORMAL` and :data:`SHEAR` select the normal and shear parts of
    the mode-2 perturbation relative to k (see :mod:`physics.active_fluid.stability`).
    For m = 0 use phase 0 (a concentration wave of relative amplitude ``amplitude``).
    """
    if m % 2:
        raise ValueError(f"apolar perturbations have even harmonics only, got m={m}")
    kx, theta = _phases(n, n_theta, k_index)
    angle = math.atan2(k_index[1], k_index[0])
    return jnp.asarray(amplitude / (2 * np.pi) * np.cos(kx) * np.cos(m * (theta - angle) - phase))


def single_mode(
    n: int,
    n_theta: int,
    k_index: tuple[int, int],
    m: int,
    amplitude: float = 1e-6,
    phase: float = 0.0,
) -> Array:
    """Isotropy plus one :func:`plane_wave`: the initial condition of a stability test."""
    return isotropic(n, n_theta) + plane_wave(n, n_theta, k_index, m, amplitude, phase)


def random_plane_waves(
    key: Array | int,
    n: int,
    n_theta: int,
    amplitude: float = 1e-2,
    max_wavenumber: int = 4,
    max_harmonic: int = 4,
) -> Array:
    """Isotropy perturbed by a seeded random superposition of low plane waves in (x, y, θ).

    Ψ = (1/2π)[1 + amplitude Σ a cos(k·x + mθ + χ)/√N] over wave indices
    |ix|, |iy| ≤ max_wavenumber and even 0 ≤ m ≤ max_harmonic (except k = 0, m = 0, so the mean
    of c stays 1), with a ~ N(0, 1), χ ~ U[0, 2π), N the number of terms.
    key: a jax PRNG key or an int seed.
    """
    if isinstance(key, int):
        key = jax.random.key(key)
    K = max_wavenumber
    ks = np.arange(-K, K + 1)
    ms = np.arange(0, max_harmonic + 1, 2)
    shape = (len(ks), len(ks), len(ms))
    k_amp, k_phase = jax.random.split(key)
    weights = jax.random.normal(k_amp, shape) * jnp.exp(
        2j * jnp.pi * jax.random.uniform(k_phase, shape)
    )
    weights = weights.at[K, K, 0].set(0.0) / math.sqrt(weights.size - 1)
    i = np.arange(n)
    theta = 2 * np.pi * np.arange(n_theta) / n_theta
    waves_x = jnp.exp(2j * jnp.pi * np.outer(i, ks) / n)
    waves_theta = jnp.exp(1j * np.outer(theta, ms))
    field = jnp.einsum("abm,ia,jb,tm->ijt", weights, waves_x, waves_x, waves_theta)
    return (1 + amplitude * jnp.real(field)) / (2 * jnp.pi)

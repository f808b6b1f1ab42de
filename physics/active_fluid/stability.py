"""Linear stability of the isotropic state, growth-rate measurement, and a time-step limit.

Linearising about Ψ = 1/2π (mean c = 1) a plane wave exp(i k·x) with wave vector k = |k| k̂,
k̂⊥ = (−k̂₂, k̂₁), the θ-mode-2 part of the perturbation is D' = D − cI/2, split relative to k̂:

    shear part  D'_s = k̂⊥·D'·k̂   (D' ∝ k̂k̂⊥ + k̂⊥k̂: drives flow),
    normal part D'_n = (k̂·D'·k̂ − k̂⊥·D'·k̂⊥)/2   (D' ∝ k̂k̂ − k̂⊥k̂⊥: its stress is a gradient).

In Ψ these are the θ-profiles sin 2(θ − φ) and cos 2(θ − φ), φ the angle of k. They decouple,
and (with ν = 1 + β/8, the Stokes viscosity renormalised by the isotropic S:E = E/4)

    σ_shear = −d_T k² + ζ − 4 d_R − (α − ζβ/2) / (4ν),   σ_normal = −d_T k² + ζ − 4 d_R,
    σ_c = −d_T k²,   σ_m = −d_R m² − d_T k² for every other harmonic m.
"""

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array

from physics.active_fluid.params import ActiveFluidParams


class GrowthRates(NamedTuple):
    """Growth rates (per unit time) of the isotropic state's perturbations at one wavenumber."""

    shear: Array
    normal: Array
    concentration: Array


class ModeAmplitudes(NamedTuple):
    """Complex Fourier amplitudes at one wave vector (same leading shape as the input)."""

    concentration: Array
    shear: Array
    normal: Array


def predicted_growth_rates(params: ActiveFluidParams, k: Array | float) -> GrowthRates:
    """Analytic growth rates of perturbations of isotropy (mean c = 1) at wavenumber |k| > 0."""
    diffusion = -params.d_t * k**2
    normal = diffusion + params.zeta - 4 * params.d_r
    flow = (params.alpha - params.zeta * params.beta / 2) / (4 * (1 + params.beta / 8))
    return GrowthRates(shear=normal - flow, normal=normal, concentration=diffusion)


def harmonic_growth_rate(params: ActiveFluidParams, k: Array | float, m: Array | int) -> Array:
    """Decay rate −d_R m² − d_T k² of θ-harmonic m ∉ {0, 2} (any m for d_T, d_R alone)."""
    return -params.d_r * m**2 - params.d_t * k**2


def wave_vector(k_index: tuple[int, int], L: Array | float) -> tuple[Array, float]:
    """(|k|, angle φ) of the wave vector (2π/L)(ix, iy)."""
    ix, iy = k_index
    return 2 * math.pi / L * math.hypot(ix, iy), math.atan2(iy, ix)


def _split(D_k: Array, angle: float) -> tuple[Array, Array]:
    """(shear, normal) parts of (..., 2, 2) tensors relative to the direction angle."""
    k_hat = jnp.array([math.cos(angle), math.sin(angle)])
    k_perp = jnp.array([-math.sin(angle), math.cos(angle)])
    along = lambda a, b: jnp.einsum("i,...ij,j->...", a, D_k, b)  # noqa: E731
    return along(k_perp, k_hat), (along(k_hat, k_hat) - along(k_perp, k_perp)) / 2


def mode_amplitudes(c_hat: Array, D_hat: Array, k_index: tuple[int, int]) -> ModeAmplitudes:
    """Concentration, shear and normal amplitudes at wave index (ix, iy), 0 ≤ iy ≤ n/2.

    c_hat: (..., n, n//2 + 1), D_hat: (..., 2, 2, n, n//2 + 1) spectra (e.g. a time series
    from a moment trajectory, or :func:`physics.active_fluid.kinetic.moment_spectra`).
    """
    ix, iy = k_index
    angle = math.atan2(iy, ix)
    shear, normal = _split(D_hat[..., ix, iy], angle)
    return ModeAmplitudes(c_hat[..., ix, iy], shear, normal)


def harmonic_amplitude(psi_hat: Array, k_index: tuple[int, int], m: int) -> Array:
    """Kinetic spectrum at wave index (ix, iy) and θ-harmonic e^{−imθ}, m even, |m| < n_θ/2.

    psi_hat: (..., n_theta/2, n, n//2 + 1). Returns (...) complex.
    """
    if m % 2:
        raise ValueError(f"only even harmonics are stored, got m={m}")
    ix, iy = k_index
    return psi_hat[..., m // 2, ix, iy]


def fit_growth_rate(t: Array, amplitude: Array) -> float:
    """Least-squares slope of log|amplitude| against t (T,): the growth rate per unit time."""
    t = np.asarray(t, dtype=float)
    log_a = np.log(np.abs(np.asarray(amplitude)))
    return float(np.polyfit(t, log_a, 1)[0])


def _sbdf2_amplification(explicit: np.ndarray, damping: np.ndarray) -> np.ndarray:
    """Largest root modulus of constant-step SBDF2 for ∂t u = i λ u − μ u, λ explicit, μ
    implicit, given z = i λ dt (explicit) and w = μ dt (damping): (3/2 + w)ζ² − 2(1 + z)ζ
    + (1/2 + z) = 0."""
    a = 1.5 + damping
    b = -2 * (1 + explicit)
    c = 0.5 + explicit
    root = np.sqrt(b * b - 4 * a * c)
    return np.maximum(np.abs(-b + root), np.abs(-b - root)) / (2 * np.abs(a))


def max_stable_dt(
    params: ActiveFluidParams,
    n: int,
    n_theta: int | None = None,
    *,
    c_max: float = 1.0,
    growth_per_step: float = 0.01,
) -> float:
    """Estimate of the largest stable step of the SBDF2 solvers (kinetic, or moment if
    n_theta is None) on an n × n grid; a check to reject absurd steps in configurations.

    Frozen-coefficient (von Neumann) analysis with amplitudes bounded by c ≤ c_max:
    the stress is at most σ = c_max (|α| + ζβ c_max)/2, so velocity gradients are at most
    G = σ/ν (ν = 1 + β/8), speeds U = G L/2π (the lowest mode dominates) and the turning rate
    |θ̇| ≤ Θ = G + ζ c_max. A dealiased mode (k, m) then has explicit frequency
    λ = U |k|₁ + Θ |m| and implicit damping μ = d_T |k|² + d_R m² (diagonal k, the worst case
    for given |k|²). SBDF2 amplifies undamped oscillations slightly at every step (by
    ≈ 0.75 (λ dt)⁴), so a step is accepted while no mode grows by more than growth_per_step
    per step (λ dt ≲ 0.33 undamped); the linear instability of isotropy further caps
    dt ≤ 1/σ_max. Order-of-magnitude only: real states usually allow somewhat more.
    """
    alpha, beta, zeta, d_t, d_r, L = (float(v) for v in params)
    gradient = c_max * (abs(alpha) + zeta * beta * c_max) / (2 * (1 + beta / 8))
    speed = gradient * L / (2 * math.pi)
    turning = gradient + zeta * c_max
    kappa = 2 * math.pi / L
    # Dealiased modes: |k index| < n/3, and even harmonics |m| < n_theta/3.
    j = np.arange(n)[3 * np.arange(n) < n]
    m = np.arange(0, n_theta or 1, 2)
    m = m[3 * m < (n_theta or 1)]
    explicit = 1j * (speed * 2 * kappa * j[:, None] + turning * m[None, :]).ravel()
    damping = (d_t * 2 * (kappa * j[:, None]) ** 2 + d_r * m[None, :] ** 2).ravel()
    steps = np.geomspace(1e-8, 10.0, 600)
    unstable = [
        np.max(_sbdf2_amplification(h * explicit, h * damping)) > 1 + growth_per_step for h in steps
    ]
    first_bad = int(np.argmax(unstable)) if any(unstable) else len(steps)
    dt = float(steps[max(first_bad - 1, 0)])
    rates = predicted_growth_rates(ActiveFluidParams(*map(float, params)), kappa)
    fastest = max(float(rates.shear), float(rates.normal), 0.0)
    return dt if fastest == 0 else min(dt, 1 / fastest)

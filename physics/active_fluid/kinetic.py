"""The kinetic theory of the 2D active fluid, pseudo-spectral in (x, y, θ) with IMEX SBDF2.

    ∂t Ψ = −∇·(u Ψ) − ∂θ(θ̇ Ψ) + d_T ΔΨ + d_R ∂θθ Ψ,   θ̇ = p⊥·(∇u + 2ζ D)·p,

p = (cos θ, sin θ), p⊥ = (−sin θ, cos θ), u the self-consistent Stokes flow
(:mod:`physics.active_fluid.stokes`) with the exact S of Ψ. Both diffusions are implicit, both
advective fluxes explicit; the explicit flux is dealiased by the 2/3 rule jointly in
(kx, ky, kθ) (a box: every index below a third of its axis' length).

Layout. The public distribution is real, grid-first: Ψ (n, n, n_theta) at θ_j = 2πj/n_θ
(n_theta divisible by 4). Apolar Ψ is π-periodic in θ (only even harmonics m = 2q), so the
solver keeps M = n_theta/2 samples on [0, π): internally Ψ is (M, n, n) and its spectrum
``psi_hat`` = rfftn over (θ, x, y) is (M, n, n//2 + 1) complex, θ-mode q (m = 2q) first. That
halves memory and work against the full circle, and FFTs run over trailing axes. Moments come
straight from the θ-modes: ∫Ψ e^{−2iqθ} dθ has spectrum (2π/M) psi_hat[q].

A state is a :class:`~physics.spectral.SBDF2State` whose ``fields`` is psi_hat. Time and
lengths are non-dimensional; Ψ is a density per unit area per radian (mean ∫Ψ dθ = 1).
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from physics.active_fluid.moments import (
    Snapshot,
    exact_closure,
    fourth_moment_from_harmonics,
    second_moment_from_harmonics,
)
from physics.active_fluid.params import ActiveFluidParams
from physics.active_fluid.stokes import Flow, solve_flow
from physics.spectral import (
    Grid,
    IMEXEquation,
    RolloutStatus,
    SBDF2State,
    irfft2,
    make_grid,
    sbdf2_init,
    sbdf2_step,
    two_thirds_keep,
    wavenumber_indices,
)
from physics.spectral import guarded_trajectory as _guarded_trajectory
from physics.spectral import repeated as _repeated
from physics.spectral import trajectory as _trajectory

BLOWUP_THRESHOLD = 1e3
"""Default probe threshold: max over θ of 2π|Ψ|, i.e. 1000 times the isotropic density."""

_FFT_AXES = (-3, -2, -1)


class ThetaModes(NamedTuple):
    """Tables of the M = n_theta/2 even θ-harmonics, shaped to broadcast on (M, n, n//2 + 1).

    m: (M, 1, 1) harmonic numbers 2q for odd derivatives (Nyquist set to 0). m2: (M, 1, 1) m²
    including the Nyquist harmonic. keep: (M, 1, 1) 1.0 where |m| < n_theta/3.
    cos2, sin2: (M, 1, 1) cos 2θ_j, sin 2θ_j at the samples θ_j = πj/M.
    """

    m: Array
    m2: Array
    keep: Array
    cos2: Array
    sin2: Array


def theta_modes(n_half: int) -> ThetaModes:
    """The :class:`ThetaModes` of M = n_half samples of a π-periodic function (M even)."""
    q = wavenumber_indices(n_half)
    theta = np.pi * np.arange(n_half) / n_half
    column = lambda a: jnp.asarray(a, dtype=float)[:, None, None]  # noqa: E731
    return ThetaModes(
        m=column(np.where(q == -n_half // 2, 0, 2 * q)),
        m2=column((2 * q) ** 2),
        keep=column(two_thirds_keep(q, n_half)),
        cos2=column(np.cos(2 * theta)),
        sin2=column(np.sin(2 * theta)),
    )


def _tables(params: ActiveFluidParams, psi_hat: Array) -> tuple[Grid, ThetaModes]:
    return make_grid(psi_hat.shape[-2], params.L), theta_modes(psi_hat.shape[-3])


def to_spectral(psi: Array) -> Array:
    """psi_hat (n_theta/2, n, n//2 + 1) of a real Ψ (n, n, n_theta) on θ_j = 2πj/n_θ.

    Keeps the apolar part (Ψ(θ) + Ψ(θ + π))/2, i.e. the even harmonics.
    """
    n, n_theta = psi.shape[0], psi.shape[-1]
    if psi.shape != (n, n, n_theta) or n_theta % 4:
        raise ValueError(f"psi must be (n, n, n_theta), n_theta divisible by 4; got {psi.shape}")
    half = n_theta // 2
    apolar = (psi[..., :half] + psi[..., half:]) / 2
    return jnp.fft.rfftn(jnp.moveaxis(apolar, -1, 0), axes=_FFT_AXES)


def _half_circle(psi_hat: Array) -> Array:
    """Internal real Ψ (M, n, n) on θ_j = πj/M."""
    M, n = psi_hat.shape[-3], psi_hat.shape[-2]
    return jnp.fft.irfftn(psi_hat, s=(M, n, n), axes=_FFT_AXES)


def to_real(psi_hat: Array) -> Array:
    """Real Ψ (n, n, n_theta) on the full circle θ_j = 2πj/n_θ of a spectrum psi_hat."""
    half = jnp.moveaxis(_half_circle(psi_hat), 0, -1)
    return jnp.concatenate([half, half], axis=-1)


def harmonic_spectra(psi_hat: Array) -> Array:
    """Spectra (5, n, n//2 + 1) of the real fields c, Re m₂, Im m₂, Re m₄, Im m₄.

    m_n = ∫Ψ e^{inθ} dθ: ∫Ψ e^{−2iqθ} dθ has spectrum (2π/M) psi_hat[q], and e^{+2iqθ} is
    mode −q, so ∫Ψ cos 2qθ and ∫Ψ sin 2qθ combine modes q and −q.
    """
    p0, p1, m1, p2, m2 = psi_hat[np.array([0, 1, -1, 2, -2])] * (2 * jnp.pi / psi_hat.shape[-3])
    return jnp.stack([p0, (m1 + p1) / 2, (m1 - p1) / 2j, (m2 + p2) / 2, (m2 - p2) / 2j])


def moment_spectra(psi_hat: Array) -> tuple[Array, Array]:
    """(ĉ (n, m), D̂ (2, 2, n, m)): spectra of c and D, m = n//2 + 1 (the moment model's
    fields)."""
    c, cos2, sin2 = harmonic_spectra(psi_hat)[:3]
    return c, jnp.stack([jnp.stack([c + cos2, sin2]), jnp.stack([sin2, c - cos2])]) / 2


def moments(psi_hat: Array) -> tuple[Array, Array, Array]:
    """Real-space (c (n, n), D (n, n, 2, 2), S (n, n, 2, 2, 2, 2)) of a spectrum psi_hat."""
    h = irfft2(harmonic_spectra(psi_hat))
    c, m2, m4 = h[..., 0], h[..., 1] + 1j * h[..., 2], h[..., 3] + 1j * h[..., 4]
    return c, second_moment_from_harmonics(c, m2), fourth_moment_from_harmonics(c, m2, m4)


def flow(psi_hat: Array, params: ActiveFluidParams) -> Flow:
    """The self-consistent Stokes flow of Ψ, with S:D and S:E of its exact fourth moment."""
    c, D, S = moments(psi_hat)
    return solve_flow(params, c, D, exact_closure, S)


def exact_closure_terms(psi_hat: Array, params: ActiveFluidParams) -> tuple[Array, Array]:
    """The exact (S:D, S:E) (n, n, 2, 2) of Ψ at its own flow: a-priori closure targets."""
    f = flow(psi_hat, params)
    return f.S_D, f.S_E


def _explicit_terms(params: ActiveFluidParams, psi_hat: Array) -> Array:
    """Dealiased spectrum of −∇·(uΨ) − ∂θ(θ̇Ψ) (M, n, n//2 + 1)."""
    grid, modes = _tables(params, psi_hat)
    c, D, S = moments(psi_hat)
    f = solve_flow(params, c, D, exact_closure, S)
    A = f.grad_u + 2 * params.zeta * D
    # θ̇ = p⊥·A·p = (A21 − A12)/2 + cos 2θ (A12 + A21)/2 + sin 2θ (A22 − A11)/2.
    rotation = (A[..., 1, 0] - A[..., 0, 1]) / 2
    stretch_c = (A[..., 0, 1] + A[..., 1, 0]) / 2
    stretch_s = (A[..., 1, 1] - A[..., 0, 0]) / 2
    theta_dot = rotation + modes.cos2 * stretch_c + modes.sin2 * stretch_s
    psi = _half_circle(psi_hat)
    fluxes = jnp.stack([f.u[..., 0] * psi, f.u[..., 1] * psi, theta_dot * psi])
    flux_hat = jnp.fft.rfftn(fluxes, axes=_FFT_AXES)
    divergence = grid.kx * flux_hat[0] + grid.ky * flux_hat[1] + modes.m * flux_hat[2]
    return -1j * divergence * (modes.keep * grid.dealias)


def _decay_rates(params: ActiveFluidParams, psi_hat: Array) -> Array:
    """d_T |k|² + d_R m² (M, n, n//2 + 1): minus the implicit operator's eigenvalues."""
    grid, modes = _tables(params, psi_hat)
    return params.d_t * grid.k2 + params.d_r * modes.m2


def equation(params: ActiveFluidParams) -> IMEXEquation:
    """The kinetic equation on spectra psi_hat: explicit fluxes, implicit diffusions."""
    return IMEXEquation(
        explicit_terms=functools.partial(_explicit_terms, params),
        implicit_terms=lambda psi_hat: -_decay_rates(params, psi_hat) * psi_hat,
        implicit_solve=lambda y, gamma: y / (1 + gamma * _decay_rates(params, y)),
    )


def init_state(psi: Array, dt: Array | float, t: Array | float = 0.0) -> SBDF2State:
    """Solver state of a real distribution Ψ (n, n, n_theta) at time t, stepping by dt."""
    return sbdf2_init(to_spectral(jnp.asarray(psi, dtype=float)), dt, t)


@jax.jit
def step(state: SBDF2State, params: ActiveFluidParams) -> SBDF2State:
    """Advance a kinetic state by state.dt (IMEX Euler on the first step, then SBDF2)."""
    return sbdf2_step(equation(params), state)


@jax.jit
def advance(state: SBDF2State, params: ActiveFluidParams, num_steps: Array | int) -> SBDF2State:
    """The state after num_steps steps (traced: one compilation for any count)."""
    return _repeated(lambda s: step(s, params), num_steps)(state)


def snapshot(state: SBDF2State, params: ActiveFluidParams) -> Snapshot:
    """Real-space t, c, D, u of a state."""
    c, D, _ = moments(state.fields)
    return Snapshot(state.t, c, D, flow(state.fields, params).u)


def spectral_fields(state: SBDF2State, params: ActiveFluidParams) -> tuple[Array, Array]:
    """(t, psi_hat) of a state: an observer for analyses in Fourier space."""
    del params
    return state.t, state.fields


@functools.partial(jax.jit, static_argnames=("num_outputs", "steps_per_output", "observe"))
def trajectory(
    state: SBDF2State,
    params: ActiveFluidParams,
    num_outputs: int,
    steps_per_output: int,
    observe=snapshot,
):
    """(final state, observations): observe(state, params) after every steps_per_output steps.

    Observations are stacked along a new leading axis of length num_outputs; a lax.scan.
    """
    run = _trajectory(
        lambda s: step(s, params), num_outputs, steps_per_output, lambda s: observe(s, params)
    )
    return run(state)


def probe(state: SBDF2State) -> Array:
    """(n, n) health field max_θ 2π|Ψ|: 1 for the isotropic state of mean concentration 1."""
    return 2 * jnp.pi * jnp.max(jnp.abs(_half_circle(state.fields)), axis=0)


@functools.partial(jax.jit, static_argnames=("num_outputs", "steps_per_output", "observe"))
def guarded_trajectory(
    state: SBDF2State,
    params: ActiveFluidParams,
    num_outputs: int,
    steps_per_output: int,
    observe=snapshot,
    threshold: Array | float = BLOWUP_THRESHOLD,
) -> tuple[SBDF2State, object, RolloutStatus]:
    """:func:`trajectory` that stops at the first state whose :func:`probe` is non-finite or
    exceeds threshold, and reports when and where (grid index (i, j)) it happened.

    Returns (last good state, observations (repeating the last good state after a failure),
    :class:`~physics.spectral.RolloutStatus`).
    """
    run = _guarded_trajectory(
        lambda s: step(s, params),
        probe,
        num_outputs,
        steps_per_output,
        threshold,
        lambda s: observe(s, params),
    )
    return run(state)

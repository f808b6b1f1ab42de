"""The kinetic theory of the 2D active fluid, pseudo-spectral in (x, y, θ) with IMEX SBDF2.

    ∂t Ψ = −∇·(u Ψ) − ∂θ(θ̇ Ψ) + d_T ΔΨ + d_R ∂θθ Ψ,   θ̇ = p⊥·(∇u + 2ζ D)·p,

p = (cos θ, sin θ), p⊥ = (−sin θ, cos θ), u the Stokes flow with the exact S of Ψ
(:mod:`physics.active_fluid.stokes`: self-consistent at the start of a rollout, then S:E
lagged at the extrapolated strain in each step, which the state carries). Both diffusions
are implicit, both advective fluxes explicit; the explicit flux is dealiased by the 2/3 rule
jointly in (kx, ky, kθ) (a box: every index below a third of its axis' length).

Layout. The public distribution is real, grid-first: Ψ (n, n, n_theta) at θ_j = 2πj/n_θ
(n_theta divisible by 4). Apolar Ψ is π-periodic in θ (only even harmonics m = 2q), so the
solver keeps M = n_theta/2 samples on [0, π): internally Ψ is (M, n, n) and its spectrum
``psi_hat`` = rfftn over (θ, x, y) is (M, n, n//2 + 1) complex, θ-mode q (m = 2q) first. That
halves memory and work against the full circle, and FFTs run over trailing axes. Moments come
straight from the θ-modes: ∫Ψ e^{−2iqθ} dθ has spectrum (2π/M) psi_hat[q].

The explicit terms never visit the θ-grid: they work on the complex θ-mode fields Ψ_q(x), one
inverse 2D FFT each, of the modes the 2/3 rule keeps (and one more), where the θ-flux is a
banded product (θ̇ has θ-modes 0 and ±1 only) and the spatial fluxes are pointwise products;
three forward 2D FFTs per kept mode return them, and modes q < 0 follow by symmetry. The
numbers are those of the (θ, x, y) pseudo-spectral products, without the θ-transforms or the
discarded modes' FFTs.

A state is a :class:`~physics.spectral.SBDF2State` whose ``fields`` is psi_hat. Time and
lengths are non-dimensional; Ψ is a density per unit area per radian (mean ∫Ψ dθ = 1).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from physics.active_fluid.moments import (
    Snapshot,
    fourth_moment_from_harmonics,
    harmonic_closure,
    second_moment_from_harmonics,
)
from physics.active_fluid.params import ActiveFluidParams
from physics.active_fluid.stokes import Flow, solve_flow, stepping_flow, strain_components
from physics.spectral import (
    IMEXEquation,
    RolloutStatus,
    SBDF2State,
    irfft2,
    make_grid,
    sbdf2_init,
    sbdf2_start,
    sbdf2_step,
    wavenumber_indices,
)
from physics.spectral import guarded_trajectory as _guarded_trajectory
from physics.spectral import repeated as _repeated
from physics.spectral import trajectory as _trajectory

BLOWUP_THRESHOLD = 1e3
"""Default probe threshold: max over θ of 2π|Ψ|, i.e. 1000 times the isotropic density."""

_FFT_AXES = (-3, -2, -1)


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
    M = psi_hat.shape[-3]
    p0, p1, m1, p2, m2 = psi_hat[np.array([0, 1, -1, 2, -2]) % M] * (2 * jnp.pi / M)
    return jnp.stack([p0, (m1 + p1) / 2, (m1 - p1) / 2j, (m2 + p2) / 2, (m2 - p2) / 2j])


def moment_spectra(psi_hat: Array) -> tuple[Array, Array]:
    """(ĉ (n, m), D̂ (2, 2, n, m)): spectra of c and D, m = n//2 + 1 (the moment model's
    fields)."""
    c, cos2, sin2 = harmonic_spectra(psi_hat)[:3]
    return c, jnp.stack([jnp.stack([c + cos2, sin2]), jnp.stack([sin2, c - cos2])]) / 2


def _harmonics(psi_hat: Array) -> tuple[Array, Array, Array]:
    """Real-space harmonics (c, m₂, m₄) (n, n) of a spectrum psi_hat."""
    h = irfft2(harmonic_spectra(psi_hat))
    return h[..., 0], h[..., 1] + 1j * h[..., 2], h[..., 3] + 1j * h[..., 4]


def moments(psi_hat: Array) -> tuple[Array, Array, Array]:
    """Real-space (c (n, n), D (n, n, 2, 2), S (n, n, 2, 2, 2, 2)) of a spectrum psi_hat."""
    c, m2, m4 = _harmonics(psi_hat)
    return c, second_moment_from_harmonics(c, m2), fourth_moment_from_harmonics(c, m2, m4)


def _flow(params: ActiveFluidParams, c: Array, m2: Array, m4: Array) -> tuple[Array, Flow]:
    """(D, the self-consistent flow) of real-space harmonics, with the exact S:D and S:E."""
    D = second_moment_from_harmonics(c, m2)
    return D, solve_flow(params, c, D, harmonic_closure, (c, m2, m4))


def flow(psi_hat: Array, params: ActiveFluidParams) -> Flow:
    """The self-consistent Stokes flow of Ψ, with S:D and S:E of its exact fourth moment."""
    return _flow(params, *_harmonics(psi_hat))[1]


def exact_closure_terms(psi_hat: Array, params: ActiveFluidParams) -> tuple[Array, Array]:
    """The exact (S:D, S:E) (n, n, 2, 2) of Ψ at its own flow: a-priori closure targets."""
    f = flow(psi_hat, params)
    return f.S_D, f.S_E


def _kept_count(size: int) -> int:
    """Number of indices j ≥ 0 the 2/3 rule keeps on an axis of that size (3j < size)."""
    return (size - 1) // 3 + 1


def _negated(a: Array, axis: int) -> Array:
    """a at the indices −j (mod the length) along an axis: entries 0, N − 1, …, 1 (slices, no
    gather)."""
    first = lax.slice_in_dim(a, 0, 1, axis=axis)
    return jnp.concatenate([first, jnp.flip(lax.slice_in_dim(a, 1, None, axis=axis), axis)], axis)


def _mode_fields(psi_hat: Array, modes: range) -> Array:
    """Complex fields Ψ_q(x) = Σ_j Ψ(θ_j, x) e^{−2iqθ_j} (len(modes), n, n) for q in modes.

    Ψ_q is the inverse 2D FFT of psi_hat[q] on ky ≥ 0, extended to ky < 0 by the symmetry of
    a real Ψ, psi_hat[q](k) = conj(psi_hat[−q](−k)): one complex FFT per mode, no θ-transform.
    Modes are taken modulo M (Ψ_{−q} = conj Ψ_q).
    """
    M, n = psi_hat.shape[-3], psi_hat.shape[-2]
    rows = lambda qs: jnp.concatenate([psi_hat[q % M][None] for q in qs])  # noqa: E731
    mirror = jnp.conj(_negated(rows(-q for q in modes), 1)[..., n // 2 - 1 : 0 : -1])
    return jnp.fft.ifft2(jnp.concatenate([rows(modes), mirror], axis=-1))


def _explicit_terms(params: ActiveFluidParams, psi_hat: Array) -> Array:
    """Dealiased spectrum of −∇·(uΨ) − ∂θ(θ̇Ψ) (M, n, n//2 + 1) in the self-consistent flow."""
    return _lagged_explicit_terms(params, psi_hat, None)[0]


def _lagged_explicit_terms(
    params: ActiveFluidParams, psi_hat: Array, guess: Array | None
) -> tuple[Array, Array]:
    """(dealiased spectrum of −∇·(uΨ) − ∂θ(θ̇Ψ) (M, n, n//2 + 1), the flow's strain
    (E11, E12) (2, n, n)), S:E lagged at the guess of the strain
    (:func:`~physics.active_fluid.stokes.stepping_flow`; guess None: the self-consistent flow).

    Works on the θ-modes Ψ_q(x) (:func:`_mode_fields`) of the K modes q ≥ 0 that the 2/3 rule
    keeps, plus q = K for the θ-flux: with θ̇ = r + a cos 2θ + b sin 2θ, the θ-modes of θ̇Ψ are
    r Ψ_q + a (Ψ_{q−1} + Ψ_{q+1})/2 + b (Ψ_{q−1} − Ψ_{q+1})/2i, exactly the modes the
    pseudo-spectral product on the θ-grid gives for every kept q. Modes q < 0 follow from
    q > 0 by the symmetry of real fields, and c, D, S from Ψ_0, Ψ_1, Ψ_2.
    """
    M, n = psi_hat.shape[-3], psi_hat.shape[-2]
    grid = make_grid(n, params.L)
    K = _kept_count(M)
    psi = _mode_fields(psi_hat, range(max(K + 1, 3)))
    weight = 2 * jnp.pi / M
    c, (m2, m4) = jnp.real(psi[0]) * weight, jnp.conj(psi[1:3]) * weight
    D = second_moment_from_harmonics(c, m2)
    if guess is None:
        f = solve_flow(params, c, D, harmonic_closure, (c, m2, m4))
        strain = strain_components(f.grad_u)
    else:
        f, strain = stepping_flow(params, c, D, harmonic_closure, (c, m2, m4), guess)
    A = f.grad_u + 2 * params.zeta * D
    # θ̇ = p⊥·A·p = (A21 − A12)/2 + cos 2θ (A12 + A21)/2 + sin 2θ (A22 − A11)/2.
    rotation = (A[..., 1, 0] - A[..., 0, 1]) / 2
    stretch_c = (A[..., 0, 1] + A[..., 1, 0]) / 2
    stretch_s = (A[..., 1, 1] - A[..., 0, 0]) / 2
    ux, uy = f.u[..., 0], f.u[..., 1]
    # Only the columns |ky| < n/3 survive the 2/3 rule: ky = 0, …, kc − 1 for mode q ≥ 0, and,
    # since mode −q at k is conj(mode q at −k), ky = 0, −1, …, −(kc − 1) of mode q for −q.
    kc = _kept_count(n)
    ky = grid.ky[:, :kc]

    def mode_rates(q: Array) -> tuple[Array, Array]:
        """Rates (n, kc) of modes q and −q: −i (kx X̂ + ky Ŷ + 2q T̂), dealiased."""
        centre, upper = lax.dynamic_slice_in_dim(psi, q, 2)
        previous = lax.dynamic_index_in_dim(psi, jnp.maximum(q - 1, 0), keepdims=False)
        lower = jnp.where(q > 0, previous, jnp.conj(psi[1]))  # Ψ_{−1} = conj Ψ_1
        theta_flux = (
            rotation * centre + stretch_c * (lower + upper) / 2 + stretch_s * (lower - upper) / 2j
        )
        spectra = jnp.fft.fft2(jnp.stack([ux * centre, uy * centre, theta_flux]))

        def rates(s: Array, kx: Array, ky: Array) -> Array:
            return -1j * grid.dealias[:, :1] * (kx * s[0] + ky * s[1] + 2 * q * s[2])

        mirrored = jnp.concatenate([spectra[..., :1], spectra[..., : n - kc : -1]], -1)
        at_minus_k = _negated(mirrored, 1)
        return rates(spectra[..., :kc], grid.kx, ky), jnp.conj(rates(at_minus_k, -grid.kx, -ky))

    # A few modes at a time, so that their fluxes and spectra (≲ 3 MB) stay in cache: measured
    # 1.3–1.5 times faster at n = 128 and 256 than all modes at once.
    batch = max(1, min(4, 2**16 // n**2))
    positive, negative = lax.map(mode_rates, jnp.arange(K), batch_size=batch)
    rates_hat = jnp.zeros((M, n, n // 2 + 1), positive.dtype)
    rates_hat = rates_hat.at[:K, :, :kc].set(positive).at[M - K + 1 :, :, :kc].set(negative[:0:-1])
    return rates_hat, strain


def _decay_rates(params: ActiveFluidParams, psi_hat: Array) -> Array:
    """d_T |k|² + d_R m² (M, n, n//2 + 1): minus the implicit operator's eigenvalues."""
    m = 2 * wavenumber_indices(psi_hat.shape[-3])[:, None, None]
    return params.d_t * make_grid(psi_hat.shape[-2], params.L).k2 + params.d_r * m**2


def _start_strain(params: ActiveFluidParams, psi_hat: Array) -> Array:
    """(E11, E12) (2, n, n) of the self-consistent flow of Ψ."""
    return strain_components(flow(psi_hat, params).grad_u)


def equation(params: ActiveFluidParams) -> IMEXEquation:
    """The kinetic equation on spectra psi_hat: explicit fluxes, implicit diffusions; time steps
    lag S:E (:func:`~physics.active_fluid.stokes.stepping_flow`)."""
    return IMEXEquation(
        explicit_terms=functools.partial(_explicit_terms, params),
        implicit_terms=lambda psi_hat: -_decay_rates(params, psi_hat) * psi_hat,
        implicit_solve=lambda y, gamma: y * (1 / (1 + gamma * _decay_rates(params, y))),
        lagged_explicit_terms=functools.partial(_lagged_explicit_terms, params),
        lagged_start=functools.partial(_start_strain, params),
    )


def spectral_state(psi_hat: Array, dt: Array | float, t: Array | float = 0.0) -> SBDF2State:
    """Solver state of a spectrum psi_hat at time t, stepping by dt (no history; its lagged
    strain (E11, E12) (2, n, n), zero here, is solved for when a rollout starts)."""
    n = psi_hat.shape[-2]
    return sbdf2_init(psi_hat, dt, t, lagged=jnp.zeros((2, n, n)))


def init_state(psi: Array, dt: Array | float, t: Array | float = 0.0) -> SBDF2State:
    """Solver state of a real distribution Ψ (n, n, n_theta) at time t, stepping by dt."""
    return spectral_state(to_spectral(jnp.asarray(psi, dtype=float)), dt, t)


@jax.jit
def step(state: SBDF2State, params: ActiveFluidParams) -> SBDF2State:
    """Advance a kinetic state by state.dt (IMEX Euler on the first step, then SBDF2)."""
    return _step(_started(state, params), params)


def _started(state: SBDF2State, params: ActiveFluidParams) -> SBDF2State:
    return sbdf2_start(equation(params), state)


def _step(state: SBDF2State, params: ActiveFluidParams) -> SBDF2State:
    """One step of a started state (the loops' body: no branch)."""
    return sbdf2_step(equation(params), state)


@jax.jit
def advance(state: SBDF2State, params: ActiveFluidParams, num_steps: Array | int) -> SBDF2State:
    """The state after num_steps steps (traced: one compilation for any count).

    Two steps per loop iteration, then one more if num_steps is odd: a loop over single steps
    copies the state's three full spectra every iteration (its fields move to fields_prev),
    which at 128² × 128 costs about a tenth of a step (measured in CPU time).
    """
    state = _started(state, params)
    state = _repeated(lambda s: _step(_step(s, params), params), num_steps // 2)(state)
    return _repeated(lambda s: _step(s, params), num_steps % 2)(state)


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
        lambda s: _step(s, params), num_outputs, steps_per_output, lambda s: observe(s, params)
    )
    return run(_started(state, params))


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
        lambda s: _step(s, params),
        probe,
        num_outputs,
        steps_per_output,
        threshold,
        lambda s: observe(s, params),
    )
    return run(_started(state, params))

"""The moment (coarse-grained) model of the 2D active fluid, exact given the fourth moment S.

    ∂t c = −∇·(u c) + d_T Δc
    ∂t D = −∇·(u D) + d_T ΔD + (∇u)·D + D·(∇u)ᵀ + 4ζ D·D − 2 S:T − 4 d_R (D − c I/2),

T = E + 2ζD, E = (∇u + ∇uᵀ)/2, (∇u)_ij = ∂u_i/∂x_j, u the Stokes flow
(:mod:`physics.active_fluid.stokes`: self-consistent at the start of a rollout, then S:E
lagged at the extrapolated strain in each step, as in the kinetic solver). Advection is
written in conservative form (equal to u·∇ for ∇·u = 0, and conserving the mean of c
exactly). S enters only through S:D and S:E,
which a closure supplies: ``closure(closure_params, c, D, E) -> (S:D, S:E)``, a static argument.

Discretisation: the grid and SBDF2 stepper of the kinetic solver; implicit d_T Δ on c and D and
−4 d_R (D − cI/2) (the θ-mode-2 image of the kinetic solver's implicit d_R ∂θθ), everything
else explicit and dealiased by the 2/3 rule. With the exact S of a kinetic Ψ, one step of this
model reproduces the θ-moments of one kinetic step.

A state is a :class:`~physics.spectral.SBDF2State` whose ``fields`` is :class:`MomentFields`.
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from physics.active_fluid.moments import Snapshot, product, symmetric
from physics.active_fluid.params import ActiveFluidParams
from physics.active_fluid.stokes import (
    Closure,
    Flow,
    solve_flow,
    stepping_flow,
    strain_components,
)
from physics.spectral import (
    IMEXEquation,
    RolloutStatus,
    SBDF2State,
    irfft2,
    make_grid,
    rfft2,
    sbdf2_init,
    sbdf2_start,
    sbdf2_step,
)
from physics.spectral import guarded_trajectory as _guarded_trajectory
from physics.spectral import repeated as _repeated
from physics.spectral import trajectory as _trajectory

BLOWUP_THRESHOLD = 1e3
"""Default probe threshold on |c| + |D| (Frobenius), ~700 times the isotropic value."""

_STATIC = ("closure",)


class MomentFields(NamedTuple):
    """Spectra of the moment model's unknowns: c_hat (n, n//2 + 1), D_hat (2, 2, n, n//2 + 1)."""

    c_hat: Array
    D_hat: Array


def to_spectral(c: Array, D: Array) -> MomentFields:
    """Spectra of real fields c (n, n) and D (n, n, 2, 2)."""
    return MomentFields(rfft2(jnp.asarray(c, dtype=float)), rfft2(jnp.asarray(D, dtype=float)))


def to_real(fields: MomentFields) -> tuple[Array, Array]:
    """Real (c (n, n), D (n, n, 2, 2)) of the spectra."""
    return irfft2(fields.c_hat), irfft2(fields.D_hat)


def flow(
    fields: MomentFields, params: ActiveFluidParams, closure: Closure, closure_params: Any = ()
) -> Flow:
    """The self-consistent Stokes flow of the moment fields with the closure's S:D, S:E."""
    c, D = to_real(fields)
    return solve_flow(params, c, D, closure, closure_params)


def _densities(fields: MomentFields) -> Array:
    """Real (c, D11, D12, D22) (4, n, n) of the spectra: D is symmetric, so four inverse FFTs,
    not five."""
    c_hat, D_hat = fields
    n = c_hat.shape[-2]
    return jnp.fft.irfft2(jnp.stack([c_hat, D_hat[0, 0], D_hat[0, 1], D_hat[1, 1]]), s=(n, n))


def _rates(params: ActiveFluidParams, densities: Array, D: Array, f: Flow) -> MomentFields:
    """Dealiased spectra of the advective and reactive terms (all but d_T Δ and the d_R term)
    of the real fields densities = (c, D11, D12, D22) (4, n, n), D (n, n, 2, 2), in the flow f."""
    grid = make_grid(densities.shape[-1], params.L)
    G = f.grad_u
    S_T = f.S_E + 2 * params.zeta * f.S_D
    GD = product(G, D)
    reaction = GD + jnp.swapaxes(GD, -1, -2) + 4 * params.zeta * product(D, D) - 2 * S_T
    # Components first, so the forward FFTs need no transposes: the symmetric reaction's three
    # components, then the fluxes u c, u D11, u D12, u D22 (x and y parts).
    ux, uy = f.u[..., 0], f.u[..., 1]
    spectra = jnp.fft.rfft2(
        jnp.concatenate(
            [
                jnp.stack([reaction[..., 0, 0], reaction[..., 0, 1], reaction[..., 1, 1]]),
                ux * densities,
                uy * densities,
            ]
        )
    )
    source = jnp.concatenate([jnp.zeros_like(spectra[:1]), spectra[:3]])
    rates = (source - 1j * (grid.kx * spectra[3:7] + grid.ky * spectra[7:])) * grid.dealias
    return MomentFields(rates[0], symmetric(rates[1], rates[2], rates[3], 0))


def _explicit_terms(
    params: ActiveFluidParams, closure: Closure, closure_params: Any, fields: MomentFields
) -> MomentFields:
    """Dealiased spectra of the advective and reactive terms in the self-consistent flow."""
    densities = _densities(fields)
    D = symmetric(*densities[1:])
    return _rates(
        params, densities, D, solve_flow(params, densities[0], D, closure, closure_params)
    )


def _lagged_explicit_terms(
    params: ActiveFluidParams,
    closure: Closure,
    closure_params: Any,
    fields: MomentFields,
    guess: Array,
) -> tuple[MomentFields, Array]:
    """(:func:`_explicit_terms` with S:E lagged at the guess of the strain, the flow's strain
    (E11, E12) (2, n, n)): the time step's form (see
    :func:`~physics.active_fluid.stokes.stepping_flow`)."""
    densities = _densities(fields)
    D = symmetric(*densities[1:])
    f, strain = stepping_flow(params, densities[0], D, closure, closure_params, guess)
    return _rates(params, densities, D, f), strain


def _start_strain(
    params: ActiveFluidParams, closure: Closure, closure_params: Any, fields: MomentFields
) -> Array:
    """(E11, E12) (2, n, n) of the self-consistent flow of the fields."""
    return strain_components(flow(fields, params, closure, closure_params).grad_u)


def _implicit_parts(params: ActiveFluidParams, fields: MomentFields) -> tuple[Array, Array]:
    grid = make_grid(fields.c_hat.shape[-2], params.L)
    return params.d_t * grid.k2, 4 * params.d_r * jnp.ones_like(grid.k2)


_IDENTITY = np.eye(2)[:, :, None, None]


def _implicit_terms(params: ActiveFluidParams, fields: MomentFields) -> MomentFields:
    diffusion, rotation = _implicit_parts(params, fields)
    c_hat, D_hat = fields
    return MomentFields(
        -diffusion * c_hat,
        -diffusion * D_hat - rotation * (D_hat - _IDENTITY * c_hat / 2),
    )


def _implicit_solve(params: ActiveFluidParams, y: MomentFields, gamma: Array) -> MomentFields:
    """Solve x − γ L x = y; block-triangular: c first, then D given c."""
    diffusion, rotation = _implicit_parts(params, y)
    # Multiplications by real reciprocals: cheaper than complex divisions.
    c_hat = y.c_hat * (1 / (1 + gamma * diffusion))
    D_hat = (y.D_hat + (gamma * rotation / 2) * _IDENTITY * c_hat) * (
        1 / (1 + gamma * (diffusion + rotation))
    )
    return MomentFields(c_hat, D_hat)


def equation(params: ActiveFluidParams, closure: Closure, closure_params: Any = ()) -> IMEXEquation:
    """The moment equations on :class:`MomentFields` with the given closure; time steps lag S:E
    (:func:`~physics.active_fluid.stokes.stepping_flow`)."""
    return IMEXEquation(
        explicit_terms=functools.partial(_explicit_terms, params, closure, closure_params),
        implicit_terms=functools.partial(_implicit_terms, params),
        implicit_solve=functools.partial(_implicit_solve, params),
        lagged_explicit_terms=functools.partial(
            _lagged_explicit_terms, params, closure, closure_params
        ),
        lagged_start=functools.partial(_start_strain, params, closure, closure_params),
    )


def spectral_state(fields: MomentFields, dt: Array | float, t: Array | float = 0.0) -> SBDF2State:
    """Solver state of spectra :class:`MomentFields` at time t, stepping by dt (no history; its
    lagged strain (E11, E12) (2, n, n), zero here, is solved for when a rollout starts)."""
    n = fields.c_hat.shape[-2]
    return sbdf2_init(fields, dt, t, lagged=jnp.zeros((2, n, n)))


def init_state(c: Array, D: Array, dt: Array | float, t: Array | float = 0.0) -> SBDF2State:
    """Solver state of real fields c (n, n), D (n, n, 2, 2) at time t, stepping by dt."""
    return spectral_state(to_spectral(c, D), dt, t)


@functools.partial(jax.jit, static_argnames=_STATIC)
def step(
    state: SBDF2State, params: ActiveFluidParams, closure: Closure, closure_params: Any = ()
) -> SBDF2State:
    """Advance by state.dt (IMEX Euler on the first step, then SBDF2); closure is static.

    Differentiable (reverse mode) in state, params and closure_params.
    """
    return _step(_started(state, params, closure, closure_params), params, closure, closure_params)


def _started(
    state: SBDF2State, params: ActiveFluidParams, closure: Closure, closure_params: Any
) -> SBDF2State:
    return sbdf2_start(equation(params, closure, closure_params), state)


def _step(
    state: SBDF2State, params: ActiveFluidParams, closure: Closure, closure_params: Any
) -> SBDF2State:
    """One step of a started state (the loops' body: no branch)."""
    return sbdf2_step(equation(params, closure, closure_params), state)


@functools.partial(jax.jit, static_argnames=_STATIC)
def advance(
    state: SBDF2State,
    params: ActiveFluidParams,
    num_steps: Array | int,
    closure: Closure,
    closure_params: Any = (),
) -> SBDF2State:
    """The state after num_steps steps (traced count: a while loop, forward use only)."""
    state = _started(state, params, closure, closure_params)
    return _repeated(lambda s: _step(s, params, closure, closure_params), num_steps)(state)


def snapshot(
    state: SBDF2State, params: ActiveFluidParams, closure: Closure, closure_params: Any = ()
) -> Snapshot:
    """Real-space t, c, D, u of a state."""
    c, D = to_real(state.fields)
    return Snapshot(state.t, c, D, solve_flow(params, c, D, closure, closure_params).u)


def spectral_fields(
    state: SBDF2State, params: ActiveFluidParams, closure: Closure, closure_params: Any = ()
) -> tuple[Array, MomentFields]:
    """(t, fields) of a state: an observer for analyses in Fourier space."""
    del params, closure, closure_params
    return state.t, state.fields


@functools.partial(
    jax.jit, static_argnames=("num_outputs", "steps_per_output", "closure", "observe")
)
def trajectory(
    state: SBDF2State,
    params: ActiveFluidParams,
    num_outputs: int,
    steps_per_output: int,
    closure: Closure,
    closure_params: Any = (),
    observe=snapshot,
):
    """(final state, observations): observe(state, params, closure, closure_params) after
    every steps_per_output steps, stacked along a new leading axis of length num_outputs.

    All loops are scans, so gradients flow through the rollout (to params, closure_params and
    the initial state).
    """
    run = _trajectory(
        lambda s: _step(s, params, closure, closure_params),
        num_outputs,
        steps_per_output,
        lambda s: observe(s, params, closure, closure_params),
    )
    return run(_started(state, params, closure, closure_params))


def probe(state: SBDF2State) -> Array:
    """(n, n) health field |c| + |D| (Frobenius norm)."""
    c, D = to_real(state.fields)
    return jnp.abs(c) + jnp.sqrt(jnp.sum(D**2, axis=(-2, -1)))


@functools.partial(
    jax.jit, static_argnames=("num_outputs", "steps_per_output", "closure", "observe")
)
def guarded_trajectory(
    state: SBDF2State,
    params: ActiveFluidParams,
    num_outputs: int,
    steps_per_output: int,
    closure: Closure,
    closure_params: Any = (),
    observe=snapshot,
    threshold: Array | float = BLOWUP_THRESHOLD,
) -> tuple[SBDF2State, object, RolloutStatus]:
    """:func:`trajectory` that stops at the first state whose :func:`probe` is non-finite or
    exceeds threshold; returns (last good state, observations, RolloutStatus)."""
    run = _guarded_trajectory(
        lambda s: _step(s, params, closure, closure_params),
        probe,
        num_outputs,
        steps_per_output,
        threshold,
        lambda s: observe(s, params, closure, closure_params),
    )
    return run(_started(state, params, closure, closure_params))

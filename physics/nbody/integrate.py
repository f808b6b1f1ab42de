"""Public entry points: integrate to one time, or sample a trajectory at many.

Both are jitted: ``integrator``, ``criterion`` and ``max_steps`` are static (changing them
recompiles); masses, state, times, ``eta``, ``dt`` and ``dt_min`` are traced (changing them does
not). Both work under ``jax.vmap`` over a batch of systems, e.g.
``jax.vmap(functools.partial(integrate, t_end=10.0, integrator="hermite4"))(masses, states)``
with masses (B, N) and state fields carrying a leading B; a batched while-loop runs until the
slowest system of the batch is done.
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array, lax

from physics.nbody.adaptive import yoshida4_adaptive
from physics.nbody.hermite import hermite4
from physics.nbody.interpolation import interpolate_state
from physics.nbody.invariants import total_energy
from physics.nbody.state import IntegrationStats, NBodyState
from physics.nbody.stepping import Integrator, may_continue, settle
from physics.nbody.symplectic import (
    YOSHIDA4_WEIGHTS,
    fixed_step_integrator,
    leapfrog_step,
    yoshida4_step,
)

INTEGRATORS = ("hermite4", "leapfrog", "yoshida4", "yoshida4_adaptive")
ADAPTIVE_INTEGRATORS = ("hermite4", "yoshida4_adaptive")
"""Integrators whose step follows ``eta``: the ones a time-step controller can drive."""
CRITERIA = ("rv", "aarseth")

_STATIC = ("integrator", "criterion", "max_steps")


def make_integrator(
    integrator: str, criterion: str, eta: Array, dt: Array, dt_min: Array, max_steps: int
) -> Integrator:
    """The (init, advance) pair of a named scheme; see :func:`integrate` for the arguments."""
    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator must be one of {INTEGRATORS}, got {integrator!r}")
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if integrator == "hermite4":
        return hermite4(criterion, eta, dt_min, max_steps)
    if integrator == "leapfrog":
        return fixed_step_integrator(leapfrog_step, 1, dt, max_steps)
    if integrator == "yoshida4_adaptive":
        return yoshida4_adaptive(eta, dt_min, max_steps)
    return fixed_step_integrator(yoshida4_step, len(YOSHIDA4_WEIGHTS), dt, max_steps)


def _as_float64(masses: Array, state: NBodyState) -> tuple[Array, NBodyState]:
    """Masses and state as float64 arrays (inputs may be Python or numpy values)."""
    return jnp.asarray(masses, jnp.float64), NBodyState(
        *(jnp.asarray(field, jnp.float64) for field in state)
    )


@functools.partial(jax.jit, static_argnames=_STATIC)
def integrate(
    masses: Array,
    state: NBodyState,
    t_end: Array | float,
    *,
    integrator: str = "hermite4",
    eta: Array | float = 0.01,
    dt: Array | float = 1e-3,
    criterion: str = "rv",
    dt_min: Array | float = 1e-12,
    max_steps: int = 10_000_000,
) -> tuple[NBodyState, IntegrationStats]:
    """Integrate N bodies (G = 1) from ``state.t`` to exactly ``t_end``.

    masses: (N,). state: positions, velocities (N, d), d = 2 or 3; t (). t_end: () > state.t.
    integrator: "hermite4" (adaptive shared step from ``criterion`` "rv" or "aarseth" with
    accuracy parameter ``eta``; "aarseth" takes its first step from "rv", before a step has
    supplied the snap and crackle), "leapfrog" or "yoshida4" (fixed step no longer than ``dt``),
    or "yoshida4_adaptive" (variable step from the "rv" criterion with ``eta``).
    dt_min: the adaptive schemes stop with STATUS_STEP_FLOOR when the unclipped step falls
    below it.
    max_steps: bound on the number of steps (STATUS_MAX_STEPS).
    Returns the final state (the last good one on failure, with its t) and the stats.
    """
    masses, state = _as_float64(masses, state)
    scheme = make_integrator(integrator, criterion, eta, dt, dt_min, max_steps)
    carry = scheme.advance(masses, scheme.init(masses, state), jnp.asarray(t_end, jnp.float64))
    return carry.state, carry.stats


@functools.partial(jax.jit, static_argnames=_STATIC)
def trajectory(
    masses: Array,
    state: NBodyState,
    t_out: Array,
    *,
    integrator: str = "hermite4",
    eta: Array | float = 0.01,
    dt: Array | float = 1e-3,
    criterion: str = "rv",
    dt_min: Array | float = 1e-12,
    max_steps: int = 10_000_000,
) -> tuple[NBodyState, Array, IntegrationStats]:
    """States and total energies at the output times ``t_out`` (T,), increasing and > state.t.

    The integration is continued segment by segment (a ``lax.scan``), each ending exactly at the
    next output time, so adaptive step state (forces, Aarseth's derivatives) carries over.
    Arguments as in :func:`integrate`; ``max_steps`` bounds the total over all segments.
    Returns states with positions, velocities (T, N, d) and t (T,), energies (T,), and stats over
    the whole span. A failure is sticky: every later output repeats the last good state.
    """
    masses, state = _as_float64(masses, state)
    scheme = make_integrator(integrator, criterion, eta, dt, dt_min, max_steps)

    def segment(carry, t_next):
        carry = scheme.advance(masses, carry, t_next)
        energy = total_energy(masses, carry.state.positions, carry.state.velocities)
        return carry, (carry.state, energy)

    carry, (states, energies) = lax.scan(
        segment, scheme.init(masses, state), jnp.asarray(t_out, jnp.float64)
    )
    return states, energies, carry.stats


class _DenseLoop(NamedTuple):
    """Dense-output loop state: the step in progress spans (t0, x0, v0, a0) -> ``carry``."""

    start: tuple[Array, Array, Array, Array]
    carry: Any
    k: Array  # next output index
    positions: Array  # (T, N, d) outputs written so far
    velocities: Array  # (T, N, d)


@functools.partial(jax.jit, static_argnames=_STATIC)
def dense_trajectory(
    masses: Array,
    state: NBodyState,
    t_out: Array,
    *,
    integrator: str = "hermite4",
    eta: Array | float = 0.01,
    criterion: str = "rv",
    dt_min: Array | float = 1e-12,
    max_steps: int = 10_000_000,
) -> tuple[NBodyState, Array, IntegrationStats]:
    """Like :func:`trajectory`, but the adaptive steps are not shortened to land on output times.

    The scheme (an adaptive one: "hermite4" or "yoshida4_adaptive") takes its natural steps and
    only the last is clipped to end exactly at ``t_out[-1]``; every earlier sample is the quintic
    Hermite interpolant of the step that contains it (:mod:`physics.nbody.interpolation`), so
    dense sampling costs no force evaluations. Returns states (T fields), energies (T,) and stats
    as :func:`trajectory`; on failure the later outputs repeat the last good state.
    """
    if integrator not in ADAPTIVE_INTEGRATORS:
        raise ValueError(f"dense output needs one of {ADAPTIVE_INTEGRATORS}, got {integrator!r}")
    masses, state = _as_float64(masses, state)
    scheme = make_integrator(integrator, criterion, eta, 0.0, dt_min, max_steps)
    t_out = jnp.asarray(t_out, jnp.float64)
    t_final = t_out[-1]
    carry = scheme.init(masses, state)
    empty = jnp.zeros((t_out.shape[0], *state.positions.shape), jnp.float64)

    def ends(c) -> tuple[Array, Array, Array, Array]:
        return c.state.t, c.state.positions, c.state.velocities, c.acc

    def running(loop: _DenseLoop) -> Array:
        return (loop.k < t_out.shape[0]) & may_continue(loop.carry.stats, max_steps)

    def emit(loop: _DenseLoop) -> _DenseLoop:
        t = t_out[loop.k]
        x, v = interpolate_state(loop.start, ends(loop.carry), t)
        # A sample on a step's end is that state itself, bit for bit (the chunked flow resumes
        # from its last sample).
        on_end = t == loop.carry.state.t
        x = jnp.where(on_end, loop.carry.state.positions, x)
        v = jnp.where(on_end, loop.carry.state.velocities, v)
        return loop._replace(
            k=loop.k + 1,
            positions=loop.positions.at[loop.k].set(x),
            velocities=loop.velocities.at[loop.k].set(v),
        )

    def advance_one(loop: _DenseLoop) -> _DenseLoop:
        return loop._replace(start=ends(loop.carry), carry=scheme.step(masses, loop.carry, t_final))

    def body(loop: _DenseLoop) -> _DenseLoop:
        due = t_out[loop.k] <= loop.carry.state.t
        return lax.cond(due, emit, advance_one, loop)

    start = _DenseLoop(ends(carry), carry, jnp.zeros((), jnp.int32), empty, empty)
    loop = lax.while_loop(running, body, start)
    # After a failure (or a spent step budget) the remaining outputs hold the last good state.
    missing = jnp.arange(t_out.shape[0]) >= loop.k
    final = loop.carry.state
    positions = jnp.where(missing[:, None, None], final.positions, loop.positions)
    velocities = jnp.where(missing[:, None, None], final.velocities, loop.velocities)
    times = jnp.where(missing, final.t, t_out)
    energies = jax.vmap(total_energy, in_axes=(None, 0, 0))(masses, positions, velocities)
    stats = settle(loop.carry.stats, final, t_final)
    return NBodyState(positions, velocities, times), energies, stats

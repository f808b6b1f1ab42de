"""Public entry points: integrate to one time, or sample a trajectory at many.

Both are jitted: ``integrator``, ``criterion`` and ``max_steps`` are static (changing them
recompiles); masses, state, times, ``eta``, ``dt`` and ``dt_min`` are traced (changing them does
not). Both work under ``jax.vmap`` over a batch of systems, e.g.
``jax.vmap(functools.partial(integrate, t_end=10.0, integrator="hermite4"))(masses, states)``
with masses (B, N) and state fields carrying a leading B; a batched while-loop runs until the
slowest system of the batch is done.
"""

import functools

import jax
import jax.numpy as jnp
from jax import Array, lax

from physics.nbody.adaptive import yoshida4_adaptive
from physics.nbody.hermite import hermite4
from physics.nbody.invariants import total_energy
from physics.nbody.state import IntegrationStats, NBodyState
from physics.nbody.stepping import Integrator
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

"""Fourth-order Hermite predictor-corrector (Makino & Aarseth 1992) with one shared adaptive step.

One acceleration+jerk evaluation per step, at the predicted state; the corrected state reuses it
as the force of the next step (PEC). Step criteria: "rv" (:func:`shared_timestep`) or "aarseth"
(:func:`aarseth_timestep`, from the snap and crackle that the Hermite interpolation of the
previous step provides).
"""

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array

from physics.nbody.forces import accelerations_and_jerks
from physics.nbody.state import (
    STATUS_OK,
    STATUS_STEP_FLOOR,
    IntegrationStats,
    NBodyState,
    fresh_stats,
)
from physics.nbody.stepping import (
    Integrator,
    all_finite,
    repeat_step,
    select,
    step_status,
)
from physics.nbody.timestep import aarseth_timestep, shared_timestep


class HermiteCarry(NamedTuple):
    """Loop state. acc, jerk, snap, crackle: (N, d) at ``state.t``; has_history: () bool, true
    once a step has supplied snap and crackle."""

    state: NBodyState
    acc: Array
    jerk: Array
    snap: Array
    crackle: Array
    has_history: Array
    stats: IntegrationStats


class HermiteStep(NamedTuple):
    """Result of one Hermite step: corrected state and force derivatives at its end, (N, d)."""

    positions: Array
    velocities: Array
    acc: Array
    jerk: Array
    snap: Array
    crackle: Array


def hermite_step(
    masses: Array, positions: Array, velocities: Array, acc: Array, jerk: Array, dt: Array
) -> HermiteStep:
    """Advance by dt > 0: Taylor predictor, one force evaluation, Hermite corrector.

    masses: (N,). positions, velocities, acc, jerk: (N, d) at the start of the step.
    """
    predicted_x = positions + dt * (velocities + dt / 2 * (acc + dt / 3 * jerk))
    predicted_v = velocities + dt * (acc + dt / 2 * jerk)
    acc1, jerk1 = accelerations_and_jerks(masses, predicted_x, predicted_v)
    new_v = velocities + dt / 2 * (acc + acc1) + dt**2 / 12 * (jerk - jerk1)
    new_x = positions + dt / 2 * (velocities + new_v) + dt**2 / 12 * (acc - acc1)
    # The cubic Hermite interpolant of the force through both ends gives its 2nd and 3rd
    # derivatives.
    snap0 = (-6 * (acc - acc1) - dt * (4 * jerk + 2 * jerk1)) / dt**2
    crackle = (12 * (acc - acc1) + 6 * dt * (jerk + jerk1)) / dt**3
    return HermiteStep(new_x, new_v, acc1, jerk1, snap0 + dt * crackle, crackle)


def _wanted_step(masses: Array, carry: HermiteCarry, criterion: str, eta: Array) -> Array:
    """The unclipped step the criterion asks for at the carry's time."""
    rv = shared_timestep(masses, carry.state.positions, carry.state.velocities, eta)
    if criterion == "rv":
        return rv
    # Before the first step there is no snap/crackle; the rv step is then a safe start, being
    # eta times a dynamical time where Aarseth's is sqrt(eta) times one. Aarseth's own starting
    # step eta |a|/|jerk| fails where a body sits at a force null (the figure-eight's centre).
    # When no body has a finite Aarseth step (all derivatives zero) the rv step stands in too.
    running = aarseth_timestep(carry.acc, carry.jerk, carry.snap, carry.crackle, eta)
    running = jnp.where(jnp.isfinite(running), running, rv)
    return jnp.where(carry.has_history, running, rv)


def hermite4(criterion: str, eta: Array, dt_min: Array, max_steps: int) -> Integrator:
    """Adaptive shared-step Hermite integrator.

    criterion: "rv" or "aarseth" (static). eta: () accuracy parameter of the criterion.
    dt_min: () smallest acceptable unclipped step; below it the run stops with
    STATUS_STEP_FLOOR. max_steps: static bound on the total number of steps.
    """

    def init(masses: Array, state: NBodyState) -> HermiteCarry:
        acc, jerk = accelerations_and_jerks(masses, state.positions, state.velocities)
        zeros = jnp.zeros_like(acc)
        return HermiteCarry(state, acc, jerk, zeros, zeros, jnp.asarray(False), fresh_stats(1))

    def step(masses: Array, c: HermiteCarry, t_end: Array) -> HermiteCarry:
        wanted = _wanted_step(masses, c, criterion, eta)
        remaining = t_end - c.state.t
        last = wanted >= remaining
        dt = jnp.minimum(wanted, remaining)
        s = hermite_step(masses, c.state.positions, c.state.velocities, c.acc, c.jerk, dt)
        # A step clipped onto t_end can be arbitrarily short, where the interpolation's finite
        # differences lose all precision: carry the previous derivatives forward instead.
        extrapolate = last & c.has_history
        snap = jnp.where(extrapolate, c.snap + dt * c.crackle, s.snap)
        crackle = jnp.where(extrapolate, c.crackle, s.crackle)
        t = jnp.where(last, t_end, c.state.t + dt)
        moved = HermiteCarry(
            NBodyState(s.positions, s.velocities, t),
            s.acc,
            s.jerk,
            snap,
            crackle,
            jnp.asarray(True),
            c.stats,
        )
        floor = wanted < dt_min
        status = jnp.where(
            floor,
            STATUS_STEP_FLOOR,
            step_status(all_finite(s.positions, s.velocities, s.acc, s.jerk)),
        ).astype(jnp.int32)
        accepted = status == STATUS_OK
        stats = c.stats._replace(
            n_steps=c.stats.n_steps + accepted,
            n_force_evals=c.stats.n_force_evals + ~floor,
            status=status,
        )
        return select(accepted, moved, c)._replace(stats=stats)

    return Integrator(init, repeat_step(step, max_steps), step)

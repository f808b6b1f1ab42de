"""Yoshida's 4th-order triple jump with a variable shared step from the "rv" criterion.

Each step takes h = eta * min over pairs of (r / |v_rel|, sqrt(r^3 / (m_i + m_j))) at its start
(:func:`shared_timestep`), clipped to land exactly on ``t_end``, and costs three force evaluations
(the force at the end of a step starts the next). Varying the step breaks symplecticity, so the
energy error drifts like Hermite's; the scheme is the second variable-step integrator that a
time-step controller trained on :mod:`physics.nbody.hermite` can drive without retraining.
"""

import jax.numpy as jnp
from jax import Array

from physics.nbody.forces import accelerations
from physics.nbody.state import STATUS_OK, STATUS_STEP_FLOOR, NBodyState, fresh_stats
from physics.nbody.stepping import (
    Integrator,
    all_finite,
    repeat_step,
    select,
    step_status,
)
from physics.nbody.symplectic import YOSHIDA4_WEIGHTS, SymplecticCarry, yoshida4_step
from physics.nbody.timestep import shared_timestep


def yoshida4_adaptive(eta: Array, dt_min: Array, max_steps: int) -> Integrator:
    """Variable-step Yoshida4 integrator.

    eta: () accuracy parameter of the "rv" criterion. dt_min: () smallest acceptable unclipped
    step; below it the run stops with STATUS_STEP_FLOOR. max_steps: static bound on the steps.
    """

    def init(masses: Array, state: NBodyState) -> SymplecticCarry:
        return SymplecticCarry(state, accelerations(masses, state.positions), fresh_stats(1))

    def step(masses: Array, c: SymplecticCarry, t_end: Array) -> SymplecticCarry:
        wanted = shared_timestep(masses, c.state.positions, c.state.velocities, eta)
        remaining = t_end - c.state.t
        last = wanted >= remaining
        h = jnp.minimum(wanted, remaining)
        x, v, a = yoshida4_step(masses, c.state.positions, c.state.velocities, c.acc, h)
        t = jnp.where(last, t_end, c.state.t + h)
        floor = wanted < dt_min
        status = jnp.where(floor, STATUS_STEP_FLOOR, step_status(all_finite(x, v, a))).astype(
            jnp.int32
        )
        accepted = status == STATUS_OK
        stats = c.stats._replace(
            n_steps=c.stats.n_steps + accepted,
            n_force_evals=c.stats.n_force_evals + jnp.where(floor, 0, len(YOSHIDA4_WEIGHTS)),
            status=status,
        )
        moved = SymplecticCarry(NBodyState(x, v, t), a, stats)
        return select(accepted, moved, c._replace(stats=stats))

    return Integrator(init, repeat_step(step, max_steps), step)

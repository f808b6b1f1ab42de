"""Fixed-step symplectic integrators: leapfrog (kick-drift-kick) and its 4th-order Yoshida
(Forest-Ruth) triple-jump composition.

To land exactly on t_end, a span is covered by n = ceil(span / dt) equal steps of span / n, so
the step actually used is never larger than ``dt``. The force at the end of a step is kept for
the first kick of the next, so leapfrog costs one force evaluation per step and Yoshida three.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
from jax import Array, lax

from physics.nbody.forces import accelerations
from physics.nbody.state import STATUS_OK, IntegrationStats, NBodyState, fresh_stats
from physics.nbody.stepping import Integrator, all_finite, may_continue, select, settle, step_status

_CBRT2 = 2.0 ** (1.0 / 3.0)
YOSHIDA4_WEIGHTS = (1 / (2 - _CBRT2), -_CBRT2 / (2 - _CBRT2), 1 / (2 - _CBRT2))

Step = Callable[[Array, Array, Array, Array, Array], tuple[Array, Array, Array]]


class SymplecticCarry(NamedTuple):
    """Loop state; acc: (N, d) acceleration at ``state.t``."""

    state: NBodyState
    acc: Array
    stats: IntegrationStats


def leapfrog_step(
    masses: Array, positions: Array, velocities: Array, acc: Array, h: Array
) -> tuple[Array, Array, Array]:
    """One kick-drift-kick step of length h. Arrays (N, d); returns (positions, velocities, acc)."""
    half_kicked = velocities + h / 2 * acc
    new_positions = positions + h * half_kicked
    new_acc = accelerations(masses, new_positions)
    return new_positions, half_kicked + h / 2 * new_acc, new_acc


def yoshida4_step(
    masses: Array, positions: Array, velocities: Array, acc: Array, h: Array
) -> tuple[Array, Array, Array]:
    """One 4th-order step: leapfrog steps of w1 h, w0 h, w1 h (Yoshida 1990, Forest & Ruth 1990)."""
    for weight in YOSHIDA4_WEIGHTS:
        positions, velocities, acc = leapfrog_step(masses, positions, velocities, acc, weight * h)
    return positions, velocities, acc


def fixed_step_integrator(step: Step, evals_per_step: int, dt: Array, max_steps: int) -> Integrator:
    """Integrator taking equal steps no longer than dt (()) with ``step``; max_steps is static."""

    def init(masses: Array, state: NBodyState) -> SymplecticCarry:
        return SymplecticCarry(state, accelerations(masses, state.positions), fresh_stats(1))

    def advance(masses: Array, carry: SymplecticCarry, t_end: Array) -> SymplecticCarry:
        t0 = carry.state.t
        span = t_end - t0
        n = jnp.maximum(jnp.ceil(span / dt), 0).astype(jnp.int64)
        h = jnp.where(n > 0, span / jnp.maximum(n, 1), 0.0)

        def running(loop: tuple[SymplecticCarry, Array]) -> Array:
            c, k = loop
            return (k < n) & may_continue(c.stats, max_steps)

        def body(loop: tuple[SymplecticCarry, Array]) -> tuple[SymplecticCarry, Array]:
            c, k = loop
            x, v, a = step(masses, c.state.positions, c.state.velocities, c.acc, h)
            # Times are t0 + k h rather than a running sum, and the last one is t_end itself.
            t = jnp.where(k + 1 == n, t_end, t0 + (k + 1) * h)
            status = step_status(all_finite(x, v, a))
            accepted = status == STATUS_OK
            stats = c.stats._replace(
                n_steps=c.stats.n_steps + accepted,
                n_force_evals=c.stats.n_force_evals + evals_per_step,
                status=status,
            )
            moved = SymplecticCarry(NBodyState(x, v, t), a, stats)
            return select(accepted, moved, c._replace(stats=stats)), k + 1

        carry, _ = lax.while_loop(running, body, (carry, jnp.zeros((), jnp.int64)))
        return carry._replace(stats=settle(carry.stats, carry.state, t_end))

    return Integrator(init, advance)

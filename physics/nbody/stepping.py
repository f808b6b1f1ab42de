"""What every integrator shares: its interface, failure detection and end-of-run bookkeeping.

An integrator is a pair of pure functions, ``init(masses, state) -> carry`` and
``advance(masses, carry, t_end) -> carry``; a carry is a NamedTuple with at least ``state``
(:class:`NBodyState`) and ``stats`` (:class:`IntegrationStats`) fields, plus whatever the scheme
reuses between steps (forces, their derivatives). ``advance`` can be called repeatedly with
increasing ``t_end`` (that is how :func:`trajectory` works) and does nothing once a failure status
is set.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array, lax

from physics.nbody.forces import closest_pair
from physics.nbody.state import (
    STATUS_MAX_STEPS,
    STATUS_NON_FINITE,
    STATUS_OK,
    IntegrationStats,
    NBodyState,
)


class Integrator(NamedTuple):
    """init: (masses (N,), NBodyState) -> carry. advance: (masses, carry, t_end ()) -> carry.

    step: (masses, carry, t_end) -> carry, one natural step (clipped to land on t_end), for the
    adaptive schemes whose step the dynamics choose; None for the fixed-step ones. ``advance``
    is ``step`` repeated while ``state.t < t_end``; dense output interpolates between steps.
    """

    init: Callable[[Array, NBodyState], Any]
    advance: Callable[[Array, Any, Array], Any]
    step: Callable[[Array, Any, Array], Any] | None = None


def all_finite(*arrays: Array) -> Array:
    """() bool: no nan or inf in any of the arrays."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in arrays]))


def select(pred: Array, on_true: Any, on_false: Any) -> Any:
    """Leaf-wise jnp.where over two pytrees of the same structure; pred is a () bool."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def step_status(finite: Array) -> Array:
    """() int32 status after a step whose result is (not) finite."""
    return jnp.where(finite, STATUS_OK, STATUS_NON_FINITE).astype(jnp.int32)


def may_continue(stats: IntegrationStats, max_steps: int) -> Array:
    """() bool: no failure so far and the step budget is not spent."""
    return (stats.status == STATUS_OK) & (stats.n_steps < max_steps)


def settle(stats: IntegrationStats, state: NBodyState, t_end: Array) -> IntegrationStats:
    """Stats at the end of ``advance``: flag a spent step budget and record where a run failed.

    A run that is still ok but short of ``t_end`` can only have stopped on the step budget. On
    failure the returned state is the last good one, so its time and closest pair are reported.
    """
    out_of_steps = (stats.status == STATUS_OK) & (state.t < t_end)
    status = jnp.where(out_of_steps, STATUS_MAX_STEPS, stats.status).astype(jnp.int32)
    failed = status != STATUS_OK
    return stats._replace(
        status=status,
        fail_time=jnp.where(failed, state.t, jnp.nan),
        fail_pair=jnp.where(failed, closest_pair(state.positions), -1).astype(jnp.int32),
    )


def repeat_step(step: Callable[[Array, Any, Array], Any], max_steps: int):
    """The ``advance`` of an adaptive scheme: its one-step function ``step`` repeated while the
    carry is short of ``t_end``, no failure is set and the step budget ``max_steps`` lasts."""

    def advance(masses: Array, carry: Any, t_end: Array) -> Any:
        def running(c: Any) -> Array:
            return (c.state.t < t_end) & may_continue(c.stats, max_steps)

        carry = lax.while_loop(running, lambda c: step(masses, c, t_end), carry)
        return carry._replace(stats=settle(carry.stats, carry.state, t_end))

    return advance

"""Parameter estimation through the differentiable moment solver: recover α (and ζ) from
kinetic trajectories by gradient descent on the a-posteriori trajectory loss.

Two stages. :func:`velocity_regression` gives a starting point: for a closure affine in E
(Bingham, a learned closure with inputs ``"D"``) the self-consistent Stokes velocity of given
(c, D) is affine in α and ζ (the stress αD + βS:E − 2ζβ(D·D − S:D) is), so three flow solves
per snapshot and a linear least-squares fit of the observed velocities give (α, ζ) directly.
:func:`estimate_parameters` then minimises :func:`closures.kinetic.aposteriori.trajectory_loss`
summed over windows, with the closure fixed and the named parameters free; the gradient comes
from the same compiled function as closure training
(:func:`~closures.kinetic.aposteriori.loss_and_gradients`), and Adam with a cosine-decayed step
drives the parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from closures.kinetic.aposteriori import (
    TrainingWindow,
    as_params,
    device_window,
    loss_and_gradients,
)
from physics.active_fluid import ActiveFluidParams, Closure, solve_flow

ESTIMABLE = ("alpha", "zeta", "beta", "d_t", "d_r")


class Estimate(NamedTuple):
    """Estimated values by name, and per iteration the loss and the values."""

    values: dict[str, float]
    loss: list[float]
    trace: dict[str, list[float]]


def estimate_parameters(
    closure: Closure,
    closure_params: Any,
    windows: Sequence[TrainingWindow],
    initial: dict[str, float],
    steps_per_output: int,
    steps: int = 60,
    learning_rate: float = 0.05,
    weights: Sequence[float] = (1.0, 1.0, 1.0),
    callback: Callable[[int, float, dict[str, float]], None] = lambda step, loss, values: None,
) -> Estimate:
    """Minimise the summed trajectory loss over ``windows`` in the parameters named by
    ``initial`` (their starting values; the others stay at each window's params).

    All windows must share one grid and length. Returns the :class:`Estimate`.
    """
    unknown = sorted(set(initial) - set(ESTIMABLE))
    if unknown:
        raise ValueError(f"cannot estimate {unknown}; estimable: {ESTIMABLE}")
    values = {name: jnp.asarray(v, dtype=jnp.float64) for name, v in initial.items()}
    optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, max(steps, 1), alpha=0.02))
    opt_state = optimizer.init(values)
    device = [(item, device_window(item.window)) for item in windows]
    weight_array = jnp.asarray(weights, dtype=jnp.float64)
    losses: list[float] = []
    trace: dict[str, list[float]] = {name: [] for name in values}
    for step in range(steps):
        total, grads = 0.0, {name: jnp.zeros(()) for name in values}
        for item, window in device:
            params = as_params(item.params._replace(**values))
            loss, (_, g) = loss_and_gradients(
                closure, closure_params, params, window, item.dt_output / steps_per_output,
                steps_per_output, weight_array,
            )  # fmt: skip
            total += float(loss)
            grads = {name: grads[name] + getattr(g, name) for name in values}
        updates, opt_state = optimizer.update(grads, opt_state, values)
        values = optax.apply_updates(values, updates)
        losses.append(total / len(device))
        current = {name: float(v) for name, v in values.items()}
        for name, v in current.items():
            trace[name].append(v)
        callback(step + 1, losses[-1], current)
    return Estimate({name: float(v) for name, v in values.items()}, losses, trace)


@functools.partial(jax.jit, static_argnames="closure")
def _velocity(closure: Closure, closure_params: Any, params: ActiveFluidParams, c, D):
    return solve_flow(params, c, D, closure, closure_params).u


def velocity_regression(
    closure: Closure, closure_params: Any, windows: Sequence[TrainingWindow], names: Sequence[str]
) -> dict[str, float]:
    """Least-squares (α and/or ζ) from the velocities of every snapshot of the windows, the
    flow being affine in them (exact for closures affine in E); the other parameters are the
    windows' own."""
    rows, targets = [], []
    for item in windows:
        base = as_params(item.params._replace(**{name: 0.0 for name in names}))
        w = item.window
        for c, D, u in [(w.c0, w.D0, w.u0), *zip(w.c, w.D, w.u, strict=True)]:
            c, D = jnp.asarray(c), jnp.asarray(D)
            u_base = _velocity(closure, closure_params, base, c, D)
            columns = [
                _velocity(closure, closure_params, base._replace(**{name: jnp.asarray(1.0)}), c, D)
                - u_base
                for name in names
            ]
            rows.append(jnp.stack([col.ravel() for col in columns], axis=-1))
            targets.append(jnp.asarray(u).ravel() - u_base.ravel())
    solution = jnp.linalg.lstsq(jnp.concatenate(rows), jnp.concatenate(targets))[0]
    return {name: float(v) for name, v in zip(names, solution, strict=True)}


def relative_errors(estimate: dict[str, float], truth: ActiveFluidParams) -> dict[str, float]:
    """|estimate / truth − 1| per estimated parameter."""
    return {name: abs(v / float(getattr(truth, name)) - 1) for name, v in estimate.items()}

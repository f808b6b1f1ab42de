"""A-posteriori closure training: unroll the differentiable moment solver with the closure from
kinetic states and match the kinetic trajectories of (c, D, u) over short windows.

A :class:`Window` starts at a kinetic snapshot (c₀, D₀) and holds the next ``length``
snapshots, ``steps_per_output`` moment steps apart. :func:`rollout` runs the moment model over
the window as a ``lax.scan`` of output segments, each wrapped in ``jax.checkpoint``: the reverse
pass stores one state per output and recomputes the steps inside a segment, so memory grows
with the number of outputs, not of steps. The loss (:func:`trajectory_errors`) is the relative
MSE of c, D and u against the kinetic values, each normalised by the target's fluctuation about
its spatial mean, summed over the window's outputs (and the velocity of the start state, which
the closure sets instantaneously). The same loss, differentiated in the physical parameters
instead, estimates α and ζ (:mod:`closures.kinetic.estimation`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from closures.kinetic.apriori import Batch, apriori_loss, make_optimizer
from closures.kinetic.dataset import ClosureSamples, RunFields
from physics.active_fluid import ActiveFluidParams, Closure, moment

FIELD_NAMES = ("c", "D", "u")
DEFAULT_WEIGHTS = (1.0, 1.0, 1.0)


class Window(NamedTuple):
    """A kinetic trajectory segment: start state c0 (n, n), D0 (n, n, 2, 2), its velocity
    u0 (n, n, 2), and the next snapshots c (W, n, n), D (W, n, n, 2, 2), u (W, n, n, 2)."""

    c0: Array
    D0: Array
    u0: Array
    c: Array
    D: Array
    u: Array


def make_windows(
    fields: RunFields, length: int, stride: int | None = None, t_min: float = 0.0
) -> list[Window]:
    """Windows of ``length`` outputs starting at every ``stride``-th snapshot (default:
    ``length``, non-overlapping) at t ≥ t_min."""
    stride = stride or length
    starts = [k for k in range(len(fields.t) - length) if fields.t[k] >= t_min - 1e-9]
    return [
        Window(
            fields.c[k],
            fields.D[k],
            fields.u[k],
            fields.c[k + 1 : k + 1 + length],
            fields.D[k + 1 : k + 1 + length],
            fields.u[k + 1 : k + 1 + length],
        )  # fmt: skip
        for k in starts[::stride]
    ]


def as_params(params: ActiveFluidParams) -> ActiveFluidParams:
    """Physical parameters as float64 arrays (traced leaves: one compilation for all values)."""
    return ActiveFluidParams(*(jnp.asarray(v, dtype=jnp.float64) for v in params))


def rollout(
    closure: Closure,
    closure_params: Any,
    params: ActiveFluidParams,
    c0: Array,
    D0: Array,
    dt: Array | float,
    num_outputs: int,
    steps_per_output: int,
) -> tuple[Array, Array, Array, Array]:
    """(u0, c, D, u): the start state's velocity and the moment model's (c, D, u) after every
    ``steps_per_output`` steps of size dt, for num_outputs outputs (leading axis).

    Reverse-differentiable in closure_params, params, c0 and D0 with memory bounded by one
    state per output (each output segment is rematerialised in the backward pass).
    """
    state = moment.init_state(c0, D0, dt)

    @jax.checkpoint
    def segment(s, _):
        s, obs = moment.trajectory(s, params, 1, steps_per_output, closure, closure_params,
                                   observe=moment.snapshot)  # fmt: skip
        return s, (obs.c[0], obs.D[0], obs.u[0])

    u0 = moment.snapshot(state, params, closure, closure_params).u
    _, (c, D, u) = jax.lax.scan(segment, state, length=num_outputs)
    return u0, c, D, u


def _relative(pred: Array, target: Array) -> Array:
    """Σ|pred − target|² / Σ|target − spatial mean|² for fields (W, n, n, ...)."""
    mean = jnp.mean(target, axis=(1, 2), keepdims=True)
    return jnp.sum((pred - target) ** 2) / jnp.sum((target - mean) ** 2)


def trajectory_errors(
    closure: Closure,
    closure_params: Any,
    params: ActiveFluidParams,
    window: Window,
    dt: Array | float,
    steps_per_output: int,
) -> dict[str, Array]:
    """Relative errors {"c", "D", "u"} of the moment model over a window (u includes u0)."""
    u0, c, D, u = rollout(closure, closure_params, params, window.c0, window.D0, dt,
                          window.c.shape[0], steps_per_output)  # fmt: skip
    u_all = jnp.concatenate([u0[None], u])
    u_true = jnp.concatenate([window.u0[None], window.u])
    return {"c": _relative(c, window.c), "D": _relative(D, window.D), "u": _relative(u_all, u_true)}


def trajectory_loss(
    closure: Closure,
    closure_params: Any,
    params: ActiveFluidParams,
    window: Window,
    dt: Array | float,
    steps_per_output: int,
    weights: Array | Sequence[float] = (1.0, 1.0, 1.0),
) -> Array:
    """Σ weight · :func:`trajectory_errors`, weights ordered as :data:`FIELD_NAMES`."""
    errors = trajectory_errors(closure, closure_params, params, window, dt, steps_per_output)
    return sum(weights[k] * errors[name] for k, name in enumerate(FIELD_NAMES))


@functools.partial(jax.jit, static_argnames=("closure", "steps_per_output"))
def loss_and_gradients(
    closure: Closure,
    closure_params: Any,
    params: ActiveFluidParams,
    window: Window,
    dt: Array | float,
    steps_per_output: int,
    weights: Array = DEFAULT_WEIGHTS,
) -> tuple[Array, tuple[Any, ActiveFluidParams]]:
    """(loss, (d loss/d closure_params, d loss/d params)) of :func:`trajectory_loss`: one
    compilation serves closure training and parameter estimation."""
    return jax.value_and_grad(trajectory_loss, argnums=(1, 2))(
        closure, closure_params, params, window, dt, steps_per_output, weights
    )


class TrainingWindow(NamedTuple):
    """A window with the physical parameters of its run and the kinetic snapshot spacing."""

    params: ActiveFluidParams
    window: Window
    dt_output: float


def device_window(window: Window) -> Window:
    return Window(*(jnp.asarray(a, dtype=jnp.float64) for a in window))


def train_aposteriori(
    closure: Closure,
    closure_params: Any,
    windows: Sequence[TrainingWindow],
    steps_per_output: int,
    steps: int = 100,
    learning_rate: float = 1e-3,
    apriori: tuple[ClosureSamples, dict[str, float], float] | None = None,
    batch_size: int = 4096,
    weights: Sequence[float] = (1.0, 1.0, 1.0),
    seed: int = 0,
    callback: Callable[[int, float], None] = lambda step, loss: None,
) -> tuple[Any, list[float]]:
    """Fine-tune closure_params on randomly drawn windows (one per step) with Adam.

    The moment step is dt_output / steps_per_output. ``apriori`` = (samples, weights, λ) adds
    λ × the a-priori loss on a random minibatch, so the fit stays accurate pointwise. Windows
    should share one grid and length (one compilation). Returns (params, loss per step).
    """
    rng = np.random.default_rng(seed)
    optimizer = make_optimizer(learning_rate, steps)
    opt_state = optimizer.init(closure_params)
    data = Batch.of(apriori[0]) if apriori else None
    n_samples = len(apriori[0]) if apriori else 0
    weight_array = jnp.asarray(weights, dtype=jnp.float64)

    @jax.jit
    def apriori_gradient(cp, index):
        batch = jax.tree.map(lambda a: a[index], data)
        return jax.value_and_grad(
            lambda p: apriori[2] * apriori_loss(closure, p, batch, apriori[1])
        )(cp)

    @jax.jit
    def apply(cp, opt_state, grads):
        updates, opt_state = optimizer.update(grads, opt_state, cp)
        return optax.apply_updates(cp, updates), opt_state

    history: list[float] = []
    for step in range(steps):
        item = windows[int(rng.integers(len(windows)))]
        loss, (grads, _) = loss_and_gradients(
            closure, closure_params, as_params(item.params), device_window(item.window),
            item.dt_output / steps_per_output, steps_per_output, weight_array,
        )  # fmt: skip
        if apriori is not None:
            index = jnp.asarray(rng.integers(0, n_samples, min(batch_size, n_samples)))
            extra, extra_grads = apriori_gradient(closure_params, index)
            loss = loss + extra
            grads = jax.tree.map(jnp.add, grads, extra_grads)
        closure_params, opt_state = apply(closure_params, opt_state, grads)
        history.append(float(loss))
        callback(step + 1, history[-1])
    return closure_params, history

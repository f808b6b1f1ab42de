"""A-priori closure errors and training: fit S:T (and S:D, S:E) to the exact kinetic values.

The error measure is the relative MSE Σ|pred − exact|² / Σ|exact|² over samples and tensor
components, of S:T = S:E + 2ζ S:D (T = E + 2ζD, the combination the D equation needs) and of
S:D and S:E separately (the stress needs both; with several ζ in the data S:T alone does not
pin them down). Any closure with the shared signature can be scored; training fits a learned
closure's parameters with Adam on random minibatches of pointwise samples.

:func:`best_harmonic_factor` bounds what any pointwise closure of D can reach: in 2D every
rotation- and reflection-equivariant function S(D) with the moment identities has the harmonic
m₄ = h m₂²/c with a real h(c, s²) (Bingham: h = g(s²)), and S:T is affine in h, so the best h
on given samples is a per-bin least-squares fit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from closures.kinetic.dataset import ClosureSamples
from physics.active_fluid import Closure
from physics.active_fluid.moments import harmonic_closure, second_harmonic

TARGETS = ("S_T", "S_D", "S_E")


class Batch(NamedTuple):
    """Device arrays of samples: pointwise, c (N,), D, E, S_D, S_E (N, 2, 2), zeta (N,); or
    whole snapshots, c (N, n, n), D, ... (N, n, n, 2, 2), zeta (N,)."""

    c: Array
    D: Array
    E: Array
    S_D: Array
    S_E: Array
    zeta: Array

    @classmethod
    def of(cls, samples: ClosureSamples) -> Batch:
        return cls(*(jnp.asarray(getattr(samples, name)) for name in cls._fields))


def relative_mse(pred: Array, exact: Array) -> Array:
    """() Σ|pred − exact|² / Σ|exact|² over all axes."""
    return jnp.sum((pred - exact) ** 2) / jnp.sum(exact**2)


def _s_t(S_D: Array, S_E: Array, zeta: Array) -> Array:
    """S:T = S:E + 2ζ S:D with ζ per sample (N,) broadcast over points and components."""
    return S_E + 2 * zeta.reshape(zeta.shape + (1,) * (S_D.ndim - zeta.ndim)) * S_D


def closure_errors(closure: Closure, params: Any, batch: Batch) -> dict[str, Array]:
    """Relative MSEs {"S_T", "S_D", "S_E"} of a closure on samples."""
    S_D, S_E = closure(params, batch.c, batch.D, batch.E)
    return {
        "S_T": relative_mse(_s_t(S_D, S_E, batch.zeta), _s_t(batch.S_D, batch.S_E, batch.zeta)),
        "S_D": relative_mse(S_D, batch.S_D),
        "S_E": relative_mse(S_E, batch.S_E),
    }


def evaluate_closure(
    closure: Closure, params: Any, samples: ClosureSamples, chunk: int = 65536
) -> dict[str, float]:
    """:func:`closure_errors` over any number of samples, summed chunk by chunk."""
    jitted = jax.jit(_error_sums, static_argnums=0)
    totals = np.zeros((len(TARGETS), 2))
    for start in range(0, len(samples), chunk):
        part = Batch.of(samples.take(np.arange(start, min(start + chunk, len(samples)))))
        totals += np.asarray(jitted(closure, params, part))
    return {name: float(num / den) for name, (num, den) in zip(TARGETS, totals, strict=True)}


def _error_sums(closure: Closure, params: Any, batch: Batch) -> Array:
    """(3, 2): (Σ|error|², Σ|exact|²) per target."""
    S_D, S_E = closure(params, batch.c, batch.D, batch.E)
    pairs = [
        (_s_t(S_D, S_E, batch.zeta), _s_t(batch.S_D, batch.S_E, batch.zeta)),
        (S_D, batch.S_D),
        (S_E, batch.S_E),
    ]
    return jnp.stack([jnp.stack([jnp.sum((p - e) ** 2), jnp.sum(e**2)]) for p, e in pairs])


def loss_weights(baseline: dict[str, float], separate: bool) -> dict[str, float]:
    """Weights that make each term of the loss 1 for the baseline closure (Bingham): S:T only,
    or S:T, S:D and S:E when ``separate`` (several ζ in the data)."""
    names = TARGETS if separate else ("S_T",)
    return {name: 1.0 / max(baseline[name], 1e-30) for name in names}


def apriori_loss(closure: Closure, params: Any, batch: Batch, weights: dict[str, float]) -> Array:
    """Σ weight · relative MSE over the weighted targets."""
    errors = closure_errors(closure, params, batch)
    return sum(w * errors[name] for name, w in weights.items())


class TrainState(NamedTuple):
    params: Any
    opt_state: Any
    key: Array


def make_optimizer(learning_rate: float, steps: int, clip: float = 1.0):
    """Adam with cosine decay to 1% and global-norm clipping."""
    schedule = optax.cosine_decay_schedule(learning_rate, max(steps, 1), alpha=0.01)
    return optax.chain(optax.clip_by_global_norm(clip), optax.adam(schedule))


def train_apriori(
    closure: Closure,
    params: Any,
    train: ClosureSamples,
    weights: dict[str, float],
    steps: int = 2000,
    batch_size: int = 4096,
    learning_rate: float = 3e-3,
    seed: int = 0,
    log_every: int = 100,
    callback: Callable[[int, float], None] = lambda step, loss: None,
) -> tuple[Any, list[float]]:
    """Fit params to minibatches of ``train``; returns (params, mean loss per log interval).

    Runs ``steps`` rounded up to a multiple of ``log_every`` (one jitted scan per interval);
    ``callback(step, loss)`` runs after each interval (progress, metrics).
    """
    data = Batch.of(train)
    n = len(train)
    optimizer = make_optimizer(learning_rate, steps)

    def one(state: TrainState, _) -> tuple[TrainState, Array]:
        key, sub = jax.random.split(state.key)
        index = jax.random.randint(sub, (min(batch_size, n),), 0, n)
        batch = jax.tree.map(lambda a: a[index], data)
        loss, grads = jax.value_and_grad(lambda p: apriori_loss(closure, p, batch, weights))(
            state.params
        )
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        return TrainState(optax.apply_updates(state.params, updates), opt_state, key), loss

    @jax.jit
    def run(state: TrainState) -> tuple[TrainState, Array]:
        return jax.lax.scan(one, state, length=log_every)

    state = TrainState(params, optimizer.init(params), jax.random.key(seed))
    history: list[float] = []
    for done in range(log_every, steps + log_every, log_every):
        state, losses = run(state)
        history.append(float(jnp.mean(losses)))
        callback(min(done, steps), history[-1])
    return state.params, history


def best_harmonic_factor(
    samples: ClosureSamples, bins: int = 50
) -> tuple[np.ndarray, np.ndarray, float]:
    """The best closure of D alone for S:T on ``samples``: (edges (bins + 1,) of quantile bins
    of s², h (bins,) per bin, relative MSE of S:T with that h).

    h is fitted on the samples themselves (least squares per bin of S:T, whose dependence on
    h is affine), so the error is a floor for every closure of the form m₄ = h(s²) m₂²/c on
    them (a finer h(c, s²) gains little on kinetic data).
    """
    D, E = jnp.asarray(samples.D), jnp.asarray(samples.E)
    c, m2 = second_harmonic(D)
    c_or_one = jnp.where(c > 0, c, 1.0)
    zeta = jnp.asarray(samples.zeta)

    def s_t(m4: Array) -> np.ndarray:
        S_D, S_E = harmonic_closure((c, m2, m4), c, D, E)
        return np.asarray(_s_t(S_D, S_E, zeta)).reshape(len(samples), 4)

    base = s_t(jnp.zeros_like(m2))
    slope = s_t(m2**2 / c_or_one) - base
    exact = np.asarray(_s_t(jnp.asarray(samples.S_D), jnp.asarray(samples.S_E), zeta))
    target = exact.reshape(len(samples), 4) - base
    s2 = np.asarray(jnp.abs(m2) ** 2 / c_or_one**2)
    edges = np.quantile(s2, np.linspace(0.0, 1.0, bins + 1))
    index = np.clip(np.searchsorted(edges, s2, side="right") - 1, 0, bins - 1)
    numerator = np.bincount(index, np.sum(slope * target, axis=1), bins)
    denominator = np.bincount(index, np.sum(slope * slope, axis=1), bins)
    h = numerator / np.maximum(denominator, 1e-300)
    error = np.sum((h[index, None] * slope - target) ** 2) / np.sum(exact**2)
    return edges, h, float(error)

"""Pool-based active learning of a closure across (α, ζ): train on part of the kinetic
snapshots, score every snapshot left in the pool by the closure's a-priori error, move the
worst ones into the training set and retrain (warm start), round after round.

Snapshots are whole (run, t) fields, so a round adds the parameters and times where the closure
is worst; the error is the relative MSE of S:T per snapshot
(:func:`snapshot_errors`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from closures.kinetic.apriori import Batch
from closures.kinetic.dataset import ClosureSamples
from physics.active_fluid import Closure


def snapshot_keys(samples: ClosureSamples) -> tuple[np.ndarray, np.ndarray]:
    """(unique (run, t) pairs (K, 2), index of each sample's pair (N,))."""
    keys = np.stack([samples.run.astype(float), samples.t], axis=-1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    return unique, inverse.ravel()


def snapshot_errors(closure: Closure, params: Any, samples: ClosureSamples) -> np.ndarray:
    """Relative MSE of S:T per (run, t) snapshot, ordered as :func:`snapshot_keys`."""
    _, inverse = snapshot_keys(samples)
    count = int(inverse.max()) + 1

    @jax.jit
    def sums(batch: Batch, index: jax.Array) -> tuple[jax.Array, jax.Array]:
        S_D, S_E = closure(params, batch.c, batch.D, batch.E)
        z = batch.zeta[:, None, None]
        pred, exact = S_E + 2 * z * S_D, batch.S_E + 2 * z * batch.S_D
        err = jnp.sum((pred - exact) ** 2, axis=(-2, -1))
        norm = jnp.sum(exact**2, axis=(-2, -1))
        return (jax.ops.segment_sum(err, index, count), jax.ops.segment_sum(norm, index, count))

    err, norm = sums(Batch.of(samples), jnp.asarray(inverse))
    return np.asarray(err) / np.asarray(norm)


class Round(NamedTuple):
    """One round: how many snapshots were in training, which (run, t) were added, the mean
    pool error before adding and the held-out error after retraining."""

    n_train_snapshots: int
    added: list[tuple[int, float]]
    pool_error: float
    held_out_error: float


def active_learning(
    closure: Closure,
    params: Any,
    pool: ClosureSamples,
    initial_runs: set[int],
    held_out: ClosureSamples,
    retrain: Callable[[Any, ClosureSamples], Any],
    evaluate: Callable[[Any, ClosureSamples], float],
    rounds: int = 2,
    add_per_round: int = 8,
) -> tuple[Any, list[Round]]:
    """Start from the snapshots of ``initial_runs`` (run indices); each round adds the
    ``add_per_round`` pool snapshots of largest S:T error and calls ``retrain(params, train)``.
    ``evaluate(params, samples)`` scores the held-out samples after every round.
    Returns (params, rounds)."""
    keys, inverse = snapshot_keys(pool)
    chosen = np.isin(keys[:, 0], sorted(initial_runs))
    history: list[Round] = []
    for _ in range(rounds):
        errors = snapshot_errors(closure, params, pool)
        candidates = np.flatnonzero(~chosen)
        if not len(candidates):
            break
        worst = candidates[np.argsort(errors[candidates])[::-1][:add_per_round]]
        pool_error = float(np.mean(errors[candidates]))
        chosen[worst] = True
        params = retrain(params, pool.take(chosen[inverse]))
        history.append(
            Round(int(chosen.sum()), [(int(keys[k, 0]), float(keys[k, 1])) for k in worst],
                  pool_error, evaluate(params, held_out))
        )  # fmt: skip
    return params, history

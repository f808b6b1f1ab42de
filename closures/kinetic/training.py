"""The closure training loop as one library function: a-priori fit, optional active learning
over the snapshots of several (α, ζ), optional a-posteriori fine-tuning through the moment
solver, and the a-priori scores of the result against Bingham and the quadratic closure.

``train_closure(dataset, settings)`` is what the ``closure-train`` flow calls; it is pure apart
from the ``progress`` callback (no files, no logging).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from closures.kinetic.active_learning import Round, active_learning
from closures.kinetic.aposteriori import TrainingWindow, make_windows, train_aposteriori
from closures.kinetic.apriori import evaluate_closure, loss_weights, train_apriori
from closures.kinetic.bingham import bingham_closure
from closures.kinetic.dataset import (
    ClosureDataset,
    ClosureSamples,
    concatenate,
    snapshots,
    split_snapshots,
)
from closures.kinetic.network import ClosureConfig, LearnedClosure
from closures.kinetic.nonlocal_closure import NonlocalClosure
from closures.kinetic.quadratic import quadratic_closure
from physics.active_fluid import ActiveFluidParams

Progress = Callable[[str, int, int, float], None]
"""progress(stage, done, total, loss)."""


@dataclass(frozen=True)
class TrainingSettings:
    """What :func:`train_closure` does. a-priori: steps, batch_size, learning_rate, seed.
    Held out: every ``holdout_every``-th snapshot. a-posteriori (skipped if 0 steps): windows
    of ``window`` outputs, ``steps_per_output`` moment steps each, learning rate, and the
    weight of the a-priori loss kept beside the trajectory loss. Active learning (skipped if 0
    rounds): start from ``initial_runs`` (indices into the dataset's runs; default all) and add
    ``add_per_round`` snapshots per round, retraining ``retrain_steps`` each time. A CNN closure
    (``network.kind == "cnn"``) trains on whole snapshots, ``snapshot_batch`` per step."""

    network: ClosureConfig = field(default_factory=ClosureConfig)
    steps: int = 2000
    batch_size: int = 4096
    learning_rate: float = 3e-3
    seed: int = 0
    holdout_every: int = 5
    aposteriori_steps: int = 0
    window: int = 4
    steps_per_output: int = 25
    aposteriori_learning_rate: float = 1e-3
    apriori_weight: float = 0.1
    active_rounds: int = 0
    initial_runs: tuple[int, ...] = ()
    add_per_round: int = 8
    retrain_steps: int = 500
    snapshot_batch: int = 8


@dataclass
class TrainedClosure:
    """The result: closure and params, loss histories, a-priori scores on the held-out
    snapshots ({closure name: {"S_T", "S_D", "S_E"}}) and the active-learning rounds."""

    closure: LearnedClosure | NonlocalClosure
    params: Any
    apriori_history: list[float]
    aposteriori_history: list[float]
    scores: dict[str, dict[str, float]]
    rounds: list[Round]
    strain_scale: float


def strain_scale(samples: ClosureSamples) -> float:
    """rms |E′| of the samples (normalises the strain invariants)."""
    E = samples.E
    e11 = (E[..., 0, 0] - E[..., 1, 1]) / 2
    return float(np.sqrt(np.mean(2 * e11**2 + 2 * E[..., 0, 1] ** 2))) or 1.0


def make_closure(config: ClosureConfig) -> LearnedClosure | NonlocalClosure:
    """The closure object of a config: pointwise (kind "local") or CNN (kind "cnn")."""
    return NonlocalClosure(config) if config.kind == "cnn" else LearnedClosure(config)


def _noop(stage: str, done: int, total: int, loss: float) -> None:
    del stage, done, total, loss


def train_closure(
    dataset: ClosureDataset, settings: TrainingSettings, progress: Progress = _noop
) -> TrainedClosure:
    """Train a learned closure on ``dataset`` as ``settings`` say (see the module docstring)."""
    samples = dataset.samples
    if settings.network.kind == "cnn":
        if settings.active_rounds:
            raise ValueError("active learning needs a local closure (kind 'local')")
        t_min = float(dataset.provenance.get("t_min", 0.0))
        samples = concatenate([snapshots(f.select(f.t >= t_min - 1e-9), run.zeta, k)
                               for k, (run, f) in enumerate(zip(dataset.runs, dataset.fields,
                                                                strict=True))])  # fmt: skip
    train, held = split_snapshots(samples, settings.holdout_every)
    scale = strain_scale(train)
    network = ClosureConfig.from_json({**settings.network.to_json(), "strain_scale": scale})
    closure = make_closure(network)
    weights = loss_weights(evaluate_closure(bingham_closure, (), train),
                           separate=len(dataset.zetas) > 1)  # fmt: skip
    log_every = max(1, min(100, settings.steps // 10))
    batch = settings.snapshot_batch if network.kind == "cnn" else settings.batch_size

    def fit(params: Any, samples: ClosureSamples, steps: int, stage: str) -> tuple[Any, list]:
        return train_apriori(
            closure, params, samples, weights, steps=steps, batch_size=batch,
            learning_rate=settings.learning_rate, seed=settings.seed, log_every=log_every,
            callback=lambda done, loss: progress(stage, done, steps, loss),
        )  # fmt: skip

    params = closure.init(jax.random.key(settings.seed))
    rounds: list[Round] = []
    if settings.active_rounds:
        initial = set(settings.initial_runs) or set(range(len(dataset.runs)))
        start = train.take(np.isin(train.run, sorted(initial)))
        params, history = fit(params, start, settings.steps, "a-priori (initial runs)")
        params, rounds = active_learning(
            closure, params, train, initial, held,
            retrain=lambda p, s: fit(p, s, settings.retrain_steps, "active learning")[0],
            evaluate=lambda p, s: evaluate_closure(closure, p, s)["S_T"],
            rounds=settings.active_rounds, add_per_round=settings.add_per_round,
        )  # fmt: skip
    else:
        params, history = fit(params, train, settings.steps, "a-priori")

    post_history: list[float] = []
    if settings.aposteriori_steps:
        t_min = float(dataset.provenance.get("t_min", 0.0))
        windows = [
            TrainingWindow(ActiveFluidParams(alpha=run.alpha, beta=run.beta, zeta=run.zeta,
                                             d_t=run.d_t, d_r=run.d_r, L=run.L), w,
                           float(fields.t[1] - fields.t[0]))
            for run, fields in zip(dataset.runs, dataset.fields, strict=True)
            for w in make_windows(fields, settings.window, t_min=t_min)
        ]  # fmt: skip
        params, post_history = train_aposteriori(
            closure, params, windows, settings.steps_per_output, steps=settings.aposteriori_steps,
            learning_rate=settings.aposteriori_learning_rate,
            apriori=(train, weights, settings.apriori_weight), batch_size=batch,
            seed=settings.seed,
            callback=lambda done, loss: progress("a-posteriori", done,
                                                 settings.aposteriori_steps, loss),
        )  # fmt: skip

    scores = {
        "learned": evaluate_closure(closure, params, held),
        "bingham": evaluate_closure(bingham_closure, (), held),
        "quadratic": evaluate_closure(quadratic_closure, (), held),
    }
    return TrainedClosure(closure, params, history, post_history, scores, rounds, scale)

"""The ``closure-train`` flow: kinetic training data over an (α, ζ, seed) grid (or given
datasets) → a learned closure, a-priori (+ active learning, + a-posteriori through the moment
solver) → the closure saved as msgpack params + JSON config, logged to MLflow.

Artifacts: ``closure/params.msgpack`` and ``closure/config.json`` (load them with
``closure=<this run id>`` in ``active-fluid-moment``, ``closure-evaluate``, ...), the datasets
under ``data/``, ``training_data.json`` (provenance: runs, parameters, times), and PNG plots
(loss curves, learned harmonic factor, a-priori error by order parameter).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from prefect import flow, task
from prefect.cache_policies import NONE
from pydantic import Field, field_validator, model_validator

from closures.kinetic import bingham_closure, quadratic_closure
from closures.kinetic.dataset import (
    ClosureDataset,
    RunFields,
    RunInfo,
    assemble,
    concatenate,
    snapshots,
    split_snapshots,
)
from closures.kinetic.network import ClosureConfig
from closures.kinetic.training import TrainedClosure, TrainingSettings, train_closure
from flows.closure_common import (
    KineticRun,
    PhysicsBlock,
    grid_label,
    kinetic_config,
    parameter_pairs,
    run_kinetic,
)
from flows.closure_plots import error_by_order_plot, harmonic_factor_plot, loss_curves_plot
from flows.closure_store import (
    CLOSURE_ARTIFACT_DIR,
    check_dataset_reference,
    load_kinetic_dataset,
    save_closure,
)
from flows.config import ConfigError, validate_config
from flows.progress import Progress
from flows.runtime import FlowOutcome, execute
from flows.tracking import RunLogger, git_commit
from physics.active_fluid import diagnostics

FLOW_NAME = "closure-train"
DESCRIPTION = "Train a learned kinetic closure on kinetic data over (α, ζ): a-priori/a-posteriori"


class DataConfig(PhysicsBlock):
    """Kinetic training data: given datasets and/or runs over the grid alphas × zetas × seeds."""

    datasets: list[str] = Field([], description="dataset.npz files or MLflow run ids of "
                                "active-fluid-kinetic runs")  # fmt: skip
    alphas: list[float] = Field([-1.0, -2.0, -3.0], description="α of the generated runs")
    zetas: list[float] = Field([0.5, 1.0, 1.5], description="ζ of the generated runs")
    seeds: list[int] = Field([0], description="initial-condition seeds of the generated runs")
    n: int = Field(64, description="kinetic grid points per side (64: Ψ resolved, s ≤ 1)")
    n_theta: int = Field(64, description="kinetic orientation samples")
    dt: float = Field(2e-3, gt=0, description="kinetic time step (upper bound)")
    t_end: float = Field(20.0, gt=0, description="end time of the generated runs")
    n_outputs: int = Field(80, ge=2, description="snapshots per generated run")
    amplitude: float = Field(1e-2, gt=0, le=0.5, description="initial perturbation of isotropy")
    t_min: float = Field(2.0, ge=0, description="first snapshot time used for training")
    points_per_snapshot: int = Field(256, ge=1, description="random grid points per snapshot")

    @field_validator("datasets")
    @classmethod
    def _datasets_exist(cls, values: list[str]) -> list[str]:
        return [check_dataset_reference(v) for v in values]

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        if any(s < 0 for s in seeds):
            raise ValueError("seeds must be >= 0")
        return seeds

    @model_validator(mode="after")
    def _valid_runs(self) -> DataConfig:
        if not self.datasets and not (self.alphas and self.zetas and self.seeds):
            raise ValueError("datasets: give datasets or non-empty alphas, zetas and seeds")
        for alpha, zeta in parameter_pairs(self.alphas, self.zetas):
            try:
                self.kinetic(alpha, zeta, self.seeds[0] if self.seeds else 0)
            except ConfigError as err:
                raise ValueError(f"alphas/zetas: the kinetic run α={alpha:g}, ζ={zeta:g} is "
                                 f"invalid: {err}") from None  # fmt: skip
        return self

    def kinetic(self, alpha: float, zeta: float, seed: int):
        """The validated KineticConfig of one generated run."""
        n_chunks = math.gcd(self.n_outputs, 4)
        return kinetic_config(
            PhysicsBlock(beta=self.beta, d_t=self.d_t, d_r=self.d_r, L=self.L), alpha=alpha,
            zeta=zeta, seed=seed, n=self.n, n_theta=self.n_theta, dt=self.dt, t_end=self.t_end,
            n_outputs=self.n_outputs, n_chunks=n_chunks, amplitude=self.amplitude,
        )  # fmt: skip


class ClosureTrainConfig(DataConfig):
    """Configuration of ``closure-train`` (data keys: see :class:`DataConfig`)."""

    inputs: Literal["D", "DL", "DE"] = Field(
        "DL", description="invariants: DL (s², m₄ also linear in E), D (s²) or DE (s², E′, D′:E′)"
    )
    kind: Literal["local", "cnn"] = Field("local", description="pointwise MLP or periodic CNN")
    kernel: int = Field(3, ge=1, description="CNN kernel width (odd)")
    snapshot_batch: int = Field(8, ge=1, description="CNN: snapshots per a-priori step")
    hidden: list[int] = Field([16, 16], description="hidden layer widths")
    activation: Literal["tanh", "sin", "silu", "gelu"] = "tanh"
    output_scale: float = Field(1.0, gt=0, description="scale of the network's corrections")
    steps: int = Field(4000, ge=1, description="a-priori Adam steps")
    batch_size: int = Field(4096, ge=1)
    learning_rate: float = Field(3e-3, gt=0)
    seed: int = Field(0, ge=0, description="network initialisation and minibatch seed")
    holdout_every: int = Field(5, ge=2, description="every k-th snapshot is held out")
    aposteriori_steps: int = Field(0, ge=0, description="a-posteriori steps (0: off)")
    window: int = Field(4, ge=1, description="a-posteriori window, in snapshots")
    steps_per_output: int = Field(25, ge=1, description="moment steps between snapshots")
    aposteriori_learning_rate: float = Field(1e-3, gt=0)
    apriori_weight: float = Field(0.01, ge=0, description="a-priori loss kept a-posteriori")
    active_rounds: int = Field(0, ge=0, description="active-learning rounds (0: off)")
    initial_runs: list[int] = Field(
        [], description="runs (indices) trained on before active learning; default: the first"
    )
    add_per_round: int = Field(8, ge=1, description="snapshots added per active-learning round")
    retrain_steps: int = Field(500, ge=1, description="Adam steps after each round")

    quick_overrides = {
        "alphas": [-1.0, -3.0], "zetas": [0.5, 1.0], "n": 32, "t_end": 12.0, "n_outputs": 48,
        "steps": 600, "aposteriori_steps": 10, "window": 2, "points_per_snapshot": 128,
    }  # fmt: skip

    @model_validator(mode="after")
    def _cnn(self) -> ClosureTrainConfig:
        if self.kind == "cnn" and (self.inputs != "D" or self.active_rounds):
            raise ValueError("kind: 'cnn' needs inputs 'D' (set inputs=D; the default is DL) "
                             "and no active learning (active_rounds 0)")  # fmt: skip
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel: must be odd, got {self.kernel}")
        return self

    @field_validator("hidden")
    @classmethod
    def _widths(cls, hidden: list[int]) -> list[int]:
        if not hidden or any(h < 1 for h in hidden):
            raise ValueError("must be a non-empty list of positive widths")
        return hidden

    def network(self) -> ClosureConfig:
        return ClosureConfig(hidden=tuple(self.hidden), activation=self.activation,
                             output_scale=self.output_scale, inputs=self.inputs, kind=self.kind,
                             kernel=self.kernel)  # fmt: skip

    @model_validator(mode="after")
    def _initial_runs_exist(self) -> ClosureTrainConfig:
        n_runs = len(self.datasets) + len(self.alphas) * len(self.zetas) * len(self.seeds)
        if any(i < 0 or i >= n_runs for i in self.initial_runs):
            raise ValueError(f"initial_runs: indices must lie in [0, {n_runs}) (the runs: "
                             f"datasets first, then alphas × zetas × seeds)")  # fmt: skip
        return self

    def settings(self) -> TrainingSettings:
        initial = tuple(self.initial_runs) or ((0,) if self.active_rounds else ())
        return TrainingSettings(
            network=self.network(), steps=self.steps, batch_size=self.batch_size,
            learning_rate=self.learning_rate, seed=self.seed, holdout_every=self.holdout_every,
            aposteriori_steps=self.aposteriori_steps, window=self.window,
            steps_per_output=self.steps_per_output,
            aposteriori_learning_rate=self.aposteriori_learning_rate,
            apriori_weight=self.apriori_weight, active_rounds=self.active_rounds,
            initial_runs=initial, add_per_round=self.add_per_round,
            retrain_steps=self.retrain_steps, snapshot_batch=self.snapshot_batch,
        )  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Pure orchestration, shared with closure-pipeline and the tests.


class TrainingData(NamedTuple):
    """The assembled dataset and the kinetic runs generated for it."""

    dataset: ClosureDataset
    generated: list[KineticRun]


def gather_data(config: DataConfig, output_dir: Path, run_id: str, flow_name: str) -> TrainingData:
    """Load ``datasets`` and generate the grid runs (progress on stderr), then assemble."""
    runs: list[tuple[RunInfo, RunFields]] = [load_kinetic_dataset(r) for r in config.datasets]
    grid = [(a, z, s) for a, z in parameter_pairs(config.alphas, config.zetas)
            for s in config.seeds]  # fmt: skip
    progress = Progress(f"{flow_name} [kinetic data, n={config.n}]", max(len(grid), 1))
    generated = []
    for index, (alpha, zeta, seed) in enumerate(grid):
        label = grid_label(alpha, zeta, seed)
        provenance = {"flow": flow_name, "mlflow_run_id": run_id, "artifact": f"data/{label}"}
        run = run_kinetic(config.kinetic(alpha, zeta, seed), output_dir / "data" / label,
                          provenance)  # fmt: skip
        generated.append(run)
        runs.append((RunInfo(**{**run.info.__dict__, "name": f"{run_id}/data/{label}"}),
                     run.fields))  # fmt: skip
        progress.update(index + 1, f"{label} ({run.seconds:.0f}s)")
    dataset = assemble(runs, t_min=config.t_min, points_per_snapshot=config.points_per_snapshot,
                       seed=0)  # fmt: skip
    return TrainingData(dataset, generated)


def training_metrics(trained: TrainedClosure) -> dict[str, float]:
    """apriori_rel_error_{learned,bingham,quadratic} (S:T) and the S:D, S:E parts, on the
    held-out snapshots; loss summaries."""
    metrics: dict[str, float] = {}
    for name, scores in trained.scores.items():
        metrics[f"apriori_rel_error_{name}"] = scores["S_T"]
        metrics[f"apriori_rel_error_S_D_{name}"] = scores["S_D"]
        metrics[f"apriori_rel_error_S_E_{name}"] = scores["S_E"]
    metrics["apriori_error_ratio_learned_bingham"] = (
        trained.scores["learned"]["S_T"] / trained.scores["bingham"]["S_T"]
    )
    metrics["apriori_loss_final"] = trained.apriori_history[-1]
    if trained.aposteriori_history:
        k = max(1, len(trained.aposteriori_history) // 5)
        metrics["aposteriori_loss_initial"] = float(np.mean(trained.aposteriori_history[:k]))
        metrics["aposteriori_loss_final"] = float(np.mean(trained.aposteriori_history[-k:]))
    for r, round_ in enumerate(trained.rounds):
        metrics[f"active_round_{r + 1}_held_out_error"] = round_.held_out_error
    metrics["strain_scale"] = trained.strain_scale
    return metrics


def training_plots(
    trained: TrainedClosure, dataset: ClosureDataset, holdout_every: int, output_dir: Path,
    label: str,
) -> dict[str, Path]:  # fmt: skip
    """Loss curves, the learned harmonic factor, and the held-out error by order parameter."""
    plots = {
        "loss": loss_curves_plot(
            {"a-priori loss": trained.apriori_history,
             "a-posteriori loss": trained.aposteriori_history},
            label, output_dir / "loss.png",
        ),
        "harmonic_factor": harmonic_factor_plot(trained.closure, trained.params, label,
                                                output_dir / "harmonic_factor.png"),
    }  # fmt: skip
    fields = concatenate([snapshots(f.select(f.t >= dataset.provenance["t_min"] - 1e-9),
                                    run.zeta, k)
                          for k, (run, f) in enumerate(zip(dataset.runs, dataset.fields,
                                                           strict=True))])  # fmt: skip
    _, held = split_snapshots(fields, holdout_every)
    order = np.asarray(diagnostics.order_parameter(held.c, held.D)).ravel()
    errors = {}
    for name, closure, params in [("learned", trained.closure, trained.params),
                                  ("bingham", bingham_closure, ()),
                                  ("quadratic", quadratic_closure, ())]:  # fmt: skip
        S_D, S_E = closure(params, held.c, held.D, held.E)
        z = held.zeta[:, None, None, None, None]
        exact = held.S_E + 2 * z * held.S_D
        diff = np.asarray(S_E + 2 * z * S_D) - exact
        scale = np.mean(np.sum(exact**2, axis=(-2, -1)))
        errors[name] = (np.sum(diff**2, axis=(-2, -1)) / scale).ravel()
    plots["error_by_order"] = error_by_order_plot(order, errors, label,
                                                  output_dir / "error_by_order.png")  # fmt: skip
    return plots


def save_trained(
    trained: TrainedClosure, folder: Path, run_id: str, flow_name: str, config: Any,
    dataset: ClosureDataset,
) -> Path:  # fmt: skip
    """The closure folder with its provenance (run, flow, config, data, scores)."""
    meta = {
        "mlflow_run_id": run_id, "flow": flow_name, "git_commit": git_commit(),
        "config": config.model_dump(mode="json"), "training_data": dataset.provenance,
        "scores_held_out": trained.scores,
    }  # fmt: skip
    return save_closure(folder, trained.closure, trained.params, meta)


# ----------------------------------------------------------------------------------------------
# Prefect tasks and the flow.


@task(name="closure-data", cache_policy=NONE)
def data_task(config: DataConfig, output_dir: Path, run_id: str, flow_name: str) -> TrainingData:
    return gather_data(config, output_dir, run_id, flow_name)


@task(name="closure-fit", cache_policy=NONE)
def train_task(dataset: ClosureDataset, settings: TrainingSettings, label: str) -> TrainedClosure:
    bars: dict[str, Progress] = {}

    def progress(stage: str, done: int, total: int, loss: float) -> None:
        bar = bars.setdefault(stage, Progress(f"{label} [{stage}]", total))
        bar.total = total
        bar.update(done, f"loss={loss:.4g}")

    return train_closure(dataset, settings, progress)


def log_training(
    logger: RunLogger, data: TrainingData, trained: TrainedClosure, closure_dir: Path
) -> None:
    for run in data.generated:
        logger.log_artifact(run.path, f"data/{Path(run.path).parent.name}")
    for file in sorted(closure_dir.iterdir()):
        logger.log_artifact(file, CLOSURE_ARTIFACT_DIR)
    logger.log_series("apriori_loss_t", trained.apriori_history,
                      range(len(trained.apriori_history)))  # fmt: skip
    logger.log_series("aposteriori_loss_t", trained.aposteriori_history,
                      range(len(trained.aposteriori_history)))  # fmt: skip


def train_body(config: ClosureTrainConfig, logger: RunLogger, output_dir: Path) -> FlowOutcome:
    start = time.perf_counter()
    settings = config.settings()
    data = data_task(config, output_dir, logger.run_id, FLOW_NAME)
    trained = train_task(data.dataset, settings, FLOW_NAME)
    closure_dir = save_trained(trained, output_dir / CLOSURE_ARTIFACT_DIR, logger.run_id,
                               FLOW_NAME, config, data.dataset)  # fmt: skip
    provenance = output_dir / "training_data.json"
    provenance.write_text(json.dumps(data.dataset.provenance, indent=1))
    log_training(logger, data, trained, closure_dir)
    label = (f"{FLOW_NAME}: {len(data.dataset.runs)} runs, ζ ∈ {data.dataset.zetas}, "
             f"inputs={config.inputs}")  # fmt: skip
    artifacts = {
        "training_data": provenance,
        **training_plots(trained, data.dataset, config.holdout_every, output_dir, label),
    }
    metrics = {
        **training_metrics(trained), "n_samples": float(len(data.dataset.samples)),
        "n_runs": float(len(data.dataset.runs)), "wall_time_s": time.perf_counter() - start,
    }  # fmt: skip
    return FlowOutcome(metrics=metrics, artifacts=artifacts)


@flow(name=FLOW_NAME, description=DESCRIPTION)
def closure_train_flow(config: dict | None = None, output_dir: str | None = None) -> dict:
    """Generate/load kinetic data, train a learned closure, save and log it."""
    validated = validate_config(ClosureTrainConfig, config or {})
    return execute(FLOW_NAME, validated, train_body, output_dir)

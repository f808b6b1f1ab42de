"""The ``closure-estimate`` flow: recover α (and ζ) from kinetic data by gradient descent on
the trajectory mismatch of the moment model (with a closure) through the differentiable solver.

The data are a kinetic ``dataset`` (path or MLflow run id of an ``active-fluid-kinetic`` or
closure-flow run) or, by default, a kinetic run generated here at a planted (α, ζ, seed). From
``n_windows`` windows of ``window`` snapshots starting at t ≥ t_min, the parameters named in
``estimate`` start from a least-squares fit of the observed velocities (``start=regression``,
see :func:`closures.kinetic.estimation.velocity_regression`) or their ``*_init`` values, and
follow Adam on the summed :func:`closures.kinetic.aposteriori.trajectory_loss`. Metrics:
``alpha_estimated`` (and ``zeta_estimated``), the true values and ``*_rel_error`` (from the
data's provenance), ``*_regression`` (the velocity fit), the loss before and after.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
from prefect import flow, task
from prefect.cache_policies import NONE
from pydantic import Field, field_validator, model_validator

from closures.kinetic.aposteriori import TrainingWindow, make_windows
from closures.kinetic.dataset import RunFields, RunInfo
from closures.kinetic.estimation import Estimate, estimate_parameters, velocity_regression
from flows.closure_common import PhysicsBlock, kinetic_config, run_kinetic
from flows.closure_plots import estimation_plot
from flows.closure_store import (
    LEARNED,
    check_closure_reference,
    check_dataset_reference,
    load_kinetic_dataset,
    resolve_closure,
)
from flows.config import ConfigError, validate_config
from flows.progress import Progress
from flows.runtime import FlowOutcome, RunFailed, execute
from flows.tracking import RunLogger
from physics.active_fluid import ActiveFluidParams

FLOW_NAME = "closure-estimate"
DESCRIPTION = "Estimate α (and ζ) from kinetic data by gradient descent through the moment solver"


class EstimationConfig(PhysicsBlock):
    """What to estimate, from which data, with which closure and optimiser."""

    dataset: str | None = Field(None, description="kinetic dataset (npz, folder or MLflow run "
                                "id); default: generate one at alpha, zeta, seed")  # fmt: skip
    closure: str = Field(LEARNED, description="closure of the moment model (see closure-train)")
    estimate: list[Literal["alpha", "zeta"]] = Field(["alpha"], description="parameters to fit")
    start: Literal["regression", "init"] = Field(
        "regression", description="starting values: a velocity regression, or the *_init keys"
    )
    alpha_init: float = Field(-1.0, description="starting value of α (start=init)")
    zeta_init: float | None = Field(None, description="starting ζ (start=init; default: data's)")
    alpha: float = Field(-2.0, description="planted α of the generated data")
    zeta: float = Field(1.0, ge=0, description="ζ of the generated data")
    seed: int = Field(2, ge=0, description="initial-condition seed of the generated data")
    n: int = Field(32, description="grid of the generated data (and of the moment model)")
    n_theta: int = Field(64, description="orientation samples of the generated data")
    dt: float = Field(2e-3, gt=0, description="kinetic time step of the generated data")
    t_end: float = Field(8.0, gt=0, description="end time of the generated data")
    n_outputs: int = Field(32, ge=4, description="snapshots of the generated data")
    t_min: float = Field(4.0, ge=0, description="windows start at t >= t_min")
    window: int = Field(2, ge=1, description="snapshots per window")
    n_windows: int = Field(4, ge=1, description="windows used (spread over the data)")
    steps_per_output: int = Field(25, ge=1, description="moment steps between snapshots")
    steps: int = Field(40, ge=1, description="Adam iterations")
    learning_rate: float = Field(0.02, gt=0, description="Adam step (parameter units)")

    @field_validator("closure")
    @classmethod
    def _closure(cls, value: str) -> str:
        return check_closure_reference(value)

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str | None) -> str | None:
        return None if value is None else check_dataset_reference(value)

    @field_validator("estimate")
    @classmethod
    def _estimate(cls, names: list[str]) -> list[str]:
        if not names or len(set(names)) != len(names):
            raise ValueError("must name alpha and/or zeta, each once")
        return names

    @model_validator(mode="after")
    def _valid_data(self) -> EstimationConfig:
        if self.dataset is None:
            try:
                self.kinetic()
            except ConfigError as err:
                raise ValueError(f"n/n_theta/dt: invalid data run: {err}") from None
            if self.t_min + self.window * self.t_end / self.n_outputs > self.t_end:
                raise ValueError(f"t_min: no window of {self.window} snapshots fits after "
                                 f"t_min = {self.t_min} before t_end = {self.t_end}")  # fmt: skip
        return self

    def kinetic(self):
        return kinetic_config(
            PhysicsBlock(beta=self.beta, d_t=self.d_t, d_r=self.d_r, L=self.L), alpha=self.alpha,
            zeta=self.zeta, seed=self.seed, n=self.n, n_theta=self.n_theta, dt=self.dt,
            t_end=self.t_end, n_outputs=self.n_outputs, n_chunks=math.gcd(self.n_outputs, 4),
        )  # fmt: skip


class ClosureEstimateConfig(EstimationConfig):
    """Configuration of ``closure-estimate``."""

    quick_overrides = {"n_windows": 2, "steps": 25}


# ----------------------------------------------------------------------------------------------
# Pure orchestration, shared with closure-pipeline and the tests.


class EstimationResult(NamedTuple):
    """The estimate, the data's true values, its provenance, and the velocity regression."""

    estimate: Estimate
    truth: dict[str, float]
    info: RunInfo
    regression: dict[str, float]


def estimation_windows(fields: RunFields, params: ActiveFluidParams, config: EstimationConfig
                       ) -> list[TrainingWindow]:  # fmt: skip
    """``n_windows`` windows spread evenly over those starting at t ≥ t_min."""
    windows = make_windows(fields, config.window, stride=1, t_min=config.t_min)
    if not windows:
        raise RunFailed(f"no window of {config.window} snapshots starts at t >= {config.t_min} "
                        f"in the data (t up to {fields.t[-1]:g})")  # fmt: skip
    pick = np.unique(np.linspace(0, len(windows) - 1, config.n_windows).round().astype(int))
    spacing = float(fields.t[1] - fields.t[0])
    return [TrainingWindow(params, windows[k], spacing) for k in pick]


def run_estimation(
    config: EstimationConfig, output_dir: Path, run_id: str, flow_name: str,
    data: tuple[RunInfo, RunFields] | None = None,
) -> EstimationResult:  # fmt: skip
    """Load or generate the data, then estimate (progress on stderr)."""
    if data is None and config.dataset is not None:
        data = load_kinetic_dataset(config.dataset)
    if data is None:
        provenance = {"flow": flow_name, "mlflow_run_id": run_id, "artifact": "kinetic"}
        run = run_kinetic(config.kinetic(), output_dir / "kinetic", provenance)
        data = (run.info, run.fields)
    info, fields = data
    truth = {"alpha": info.alpha, "zeta": info.zeta}
    initial = {"alpha": config.alpha_init,
               "zeta": info.zeta if config.zeta_init is None else config.zeta_init}  # fmt: skip
    initial = {name: initial[name] for name in config.estimate}
    params = ActiveFluidParams(alpha=info.alpha, beta=info.beta, zeta=info.zeta, d_t=info.d_t,
                               d_r=info.d_r, L=info.L)._replace(**initial)  # fmt: skip
    windows = estimation_windows(fields, params, config)
    resolved = resolve_closure(config.closure)
    regression = velocity_regression(resolved.closure, resolved.params, windows, config.estimate)
    if config.start == "regression":
        initial = regression
        windows = [w._replace(params=w.params._replace(**initial)) for w in windows]
    progress = Progress(f"{flow_name} [{resolved.label}, {len(windows)} windows]", config.steps)
    estimate = estimate_parameters(
        resolved.closure, resolved.params, windows, initial, config.steps_per_output,
        steps=config.steps, learning_rate=config.learning_rate,
        callback=lambda step, loss, values: progress.update(
            step, f"loss={loss:.4g} " + " ".join(f"{k}={v:.4f}" for k, v in values.items())),
    )  # fmt: skip
    return EstimationResult(estimate, truth, info, regression)


def estimation_metrics(result: EstimationResult) -> dict[str, float]:
    metrics = {"loss_initial": result.estimate.loss[0], "loss_final": result.estimate.loss[-1]}
    for name, value in result.estimate.values.items():
        metrics[f"{name}_estimated"] = value
        metrics[f"{name}_true"] = result.truth[name]
        metrics[f"{name}_rel_error"] = abs(value / result.truth[name] - 1)
        metrics[f"{name}_regression"] = result.regression[name]
    return metrics


# ----------------------------------------------------------------------------------------------
# Prefect task and the flow.


@task(name="closure-estimate", cache_policy=NONE)
def estimate_task(config: EstimationConfig, output_dir: Path, run_id: str) -> EstimationResult:
    return run_estimation(config, output_dir, run_id, FLOW_NAME)


def estimate_body(config: ClosureEstimateConfig, logger: RunLogger,
                  output_dir: Path) -> FlowOutcome:  # fmt: skip
    start = time.perf_counter()
    result = estimate_task(config, output_dir, logger.run_id)
    estimate = result.estimate
    for name, values in estimate.trace.items():
        logger.log_series(f"{name}_t", values, range(len(values)))
    logger.log_series("loss_t", estimate.loss, range(len(estimate.loss)))
    record = output_dir / "estimate.json"
    record.write_text(json.dumps({"values": estimate.values, "truth": result.truth,
                                  "data": result.info.name, "loss": estimate.loss,
                                  "trace": estimate.trace}, indent=1))  # fmt: skip
    title = f"{FLOW_NAME}: data {result.info.name}, closure {config.closure}"
    plot = estimation_plot(estimate.trace, estimate.loss, result.truth, title,
                           output_dir / "estimation.png")  # fmt: skip
    metrics = {**estimation_metrics(result), "wall_time_s": time.perf_counter() - start}
    return FlowOutcome(metrics=metrics, artifacts={"estimate": record, "estimation": plot})


@flow(name=FLOW_NAME, description=DESCRIPTION)
def closure_estimate_flow(config: dict | None = None, output_dir: str | None = None) -> dict:
    """Estimate physical parameters from kinetic data through the moment solver."""
    validated = validate_config(ClosureEstimateConfig, config or {})
    return execute(FLOW_NAME, validated, estimate_body, output_dir)

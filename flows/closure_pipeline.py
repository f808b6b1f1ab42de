"""The flagship ``closure-pipeline`` flow: kinetic data → learned closure → evaluation on
held-out (α, ζ) → parameter estimation → a Markdown report with plots, all in one MLflow run.

1. Data and training exactly as ``closure-train`` (same keys); the closure is saved and logged
   under ``closure/`` (so this run's id works as a ``closure`` reference elsewhere).
2. For each ``held_out`` (α, ζ) pair: ``closure-evaluate``'s computation (kinetic reference on
   eval_n² × eval_n_theta, coarse moment runs on coarse_n² with the learned and the Bingham
   closure, same initial state), for the seeds eval_seed and eval_seeds with the metrics of the
   ensemble (:func:`flows.closure_evaluate.ensemble_metrics`); metrics get the suffix
   ``_pair{k}``, and the plain names (``apriori_rel_error_learned``, ``stable_learned``, ...)
   hold the mean (min for ``stable_*`` and ``speedup_vs_kinetic``) over the pairs; the
   training metrics get the prefix ``train_``.
3. α (and ζ) estimated as in ``closure-estimate`` from the first pair's kinetic data,
   spectrally truncated to the coarse grid, with the learned closure.
4. ``report.md``: configuration, training data, tables of every metric, the acceptance checks
   of the learned closure and the plots (PNG, beside it and in MLflow).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from prefect import flow, task
from prefect.cache_policies import NONE
from pydantic import Field, field_validator, model_validator

from closures.kinetic.dataset import RunFields, coarsen
from flows.closure_estimate import EstimationConfig, estimation_metrics, run_estimation
from flows.closure_evaluate import (
    EvaluationConfig,
    evaluate,
    evaluate_seeds,
    evaluation_plots,
    seed_folder,
)
from flows.closure_plots import estimation_plot
from flows.closure_store import CLOSURE_ARTIFACT_DIR, load_kinetic_dataset
from flows.closure_train import (
    ClosureTrainConfig,
    TrainingData,
    gather_data,
    log_training,
    save_trained,
    train_task,
    training_metrics,
    training_plots,
)
from flows.config import ConfigError, validate_config
from flows.runtime import FlowOutcome, execute
from flows.tracking import RunLogger

FLOW_NAME = "closure-pipeline"
DESCRIPTION = "Flagship: kinetic data → learned closure → held-out evaluation → α estimate → report"
ACCEPTANCE = {
    "apriori": "learned a-priori error ≤ ½ of Bingham's",
    "stable": "coarse model with the learned closure stable to t_end",
    "order": "mean order parameter within 10% of the kinetic run",
    "velocity": "velocity rms within 10% of the kinetic run",
    "spectrum": "velocity spectrum closer to the kinetic one than Bingham's",
    "speed": "≥ 30× faster than the kinetic run as configured (its dt, not its largest "
             "accurate dt: see benchmarks/kinetic_closures.py for the headroom)",
    "alpha": "α recovered within 5%",
}


class ClosurePipelineConfig(ClosureTrainConfig):
    """Configuration of ``closure-pipeline``: the ``closure-train`` keys plus evaluation and
    estimation keys."""

    held_out: list[list[float]] = Field([[-1.5, 0.75], [-2.5, 1.25]],
                                        description="(α, ζ) pairs to evaluate on")  # fmt: skip
    eval_seed: int = Field(1, ge=0, description="initial-condition seed of the evaluation runs")
    eval_seeds: list[int] = Field([2, 3, 4], description="further seeds: each held-out pair is "
                                  "judged on the ensemble of eval_seed and these (metrics of the "
                                  "ensemble means, as closure-evaluate's seeds)")  # fmt: skip
    eval_n: int = Field(64, description="kinetic grid of the evaluation runs")
    eval_n_theta: int = Field(64, description="orientation samples of the evaluation runs")
    eval_t_end: float = Field(20.0, gt=0, description="end time of the evaluation runs")
    eval_outputs: int = Field(80, ge=4, description="snapshots of the evaluation runs")
    coarse_n: int = Field(32, description="grid of the coarse moment runs")
    coarse_dt: float | None = Field(None, gt=0, description="step of the coarse moment runs "
                                    "(default: as closure-evaluate's)")  # fmt: skip
    estimate: list[str] = Field(["alpha"], description="parameters to estimate (alpha, zeta)")
    estimate_windows: int = Field(4, ge=1, description="windows for the estimation")
    estimate_steps: int = Field(30, ge=1, description="Adam iterations of the estimation")
    estimate_t_min: float = Field(4.0, ge=0, description="estimation windows start after this")

    quick_overrides = {
        **ClosureTrainConfig.quick_overrides, "held_out": [[-2.0, 0.75]], "eval_n": 32,
        "eval_seeds": [],
        "eval_outputs": 40, "estimate_windows": 2, "estimate_steps": 15,
    }  # fmt: skip

    @field_validator("held_out")
    @classmethod
    def _pairs(cls, pairs: list[list[float]]) -> list[list[float]]:
        if not pairs or any(len(p) != 2 for p in pairs):
            raise ValueError("must be a non-empty list of [alpha, zeta] pairs")
        return pairs

    @model_validator(mode="after")
    def _valid_evaluation(self) -> ClosurePipelineConfig:
        for k in range(len(self.held_out)):
            try:
                self.evaluation(k, "bingham")
            except ConfigError as err:
                raise ValueError(f"held_out/eval_*/coarse_*: pair {k}: {err}") from None
        try:
            self.estimation("bingham", (0, 0))
        except ConfigError as err:
            raise ValueError(f"estimate*: {err}") from None
        return self

    def evaluation(self, k: int, closure: str) -> EvaluationConfig:
        alpha, zeta = self.held_out[k]
        return validate_config(EvaluationConfig, {
            "beta": self.beta, "d_t": self.d_t, "d_r": self.d_r, "L": self.L,
            "closure": closure, "alpha": alpha, "zeta": zeta, "seed": self.eval_seed,
            "seeds": self.eval_seeds,
            "n": self.eval_n, "n_theta": self.eval_n_theta, "dt": self.dt,
            "t_end": self.eval_t_end, "n_outputs": self.eval_outputs, "amplitude": self.amplitude,
            "coarse_n": self.coarse_n, "coarse_dt": self.coarse_dt, "t_min": self.t_min,
        })  # fmt: skip

    def estimation(self, closure: str, truth: tuple[float, float]) -> EstimationConfig:
        return validate_config(EstimationConfig, {
            "beta": self.beta, "d_t": self.d_t, "d_r": self.d_r, "L": self.L,
            "closure": closure, "estimate": self.estimate, "alpha": truth[0], "zeta": truth[1],
            "n": self.coarse_n, "t_end": self.eval_t_end, "n_outputs": self.eval_outputs,
            "t_min": self.estimate_t_min, "n_windows": self.estimate_windows,
            "steps": self.estimate_steps, "steps_per_output": self.steps_per_output,
        })  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Report.


def aggregate(per_pair: list[dict[str, float]]) -> dict[str, float]:
    """Plain-named summaries over the pairs: the minimum for stable_* and speedups, else the
    mean."""
    summary = {}
    for name in per_pair[0]:
        values = [m[name] for m in per_pair if name in m]
        worst = name.startswith("stable_") or name.startswith("speedup")
        summary[name] = float(np.min(values) if worst else np.mean(values))
    return summary


def acceptance(per_pair: list[dict[str, float]], estimate: dict[str, float]) -> dict[str, bool]:
    """Every acceptance criterion of the learned closure, over all held-out pairs."""
    every = lambda test: all(test(m) for m in per_pair)  # noqa: E731
    return {
        "apriori": every(lambda m: m["apriori_rel_error_learned"]
                         <= 0.5 * m["apriori_rel_error_bingham"]),
        "stable": every(lambda m: m["stable_learned"] == 1.0),
        "order": every(lambda m: m["order_parameter_rel_error_learned"] <= 0.1),
        "velocity": every(lambda m: m["velocity_rms_rel_error_learned"] <= 0.1),
        "spectrum": every(lambda m: m["spectrum_log_l2_learned"] < m["spectrum_log_l2_bingham"]),
        "speed": every(lambda m: m["speedup_vs_kinetic"] >= 30),
        "alpha": estimate.get("alpha_rel_error", float("inf")) <= 0.05,
    }  # fmt: skip


def _row(cells: list[Any]) -> str:
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    return "| " + " | ".join(fmt(c) for c in cells) + " |"


def write_report(
    path: Path, config: ClosurePipelineConfig, run_id: str, data: TrainingData,
    train: dict[str, float], per_pair: list[dict[str, float]], estimate: dict[str, float],
    checks: dict[str, bool], plots: dict[str, Path], seconds: float,
) -> Path:  # fmt: skip
    """The Markdown report (plots linked by their file names, which sit beside it)."""
    steps = sorted({f"{m['coarse_dt_effective']:.3g}" for m in per_pair})
    coarse_dt = " / ".join(steps) + (" (by pair)" if len(steps) > 1 else "")
    all_seeds = config.evaluation(0, "bingham").all_seeds()
    seeds = f"seed {all_seeds[0]}" if len(all_seeds) == 1 else (
        f"seeds {', '.join(map(str, all_seeds))} (each pair judged on the ensemble: errors of the "
        "ensemble-mean late ⟨s⟩ and u_rms, distance of the ensemble-mean late spectra)")
    lines = [
        f"# closure-pipeline report (MLflow run `{run_id}`)", "",
        f"Wall time {seconds:.0f} s. Learned closure: inputs `{config.inputs}`, hidden "
        f"{config.hidden}, {config.steps} a-priori steps, {config.aposteriori_steps} "
        f"a-posteriori steps, {config.active_rounds} active-learning rounds; saved under "
        f"`{CLOSURE_ARTIFACT_DIR}/` of this run.", "",
        "## Training data", "",
        f"{len(data.dataset.runs)} kinetic runs ({config.n}² × {config.n_theta}, t ≤ "
        f"{config.t_end:g}, snapshots from t = {config.t_min:g}), "
        f"{len(data.dataset.samples)} pointwise samples; every {config.holdout_every}th "
        "snapshot held out.", "",
        _row(["run", "α", "ζ", "seed", "snapshots"]), _row(["---"] * 5),
        *[_row([r.name, r.alpha, r.zeta, r.seed, len(f.t)])
          for r, f in zip(data.dataset.runs, data.dataset.fields, strict=True)],
        "", "## A-priori errors on held-out snapshots of the training runs", "",
        _row(["closure", "S:T", "S:D", "S:E"]), _row(["---"] * 4),
        *[_row([name, train[f"apriori_rel_error_{name}"], train[f"apriori_rel_error_S_D_{name}"],
                train[f"apriori_rel_error_S_E_{name}"]])
          for name in ("learned", "bingham", "quadratic")],
        "", "## Held-out (α, ζ): kinetic reference vs coarse moment runs", "",
        f"Kinetic {config.eval_n}² × {config.eval_n_theta}, dt ≤ {config.dt:g}; coarse "
        f"{config.coarse_n}², dt = {coarse_dt}; t ≤ {config.eval_t_end:g}, {seeds}; late = "
        "second half of the run.", "",
    ]  # fmt: skip
    names = [
        "apriori_rel_error_learned", "apriori_rel_error_bingham", "apriori_rel_error_quadratic",
        "stable_learned", "stable_bingham", "order_parameter_late_kinetic",
        "order_parameter_rel_error_learned", "order_parameter_rel_error_bingham",
        "velocity_rms_late_kinetic", "velocity_rms_rel_error_learned",
        "velocity_rms_rel_error_bingham", "spectrum_log_l2_learned", "spectrum_log_l2_bingham",
        "ms_per_step_kinetic", "ms_per_step_learned", "ms_per_step_bingham",
        "speedup_vs_kinetic", "speedup_vs_kinetic_bingham", "kinetic_dt_effective",
        "coarse_dt_effective",
    ]  # fmt: skip
    pairs = [f"α={a:g}, ζ={z:g}" for a, z in config.held_out]
    lines += [_row(["metric", *pairs]), _row(["---"] * (len(pairs) + 1))]
    lines += [_row([name, *[m[name] for m in per_pair]]) for name in names]
    lines += ["", "## Parameter estimation", ""]
    lines += [f"From the kinetic data of {pairs[0]} (truncated to {config.coarse_n}²), learned "
              "closure, velocity regression then gradient descent through the moment solver:",
              ""]  # fmt: skip
    lines += [_row(["quantity", "value"]), _row(["---", "---"])]
    lines += [_row([k, v]) for k, v in estimate.items()]
    lines += ["", "## Acceptance checks (learned closure)", ""]
    lines += [_row(["criterion", "met"]), _row(["---", "---"])]
    lines += [_row([ACCEPTANCE[k], "yes" if ok else "**no**"]) for k, ok in checks.items()]
    lines += ["", "## Plots", ""]
    lines += [f"![{name}]({Path(p).name})" for name, p in plots.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


# ----------------------------------------------------------------------------------------------
# Prefect tasks and the flow.


@task(name="closure-pipeline-data", cache_policy=NONE)
def data_task(config: ClosurePipelineConfig, output_dir: Path, run_id: str) -> TrainingData:
    return gather_data(config, output_dir, run_id, FLOW_NAME)


@task(name="closure-pipeline-evaluate", cache_policy=NONE)
def evaluate_pair_task(config: EvaluationConfig, output_dir: Path, run_id: str):
    return evaluate(config, output_dir, run_id, FLOW_NAME)


@task(name="closure-pipeline-estimate", cache_policy=NONE)
def estimate_task(config: EstimationConfig, output_dir: Path, run_id: str, info, fields):
    return run_estimation(config, output_dir, run_id, FLOW_NAME, (info, fields))


def coarse_fields(fields: RunFields, m: int) -> RunFields:
    """The snapshots spectrally truncated to an m² grid."""
    return RunFields(fields.t, *(np.stack([coarsen(x, m) for x in a]) for a in fields[1:]))


def pipeline_body(config: ClosurePipelineConfig, logger: RunLogger,
                  output_dir: Path) -> FlowOutcome:  # fmt: skip
    start = time.perf_counter()
    data = data_task(config, output_dir, logger.run_id)
    trained = train_task(data.dataset, config.settings(), FLOW_NAME)
    closure_dir = save_trained(trained, output_dir / CLOSURE_ARTIFACT_DIR, logger.run_id,
                               FLOW_NAME, config, data.dataset)  # fmt: skip
    log_training(logger, data, trained, closure_dir)
    train_metrics = training_metrics(trained)
    label = f"{FLOW_NAME}: {len(data.dataset.runs)} runs, ζ ∈ {data.dataset.zetas}"
    plots = training_plots(trained, data.dataset, config.holdout_every, output_dir, label)

    per_pair = []
    evaluation_configs = [config.evaluation(k, str(closure_dir))
                          for k in range(len(config.held_out))]  # fmt: skip
    for k, evaluation_config in enumerate(evaluation_configs):
        folder = output_dir / f"pair{k}"
        result, metrics_of_pair = evaluate_seeds(
            evaluation_config, folder,
            lambda one, where: evaluate_pair_task(one, where, logger.run_id))  # fmt: skip
        per_pair.append(metrics_of_pair)
        for name, path in evaluation_plots(result, evaluation_config, folder, FLOW_NAME).items():
            # Unique names beside the report (MLflow logs artifacts by file name).
            plots[f"{name}_pair{k}"] = Path(shutil.copy(path, output_dir / f"{name}_pair{k}.png"))
    alpha, zeta = config.held_out[0]
    first = seed_folder(evaluation_configs[0], output_dir / "pair0", config.eval_seed)
    info, fields = load_kinetic_dataset(str(first / "kinetic"))
    estimation_config = config.estimation(str(closure_dir), (alpha, zeta))
    estimation = estimate_task(estimation_config, output_dir / "estimate", logger.run_id, info,
                               coarse_fields(fields, config.coarse_n))  # fmt: skip
    estimate = estimation_metrics(estimation)
    plots["estimation"] = estimation_plot(estimation.estimate.trace, estimation.estimate.loss,
                                          estimation.truth, f"{FLOW_NAME}: estimation",
                                          output_dir / "estimation.png")  # fmt: skip
    checks = acceptance(per_pair, estimate)
    seconds = time.perf_counter() - start
    report = write_report(output_dir / "report.md", config, logger.run_id, data, train_metrics,
                          per_pair, estimate, checks, plots, seconds)  # fmt: skip
    metrics = {**{f"train_{k}": v for k, v in train_metrics.items()}, **aggregate(per_pair)}
    for k, pair_metrics in enumerate(per_pair):
        metrics.update({f"{name}_pair{k}": v for name, v in pair_metrics.items()})
    metrics.update({f"estimate_{k}": v for k, v in estimate.items()})
    metrics.update({f"accept_{k}": float(ok) for k, ok in checks.items()})
    metrics["wall_time_s"] = time.perf_counter() - start
    return FlowOutcome(metrics=metrics, artifacts={"report": report, **plots})


@flow(name=FLOW_NAME, description=DESCRIPTION)
def closure_pipeline_flow(config: dict | None = None, output_dir: str | None = None) -> dict:
    """Data → train → evaluate on held-out (α, ζ) → estimate α → report; log to MLflow."""
    validated = validate_config(ClosurePipelineConfig, config or {})
    return execute(FLOW_NAME, validated, pipeline_body, output_dir)

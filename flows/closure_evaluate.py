"""The ``closure-evaluate`` flow: a learned closure against Bingham (and the quadratic closure)
on one (α, ζ, seed), a-priori on the kinetic snapshots and a-posteriori in coarse moment runs.

1. The kinetic theory is run on (n², n_theta) to t_end (the reference, timed).
2. A-priori: relative MSE of S:T against the kinetic S on its snapshots at t ≥ t_min (held out
   whenever (α, ζ, seed) is not in the closure's training data).
3. Coarse runs: the moment model on a coarse_n² grid with step coarse_dt, started from the
   same state (the moments of the kinetic initial Ψ, spectrally truncated), with the learned
   closure and with Bingham's, to t_end; compared with the kinetic run by the late-time
   (second half) mean order parameter, velocity rms and velocity spectrum.

Metrics: ``apriori_rel_error_{learned,bingham,quadratic}``, and per coarse model
``order_parameter_rel_error_*``, ``velocity_rms_rel_error_*``, ``spectrum_log_l2_*`` (rms
difference of the log late spectra over the shells 1 … min(n, coarse_n)/3), ``stable_*`` (1 if
the run reached t_end without blow-up and with a mean order parameter ≤ 1), ``ms_per_step_*``;
``speedup_vs_kinetic`` (kinetic wall time over the learned coarse run's, both without
compilation), and the kinetic reference values.

With ``seeds`` (further initial-condition seeds besides ``seed``) the whole comparison runs once
per seed and the metrics above describe the ensemble (:func:`ensemble_metrics`): the ⟨s⟩ and
u_rms errors are those of the ensemble means (each run's late mean, averaged over the seeds),
``spectrum_log_l2_*`` the distance between the ensemble-mean late spectra (each run's late
spectrum, averaged over the seeds; the mean of the single runs' distances is
``spectrum_log_l2_run_mean_*``), a-priori errors are means, ``stable_*`` is 1 only if every run
was stable, timings and speed-ups are medians; every single run's metrics are logged too,
suffixed ``_seed<k>``. One chaotic run's late means scatter by 10–25% from seed to seed for
every closure, and one run's late spectrum by about 0.15 in this distance, so a closure's bias
shows only in an ensemble.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from prefect import flow, task
from prefect.cache_policies import NONE
from pydantic import Field, field_validator, model_validator

from closures.kinetic import bingham_closure, quadratic_closure
from closures.kinetic.apriori import evaluate_closure
from closures.kinetic.dataset import coarsen, snapshots
from flows.active_fluid import (
    FieldSample,
    MomentConfig,
    SimulationRun,
    effective_dt,
    initial_distribution,
    late_mean,
    late_velocity_spectrum,
    moment_simulator,
    physical_params,
    sample_diagnostics,
    simulate_in_chunks,
    start_simulation,
    step_limit,
    steps_per_output,
)
from flows.closure_common import KineticRun, PhysicsBlock, kinetic_config, run_kinetic
from flows.closure_plots import comparison_series_plot, spectra_plot
from flows.closure_store import LEARNED, check_closure_reference, resolve_closure
from flows.config import ConfigError, validate_config
from flows.plots import field_images_plot
from flows.progress import Progress
from flows.runtime import FlowOutcome, execute
from flows.tracking import RunLogger
from physics.active_fluid import diagnostics, moments_of_psi

FLOW_NAME = "closure-evaluate"
DESCRIPTION = "Learned closure vs Bingham: a-priori errors and coarse moment runs vs kinetic"
COARSE_MODELS = ("learned", "bingham")
COARSE_DT = 0.05
"""The default coarse step where half the coarse grid's stability limit allows it (see
:meth:`EvaluationConfig.coarse_step`)."""
COARSE_STEP_FRACTION = 0.5
"""The default coarse step is at most this fraction of the coarse grid's stability limit.
Measured on the closure benchmark's held-out pairs (four seeds each, learned closure): at
α = −1.5, ζ = 0.75 (limit 0.12) the ensemble ⟨s⟩, u_rms and spectrum distance at dt = 0.05 equal
those at 0.02 within 0.2% / 0.2% / 0.005; at α = −3.5, ζ = 1 (limit 0.050) dt = 0.05 keeps ⟨s⟩
and u_rms within the seed scatter but doubles the spectrum distance (0.12 → 0.27: the
time-stepping error shows in the small scales first), dt = 0.04 raises it to 0.16."""


class EvaluationConfig(PhysicsBlock):
    """The kinetic reference and the coarse runs of one (α, ζ, seed)."""

    closure: str = Field(LEARNED, description="the learned closure: 'learned' (shipped), a "
                         "saved closure folder or a closure-train MLflow run id")  # fmt: skip
    alpha: float = Field(-1.5, description="active stress (held out of the shipped training)")
    zeta: float = Field(0.75, ge=0, description="steric alignment (held out of training)")
    seed: int = Field(1, ge=0, description="initial-condition seed")
    n: int = Field(64, description="kinetic grid points per side")
    n_theta: int = Field(64, description="kinetic orientation samples")
    dt: float = Field(2e-3, gt=0, description="kinetic time step (upper bound)")
    t_end: float = Field(20.0, gt=0, description="end time of every run")
    n_outputs: int = Field(80, ge=4, description="snapshots per run")
    amplitude: float = Field(1e-2, gt=0, le=0.5, description="initial perturbation of isotropy")
    coarse_n: int = Field(32, description="grid of the coarse moment runs (even, <= n)")
    coarse_dt: float | None = Field(None, gt=0, description="time step of the coarse moment "
                                    "runs (default: 0.05, or half the explicit-stability "
                                    "limit of coarse_n where that is smaller)")  # fmt: skip
    t_min: float = Field(2.0, ge=0, description="first snapshot time of the a-priori errors")
    seeds: list[int] = Field([], description="further seeds: evaluate the ensemble of seed "
                             "and these (metrics of the ensemble means)")  # fmt: skip

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        if any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
            raise ValueError(f"must be distinct non-negative integers, got {seeds}")
        return seeds

    @field_validator("closure")
    @classmethod
    def _closure(cls, value: str) -> str:
        return check_closure_reference(value)

    @model_validator(mode="after")
    def _valid_runs(self) -> EvaluationConfig:
        if self.coarse_n > self.n or self.coarse_n % 2 or self.coarse_n < 8:
            raise ValueError(f"coarse_n: must be even, >= 8 and <= n ({self.n}), "
                             f"got {self.coarse_n}")  # fmt: skip
        for what, build in (("n/n_theta/dt", self.kinetic), ("coarse_n/coarse_dt", self.coarse)):
            try:
                build()
            except ConfigError as err:
                raise ValueError(f"{what}: invalid run: {err}") from None
        return self

    def chunks(self) -> int:
        return math.gcd(self.n_outputs, 4)

    def kinetic(self):
        return kinetic_config(
            self._physics(), alpha=self.alpha, zeta=self.zeta, seed=self.seed, n=self.n,
            n_theta=self.n_theta, dt=self.dt, t_end=self.t_end, n_outputs=self.n_outputs,
            n_chunks=self.chunks(), amplitude=self.amplitude,
        )  # fmt: skip

    def coarse_step(self) -> float:
        """coarse_dt, or by default :data:`COARSE_DT` capped at :data:`COARSE_STEP_FRACTION`
        of the coarse grid's stability limit (:func:`~flows.active_fluid.step_limit`): more
        active flows, with larger velocities, get smaller steps."""
        if self.coarse_dt is not None:
            return self.coarse_dt
        limit = step_limit(physical_params(self), self.coarse_n)
        return min(COARSE_DT, COARSE_STEP_FRACTION * limit)

    def coarse(self, closure: str = "bingham") -> MomentConfig:
        return validate_config(MomentConfig, {
            **self._physics().model_dump(), "alpha": self.alpha, "zeta": self.zeta,
            "seed": self.seed, "n": self.coarse_n, "dt": self.coarse_step(), "t_end": self.t_end,
            "n_outputs": self.n_outputs, "n_chunks": self.chunks(), "amplitude": self.amplitude,
            "closure": closure,
        })  # fmt: skip

    def _physics(self) -> PhysicsBlock:
        return PhysicsBlock(beta=self.beta, d_t=self.d_t, d_r=self.d_r, L=self.L)

    def spectrum_shells(self) -> int:
        """The shells 1 … this compared between kinetic and coarse spectra: the dealiased range
        of the coarser grid."""
        return min(self.n, self.coarse_n) // 3

    def all_seeds(self) -> list[int]:
        """seed, then the further ``seeds`` (without repeating seed)."""
        return [self.seed, *(s for s in self.seeds if s != self.seed)]


class ClosureEvaluateConfig(EvaluationConfig):
    """Configuration of ``closure-evaluate``."""

    quick_overrides = {"n": 32, "n_outputs": 40}


# ----------------------------------------------------------------------------------------------
# Pure orchestration, shared with closure-pipeline and the tests.


class CoarseRun(NamedTuple):
    run: SimulationRun
    ms_per_step: float
    n_steps: int


class Evaluation(NamedTuple):
    """Metrics, diagnostics series per model {model: (t, {name: values})}, late spectra
    {model: (k, E)}, final order-parameter fields {model: (n, n)} and the compared k range."""

    metrics: dict[str, float]
    series: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]
    spectra: dict[str, tuple[np.ndarray, np.ndarray]]
    fields: dict[str, np.ndarray]
    k_max: float


def run_coarse(config: MomentConfig, closure: str, initial: tuple[Any, Any],
               folder: Path) -> CoarseRun:  # fmt: skip
    """A coarse moment run from ``initial`` (c, D), timed without its first (compiling)
    chunk."""
    simulator = moment_simulator(config, closure, initial)
    times: list[float] = []
    clock = [time.perf_counter()]

    def chunk_done(_run) -> None:
        now = time.perf_counter()
        times.append(now - clock[0])
        clock[0] = now

    run = simulate_in_chunks(config, simulator, start_simulation(simulator.init()), folder,
                             chunk_done)  # fmt: skip
    per_chunk = config.n_outputs // config.n_chunks * steps_per_output(config)
    warm = times[1:] or times
    return CoarseRun(run, 1e3 * sum(warm) / (per_chunk * len(warm)),
                     config.n_chunks * per_chunk)  # fmt: skip


def kinetic_diagnostics(kinetic: KineticRun, L: float) -> dict[str, np.ndarray]:
    diagnosed = sample_diagnostics(FieldSample(*kinetic.fields), L)
    return {name: np.asarray(values) for name, values in diagnosed.items()}


def late_spectrum_of(t: np.ndarray, u: np.ndarray, L: float) -> tuple[np.ndarray, np.ndarray]:
    """(k, E(k)) averaged over the second half of the snapshots of u (T, n, n, 2)."""
    late = u[len(t) // 2 :]
    k, spectra = jax.vmap(lambda v: diagnostics.velocity_spectrum(v, L))(late)
    return np.asarray(k[0]), np.asarray(spectra).mean(axis=0)


def spectrum_distance(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
                      shells: int) -> float:  # fmt: skip
    """rms of log E_a − log E_b over shells 1 … shells (both spectra on k_j = 2πj/L)."""
    ea, eb = a[1][1 : shells + 1], b[1][1 : shells + 1]
    tiny = np.finfo(float).tiny
    return float(np.sqrt(np.mean((np.log(np.maximum(ea, tiny)) - np.log(np.maximum(eb, tiny)))
                                 ** 2)))  # fmt: skip


def relative_error(value: float, reference: float) -> float:
    return abs(value / reference - 1) if reference else float("nan")


def evaluate(
    config: EvaluationConfig, output_dir: Path, run_id: str, flow_name: str,
    kinetic: KineticRun | None = None,
) -> Evaluation:  # fmt: skip
    """Run (or take) the kinetic reference, score the closures a-priori, run the coarse models
    and compare (see the module docstring)."""
    progress = Progress(f"{flow_name} [α={config.alpha:g}, ζ={config.zeta:g}]", 4)
    if kinetic is None:
        provenance = {"flow": flow_name, "mlflow_run_id": run_id, "artifact": "kinetic"}
        kinetic = run_kinetic(config.kinetic(), output_dir / "kinetic", provenance)
    progress.update(1, f"kinetic {kinetic.seconds:.0f}s ({kinetic.ms_per_step:.2f} ms/step)")
    learned = resolve_closure(config.closure)
    fields = kinetic.fields.select(kinetic.fields.t >= config.t_min - 1e-9)
    samples = snapshots(fields, config.zeta, 0)
    metrics: dict[str, float] = {}
    for name, closure, params in [("learned", learned.closure, learned.params),
                                  ("bingham", bingham_closure, ()),
                                  ("quadratic", quadratic_closure, ())]:  # fmt: skip
        metrics[f"apriori_rel_error_{name}"] = evaluate_closure(closure, params, samples)["S_T"]
    progress.update(2, "a-priori errors")

    c0, D0, _ = moments_of_psi(initial_distribution(config.kinetic()))
    initial = (coarsen(np.asarray(c0), config.coarse_n), coarsen(np.asarray(D0), config.coarse_n))
    reference = kinetic_diagnostics(kinetic, config.L)
    series = {"kinetic": (kinetic.fields.t, reference)}
    spectra = {"kinetic": late_spectrum_of(kinetic.fields.t, kinetic.fields.u, config.L)}
    final = {"kinetic": np.asarray(diagnostics.order_parameter(kinetic.fields.c[-1],
                                                               kinetic.fields.D[-1]))}  # fmt: skip
    shells = config.spectrum_shells()
    order_ref = late_mean(reference["order_parameter"].tolist())
    rms_ref = late_mean(reference["velocity_rms"].tolist())
    coarse_runs = {}
    for name, ref in (("learned", config.closure), ("bingham", "bingham")):
        coarse = run_coarse(config.coarse(ref), ref, initial, output_dir / f"coarse_{name}")
        coarse_runs[name] = coarse
        s = {k: np.asarray(v) for k, v in coarse.run.series.items()}
        series[name] = (s["t"], s)
        order = late_mean(s["order_parameter"].tolist())
        rms = late_mean(s["velocity_rms"].tolist())
        reached = bool(len(s["t"])) and s["t"][-1] >= config.t_end - 1e-9
        metrics[f"stable_{name}"] = float(coarse.run.failure is None and reached and order <= 1)
        metrics[f"order_parameter_rel_error_{name}"] = relative_error(order, order_ref)
        metrics[f"velocity_rms_rel_error_{name}"] = relative_error(rms, rms_ref)
        metrics[f"order_parameter_late_{name}"] = order
        metrics[f"velocity_rms_late_{name}"] = rms
        metrics[f"ms_per_step_{name}"] = coarse.ms_per_step
        if coarse.run.chunk_files:
            late = late_velocity_spectrum(coarse.run, config.L)[1]
            spectra[name] = (2 * np.pi / config.L * np.arange(len(late)), late)
            distance = spectrum_distance(spectra[name], spectra["kinetic"], shells)
            metrics[f"spectrum_log_l2_{name}"] = distance
            last = np.load(coarse.run.chunk_files[-1])
            final[name] = np.asarray(diagnostics.order_parameter(last["c"][-1], last["D"][-1]))
        else:
            metrics[f"spectrum_log_l2_{name}"] = float("nan")
        progress.update(2 + len(coarse_runs), f"coarse {name}: order {order:.3f}, rms {rms:.3g}")
    kinetic_cost = kinetic.ms_per_step * kinetic.n_steps
    learned_run = coarse_runs["learned"]
    metrics["speedup_vs_kinetic"] = kinetic_cost / (learned_run.ms_per_step * learned_run.n_steps)
    metrics["speedup_vs_kinetic_bingham"] = kinetic_cost / (
        coarse_runs["bingham"].ms_per_step * coarse_runs["bingham"].n_steps
    )
    metrics["order_parameter_late_kinetic"] = order_ref
    metrics["velocity_rms_late_kinetic"] = rms_ref
    metrics["ms_per_step_kinetic"] = kinetic.ms_per_step
    metrics["kinetic_dt_effective"] = kinetic.info.dt
    metrics["coarse_dt_effective"] = effective_dt(config.coarse())
    metrics["kinetic_wall_time_s"] = kinetic.seconds
    return Evaluation(metrics, series, spectra, final, 2 * np.pi / config.L * shells)


def ensemble_metrics(runs: list[dict[str, float]],
                     spectra: list[dict[str, tuple[np.ndarray, np.ndarray]]],
                     shells: int) -> dict[str, Any]:  # fmt: skip
    """The metrics of :func:`evaluate` for an ensemble of runs: one dict of metrics and one of
    late spectra ({model: (k, E)}, :attr:`Evaluation.spectra`) per seed.

    ``{order_parameter,velocity_rms}_rel_error_*`` are |ensemble mean / kinetic ensemble mean
    − 1| of the late means, ``*_signed_error_*`` the same with its sign and
    ``*_single_range_*`` the (min, max) of the single runs' signed errors;
    ``spectrum_log_l2_*`` is the distance (:func:`spectrum_distance` over shells 1 … shells)
    between the coarse and the kinetic ensemble-mean late spectra, ``spectrum_log_l2_run_mean_*``
    the mean of the single runs' distances and ``spectrum_closer_runs`` the runs whose learned
    spectrum is closer than Bingham's; a-priori errors are means, ``stable_*`` the minimum and
    ``stable_runs_*`` the count; timings and speed-ups are medians
    (``speedup_vs_kinetic_min``: the slowest run's). One run gives back its own metrics (and
    the extra keys).
    """

    def values(key: str) -> np.ndarray:
        return np.array([run[key] for run in runs], dtype=float)

    def ensemble_spectrum(model: str) -> tuple[np.ndarray, np.ndarray]:
        k = spectra[0][model][0]
        return k, np.mean([run[model][1] for run in spectra], axis=0)

    metrics: dict[str, Any] = {"n_seeds": len(runs)}
    for model in ("learned", "bingham", "quadratic"):
        metrics[f"apriori_rel_error_{model}"] = float(np.mean(values(f"apriori_rel_error_{model}")))
    kinetic_spectrum = ensemble_spectrum("kinetic")
    for model in COARSE_MODELS:
        every_run_has_one = all(model in run for run in spectra)  # not a run that never saved
        metrics[f"spectrum_log_l2_{model}"] = (
            spectrum_distance(ensemble_spectrum(model), kinetic_spectrum, shells)
            if every_run_has_one else float("nan"))  # fmt: skip
        metrics[f"spectrum_log_l2_run_mean_{model}"] = float(
            np.mean(values(f"spectrum_log_l2_{model}")))  # fmt: skip
        metrics[f"stable_{model}"] = float(np.min(values(f"stable_{model}")))
        metrics[f"stable_runs_{model}"] = int(np.sum(values(f"stable_{model}")))
    for quantity in ("order_parameter", "velocity_rms"):
        reference = values(f"{quantity}_late_kinetic")
        metrics[f"{quantity}_late_kinetic"] = float(np.mean(reference))
        for model in COARSE_MODELS:
            late = values(f"{quantity}_late_{model}")
            signed = float(np.mean(late) / np.mean(reference) - 1)
            single = late / reference - 1
            metrics[f"{quantity}_late_{model}"] = float(np.mean(late))
            metrics[f"{quantity}_rel_error_{model}"] = abs(signed)
            metrics[f"{quantity}_signed_error_{model}"] = signed
            metrics[f"{quantity}_single_range_{model}"] = (float(single.min()),
                                                           float(single.max()))  # fmt: skip
    metrics["spectrum_closer_runs"] = int(
        np.sum(values("spectrum_log_l2_learned") < values("spectrum_log_l2_bingham"))
    )
    for key in ("ms_per_step_kinetic", "ms_per_step_learned", "ms_per_step_bingham",
                "speedup_vs_kinetic", "speedup_vs_kinetic_bingham"):  # fmt: skip
        metrics[key] = float(np.median(values(key)))
    metrics["speedup_vs_kinetic_min"] = float(np.min(values("speedup_vs_kinetic")))
    for key in ("kinetic_dt_effective", "coarse_dt_effective"):  # the same for every seed
        metrics[key] = float(values(key)[0])
    metrics["kinetic_wall_time_s"] = float(np.sum(values("kinetic_wall_time_s")))
    return metrics


def evaluation_plots(evaluation: Evaluation, config: EvaluationConfig, output_dir: Path,
                     label: str) -> dict[str, Path]:  # fmt: skip
    """Time series, late spectra and final order-parameter fields of kinetic vs coarse."""
    title = (
        f"{label}: α={config.alpha:g}, ζ={config.zeta:g}, seed={config.seed}; kinetic "
        f"{config.n}²×{config.n_theta}, coarse {config.coarse_n}² dt={config.coarse_step():.3g}"
    )
    names = ["order_parameter", "velocity_rms", "enstrophy"]
    fields = evaluation.fields
    return {
        "comparison": comparison_series_plot(evaluation.series, names, title,
                                             output_dir / "comparison.png"),
        "spectra": spectra_plot(evaluation.spectra, evaluation.k_max, title,
                                output_dir / "spectra.png"),
        "order_fields": field_images_plot(
            {f"{model} s(t_end)": field for model, field in fields.items()}, config.L, title,
            output_dir / "order_fields.png",
        ),
    }  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Prefect task and the flow.


@task(name="closure-evaluate", cache_policy=NONE)
def evaluate_task(config: EvaluationConfig, output_dir: Path, run_id: str) -> Evaluation:
    return evaluate(config, output_dir, run_id, FLOW_NAME)


def seed_folder(config: EvaluationConfig, output_dir: Path, seed: int) -> Path:
    """Where one seed's comparison writes: output_dir itself for a single seed."""
    return output_dir if len(config.all_seeds()) == 1 else output_dir / f"seed{seed}"


def evaluate_seeds(
    config: EvaluationConfig, output_dir: Path, evaluate_one: Callable[..., Evaluation],
) -> tuple[Evaluation, dict[str, float]]:  # fmt: skip
    """The comparison for every seed of ``config`` (``evaluate_one(config, folder)``, one seed
    each, in :func:`seed_folder`): the first seed's evaluation (plots, series) and the metrics,
    those of the ensemble (:func:`ensemble_metrics`, ranges as ``*_min``/``*_max``) with every
    seed's own suffixed ``_seed<k>`` when there are several seeds."""
    seeds = config.all_seeds()
    if len(seeds) == 1:
        evaluation = evaluate_one(config, seed_folder(config, output_dir, seeds[0]))
        return evaluation, dict(evaluation.metrics)
    per_seed, spectra = {}, []
    for seed in seeds:
        one = config.model_copy(update={"seed": seed, "seeds": []})
        result = evaluate_one(one, seed_folder(config, output_dir, seed))
        per_seed[seed] = result.metrics
        spectra.append(result.spectra)
        if seed == seeds[0]:
            evaluation = result
    ensemble = ensemble_metrics(list(per_seed.values()), spectra, config.spectrum_shells())
    metrics = {key: value for key, value in ensemble.items() if not isinstance(value, tuple)}
    for key, value in ensemble.items():
        if isinstance(value, tuple):
            metrics[f"{key}_min"], metrics[f"{key}_max"] = value
    for seed, values in per_seed.items():
        metrics.update({f"{key}_seed{seed}": value for key, value in values.items()})
    return evaluation, metrics


def evaluate_body(config: ClosureEvaluateConfig, logger: RunLogger,
                  output_dir: Path) -> FlowOutcome:  # fmt: skip
    start = time.perf_counter()
    evaluation, metrics = evaluate_seeds(
        config, output_dir, lambda one, folder: evaluate_task(one, folder, logger.run_id))
    artifacts = evaluation_plots(evaluation, config, output_dir, FLOW_NAME)
    series = output_dir / "series.json"
    series.write_text(json.dumps({
        model: {"t": np.asarray(t).tolist(),
                **{k: np.asarray(v).tolist() for k, v in values.items()}}
        for model, (t, values) in evaluation.series.items()
    }))  # fmt: skip
    artifacts["series"] = series
    for model, (t, values) in evaluation.series.items():
        for name in ("order_parameter", "velocity_rms"):
            logger.log_series(f"{name}_{model}_t", values[name], range(len(t)))
    metrics["wall_time_s"] = time.perf_counter() - start
    return FlowOutcome(metrics=metrics, artifacts=artifacts)


@flow(name=FLOW_NAME, description=DESCRIPTION)
def closure_evaluate_flow(config: dict | None = None, output_dir: str | None = None) -> dict:
    """Evaluate a learned closure against Bingham a-priori and in coarse runs; log to MLflow."""
    validated = validate_config(ClosureEvaluateConfig, config or {})
    return execute(FLOW_NAME, validated, evaluate_body, output_dir)

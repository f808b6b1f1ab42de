"""Active-fluid flows: the kinetic theory (``active-fluid-kinetic``), the moment model with a
classical or learned closure (``active-fluid-moment``) and the linear stability of isotropy
(``active-fluid-stability``).

A simulation runs ``[0, t_end]`` in ``n_chunks`` jitted guarded rollouts of
:mod:`physics.active_fluid`; after every chunk the full SBDF2 state (with its history) is
checkpointed, the chunk's snapshots (c, D, E, u, S:D, S:E) are written beside it, and progress
goes to stderr. A blow-up stops the run with the time and grid location, marks the MLflow run
FAILED and keeps the checkpoint of the last good state and the snapshots so far.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from prefect import flow, task
from prefect.cache_policies import NONE
from pydantic import Field, field_validator, model_validator

from closures.kinetic import CLOSURES
from flows.checkpoint import save_checkpoint
from flows.closure_store import check_closure_reference, resolve_closure
from flows.config import ExistingFile, FlowConfig, validate_config
from flows.plots import field_images_plot, spectrum_plot, time_series_plot
from flows.progress import Progress
from flows.runtime import FlowOutcome, RunFailed, checkpoint_meta, execute, resume_checkpoint
from flows.tracking import RunLogger, git_commit
from physics.active_fluid import (
    ActiveFluidParams,
    diagnostics,
    fit_growth_rate,
    initial_conditions,
    kinetic,
    max_stable_dt,
    mode_amplitudes,
    moment,
    moments_of_psi,
    predicted_growth_rates,
    wave_vector,
)
from physics.spectral import STATUS_EXPLODED, STATUS_NON_FINITE, SBDF2State

KINETIC_FLOW = "active-fluid-kinetic"
MOMENT_FLOW = "active-fluid-moment"
STABILITY_FLOW = "active-fluid-stability"
KINETIC_DESCRIPTION = "Active-fluid kinetic theory Ψ(x, y, θ), pseudo-spectral SBDF2; closure data"
MOMENT_DESCRIPTION = "Active-fluid moment model (c, D) with a closure for the fourth moment"
STABILITY_DESCRIPTION = "Growth rates of perturbations of isotropy against linear theory"
CLOSURE_NAMES = tuple(CLOSURES)
Array = jax.Array
STABILITY_SLACK = 4.0
"""Configs are refused only for steps beyond this multiple of :func:`max_stable_dt`, a
worst-case (bounded-amplitude) estimate: the published runs (256² × 256, dt = 4e-4, up to
α = −5, ζ = 17) sit about 2.6 times above it and are stable; blow-ups past that are caught at
run time with their time and location."""
STATUS_REASONS = {
    STATUS_NON_FINITE: "non-finite values (NaN/inf)",
    STATUS_EXPLODED: "the solution exceeded blowup_threshold",
}


# ----------------------------------------------------------------------------------------------
# Configuration.


class ActiveFluidConfig(FlowConfig):
    """Physical and numerical parameters shared by every active-fluid flow (non-dimensional).

    Published defaults: d_T = d_R = 0.05, β = 0.8, L = 10, α = −1, ζ = 1 (grid 256² × 256,
    dt = 4e-4); our default grids are smaller so that runs fit a laptop.
    """

    alpha: float = Field(-1.0, description="active stress coefficient (< 0: pushers)")
    beta: float = Field(0.8, ge=0, description="constraint stress coefficient")
    zeta: float = Field(1.0, ge=0, description="steric alignment strength")
    d_t: float = Field(0.05, gt=0, description="translational diffusivity")
    d_r: float = Field(0.05, gt=0, description="rotational diffusivity")
    L: float = Field(10.0, gt=0, description="side of the periodic box")
    n: int = Field(64, description="grid points per side (even, >= 8)")
    n_theta: int = Field(64, description="orientation samples (multiple of 4, >= 8)")
    dt: float = Field(2e-3, gt=0, description="time step (upper bound; see dt_effective)")
    t_end: float = Field(20.0, gt=0, description="end time")

    # The moment model has no θ-modes, so its stability estimate ignores n_theta.
    stability_uses_n_theta: ClassVar[bool] = True

    @field_validator("alpha", "beta", "zeta", "d_t", "d_r", "L", "dt", "t_end")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return value

    @field_validator("n")
    @classmethod
    def _even_grid(cls, n: int) -> int:
        if n < 8 or n % 2:
            raise ValueError("must be an even number of grid points >= 8")
        return n

    @field_validator("n_theta")
    @classmethod
    def _theta_grid(cls, n_theta: int) -> int:
        if n_theta < 8 or n_theta % 4:
            raise ValueError("must be a multiple of 4, >= 8 (apolar Ψ keeps n_theta/2 samples)")
        return n_theta

    @model_validator(mode="after")
    def _stable_step(self) -> ActiveFluidConfig:
        if self.dt > self.t_end:
            raise ValueError(f"dt: must not exceed t_end ({self.t_end})")
        n_theta = self.n_theta if self.stability_uses_n_theta else None
        limit = step_limit(physical_params(self), self.n, n_theta)
        if self.dt > limit:
            raise ValueError(
                f"dt: {self.dt:g} exceeds the explicit stability limit (about {limit:.3g} for "
                f"n={self.n}{f', n_theta={n_theta}' if n_theta else ''} and these parameters); "
                f"use dt <= {limit:.3g}"
            )
        return self


class SimulationConfig(ActiveFluidConfig):
    """A nonlinear run from the published near-isotropic initial conditions."""

    seed: int = Field(0, ge=0, description="initial-condition seed (random plane waves)")
    amplitude: float = Field(1e-2, gt=0, le=0.5, description="relative perturbation of isotropy")
    n_outputs: int = Field(80, ge=1, description="snapshots, equally spaced in time")
    n_chunks: int = Field(8, ge=1, description="jitted rollouts, each followed by a checkpoint")
    blowup_threshold: float = Field(1e3, gt=1, description="probe value counted as a blow-up")
    resume_from: ExistingFile = Field(None, description="checkpoint file of an interrupted run")

    @model_validator(mode="after")
    def _chunks_divide_outputs(self) -> SimulationConfig:
        if self.n_outputs % self.n_chunks:
            raise ValueError(
                f"n_chunks: must divide n_outputs ({self.n_outputs}), got {self.n_chunks}"
            )
        return self


class KineticConfig(SimulationConfig):
    """Configuration of ``active-fluid-kinetic``."""

    quick_overrides = {"n": 32, "n_theta": 16, "t_end": 6.0, "n_outputs": 12, "n_chunks": 3}


class MomentConfig(SimulationConfig):
    """Configuration of ``active-fluid-moment``; the initial (c, D) are the moments of the
    kinetic flow's initial Ψ for the same seed, so the two runs start from the same state."""

    closure: str = Field(
        "bingham",
        description="fourth-moment model: bingham, quadratic, learned (the shipped learned "
        "closure), a saved closure folder or the MLflow run id of a closure-train run",
    )
    stability_uses_n_theta: ClassVar[bool] = False

    quick_overrides = KineticConfig.quick_overrides

    @field_validator("closure")
    @classmethod
    def _known_closure(cls, value: str) -> str:
        return check_closure_reference(value)


class StabilityConfig(ActiveFluidConfig):
    """Configuration of ``active-fluid-stability``: one plane-wave perturbation of isotropy."""

    n: int = 16
    n_theta: int = 16
    dt: float = 1e-3
    t_end: float = 1.0
    mode: list[int] = Field([1, 0], description="integer wave indices (ix, iy), k = 2π/L (ix, iy)")
    amplitude: float = Field(1e-6, gt=0, le=1e-3, description="perturbation amplitude (linear)")
    model: Literal["kinetic", "moment"] = "kinetic"
    closure: Literal["bingham", "quadratic"] = Field("bingham", description="model=moment only")
    n_outputs: int = Field(20, ge=3, description="amplitude samples for the fit")

    quick_overrides = {"t_end": 0.5, "n_outputs": 10}

    @field_validator("mode")
    @classmethod
    def _wave_index(cls, mode: list[int]) -> list[int]:
        if len(mode) != 2 or mode == [0, 0]:
            raise ValueError("must be two integers (ix, iy), not both 0")
        if mode[1] < 0:
            raise ValueError("iy must be >= 0 (the wave (ix, -iy) is the conjugate of (-ix, iy))")
        return mode

    @model_validator(mode="after")
    def _resolved_mode(self) -> StabilityConfig:
        if 3 * max(abs(self.mode[0]), self.mode[1]) >= self.n:
            raise ValueError(
                f"mode: wave indices must stay below n/3 = {self.n / 3:.3g} (dealiased), "
                f"got {self.mode}"
            )
        return self


# ----------------------------------------------------------------------------------------------
# Pure orchestration (no Prefect, no MLflow): shared by the flows and the tests.


class FieldSample(NamedTuple):
    """Real-space fields of one snapshot: t (), c (n, n), D, E, S_D, S_E (n, n, 2, 2),
    u (n, n, 2). S_D, S_E are the fourth-moment terms S:D and S:E the solver used (exact for
    the kinetic theory, the closure's for the moment model)."""

    t: Array
    c: Array
    D: Array
    E: Array
    u: Array
    S_D: Array
    S_E: Array


def physical_params(config: ActiveFluidConfig) -> ActiveFluidParams:
    """The solver parameters of a config; any config with the six physical fields (α, β, ζ,
    d_T, d_R, L) will do, e.g. closure-evaluate's."""
    return ActiveFluidParams(
        alpha=config.alpha, beta=config.beta, zeta=config.zeta, d_t=config.d_t, d_r=config.d_r,
        L=config.L,
    )  # fmt: skip


def step_limit(params: ActiveFluidParams, n: int, n_theta: int | None = None) -> float:
    """The largest dt a config accepts: STABILITY_SLACK times :func:`max_stable_dt` (kinetic on
    n² × n_theta, or the moment model if n_theta is None)."""
    return STABILITY_SLACK * max_stable_dt(params, n, n_theta)


def steps_per_output(config: SimulationConfig | StabilityConfig) -> int:
    """Steps between snapshots: the smallest count whose step does not exceed ``dt``."""
    return max(1, math.ceil(config.t_end / (config.n_outputs * config.dt) - 1e-9))


def effective_dt(config: SimulationConfig | StabilityConfig) -> float:
    """The step actually taken, so that snapshots land exactly on multiples of t_end/n_outputs."""
    return config.t_end / (config.n_outputs * steps_per_output(config))


def initial_distribution(config: SimulationConfig) -> Array:
    """The published family: isotropy plus seeded random low plane waves, Ψ (n, n, n_theta)."""
    return initial_conditions.random_plane_waves(
        config.seed, config.n, config.n_theta, amplitude=config.amplitude
    )


def _symmetric_part(grad_u: Array) -> Array:
    return (grad_u + jnp.swapaxes(grad_u, -1, -2)) / 2


def kinetic_sample(state: SBDF2State, params: ActiveFluidParams) -> FieldSample:
    """Observer of kinetic rollouts: moments of Ψ, its flow and the exact S:D, S:E."""
    c, D, _ = kinetic.moments(state.fields)
    f = kinetic.flow(state.fields, params)
    return FieldSample(state.t, c, D, _symmetric_part(f.grad_u), f.u, f.S_D, f.S_E)


def moment_sample(state: SBDF2State, params: ActiveFluidParams, closure, closure_params):
    """Observer of moment rollouts: (c, D), the flow and the closure's S:D, S:E."""
    c, D = moment.to_real(state.fields)
    f = moment.flow(state.fields, params, closure, closure_params)
    return FieldSample(state.t, c, D, _symmetric_part(f.grad_u), f.u, f.S_D, f.S_E)


class Simulator(NamedTuple):
    """init() -> first SBDF2 state; chunk(state, num_outputs) -> (state, samples, status)."""

    init: Callable[[], SBDF2State]
    chunk: Callable[[SBDF2State, int], tuple[SBDF2State, FieldSample, Any]]


def kinetic_simulator(config: SimulationConfig) -> Simulator:
    params, every = physical_params(config), steps_per_output(config)

    def chunk(state, num_outputs):
        return kinetic.guarded_trajectory(
            state, params, num_outputs, every, observe=kinetic_sample,
            threshold=config.blowup_threshold,
        )  # fmt: skip

    return Simulator(lambda: kinetic.init_state(initial_distribution(config), effective_dt(config)),
                     chunk)  # fmt: skip


def moment_simulator(
    config: SimulationConfig, closure_name: str, initial: tuple[Array, Array] | None = None
) -> Simulator:
    """The moment model with the named closure (see :func:`flows.closure_store.resolve_closure`)
    from ``initial`` (c, D), by default the moments of the kinetic initial Ψ of the config."""
    params, every = physical_params(config), steps_per_output(config)
    closure, closure_params, _ = resolve_closure(closure_name)

    def init():
        c, D = initial if initial is not None else moments_of_psi(initial_distribution(config))[:2]
        return moment.init_state(c, D, effective_dt(config))

    def chunk(state, num_outputs):
        return moment.guarded_trajectory(
            state, params, num_outputs, every, closure, closure_params, observe=moment_sample,
            threshold=config.blowup_threshold,
        )  # fmt: skip

    return Simulator(init, chunk)


@jax.jit
def sample_diagnostics(samples: FieldSample, L: float) -> dict[str, Array]:
    """Scalar diagnostics of a stack of samples (T leading): each (T,)."""

    def one(sample: FieldSample) -> dict[str, Array]:
        return {
            "order_parameter": diagnostics.mean_order_parameter(sample.c, sample.D),
            "velocity_rms": diagnostics.velocity_statistics(sample.u).rms,
            "kinetic_energy": diagnostics.kinetic_energy(sample.u),
            "enstrophy": diagnostics.enstrophy(sample.u, L),
            "mean_c": jnp.mean(sample.c),
            "trace_error": jnp.max(jnp.abs(sample.D[..., 0, 0] + sample.D[..., 1, 1] - sample.c)),
        }

    return jax.vmap(one)(samples)


class SimulationRun(NamedTuple):
    """A chunked simulation so far: state, diagnostics per snapshot, chunk files, status."""

    state: SBDF2State
    series: dict[str, list[float]]  # name -> values per snapshot (with "t")
    chunk_files: list[Path]
    chunks_done: int
    failure: str | None


def start_simulation(state: SBDF2State) -> SimulationRun:
    return SimulationRun(state, {}, [], 0, None)


def failure_message(status, L: float, n: int) -> str | None:
    """Why, when and where a guarded rollout stopped, or None if it did not."""
    code = int(status.status)
    if code not in STATUS_REASONS:
        return None
    i, j = (int(v) for v in np.asarray(status.location))
    return (
        f"simulation blew up: {STATUS_REASONS[code]} at t = {float(status.time):.6g}, "
        f"grid point (i, j) = ({i}, {j}), (x, y) = ({i * L / n:.4g}, {j * L / n:.4g})"
    )


def write_chunk(samples: FieldSample, folder: Path, index: int) -> Path:
    """Save one chunk's samples as ``folder/chunk_XXX.npz`` (float64 arrays, T leading)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"chunk_{index:03d}.npz"
    np.savez(path, **{name: np.asarray(value) for name, value in samples._asdict().items()})
    return path


def snapshots_before(samples: FieldSample, t_fail: float) -> FieldSample:
    """The samples taken before ``t_fail`` (after a blow-up they repeat the last good state)."""
    good = np.asarray(samples.t) < t_fail
    return FieldSample(*(np.asarray(field)[good] for field in samples))


def simulate_in_chunks(
    config: SimulationConfig,
    simulator: Simulator,
    run: SimulationRun,
    folder: Path,
    on_chunk: Callable[[SimulationRun], None] = lambda run: None,
) -> SimulationRun:
    """Advance ``run`` chunk by chunk until done or blown up; samples go to ``folder``."""
    per_chunk = config.n_outputs // config.n_chunks
    while run.chunks_done < config.n_chunks and run.failure is None:
        state, samples, status = simulator.chunk(run.state, per_chunk)
        failure = failure_message(status, config.L, config.n)
        if failure is not None:
            # Keep only the snapshots taken before the blow-up (later ones repeat the last good).
            samples = snapshots_before(samples, float(status.time))
        series, files = run.series, run.chunk_files
        if len(samples.t):
            diagnosed = sample_diagnostics(samples, config.L)
            series = {k: series.get(k, []) + np.asarray(v).tolist() for k, v in diagnosed.items()}
            series["t"] = run.series.get("t", []) + np.asarray(samples.t).tolist()
            files = [*files, write_chunk(samples, folder, run.chunks_done)]
        run = SimulationRun(state, series, files, run.chunks_done + 1, failure)
        on_chunk(run)
    return run


def assemble_dataset(run: SimulationRun, path: Path, provenance: dict[str, Any]) -> Path:
    """Concatenate the chunk files into one npz with a JSON ``provenance`` entry."""
    parts = [dict(np.load(file)) for file in run.chunk_files]
    fields = {name: np.concatenate([p[name] for p in parts]) for name in FieldSample._fields}
    np.savez_compressed(path, provenance=np.asarray(json.dumps(provenance)), **fields)
    return path


def late_mean(values: list[float]) -> float:
    """Mean over the second half of a series (the statistically steady part of a long run)."""
    return float(np.mean(values[len(values) // 2 :])) if values else float("nan")


def simulation_metrics(run: SimulationRun, n_steps: int, seconds: float) -> dict[str, float]:
    s = run.series
    last = lambda name: s[name][-1] if s.get(name) else float("nan")  # noqa: E731
    mean_c = np.asarray(s.get("mean_c", [1.0]))
    return {
        "order_parameter_mean": last("order_parameter"),
        "order_parameter_mean_late": late_mean(s.get("order_parameter", [])),
        "velocity_rms": last("velocity_rms"),
        "velocity_rms_late": late_mean(s.get("velocity_rms", [])),
        "kinetic_energy": last("kinetic_energy"),
        "enstrophy": last("enstrophy"),
        "mean_c_drift": float(np.max(np.abs(mean_c - mean_c[0]))),
        "trace_error_max": float(np.max(s.get("trace_error", [0.0]))),
        "t_final": last("t"),
        "n_steps": float(n_steps),
        "wall_time_s": seconds,
        "ms_per_step": 1e3 * seconds / max(n_steps, 1),
    }


# ----------------------------------------------------------------------------------------------
# Prefect tasks and the simulation flows.


def _snapshot_folder(output_dir: Path) -> Path:
    return output_dir / "snapshots"


@task(name="active-fluid-simulate", cache_policy=NONE)
def simulate_task(
    flow_name: str, config: SimulationConfig, simulator: Simulator, output_dir: Path
) -> tuple[SimulationRun, dict[str, float], Path]:
    checkpoint = output_dir / "checkpoint.msgpack"
    folder = _snapshot_folder(output_dir)
    run = start_simulation(simulator.init())
    if config.resume_from:
        run = resume_simulation(flow_name, config, run.state, folder)
    progress = Progress(f"{flow_name} [n={config.n}]", config.n_chunks)
    progress.update(run.chunks_done)
    start_chunks = run.chunks_done
    chunk_seconds: list[float] = []
    clock = [time.perf_counter()]

    def on_chunk(current: SimulationRun) -> None:
        now = time.perf_counter()
        chunk_seconds.append(now - clock[0])
        clock[0] = now
        meta = checkpoint_meta(
            flow_name, config, chunks_done=current.chunks_done, series=current.series,
            chunk_files=[p.name for p in current.chunk_files],
        )  # fmt: skip
        save_checkpoint(checkpoint, current.state, meta)
        series = current.series
        detail = (
            f"t={series['t'][-1]:.4g} order={series['order_parameter'][-1]:.3f} "
            f"u_rms={series['velocity_rms'][-1]:.3g}"
            if series.get("t")
            else ""
        )
        progress.update(current.chunks_done, detail)

    run = simulate_in_chunks(config, simulator, run, folder, on_chunk)
    steps_per_chunk = config.n_outputs // config.n_chunks * steps_per_output(config)
    # The first chunk of this process includes compilation: the step rate comes from the others.
    warm = chunk_seconds[1:] or chunk_seconds
    metrics = simulation_metrics(run, steps_per_chunk * len(warm), sum(warm))
    metrics["n_steps"] = float((run.chunks_done - start_chunks) * steps_per_chunk)
    metrics["wall_time_s"] = sum(chunk_seconds)
    metrics["compile_time_s"] = max(chunk_seconds[0] - float(np.median(warm)), 0.0)
    metrics["dt_effective"] = effective_dt(config)
    return run, metrics, checkpoint


def resume_simulation(
    flow_name: str, config: SimulationConfig, template: SBDF2State, folder: Path
) -> SimulationRun:
    """Continue from ``config.resume_from``: its state, diagnostics and the snapshot files
    beside it (copied into this run's ``folder``)."""
    state, meta = resume_checkpoint(flow_name, config, template)
    source = Path(config.resume_from).parent / "snapshots"
    folder.mkdir(parents=True, exist_ok=True)
    files = [Path(shutil.copy(source / name, folder / name)) for name in meta["chunk_files"]]
    return SimulationRun(state, meta["series"], files, meta["chunks_done"], None)


@task(name="active-fluid-artifacts", cache_policy=NONE)
def simulation_artifacts_task(
    flow_name: str, config: SimulationConfig, run: SimulationRun, output_dir: Path, run_id: str
) -> dict[str, Path]:
    artifacts: dict[str, Path] = {}
    if not run.chunk_files:
        return artifacts
    provenance = {
        "flow": flow_name, "mlflow_run_id": run_id, "git_commit": git_commit(),
        "config": config.model_dump(mode="json"), "dt_effective": effective_dt(config),
        "steps_per_output": steps_per_output(config),
        "fields": "t (T,), c (T,n,n), D/E/S_D/S_E (T,n,n,2,2), u (T,n,n,2); float64",
    }  # fmt: skip
    artifacts["dataset"] = assemble_dataset(run, output_dir / "dataset.npz", provenance)
    last = np.load(run.chunk_files[-1])
    c, D, u = last["c"][-1], last["D"][-1], last["u"][-1]
    t = float(last["t"][-1])
    label = f"α={config.alpha:g}, ζ={config.zeta:g}, n={config.n}, t={t:.3g}"
    artifacts["fields"] = field_images_plot(
        {
            "concentration c": np.asarray(c),
            "order parameter s": np.asarray(diagnostics.order_parameter(c, D)),
            "vorticity ω": np.asarray(diagnostics.vorticity(u, config.L)),
        },
        config.L,
        f"{flow_name}: {label}",
        output_dir / "fields.png",
        director=np.asarray(diagnostics.director_angle(D)),
    )
    series = {
        k: v
        for k, v in run.series.items()
        if k in ("order_parameter", "velocity_rms", "kinetic_energy", "enstrophy")
    }
    artifacts["diagnostics"] = time_series_plot(
        np.asarray(run.series["t"]), series, f"{flow_name}: {label}", output_dir / "diagnostics.png"
    )
    k, spectrum = diagnostics.velocity_spectrum(u, config.L)
    t_late, late = late_velocity_spectrum(run, config.L)
    artifacts["spectrum"] = spectrum_plot(
        np.asarray(k),
        {f"t = {t:.3g}": np.asarray(spectrum), f"mean over t ∈ [{t_late:.3g}, {t:.3g}]": late},
        f"{flow_name}: velocity spectrum", output_dir / "spectrum.png",
    )  # fmt: skip
    spectra = output_dir / "velocity_spectrum.json"
    spectra.write_text(json.dumps({"k": np.asarray(k).tolist(), "late_mean": late.tolist(),
                                   "t_from": t_late, "t_to": t}))  # fmt: skip
    artifacts["velocity_spectrum"] = spectra
    return artifacts


def late_velocity_spectrum(run: SimulationRun, L: float) -> tuple[float, np.ndarray]:
    """(t_from, E(k)): the shell spectrum averaged over the second half of the snapshots,
    the statistically steady part of a long run (a single snapshot is noisy)."""
    times = np.asarray(run.series["t"])
    t_from = float(times[len(times) // 2])
    spectra = []
    for file in run.chunk_files:
        chunk = np.load(file)
        late = chunk["u"][chunk["t"] >= t_from]
        if len(late):
            spectra.append(np.asarray(_spectra(late, L)))
    return t_from, np.mean(np.concatenate(spectra), axis=0)


@jax.jit
def _spectra(u: Array, L: float) -> Array:
    """Shell spectra (T, n//2 + 1) of velocity fields u (T, n, n, 2), one compiled call."""
    return jax.vmap(lambda field: diagnostics.velocity_spectrum(field, L)[1])(u)


def log_simulation_series(logger: RunLogger, run: SimulationRun) -> None:
    steps = range(len(run.series.get("t", [])))
    for name in ("order_parameter", "velocity_rms", "kinetic_energy", "enstrophy", "t"):
        if name in run.series:
            logger.log_series(f"{name}_t" if name != "t" else "t", run.series[name], steps)


def simulation_body(
    flow_name: str, simulator_for: Callable[[SimulationConfig], Simulator]
) -> Callable[[SimulationConfig, RunLogger, Path], FlowOutcome]:
    def body(config: SimulationConfig, logger: RunLogger, output_dir: Path) -> FlowOutcome:
        run, metrics, checkpoint = simulate_task(
            flow_name, config, simulator_for(config), output_dir
        )
        artifacts = simulation_artifacts_task(flow_name, config, run, output_dir, logger.run_id)
        artifacts["checkpoint"] = checkpoint
        log_simulation_series(logger, run)
        for path in run.chunk_files:
            logger.log_artifact(path, "snapshots")
        outcome = FlowOutcome(metrics=metrics, artifacts=artifacts)
        if run.failure:
            raise RunFailed(f"{run.failure}; checkpoint of the last good state kept at "
                            f"{checkpoint}", outcome)  # fmt: skip
        return outcome

    return body


@flow(name=KINETIC_FLOW, description=KINETIC_DESCRIPTION)
def active_fluid_kinetic_flow(config: dict | None = None, output_dir: str | None = None) -> dict:
    """Simulate the kinetic theory; write a closure-training dataset; log to MLflow."""
    body = simulation_body(KINETIC_FLOW, kinetic_simulator)
    return execute(KINETIC_FLOW, validate_config(KineticConfig, config or {}), body, output_dir)


@flow(name=MOMENT_FLOW, description=MOMENT_DESCRIPTION)
def active_fluid_moment_flow(config: dict | None = None, output_dir: str | None = None) -> dict:
    """Simulate the moment model with the configured closure; log to MLflow."""
    body = simulation_body(MOMENT_FLOW, lambda c: moment_simulator(c, c.closure))
    return execute(MOMENT_FLOW, validate_config(MomentConfig, config or {}), body, output_dir)


# ----------------------------------------------------------------------------------------------
# Linear stability.


class GrowthMeasurement(NamedTuple):
    """Measured and predicted growth rates (per unit time) of the three linear modes, and the
    sampled amplitudes |shear|, |normal|, |concentration| (T,) at times t (T,)."""

    measured: dict[str, float]
    predicted: dict[str, float]
    t: np.ndarray
    amplitudes: dict[str, np.ndarray]


def perturbed_isotropy(config: StabilityConfig) -> Array:
    """Isotropy plus shear, normal and concentration waves at one wave vector: decoupled at
    linear order, so one run measures all three rates."""
    mode = tuple(config.mode)
    waves = [(2, 1.0, initial_conditions.SHEAR), (2, 0.7, initial_conditions.NORMAL), (0, 0.5, 0.0)]
    psi = initial_conditions.isotropic(config.n, config.n_theta)
    for m, weight, phase in waves:
        psi += initial_conditions.plane_wave(
            config.n, config.n_theta, mode, m, weight * config.amplitude, phase
        )
    return psi


def measure_growth_rates(config: StabilityConfig) -> GrowthMeasurement:
    """Run the configured model from :func:`perturbed_isotropy` and fit log-amplitudes."""
    params, every, dt = physical_params(config), steps_per_output(config), effective_dt(config)
    psi = perturbed_isotropy(config)
    if config.model == "kinetic":
        state = kinetic.init_state(psi, dt)
        _, (t, psi_hat) = kinetic.trajectory(
            state, params, config.n_outputs, every, observe=kinetic.spectral_fields
        )
        c_hat, D_hat = jax.vmap(kinetic.moment_spectra)(psi_hat)
    else:
        c, D, _ = moments_of_psi(psi)
        closure = CLOSURES[config.closure]
        _, (t, fields) = moment.trajectory(
            moment.init_state(c, D, dt), params, config.n_outputs, every, closure,
            observe=moment.spectral_fields,
        )  # fmt: skip
        c_hat, D_hat = fields.c_hat, fields.D_hat
    amplitudes = mode_amplitudes(c_hat, D_hat, tuple(config.mode))
    k, _ = wave_vector(tuple(config.mode), config.L)
    predicted = predicted_growth_rates(params, k)
    parts = ("shear", "normal", "concentration")
    return GrowthMeasurement(
        measured={p: fit_growth_rate(t, getattr(amplitudes, p)) for p in parts},
        predicted={p: float(getattr(predicted, p)) for p in parts},
        t=np.asarray(t),
        amplitudes={p: np.abs(np.asarray(getattr(amplitudes, p))) for p in parts},
    )


def stability_metrics(result: GrowthMeasurement) -> dict[str, float]:
    """The flow's metrics: the shear mode (the fastest, the one activity drives) is headline."""
    metrics = {
        "growth_rate_measured": result.measured["shear"],
        "growth_rate_predicted": result.predicted["shear"],
        "relative_error": abs(result.measured["shear"] / result.predicted["shear"] - 1),
    }
    for part in ("normal", "concentration"):
        metrics[f"growth_rate_{part}_measured"] = result.measured[part]
        metrics[f"growth_rate_{part}_predicted"] = result.predicted[part]
        metrics[f"relative_error_{part}"] = abs(result.measured[part] / result.predicted[part] - 1)
    return metrics


@task(name="active-fluid-growth-rates", cache_policy=NONE)
def growth_rates_task(config: StabilityConfig) -> GrowthMeasurement:
    return measure_growth_rates(config)


def stability_body(config: StabilityConfig, logger: RunLogger, output_dir: Path) -> FlowOutcome:
    start = time.perf_counter()
    result = growth_rates_task(config)
    metrics = {**stability_metrics(result), "wall_time_s": time.perf_counter() - start}
    model = config.model if config.model == "kinetic" else f"moment/{config.closure}"
    plot = time_series_plot(
        result.t, {f"|{p}|": v for p, v in result.amplitudes.items()},
        f"{model}: mode {config.mode}, α={config.alpha:g}, ζ={config.zeta:g}; "
        f"σ_shear {result.measured['shear']:.4g} (theory {result.predicted['shear']:.4g})",
        output_dir / "growth.png", log_y=True,
        reference={f"theory |{p}|": result.amplitudes[p][0]
                   * np.exp(result.predicted[p] * (result.t - result.t[0]))
                   for p in result.amplitudes},
    )  # fmt: skip
    rates = output_dir / "growth_rates.json"
    rates.write_text(json.dumps({"measured": result.measured, "predicted": result.predicted}))
    return FlowOutcome(metrics=metrics, artifacts={"growth": plot, "growth_rates": rates})


@flow(name=STABILITY_FLOW, description=STABILITY_DESCRIPTION)
def active_fluid_stability_flow(config: dict | None = None, output_dir: str | None = None) -> dict:
    """Measure growth rates of a perturbation of isotropy and compare with linear theory."""
    validated = validate_config(StabilityConfig, config or {})
    return execute(STABILITY_FLOW, validated, stability_body, output_dir)

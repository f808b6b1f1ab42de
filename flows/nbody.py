"""The ``nbody`` flow: gravitational N-body integration of one system or a ``vmap``-ed batch.

The span ``[0, t_end]`` is integrated in ``n_chunks`` jitted calls of
:func:`physics.nbody.trajectory`; after each chunk the full state (positions, velocities, time,
counters and the sampled history) is checkpointed, so ``resume_from`` continues an interrupted run
to the same result, and progress is shown on stderr. A close encounter that drives the adaptive
step below ``dt_min`` or produces NaN stops the run with the time, system and bodies involved.
"""

from __future__ import annotations

import functools
import json
import math
import time
from pathlib import Path
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from prefect import flow, task
from prefect.cache_policies import NONE
from pydantic import Field, field_validator, model_validator

import physics.nbody as nbody
from flows.checkpoint import save_checkpoint
from flows.config import ExistingFile, FlowConfig, validate_config
from flows.plots import energy_error_plot, orbit_plot
from flows.progress import Progress
from flows.runtime import FlowOutcome, RunFailed, checkpoint_meta, execute, resume_checkpoint
from flows.tracking import RunLogger

FLOW_NAME = "nbody"
DESCRIPTION = (
    "Gravitational N-body integration (Hermite4/leapfrog/Yoshida4), batched with vmap or lax.map"
)
INITIAL_CONDITIONS = ("figure_eight", "pythagorean", "lagrange", "random_triple", "custom")
STATUS_NAMES = {
    nbody.STATUS_OK: "ok",
    nbody.STATUS_STEP_FLOOR: "time step fell below dt_min",
    nbody.STATUS_NON_FINITE: "non-finite state (NaN/inf)",
    nbody.STATUS_MAX_STEPS: "max_steps reached",
}


class NBodyConfig(FlowConfig):
    """Configuration of the ``nbody`` flow (G = 1 units)."""

    ic: Literal["figure_eight", "pythagorean", "lagrange", "random_triple", "custom"] = (
        "pythagorean"
    )
    masses: list[float] | None = Field(
        None, description="ic=custom: body masses (N >= 2); ic=random_triple: 3 masses"
    )
    positions: list[list[float]] | None = Field(None, description="ic=custom: (N, d), d in 2, 3")
    velocities: list[list[float]] | None = Field(None, description="ic=custom: (N, d)")
    seed: int = Field(0, ge=0, description="first random_triple seed")
    n_systems: int = Field(1, ge=1, description="random_triple seeds seed .. seed+n_systems-1")
    t_end: float = Field(70.0, gt=0, description="end time")
    integrator: Literal["hermite4", "leapfrog", "yoshida4"] = "hermite4"
    eta: float = Field(0.01, gt=0, le=1, description="hermite4 step parameter")
    criterion: Literal["rv", "aarseth"] = Field("rv", description="hermite4 step criterion")
    dt: float = Field(1e-3, gt=0, description="leapfrog/yoshida4 fixed step")
    dt_min: float = Field(1e-11, gt=0, description="adaptive steps below this stop the run")
    max_steps: int = Field(20_000_000, ge=1, description="step limit per system")
    n_outputs: int = Field(2000, ge=1, description="samples of the trajectory (plots, series)")
    n_chunks: int = Field(10, ge=1, description="jitted calls, each followed by a checkpoint")
    sampling: Literal["step_to", "interpolate"] = Field(
        "step_to",
        description="step_to: every sample time ends a step (REBOUND's exact_finish_time); "
        "interpolate: natural steps, samples from the quintic Hermite interpolant (hermite4)",
    )
    batch_strategy: Literal["vmap", "sequential"] = Field(
        "vmap",
        description="a batch as one vmapped while-loop (runs until its slowest system is done) "
        "or its systems one after another inside one jitted call (lax.map; faster on CPU when "
        "the systems' step counts differ)",
    )
    resume_from: ExistingFile = Field(None, description="checkpoint file of an interrupted run")

    quick_overrides = {"t_end": 10.0, "n_outputs": 500, "n_chunks": 4}

    @field_validator("masses")
    @classmethod
    def _positive_masses(cls, masses: list[float] | None) -> list[float] | None:
        if masses is not None:
            if len(masses) < 2:
                raise ValueError(f"needs at least 2 bodies, got {len(masses)}")
            if not all(math.isfinite(m) and m > 0 for m in masses):
                raise ValueError("every mass must be finite and > 0")
        return masses

    @field_validator("positions", "velocities")
    @classmethod
    def _rectangular(cls, rows: list[list[float]] | None) -> list[list[float]] | None:
        if rows is not None:
            dims = {len(row) for row in rows}
            if len(dims) != 1 or dims.pop() not in (2, 3):
                raise ValueError("must be a list of N rows of 2 or 3 coordinates each")
            if not all(math.isfinite(x) for row in rows for x in row):
                raise ValueError("must be finite")
        return rows

    @model_validator(mode="after")
    def _consistent_system(self) -> NBodyConfig:
        given = {k for k in ("masses", "positions", "velocities") if getattr(self, k) is not None}
        if self.ic == "custom":
            missing = sorted({"masses", "positions", "velocities"} - given)
            if missing:
                raise ValueError(f"{missing[0]}: required when ic=custom")
            n = len(self.masses)
            if len(self.positions) != n:
                raise ValueError(
                    f"positions: needs one row per mass ({n}), got {len(self.positions)}"
                )
            if len(self.velocities) != n or len(self.velocities[0]) != len(self.positions[0]):
                raise ValueError(
                    f"velocities: must have the shape of positions ({n}, {len(self.positions[0])})"
                )
        else:
            extra = sorted(given - ({"masses"} if self.ic == "random_triple" else set()))
            if extra:
                raise ValueError(f"{extra[0]}: only used with ic=custom (ic is {self.ic!r})")
            if self.masses is not None and len(self.masses) != 3:
                raise ValueError(f"masses: ic=random_triple needs 3 masses, got {len(self.masses)}")
        if self.n_systems > 1 and self.ic != "random_triple":
            raise ValueError("n_systems: batches (n_systems > 1) need ic=random_triple")
        if self.sampling == "interpolate" and self.integrator != "hermite4":
            raise ValueError(
                "sampling: 'interpolate' needs the adaptive integrator hermite4 "
                f"(integrator is {self.integrator!r}); use 'step_to'"
            )
        if self.integrator != "hermite4" and self.dt > self.t_end:
            raise ValueError(f"dt: must not exceed t_end ({self.t_end})")
        return self


# ----------------------------------------------------------------------------------------------
# Pure orchestration (no Prefect, no MLflow): shared by the flow and the tests.


class ChunkedRun(NamedTuple):
    """Everything an interrupted run needs to continue: state, counters and sampled history."""

    state: nbody.NBodyState  # batched: positions (B, N, d), velocities (B, N, d), t (B,)
    stats: nbody.IntegrationStats  # batched, accumulated over the chunks done
    times: np.ndarray  # (S,) sample times so far, starting at 0
    energies: np.ndarray  # (B, S)
    angular_momenta: np.ndarray  # (B, S) or (B, S, 3)
    positions: np.ndarray  # (B, S, N, d)
    chunks_done: np.ndarray  # () int


def initial_system(config: NBodyConfig) -> tuple[jax.Array, nbody.NBodyState]:
    """Masses (B, N) and the batched initial state of the configured system(s)."""
    if config.ic == "random_triple":
        seeds = jnp.arange(config.seed, config.seed + config.n_systems)
        masses, state = nbody.random_triples(seeds)
        if config.masses is not None:
            masses = jnp.broadcast_to(jnp.asarray(config.masses, jnp.float64), masses.shape)
            state = jax.vmap(nbody.centre_of_mass_frame)(masses, state)
        return masses, state
    if config.ic == "custom":
        masses, state = nbody.custom(config.masses, config.positions, config.velocities)
    else:
        masses, state = getattr(nbody, config.ic)()
    return masses[None], jax.tree_util.tree_map(lambda x: x[None], state)


def output_times(config: NBodyConfig) -> np.ndarray:
    """Sample times (n_chunks, per_chunk); n_outputs is rounded up to a multiple of n_chunks."""
    per_chunk = math.ceil(config.n_outputs / config.n_chunks)
    times = np.linspace(0.0, config.t_end, per_chunk * config.n_chunks + 1)[1:]
    times[-1] = config.t_end
    return times.reshape(config.n_chunks, per_chunk)


@functools.lru_cache(maxsize=8)
def batched_trajectory(
    integrator: str,
    criterion: str,
    max_steps: int,
    strategy: str = "vmap",
    sampling: str = "step_to",
):
    """:func:`physics.nbody.trajectory` over a batch of systems, jitted; one compile per key.

    sampling "interpolate" uses :func:`physics.nbody.dense_trajectory` instead: the same natural
    steps as without samples, and samples interpolated inside them.

    strategy "vmap": one batched while-loop, whose every iteration advances all systems (masked
    once done), so the batch costs as many steps as its slowest system. "sequential": the systems
    one after another (``lax.map``) inside the same jitted call, each costing its own steps.
    """

    def one_system(masses, state, t_out, eta, dt, dt_min):
        # Dense output has no fixed-step schemes, hence no dt (the config refuses the pairing).
        sampled = (
            nbody.dense_trajectory
            if sampling == "interpolate"
            else functools.partial(nbody.trajectory, dt=dt)
        )
        return sampled(
            masses,
            state,
            t_out,
            integrator=integrator,
            eta=eta,
            criterion=criterion,
            dt_min=dt_min,
            max_steps=max_steps,
        )

    if strategy == "vmap":
        return jax.jit(jax.vmap(one_system, in_axes=(0, 0, None, None, None, None)))

    def one_after_another(masses, state, t_out, eta, dt, dt_min):
        return jax.lax.map(
            lambda system: one_system(*system, t_out, eta, dt, dt_min), (masses, state)
        )

    return jax.jit(one_after_another)


def start_run(masses: jax.Array, state: nbody.NBodyState) -> ChunkedRun:
    """The chunked run before its first chunk: samples at t = 0 only."""
    batch = masses.shape[0]
    stats = nbody.IntegrationStats(
        n_steps=jnp.zeros(batch, jnp.int64),
        n_force_evals=jnp.zeros(batch, jnp.int64),
        status=jnp.zeros(batch, jnp.int32),
        fail_time=jnp.full(batch, jnp.nan),
        fail_pair=jnp.full((batch, 2), -1, jnp.int32),
    )
    return ChunkedRun(
        state=state,
        stats=stats,
        times=np.zeros(1),
        energies=np.asarray(
            jax.vmap(nbody.total_energy)(masses, state.positions, state.velocities)
        )[:, None],
        angular_momenta=np.asarray(
            jax.vmap(nbody.angular_momentum)(masses, state.positions, state.velocities)
        )[:, None],
        positions=np.asarray(state.positions)[:, None],
        chunks_done=np.asarray(0),
    )


def merge_stats(total: nbody.IntegrationStats, chunk: nbody.IntegrationStats):
    """Counters add up; the first failure of each system is kept."""
    already_failed = total.status != nbody.STATUS_OK
    return nbody.IntegrationStats(
        n_steps=total.n_steps + chunk.n_steps,
        n_force_evals=total.n_force_evals + chunk.n_force_evals,
        status=jnp.where(already_failed, total.status, chunk.status),
        fail_time=jnp.where(already_failed, total.fail_time, chunk.fail_time),
        fail_pair=jnp.where(already_failed[:, None], total.fail_pair, chunk.fail_pair),
    )


def advance_chunk(config: NBodyConfig, masses: jax.Array, run: ChunkedRun) -> ChunkedRun:
    """Integrate the next chunk of output times and append its samples."""
    t_out = output_times(config)[int(run.chunks_done)]
    step = batched_trajectory(
        config.integrator,
        config.criterion,
        config.max_steps,
        config.batch_strategy,
        config.sampling,
    )
    states, energies, stats = step(
        masses, run.state, jnp.asarray(t_out), config.eta, config.dt, config.dt_min
    )
    final = jax.tree_util.tree_map(lambda x: x[:, -1], states)
    ang = jax.vmap(jax.vmap(nbody.angular_momentum, in_axes=(None, 0, 0)))(
        masses, states.positions, states.velocities
    )
    return ChunkedRun(
        state=final,
        stats=merge_stats(run.stats, stats),
        times=np.concatenate([run.times, t_out]),
        energies=np.concatenate([run.energies, np.asarray(energies)], axis=1),
        angular_momenta=np.concatenate([run.angular_momenta, np.asarray(ang)], axis=1),
        positions=np.concatenate([run.positions, np.asarray(states.positions)], axis=1),
        chunks_done=np.asarray(int(run.chunks_done) + 1),
    )


def run_checkpoint_meta(config: NBodyConfig, run: ChunkedRun) -> dict[str, Any]:
    return checkpoint_meta(FLOW_NAME, config, chunks_done=int(run.chunks_done))


def resume_run(config: NBodyConfig, template: ChunkedRun) -> ChunkedRun:
    """Load ``config.resume_from``; it must come from a run of the same configuration."""
    return resume_checkpoint(FLOW_NAME, config, template)[0]


def integrate_in_chunks(
    config: NBodyConfig,
    masses: jax.Array,
    run: ChunkedRun,
    on_chunk=lambda run, seconds: None,
) -> tuple[ChunkedRun, float]:
    """Advance ``run`` chunk by chunk until done or a system fails; returns (run, seconds spent).

    ``on_chunk(run, seconds)`` is called after every chunk (checkpointing and progress).
    """
    seconds = 0.0
    while int(run.chunks_done) < config.n_chunks:
        start = time.perf_counter()
        run = advance_chunk(config, masses, run)
        jax.block_until_ready(run.state)
        seconds += time.perf_counter() - start
        on_chunk(run, seconds)
        if bool(jnp.any(run.stats.status != nbody.STATUS_OK)):
            break
    return run, seconds


def failure_message(run: ChunkedRun) -> str | None:
    """Why, when and where the first failing system stopped; None when all are fine."""
    status = np.asarray(run.stats.status)
    failed = np.flatnonzero(status != nbody.STATUS_OK)
    if failed.size == 0:
        return None
    index = int(failed[0])
    i, j = (int(b) for b in np.asarray(run.stats.fail_pair)[index])
    where = f"system {index}" if status.size > 1 else "the system"
    others = f" ({failed.size} of {status.size} systems failed)" if status.size > 1 else ""
    return (
        f"integration stopped: {STATUS_NAMES[int(status[index])]} at t = "
        f"{float(np.asarray(run.stats.fail_time)[index]):.9g} in {where}, close encounter of "
        f"bodies {i} and {j}{others}"
    )


def energy_errors(run: ChunkedRun) -> np.ndarray:
    """|ΔE/E₀| of every system at every sample, (B, S)."""
    return np.abs((run.energies - run.energies[:, :1]) / run.energies[:, :1])


def angular_momentum_scale(masses: np.ndarray, run: ChunkedRun) -> np.ndarray:
    """max(|L₀|, M^{3/2} r_max^{1/2}) per system: |ΔL| is relative to this (L₀ may be 0)."""
    total = np.asarray(masses).sum(axis=1)
    r_max = np.linalg.norm(run.positions[:, 0], axis=-1).max(axis=1)
    l0 = np.linalg.norm(run.angular_momenta[:, 0].reshape(len(total), -1), axis=1)
    return np.maximum(l0, total**1.5 * np.sqrt(r_max))


def run_metrics(
    masses: np.ndarray, run: ChunkedRun, seconds: float, compile_seconds: float
) -> dict[str, float]:
    """The flow's metrics; batch statistics over systems of the final (last sampled) errors."""
    errors = energy_errors(run)
    final_error = errors[:, -1]
    ang = run.angular_momenta.reshape(*run.angular_momenta.shape[:2], -1)
    ang_error = np.abs(ang - ang[:, :1]).max(axis=(1, 2))
    ang_scale = angular_momentum_scale(masses, run)
    steps = np.asarray(run.stats.n_steps)
    evals = np.asarray(run.stats.n_force_evals)
    return {
        "energy_error": float(np.median(final_error)),
        "energy_error_max": float(np.max(final_error)),
        "energy_error_p90": float(np.percentile(final_error, 90)),
        "energy_error_max_over_time": float(np.max(errors)),
        "angular_momentum_error": float(np.max(ang_error / ang_scale)),
        "angular_momentum_abs_error": float(np.max(ang_error)),
        "n_steps": float(steps.sum()),
        "n_force_evals": float(evals.sum()),
        "n_force_evals_median": float(np.median(evals)),
        "n_systems": float(len(steps)),
        "n_failed": float(np.sum(np.asarray(run.stats.status) != nbody.STATUS_OK)),
        "t_final": float(np.min(np.asarray(run.state.t))),
        "wall_time_s": seconds,
        "compile_time_s": compile_seconds,
    }


def final_state_record(masses: jax.Array, run: ChunkedRun) -> dict[str, Any]:
    """The ``final_state`` artifact: plain values for one system, lists per system for a batch."""
    record = {
        "t": np.asarray(run.state.t).tolist(),
        "masses": np.asarray(masses).tolist(),
        "positions": np.asarray(run.state.positions).tolist(),
        "velocities": np.asarray(run.state.velocities).tolist(),
    }
    if len(record["t"]) == 1:
        record = {key: value[0] for key, value in record.items()}
    record["status"] = [STATUS_NAMES[int(s)] for s in np.asarray(run.stats.status)]
    return record


def compile_seconds(config: NBodyConfig, masses: jax.Array, state: nbody.NBodyState) -> float:
    """Compile the chunk kernel ahead of time, so ``wall_time_s`` measures integration only."""
    start = time.perf_counter()
    step = batched_trajectory(
        config.integrator,
        config.criterion,
        config.max_steps,
        config.batch_strategy,
        config.sampling,
    )
    t_out = jnp.asarray(output_times(config)[0])
    step.lower(masses, state, t_out, config.eta, config.dt, config.dt_min).compile()
    return time.perf_counter() - start


# ----------------------------------------------------------------------------------------------
# Prefect tasks and flow.


@task(name="nbody-initial-conditions", cache_policy=NONE)
def build_system_task(config: NBodyConfig) -> tuple[np.ndarray, nbody.NBodyState]:
    masses, state = initial_system(config)
    return np.asarray(masses), jax.tree_util.tree_map(np.asarray, state)


@task(name="nbody-integrate", cache_policy=NONE)
def integrate_task(
    config: NBodyConfig, masses: np.ndarray, state: nbody.NBodyState, output_dir: Path
) -> tuple[ChunkedRun, dict[str, float], Path]:
    masses = jnp.asarray(masses)
    state = jax.tree_util.tree_map(jnp.asarray, state)
    run = start_run(masses, state)
    if config.resume_from:
        run = resume_run(config, run)
    compile_s = compile_seconds(config, masses, run.state)
    checkpoint = output_dir / "checkpoint.msgpack"
    progress = Progress(
        f"{FLOW_NAME} [{config.integrator}, {len(masses)} system(s)]", config.n_chunks
    )
    progress.update(int(run.chunks_done))

    def on_chunk(current: ChunkedRun, _seconds: float) -> None:
        save_checkpoint(checkpoint, current, run_checkpoint_meta(config, current))
        errors = energy_errors(current)[:, -1]
        progress.update(
            int(current.chunks_done),
            f"t={float(np.min(np.asarray(current.state.t))):.4g} "
            f"|dE/E0| median={np.median(errors):.2e} "
            f"steps={int(np.asarray(current.stats.n_steps).sum())}",
        )

    run, seconds = integrate_in_chunks(config, masses, run, on_chunk)
    return run, run_metrics(np.asarray(masses), run, seconds, compile_s), checkpoint


@task(name="nbody-artifacts", cache_policy=NONE)
def write_artifacts_task(
    config: NBodyConfig, masses: np.ndarray, run: ChunkedRun, output_dir: Path
) -> dict[str, Path]:
    final_state = output_dir / "final_state.json"
    final_state.write_text(json.dumps(final_state_record(masses, run), indent=1))
    label = f"{config.ic}, {config.integrator}"
    orbits = orbit_plot(
        np.asarray(run.positions),
        np.asarray(masses),
        f"Orbits: {label}, t = 0 … {run.times[-1]:.4g}",
        output_dir / "orbits.png",
    )
    energy = energy_error_plot(
        run.times, energy_errors(run), f"Energy error: {label}", output_dir / "energy_error.png"
    )
    return {"final_state": final_state, "orbits": orbits, "energy_error": energy}


def log_series(logger: RunLogger, run: ChunkedRun) -> None:
    """Time series for MLflow's charts: median |ΔE/E₀| and simulated time per sample index."""
    steps = range(len(run.times))
    logger.log_series("energy_error_t", np.median(energy_errors(run), axis=0), steps)
    logger.log_series("t", run.times, steps)


def nbody_body(config: NBodyConfig, logger: RunLogger, output_dir: Path) -> FlowOutcome:
    masses, state = build_system_task(config)
    run, metrics, checkpoint = integrate_task(config, masses, state, output_dir)
    artifacts = write_artifacts_task(config, masses, run, output_dir)
    artifacts["checkpoint"] = checkpoint
    log_series(logger, run)
    outcome = FlowOutcome(metrics=metrics, artifacts=artifacts)
    message = failure_message(run)
    if message:
        raise RunFailed(f"{message}; checkpoint kept at {checkpoint}", outcome)
    return outcome


@flow(name=FLOW_NAME, description=DESCRIPTION)
def nbody_flow(config: dict | None = None, output_dir: str | None = None) -> dict:
    """Integrate the configured N-body system(s); log the run to MLflow (experiment ``nbody``)."""
    return execute(FLOW_NAME, validate_config(NBodyConfig, config or {}), nbody_body, output_dir)

"""What the closure flows share: the physical-parameter config block, kinetic training data
generated over an (α, ζ, seed) grid with provenance, and closure plots.

Kinetic runs go through the same orchestration as ``active-fluid-kinetic``
(:func:`flows.active_fluid.kinetic_simulator`, :func:`~flows.active_fluid.simulate_in_chunks`,
:func:`~flows.active_fluid.assemble_dataset`), so a generated dataset is the same npz with the
same JSON provenance (plus the parent run that generated it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import Field, field_validator

from closures.kinetic.dataset import RunFields, RunInfo
from flows.active_fluid import (
    KineticConfig,
    assemble_dataset,
    effective_dt,
    kinetic_simulator,
    simulate_in_chunks,
    start_simulation,
    steps_per_output,
)
from flows.closure_store import load_kinetic_dataset
from flows.config import FlowConfig
from flows.runtime import RunFailed
from flows.tracking import git_commit


class PhysicsBlock(FlowConfig):
    """Physical parameters other than α, ζ (published defaults) shared by closure flows."""

    beta: float = Field(0.8, ge=0, description="constraint stress coefficient")
    d_t: float = Field(0.05, gt=0, description="translational diffusivity")
    d_r: float = Field(0.05, gt=0, description="rotational diffusivity")
    L: float = Field(10.0, gt=0, description="side of the periodic box")

    @field_validator("beta", "d_t", "d_r", "L")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return value


class KineticRun(NamedTuple):
    """A kinetic run: parameters/provenance, snapshots, dataset file, warm ms per step, the
    number of steps and the wall time (s) of the whole run."""

    info: RunInfo
    fields: RunFields
    path: Path
    ms_per_step: float
    n_steps: int
    seconds: float


def kinetic_config(physics: PhysicsBlock, **values: Any) -> KineticConfig:
    """A validated :class:`~flows.active_fluid.KineticConfig` (ValueError if invalid)."""
    from flows.config import validate_config

    return validate_config(KineticConfig, {**physics.model_dump(), **values})


def run_kinetic(
    config: KineticConfig,
    folder: Path,
    provenance: dict[str, Any],
    on_chunk: Callable[[int, int], None] = lambda done, total: None,
) -> KineticRun:
    """Simulate the kinetic theory, write ``folder/dataset.npz`` and read it back.

    A blow-up raises :class:`RunFailed` naming the parameters, time and place.
    """
    simulator = kinetic_simulator(config)
    times: list[float] = []
    clock = [time.perf_counter()]

    def chunk_done(run) -> None:
        now = time.perf_counter()
        times.append(now - clock[0])
        clock[0] = now
        on_chunk(run.chunks_done, config.n_chunks)

    start = time.perf_counter()
    run = simulate_in_chunks(config, simulator, start_simulation(simulator.init()),
                             folder / "snapshots", chunk_done)  # fmt: skip
    seconds = time.perf_counter() - start
    if run.failure:
        raise RunFailed(f"kinetic run α={config.alpha:g}, ζ={config.zeta:g}, seed={config.seed}: "
                        f"{run.failure}")  # fmt: skip
    every = steps_per_output(config)
    per_chunk = config.n_outputs // config.n_chunks * every
    warm = times[1:] or times
    record = {
        **provenance, "git_commit": git_commit(), "config": config.model_dump(mode="json"),
        "dt_effective": effective_dt(config), "steps_per_output": every,
        "fields": "t (T,), c (T,n,n), D/E/S_D/S_E (T,n,n,2,2), u (T,n,n,2); float64",
    }  # fmt: skip
    path = assemble_dataset(run, folder / "dataset.npz", record)
    info, fields = load_kinetic_dataset(str(path))
    return KineticRun(info, fields, path, 1e3 * sum(warm) / (per_chunk * len(warm)),
                      config.n_chunks * per_chunk, seconds)  # fmt: skip


def grid_label(alpha: float, zeta: float, seed: int) -> str:
    return f"alpha={alpha:g}_zeta={zeta:g}_seed={seed}"


def parameter_pairs(alphas: Sequence[float], zetas: Sequence[float]) -> list[tuple[float, float]]:
    return [(float(a), float(z)) for a in alphas for z in zetas]

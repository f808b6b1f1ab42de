"""What every flow shares: output folders, the tracked run, the result record, failures.

A flow body is ``body(config, run, output_dir) -> FlowOutcome``. :func:`execute` opens the MLflow
run, calls the body, logs its metrics and artifacts and returns the result record that the CLI
prints with ``--json``. A body that fails after computing something raises :class:`RunFailed` with
what it kept: that partial outcome is logged too and the run is marked FAILED.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows.checkpoint import load_checkpoint, read_checkpoint_meta
from flows.config import FlowConfig
from flows.tracking import RunLogger, tracked_run

DEFAULT_OUTPUT_ROOT = Path("outputs")


@dataclass
class FlowOutcome:
    """Scalar metrics and named artifact files of a run (complete or partial)."""

    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, Path] = field(default_factory=dict)


class RunFailed(RuntimeError):
    """A run that started and then failed (e.g. a simulation diverged).

    The message says why, when and where; ``outcome`` holds what was kept. :func:`execute` fills
    in ``result`` (the failed run's record, with its MLflow run id) before re-raising.
    """

    def __init__(self, message: str, outcome: FlowOutcome | None = None):
        super().__init__(message)
        self.outcome = outcome or FlowOutcome()
        self.result: dict[str, Any] | None = None


FlowBody = Callable[[FlowConfig, RunLogger, Path], FlowOutcome]


def default_output_dir(flow_name: str, run_id: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return DEFAULT_OUTPUT_ROOT / flow_name / f"{stamp}-{run_id[:8]}"


def result_record(
    flow_name: str, status: str, run: RunLogger, outcome: FlowOutcome, output_dir: Path
) -> dict[str, Any]:
    """The JSON object of the CLI contract (``--json``)."""
    return {
        "flow": flow_name,
        "status": status,
        "mlflow_run_id": run.run_id,
        "experiment": run.experiment,
        "metrics": {key: _json_number(value) for key, value in outcome.metrics.items()},
        "artifacts": {name: str(path) for name, path in outcome.artifacts.items()},
        "output_dir": str(output_dir),
    }


def _json_number(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def record_outcome(run: RunLogger, outcome: FlowOutcome, record: dict[str, Any]) -> None:
    """Log metrics and artifacts to MLflow and write ``summary.json`` beside the artifacts."""
    run.log_metrics(outcome.metrics)
    summary = Path(record["output_dir"]) / "summary.json"
    summary.write_text(json.dumps(record, indent=2))
    for path in [*outcome.artifacts.values(), summary]:
        if Path(path).is_file():
            run.log_artifact(path)


def execute(
    flow_name: str, config: FlowConfig, body: FlowBody, output_dir: str | Path | None = None
) -> dict[str, Any]:
    """Run ``body`` inside a tracked MLflow run of experiment ``flow_name``; return the record."""
    params = config.model_dump(mode="json")
    with tracked_run(flow_name, run_name=_run_name(flow_name), params=params) as run:
        out = Path(output_dir) if output_dir else default_output_dir(flow_name, run.run_id)
        out.mkdir(parents=True, exist_ok=True)
        run.set_tags({"closureflow.flow": flow_name, "closureflow.output_dir": str(out.resolve())})
        try:
            outcome = body(config, run, out)
        except RunFailed as failure:
            failure.outcome.artifacts.setdefault("summary", out / "summary.json")
            failure.result = result_record(flow_name, "failed", run, failure.outcome, out)
            failure.result["error"] = str(failure)
            run.set_tags({"closureflow.error": str(failure)[:5000]})
            record_outcome(run, failure.outcome, failure.result)
            raise
        outcome.artifacts.setdefault("summary", out / "summary.json")
        record = result_record(flow_name, "completed", run, outcome, out)
        record_outcome(run, outcome, record)
    return record


def _run_name(flow_name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", flow_name.lower()) + time.strftime("-%Y%m%d-%H%M%S")


def checkpoint_meta(flow_name: str, config: FlowConfig, **progress: Any) -> dict[str, Any]:
    """What a flow's checkpoint records beside its state: flow, config (less ``resume_from``)
    and progress counters (chunks done, …), so a resumed run can prove it continues the same
    computation."""
    return {
        "flow": flow_name,
        "config": config.model_dump(mode="json", exclude={"resume_from"}),
        **progress,
    }


def resume_checkpoint(flow_name: str, config: FlowConfig, template: Any) -> tuple[Any, dict]:
    """Load ``config.resume_from`` into ``template``'s structure, refusing (RunFailed) a
    checkpoint written by another flow or another configuration; returns (state, meta)."""
    path = config.resume_from
    meta = read_checkpoint_meta(path)
    expected = config.model_dump(mode="json", exclude={"resume_from"})
    if meta.get("flow") != flow_name or meta.get("config") != expected:
        saved = meta.get("config", {})
        differing = sorted(key for key in expected if saved.get(key) != expected[key])
        raise RunFailed(
            f"resume_from: checkpoint {path!r} belongs to a different configuration "
            f"(differs in: {', '.join(differing) or 'flow'})"
        )
    state, _ = load_checkpoint(path, template)
    return state, meta

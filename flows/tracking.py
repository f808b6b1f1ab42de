"""MLflow logging shared by every flow.

One experiment per flow (named after the flow), flattened params, batched metrics, provenance tags
and artifacts. Everything goes through an explicit ``MlflowClient`` and run id rather than MLflow's
thread-local "active run", so Prefect tasks running in worker threads log to the right run.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, Run, RunStatus, RunTag

from flows.config import flatten_params

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
MAX_PARAM_LENGTH = 6000
MAX_BATCH = 1000  # MLflow's limit on metrics per log_batch call


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else a SQLite store in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def tracking_client() -> MlflowClient:
    """A client on :func:`tracking_uri` (also made the process default for MLflow's helpers)."""
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri)


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The id of experiment ``name``, created once (before any fan-out) if missing."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id
    return client.create_experiment(name)


def package_version() -> str:
    try:
        return metadata.version("closureflow")
    except metadata.PackageNotFoundError:
        return "unknown"


def git_commit() -> str | None:
    """The commit of the checkout this package runs from, if it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def provenance_tags() -> dict[str, str]:
    """Package version, git commit, JAX backend/devices and floating-point precision."""
    import jax

    from physics.precision import precision_name

    tags = {
        "closureflow.version": package_version(),
        "jax.version": jax.__version__,
        "jax.backend": jax.default_backend(),
        "jax.devices": ", ".join(str(device) for device in jax.devices()),
        "precision": precision_name(),
    }
    commit = git_commit()
    if commit:
        tags["git.commit"] = commit
    return tags


def param_value(value: Any) -> str:
    """A param as MLflow stores it: JSON for containers, truncated to MLflow's length limit."""
    text = json.dumps(value) if isinstance(value, list | tuple | dict) else str(value)
    if len(text) > MAX_PARAM_LENGTH:
        text = text[: MAX_PARAM_LENGTH - 3] + "..."
    return text


@dataclass(frozen=True)
class RunLogger:
    """Logs to one MLflow run by id; safe to use from any thread."""

    client: MlflowClient
    run_id: str
    experiment: str

    def log_params(self, params: Mapping[str, Any]) -> None:
        flat = flatten_params(params)
        batch = [Param(key, param_value(value)) for key, value in flat.items()]
        for start in range(0, len(batch), 100):
            self.client.log_batch(self.run_id, params=batch[start : start + 100])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        """Log scalar metrics in one batch; non-finite values are logged as they are."""
        now = int(time.time() * 1000)
        batch = [Metric(key, float(value), now, step) for key, value in metrics.items()]
        self._log_metric_batch(batch)

    def log_series(self, name: str, values: Sequence[float], steps: Sequence[int]) -> None:
        """Log a time series of one metric (``steps`` are MLflow's integer steps)."""
        now = int(time.time() * 1000)
        batch = [
            Metric(name, float(value), now, int(step))
            for value, step in zip(values, steps, strict=True)
            if math.isfinite(float(value))
        ]
        self._log_metric_batch(batch)

    def _log_metric_batch(self, batch: list[Metric]) -> None:
        for start in range(0, len(batch), MAX_BATCH):
            self.client.log_batch(self.run_id, metrics=batch[start : start + MAX_BATCH])

    def log_artifact(self, path: str | Path, subdir: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path=subdir)

    def finish(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=status)


def adopted_run(client: MlflowClient) -> Run | None:
    """The run named by ``MLFLOW_RUN_ID`` (set by ``mlflow run`` for MLflow Projects), if any.

    ``mlflow run`` creates the run before calling our CLI; logging into it keeps one run per
    launch instead of an empty project run beside a closureflow run.
    """
    run_id = os.environ.get("MLFLOW_RUN_ID")
    return client.get_run(run_id) if run_id else None


@contextmanager
def tracked_run(
    experiment: str,
    run_name: str,
    params: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
) -> Iterator[RunLogger]:
    """Open an MLflow run; it ends FINISHED, or FAILED (and the error re-raised) on any exception.

    Whatever the body logged before failing stays in the run.
    """
    client = tracking_client()
    run = adopted_run(client)
    if run is None:
        experiment_id = ensure_experiment(client, experiment)
        run = client.create_run(experiment_id, run_name=run_name)
    else:
        experiment = client.get_experiment(run.info.experiment_id).name
    logger = RunLogger(client, run.info.run_id, experiment)
    if tags:
        logger.set_tags(tags)
    try:
        logger.set_tags(provenance_tags())
        logger.log_params(params)
        yield logger
    except BaseException:
        logger.finish(RunStatus.to_string(RunStatus.FAILED))
        raise
    logger.finish(RunStatus.to_string(RunStatus.FINISHED))

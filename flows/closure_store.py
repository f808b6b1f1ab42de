"""Files and MLflow for kinetic closures: saving and loading learned closures, resolving a
``closure`` config value, and loading kinetic datasets by path or MLflow run id.

A saved learned closure is a folder with ``params.msgpack`` (flax msgpack, no pickle) and
``config.json`` (``{"closure": ClosureConfig, "mlflow_run_id", "provenance", ...}``); in MLflow
it is the ``closure/`` artifact folder of a ``closure-train`` (or ``closure-pipeline``) run.
A ``closure`` config value is ``bingham`` | ``quadratic`` | ``learned`` (the closure shipped in
the package, :data:`DEFAULT_CLOSURE_DIR`) | a path to such a folder (or its params.msgpack) | an
MLflow run id.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from closures.kinetic import CLOSURES
from closures.kinetic.dataset import RunFields, RunInfo
from closures.kinetic.network import ClosureConfig, params_from_bytes, params_to_bytes
from closures.kinetic.training import make_closure

DEFAULT_CLOSURE_DIR = Path(__file__).resolve().parent.parent / "closures/kinetic/trained/default"
"""The learned closure shipped with the package (see its config.json for the run that made it)."""
LEARNED = "learned"
PARAMS_FILE, CONFIG_FILE = "params.msgpack", "config.json"
CLOSURE_ARTIFACT_DIR = "closure"
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
CLOSURE_CHOICES = (
    "'bingham', 'quadratic', 'learned' (the shipped closure), a folder or params.msgpack of a "
    "saved closure, or an MLflow run id of a closure-train run"
)


class ResolvedClosure(NamedTuple):
    """A closure ready for the solver: the callable, its params and a short label."""

    closure: Any
    params: Any
    label: str


def is_run_id(value: str) -> bool:
    return bool(_RUN_ID.match(value))


def check_closure_reference(value: str) -> str:
    """The config-time check of a ``closure`` value (no loading); ValueError naming the
    choices otherwise."""
    if value in CLOSURES or value == LEARNED or is_run_id(value):
        return value
    path = Path(value)
    if path.is_dir() and (path / PARAMS_FILE).is_file() or path.is_file():
        return value
    raise ValueError(f"Input should be {CLOSURE_CHOICES}")


def save_closure(folder: str | Path, closure: Any, params: Any, meta: dict[str, Any]) -> Path:
    """Write params.msgpack and config.json (the ClosureConfig and ``meta``) to ``folder``."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    (target / PARAMS_FILE).write_bytes(params_to_bytes(params))
    payload = {"closure": closure.config.to_json(), **meta}
    (target / CONFIG_FILE).write_text(json.dumps(payload, indent=2))
    return target


def load_closure_folder(folder: str | Path) -> tuple[Any, Any, dict[str, Any]]:
    """(closure, params, config.json contents) of a saved closure folder."""
    path = Path(folder)
    if path.is_file():
        path = path.parent
    meta = json.loads((path / CONFIG_FILE).read_text())
    closure = make_closure(ClosureConfig.from_json(meta["closure"]))
    return closure, params_from_bytes(closure, (path / PARAMS_FILE).read_bytes()), meta


def download_run_artifacts(run_id: str, artifact_path: str) -> Path:
    """Local copy of an MLflow run's artifact (file or folder)."""
    from flows.tracking import tracking_client

    client = tracking_client()
    try:
        client.get_run(run_id)
    except Exception as err:  # MlflowException for unknown ids, whatever the store
        raise FileNotFoundError(f"MLflow run {run_id!r} not found: {err}") from None
    return Path(client.download_artifacts(run_id, artifact_path))


@lru_cache(maxsize=16)
def resolve_closure(reference: str) -> ResolvedClosure:
    """The closure a config value names (see the module docstring). Learned closures from
    MLflow are downloaded; a missing one raises FileNotFoundError."""
    if reference in CLOSURES:
        return ResolvedClosure(CLOSURES[reference], (), reference)
    if reference == LEARNED:
        closure, params, _ = load_closure_folder(DEFAULT_CLOSURE_DIR)
        return ResolvedClosure(closure, params, "learned")
    if is_run_id(reference):
        folder = download_run_artifacts(reference, CLOSURE_ARTIFACT_DIR)
        closure, params, _ = load_closure_folder(folder)
        return ResolvedClosure(closure, params, f"learned:{reference[:8]}")
    closure, params, _ = load_closure_folder(reference)
    return ResolvedClosure(closure, params, f"learned:{Path(reference).name}")


def load_kinetic_dataset(reference: str) -> tuple[RunInfo, RunFields]:
    """A kinetic run's snapshots and parameters from a ``dataset.npz`` (or a folder holding
    one) or the MLflow run id of an ``active-fluid-kinetic`` run."""
    if is_run_id(reference):
        path = download_run_artifacts(reference, "dataset.npz")
    else:
        path = Path(reference)
        if path.is_dir():
            path = path / "dataset.npz"
    if not path.is_file():
        raise FileNotFoundError(f"kinetic dataset {reference!r}: no file {str(path)!r}")
    with np.load(path) as data:
        provenance = json.loads(str(data["provenance"])) if "provenance" in data else {}
        fields = RunFields.from_mapping(data)
    return RunInfo.from_provenance(str(reference), provenance), fields


def check_dataset_reference(value: str) -> str:
    """Config-time check of a kinetic dataset reference (path or run id)."""
    path = Path(value)
    if is_run_id(value) or path.is_file() or (path / "dataset.npz").is_file():
        return value
    raise ValueError(
        "must be a dataset.npz of an active-fluid-kinetic run, its folder, or its MLflow run id"
    )

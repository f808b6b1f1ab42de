"""``closureflow serve``: Prefect deployments of the flows, served with their schedules.

Schedules only fire on a real Prefect server (``prefect server start``), never on the embedded
temporary one, so serving requires ``PREFECT_API_URL``. Deployments come from a YAML file::

    - name: nbody-nightly      # deployment name
      flow: nbody              # a flow from `closureflow list`
      cron: "0 3 * * *"        # or interval: 3600 (seconds); neither = run on demand only
      quick: false
      set: ["integrator=yoshida4"]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flows.config import ConfigError, build_config
from flows.registry import get_flow

DEFAULT_DEPLOYMENTS = Path(__file__).with_name("deployments.yaml")


class DeploymentEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    flow: str
    cron: str | None = None
    interval: float | None = Field(None, gt=0)
    quick: bool = False
    set: list[str] = []
    description: str | None = None


def read_entries(path: str | Path) -> list[DeploymentEntry]:
    data = yaml.safe_load(Path(path).read_text()) or []
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a list of deployments")
    entries = []
    for index, item in enumerate(data):
        try:
            entries.append(DeploymentEntry.model_validate(item))
        except ValidationError as err:
            problem = err.errors()[0]
            key = ".".join(str(p) for p in problem["loc"])
            raise ConfigError(f"{path}: deployment {index}: {key}: {problem['msg']}") from None
    return entries


def build_deployments(entries: list[DeploymentEntry]) -> list[Any]:
    """RunnerDeployments with validated configs as parameters (invalid ones raise ConfigError)."""
    deployments = []
    for entry in entries:
        spec = get_flow(entry.flow)
        config = build_config(spec.config_schema, {}, entry.set, entry.quick)
        deployments.append(
            spec.flow.to_deployment(
                name=entry.name,
                cron=entry.cron,
                interval=entry.interval,
                parameters={"config": config.model_dump(mode="json")},
                description=entry.description or spec.description,
                tags=["closureflow", spec.name],
            )
        )
    return deployments


def require_prefect_server() -> str:
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        from prefect.settings import PREFECT_API_URL

        url = PREFECT_API_URL.value()
    if not url:
        raise ConfigError(
            "closureflow serve needs a Prefect server (schedules do not fire on the embedded one):"
            " run `prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    return url


def serve_deployments(path: str | Path | None = None) -> None:
    """Validate the deployments, then serve them until interrupted."""
    from prefect import serve

    require_prefect_server()
    deployments = build_deployments(read_entries(path or DEFAULT_DEPLOYMENTS))
    serve(*deployments)

"""The flows the CLI knows: name, one-line description, config schema and Prefect flow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import Flow

from flows import nbody
from flows.config import ConfigError, FlowConfig


@dataclass(frozen=True)
class FlowSpec:
    name: str
    description: str
    config_schema: type[FlowConfig]
    flow: Flow[..., dict[str, Any]]


FLOWS: dict[str, FlowSpec] = {
    spec.name: spec
    for spec in [
        FlowSpec(nbody.FLOW_NAME, nbody.DESCRIPTION, nbody.NBodyConfig, nbody.nbody_flow),
    ]
}


def get_flow(name: str) -> FlowSpec:
    """The flow called ``name``, or a :class:`ConfigError` listing the known flows."""
    try:
        return FLOWS[name]
    except KeyError:
        raise ConfigError(f"unknown flow {name!r}; available: {', '.join(FLOWS)}") from None

"""The flows the CLI knows: name, one-line description, config schema and Prefect flow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import Flow

from flows import (
    active_fluid,
    closure_estimate,
    closure_evaluate,
    closure_pipeline,
    closure_train,
    nbody,
    rl_eval,
    rl_train,
)
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
        FlowSpec(
            rl_train.FLOW_NAME, rl_train.DESCRIPTION, rl_train.RLTrainConfig, rl_train.rl_train_flow
        ),
        FlowSpec(
            rl_eval.FLOW_NAME, rl_eval.DESCRIPTION, rl_eval.RLEvalConfig, rl_eval.rl_eval_flow
        ),
        FlowSpec(
            active_fluid.KINETIC_FLOW,
            active_fluid.KINETIC_DESCRIPTION,
            active_fluid.KineticConfig,
            active_fluid.active_fluid_kinetic_flow,
        ),
        FlowSpec(
            active_fluid.MOMENT_FLOW,
            active_fluid.MOMENT_DESCRIPTION,
            active_fluid.MomentConfig,
            active_fluid.active_fluid_moment_flow,
        ),
        FlowSpec(
            active_fluid.STABILITY_FLOW,
            active_fluid.STABILITY_DESCRIPTION,
            active_fluid.StabilityConfig,
            active_fluid.active_fluid_stability_flow,
        ),
        FlowSpec(
            closure_train.FLOW_NAME,
            closure_train.DESCRIPTION,
            closure_train.ClosureTrainConfig,
            closure_train.closure_train_flow,
        ),
        FlowSpec(
            closure_evaluate.FLOW_NAME,
            closure_evaluate.DESCRIPTION,
            closure_evaluate.ClosureEvaluateConfig,
            closure_evaluate.closure_evaluate_flow,
        ),
        FlowSpec(
            closure_estimate.FLOW_NAME,
            closure_estimate.DESCRIPTION,
            closure_estimate.ClosureEstimateConfig,
            closure_estimate.closure_estimate_flow,
        ),
        FlowSpec(
            closure_pipeline.FLOW_NAME,
            closure_pipeline.DESCRIPTION,
            closure_pipeline.ClosurePipelineConfig,
            closure_pipeline.closure_pipeline_flow,
        ),
    ]
}


def get_flow(name: str) -> FlowSpec:
    """The flow called ``name``, or a :class:`ConfigError` listing the known flows."""
    try:
        return FLOWS[name]
    except KeyError:
        raise ConfigError(f"unknown flow {name!r}; available: {', '.join(FLOWS)}") from None

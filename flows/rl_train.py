"""The ``rl-timestep-train`` flow: train a DQN time-step controller for three-body integrations.

Calls :func:`rl_timestep.train.train` (the whole loop jitted, vectorised environments), shows
progress on stderr, logs the learning curves as MLflow series, and writes the selected policy as
``policy/params.msgpack`` + ``policy/config.json`` (logged as the ``policy`` artifact folder; the
JSON names this MLflow run), the learning-curve plot and the per-chunk history.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Literal

import numpy as np
from prefect import flow, task
from prefect.cache_policies import NONE
from pydantic import Field, field_validator, model_validator

from flows.config import FlowConfig, validate_config
from flows.plots import save_figure
from flows.progress import Progress
from flows.runtime import FlowOutcome, execute
from flows.tracking import RunLogger
from rl_timestep.env import PUBLISHED_ETAS, SEED_HIGH, TRAIN_SEED_LOW
from rl_timestep.features import n_features
from rl_timestep.policy import save_policy
from rl_timestep.train import TrainConfig, TrainResult, selection_rule, train

FLOW_NAME = "rl-timestep-train"
DESCRIPTION = "Train a DQN controller of the Hermite time-step parameter on random triples"
DEFAULTS = TrainConfig()
CURVES = (
    "episode_return",
    "episode_log_energy_error",
    "episode_force_evals",
    "failure_rate",
    "loss",
    "epsilon",
    "force_evals_per_step",
    "val_return",
    "val_front_ratio",
    "val_dominance",
    "val_paired_dominance",
    "val_energy_error_median",
    "val_energy_error_p90",
    "val_force_evals_median",
)


class RLTrainConfig(FlowConfig):
    """Configuration of ``rl-timestep-train`` (units G = M☉ = au = 1)."""

    seed: int = Field(DEFAULTS.seed, ge=0, description="PRNG seed of the whole run")
    integrator: Literal["hermite4", "yoshida4_adaptive"] = DEFAULTS.integrator
    observation: Literal["invariant", "published", "tradeoff"] = DEFAULTS.observation
    n_envs: int = Field(DEFAULTS.n_envs, ge=1, description="environments stepped per iteration")
    iterations: int = Field(DEFAULTS.iterations, ge=1, description="control steps per environment")
    n_chunks: int = Field(DEFAULTS.n_chunks, ge=1, description="jitted chunks (log + validate)")
    hidden: list[int] = Field(list(DEFAULTS.hidden), description="Q-network hidden widths")
    learning_rate: float = Field(DEFAULTS.learning_rate, gt=0)
    weight_decay: float = Field(DEFAULTS.weight_decay, ge=0)
    max_grad_norm: float = Field(DEFAULTS.max_grad_norm, gt=0)
    batch_size: int = Field(DEFAULTS.batch_size, ge=1)
    gamma: float = Field(DEFAULTS.gamma, ge=0, lt=1, description="discount per control step")
    tau: float = Field(DEFAULTS.tau, gt=0, le=1, description="soft target-network update rate")
    buffer_size: int = Field(DEFAULTS.buffer_size, ge=1)
    updates_per_iteration: int = Field(DEFAULTS.updates_per_iteration, ge=1)
    learning_starts: int = Field(DEFAULTS.learning_starts, ge=1, description="buffered first")
    eps_start: float = Field(DEFAULTS.eps_start, ge=0, le=1)
    eps_end: float = Field(DEFAULTS.eps_end, ge=0, le=1)
    eps_decay_fraction: float = Field(DEFAULTS.eps_decay_fraction, gt=0, le=1)
    uniform_exploration: float = Field(
        DEFAULTS.uniform_exploration,
        ge=0,
        le=1,
        description="share of exploratory actions drawn uniformly; the rest are η's neighbours",
    )
    double_dqn: bool = DEFAULTS.double_dqn
    env_chunk: int = Field(DEFAULTS.env_chunk, ge=1, description="environments vmapped together")
    etas: list[float] = Field(list(PUBLISHED_ETAS), description="η of each action")
    interval: float = Field(DEFAULTS.interval, gt=0, description="time per control step")
    clip_to_interval: bool = Field(
        DEFAULTS.clip_to_interval,
        description="land a step on every interval end (published), else natural steps",
    )
    episode_steps: int = Field(DEFAULTS.episode_steps, ge=1, description="control steps/episode")
    max_energy_error: float = Field(DEFAULTS.max_energy_error, gt=0)
    energy_target: float = Field(DEFAULTS.energy_target, gt=0)
    error_weight: float = Field(DEFAULTS.error_weight, ge=0)
    cost_weight: float = Field(DEFAULTS.cost_weight, ge=0)
    cost_scale: float = Field(DEFAULTS.cost_scale, gt=0, description="force evals per unit cost")
    cost_weight_spread: float = Field(
        DEFAULTS.cost_weight_spread,
        ge=0,
        le=4,
        description="decades of per-episode cost weights centred on cost_weight (0: fixed)",
    )
    failure_penalty: float = Field(DEFAULTS.failure_penalty, ge=0)
    switch_penalty: float = Field(DEFAULTS.switch_penalty, ge=0, description="cost of changing η")
    jump_weight: float = Field(
        DEFAULTS.jump_weight,
        ge=0,
        description="weight of each interval's own energy change in decades above jump_scale",
    )
    jump_scale: float = Field(DEFAULTS.jump_scale, gt=0, description="interval change costing ~0")
    max_steps_per_interval: int = Field(DEFAULTS.max_steps_per_interval, ge=1)
    safeguard: bool = DEFAULTS.safeguard
    safeguard_factor: float = Field(DEFAULTS.safeguard_factor, gt=1)
    safeguard_threshold: float = Field(DEFAULTS.safeguard_threshold, gt=0)
    safeguard_retries: int = Field(DEFAULTS.safeguard_retries, ge=1)
    dt_min: float = Field(DEFAULTS.dt_min, gt=0)
    validation_systems: int = Field(DEFAULTS.validation_systems, ge=1)
    validation_seed: int = Field(DEFAULTS.validation_seed, ge=TRAIN_SEED_LOW)
    selection: Literal["front_ratio", "dominance", "paired"] = Field(
        DEFAULTS.selection,
        description="chunk kept: lowest validation ratio to the fixed-η front, or lowest "
        "max(error, cost) relative to common_eta",
    )
    calibration_points: int = Field(
        DEFAULTS.calibration_points, ge=1, description="cost weights tried for a tradeoff policy"
    )
    common_eta: float = Field(
        DEFAULTS.common_eta, gt=0, description="fixed η a tradeoff policy is calibrated to beat"
    )

    quick_overrides = {
        "n_envs": 4,
        "iterations": 40,
        "n_chunks": 2,
        "episode_steps": 10,
        "learning_starts": 32,
        "batch_size": 32,
        "buffer_size": 1_000,
        "validation_systems": 4,
        "max_steps_per_interval": 2_000,
    }

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, hidden: list[int]) -> list[int]:
        if not hidden or not all(width >= 1 for width in hidden):
            raise ValueError("must list at least one layer width, each >= 1")
        return hidden

    @field_validator("etas")
    @classmethod
    def _positive_etas(cls, etas: list[float]) -> list[float]:
        if len(etas) < 2 or not all(math.isfinite(e) and 0 < e <= 1 for e in etas):
            raise ValueError("must list at least two values in (0, 1]")
        return etas

    @model_validator(mode="after")
    def _consistent(self) -> RLTrainConfig:
        if self.eps_end > self.eps_start:
            raise ValueError(f"eps_end: must not exceed eps_start ({self.eps_start})")
        if self.learning_starts > self.buffer_size:
            raise ValueError(f"learning_starts: must not exceed buffer_size ({self.buffer_size})")
        if self.n_chunks > self.iterations:
            raise ValueError(f"n_chunks: must not exceed iterations ({self.iterations})")
        if self.observation == "tradeoff" and self.cost_weight_spread == 0:
            raise ValueError("cost_weight_spread: must be > 0 for observation 'tradeoff'")
        if self.observation != "tradeoff" and self.cost_weight_spread > 0:
            raise ValueError("cost_weight_spread: needs observation 'tradeoff' to show the weight")
        if not any(math.isclose(self.common_eta, eta, rel_tol=1e-6) for eta in self.etas):
            raise ValueError("common_eta: must be one of etas")
        if self.validation_seed + self.validation_systems > SEED_HIGH:
            raise ValueError(f"validation_seed: seeds must stay below {SEED_HIGH}")
        return self

    def train_config(self) -> TrainConfig:
        values = self.model_dump()
        values["hidden"] = tuple(values["hidden"])
        values["etas"] = tuple(values["etas"])
        return TrainConfig(**values)


# ----------------------------------------------------------------------------------------------
# Pure orchestration (no Prefect, no MLflow): shared by the flow and the tests.


def policy_config(config: TrainConfig, result: TrainResult, run_id: str, experiment: str) -> dict:
    """The JSON config written beside the parameters: what they mean and where they came from."""
    return {
        "algorithm": "dqn",
        "observation": config.observation,
        "n_features": n_features(config.observation),
        "hidden": list(config.hidden),
        "etas": list(config.etas),
        "interval": config.interval,
        "clip_to_interval": config.clip_to_interval,
        "integrator": config.integrator,
        "criterion": "rv",
        "reward": {
            "energy_target": config.energy_target,
            "error_weight": config.error_weight,
            "cost_weight": config.cost_weight,
            "cost_scale": config.cost_scale,
            "cost_weight_spread": config.cost_weight_spread,
            "failure_penalty": config.failure_penalty,
            "switch_penalty": config.switch_penalty,
            "jump_weight": config.jump_weight,
            "jump_scale": config.jump_scale,
            "max_energy_error": config.max_energy_error,
        },
        "training_seeds": (
            f"random_triple seeds drawn with jax.random from [{TRAIN_SEED_LOW}, {SEED_HIGH}) "
            f"(PRNG seed {config.seed}); validation seeds {config.validation_seed} .. "
            f"{config.validation_seed + config.validation_systems - 1}; seeds below "
            f"{TRAIN_SEED_LOW} were never used"
        ),
        "held_out_below": TRAIN_SEED_LOW,
        "selected_chunk": result.best_chunk,
        "selection": selection_rule(config.selection, config.common_eta),
        "validation": {
            key: result.history[result.best_chunk][key]
            for key in (
                "val_front_ratio",
                "val_dominance",
                "val_paired_dominance",
                "val_return",
                "val_energy_error_median",
                "val_energy_error_p90",
                "val_force_evals_median",
            )
        },
        "validation_front": result.validation_front,
        "cost_weight": result.cost_weight,
        "cost_weight_rule": (
            "the lowest max(error / common error, force evals / common force evals) against "
            f"eta = {config.common_eta} over the validation systems among the calibration weights"
            if config.observation == "tradeoff"
            else "the training weight"
        ),
        "calibration": result.calibration,
        "train_seconds": result.train_seconds,
        "mlflow_run_id": run_id,
        "mlflow_experiment": experiment,
        "train_config": config.as_dict(),
    }


def train_metrics(config: TrainConfig, result: TrainResult) -> dict[str, float]:
    best = result.history[result.best_chunk]
    last = result.history[-1]
    return {
        "best_chunk": float(result.best_chunk),
        "val_return": best["val_return"],
        "val_front_ratio": best["val_front_ratio"],
        "val_dominance": best["val_dominance"],
        "val_paired_dominance": best["val_paired_dominance"],
        "val_energy_error_median": best["val_energy_error_median"],
        "val_force_evals_median": best["val_force_evals_median"],
        "final_val_return": last["val_return"],
        "final_episode_return": last["episode_return"],
        "episodes": float(sum(record["episodes"] for record in result.history)),
        "env_steps": float(last["env_steps"]),
        "train_time_s": result.train_seconds,
        "cost_weight": result.cost_weight,
        "compile_time_s": result.compile_seconds,
    }


def learning_curves_plot(history: list[dict[str, float]], path: Path) -> Path:
    """Training return, log energy error, cost and the greedy validation against env steps."""
    import matplotlib.pyplot as plt

    steps = np.array([record["env_steps"] for record in history])
    panels = [
        ("return", ["episode_return", "val_return"], False),
        ("final |ΔE/E₀|", ["val_energy_error_median", "val_energy_error_p90"], True),
        ("force evaluations / episode", ["episode_force_evals", "val_force_evals_median"], True),
        ("validation front ratio, loss, ε", ["val_front_ratio", "loss", "epsilon"], True),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for ax, (title, keys, log) in zip(axes.flat, panels, strict=True):
        for key in keys:
            values = np.array([record[key] for record in history])
            ax.plot(steps, np.maximum(values, 1e-16) if log else values, marker=".", label=key)
        if log:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("environment steps")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


# ----------------------------------------------------------------------------------------------
# Prefect tasks and flow.


@task(name="rl-timestep-train-loop", cache_policy=NONE)
def train_task(config: TrainConfig, logger: RunLogger) -> TrainResult:
    progress = Progress(f"{FLOW_NAME} [{config.n_envs} envs]", config.n_chunks)
    progress.update(0)

    def on_chunk(record: dict[str, float]) -> None:
        step = int(record["env_steps"])
        logger.log_metrics({key: record[key] for key in CURVES}, step=step)
        progress.update(
            int(record["chunk"]) + 1,
            f"ε={record['epsilon']:.2f} return={record['episode_return']:.2f} "
            f"val return={record['val_return']:.2f} front ratio={record['val_front_ratio']:.2f} "
            f"val |dE/E0|={record['val_energy_error_median']:.1e} "
            f"evals={record['val_force_evals_median']:.0f}",
        )

    return train(config, on_chunk)


@task(name="rl-timestep-train-artifacts", cache_policy=NONE)
def write_artifacts_task(
    config: TrainConfig, result: TrainResult, logger: RunLogger, output_dir: Path
) -> dict[str, Path]:
    policy = save_policy(
        output_dir / "policy",
        result.params,
        policy_config(config, result, logger.run_id, logger.experiment),
    )
    for file in sorted(policy.iterdir()):
        logger.log_artifact(file, "policy")
    history = output_dir / "history.json"
    history.write_text(json.dumps(result.history, indent=1))
    curves = learning_curves_plot(result.history, output_dir / "learning_curves.png")
    return {"policy": policy, "history": history, "learning_curves": curves}


def train_body(config: RLTrainConfig, logger: RunLogger, output_dir: Path) -> FlowOutcome:
    start = time.perf_counter()
    train_config = config.train_config()
    result = train_task(train_config, logger)
    artifacts = write_artifacts_task(train_config, result, logger, output_dir)
    metrics = train_metrics(train_config, result)
    metrics["wall_time_s"] = time.perf_counter() - start
    return FlowOutcome(metrics=metrics, artifacts=artifacts)


@flow(name=FLOW_NAME, description=DESCRIPTION)
def rl_train_flow(config: dict | None = None, output_dir: str | None = None) -> dict:
    """Train a time-step controller; log it to MLflow (experiment ``rl-timestep-train``)."""
    return execute(FLOW_NAME, validate_config(RLTrainConfig, config or {}), train_body, output_dir)

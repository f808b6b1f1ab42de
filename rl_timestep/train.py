"""Training a time-step controller: configuration, the loop in jitted chunks, model selection.

``train(config)`` is the library function the ``rl-timestep-train`` flow calls. Training runs in
``n_chunks`` calls of one compiled function (each ``iterations / n_chunks`` iterations of
:mod:`rl_timestep.dqn`); after each chunk the greedy policy is rolled out on a fixed validation
set. Every fixed η of the action set is rolled out on the same set once, before training. The
parameters kept (``selection``) are by default those that dominate the common setting
η = ``common_eta`` by the widest margin on that set: the lowest max(median |ΔE/E₀| / its median,
median force evaluations / its median), below 1 when they are both more accurate and cheaper;
with "front_ratio", those whose median final |ΔE/E₀| lies furthest below the fixed-η front at
their median force evaluations (interpolated in log-log). The front ratio alone also rewards a
policy that sits far from the common setting's cost, and with a steep front a small validation
set's noise then picks a policy at the wrong operating point. A policy with the "tradeoff"
observation is then rolled out at ``calibration_points`` cost weights and its default weight is
the one at which it beats the common setting η = ``common_eta`` by the widest margin
(:func:`calibrate`). Training systems are random_triple(seed) with seeds drawn by ``jax.random``
in [TRAIN_SEED_LOW, 2³¹ − 1) and the validation seeds lie in that range too, so seeds below
TRAIN_SEED_LOW (evaluation's default 0 … 99) are never seen.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import physics.nbody as nbody
from rl_timestep.dqn import DQNSettings, init_learner, make_iteration, make_train_chunk
from rl_timestep.env import (
    PUBLISHED_ETAS,
    PUBLISHED_INTERVAL,
    SEED_HIGH,
    TRAIN_SEED_LOW,
    EnvParams,
    TimestepEnv,
    env_params,
)
from rl_timestep.evaluate import common_row, front_error_at, paired_ratios, rollout
from rl_timestep.network import QNetwork
from rl_timestep.policy import make_act


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (units G = M☉ = au = 1)."""

    seed: int = 0
    integrator: str = "hermite4"
    observation: str = "invariant"
    # Loop and agent.
    n_envs: int = 32
    iterations: int = 16_000
    n_chunks: int = 20
    hidden: tuple[int, ...] = (64, 64)
    learning_rate: float = 3e-4
    weight_decay: float = 1e-4
    max_grad_norm: float = 10.0
    batch_size: int = 128
    gamma: float = 0.99
    tau: float = 0.005
    buffer_size: int = 100_000
    updates_per_iteration: int = 4
    learning_starts: int = 1_000
    eps_start: float = 1.0
    eps_end: float = 0.01
    eps_decay_fraction: float = 0.3
    uniform_exploration: float = 0.1
    double_dqn: bool = True
    env_chunk: int = 1
    # Environment and reward.
    etas: tuple[float, ...] = PUBLISHED_ETAS
    interval: float = PUBLISHED_INTERVAL
    episode_steps: int = 100
    max_energy_error: float = 0.1
    energy_target: float = 1e-10
    error_weight: float = 1.0
    cost_weight: float = 1.0
    cost_scale: float = 1750.0
    cost_weight_spread: float = 0.0
    failure_penalty: float = 10.0
    switch_penalty: float = 0.2
    jump_weight: float = 0.0
    jump_scale: float = 1e-8
    max_steps_per_interval: int = 20_000
    safeguard: bool = False
    safeguard_factor: float = 10.0
    safeguard_threshold: float = 2.0
    safeguard_retries: int = 2
    dt_min: float = 1e-11
    clip_to_interval: bool = True
    # Model selection, and for the "tradeoff" observation the calibration of the cost weight.
    validation_systems: int = 256
    validation_seed: int = 1_000_000_000
    selection: str = "dominance"
    calibration_points: int = 9
    common_eta: float = 0.01

    @property
    def iterations_per_chunk(self) -> int:
        return math.ceil(self.iterations / self.n_chunks)

    def make_env(self) -> TimestepEnv:
        return TimestepEnv(self.integrator, self.observation, self.max_steps_per_interval)

    def make_env_params(self, t_end: float | None = None) -> EnvParams:
        """Environment parameters; t_end defaults to the training episode's end."""
        return env_params(
            etas=self.etas,
            interval=self.interval,
            t_end=self.episode_steps * self.interval if t_end is None else t_end,
            max_energy_error=self.max_energy_error,
            energy_target=self.energy_target,
            error_weight=self.error_weight,
            cost_weight=self.cost_weight,
            cost_scale=self.cost_scale,
            cost_weight_spread=self.cost_weight_spread,
            failure_penalty=self.failure_penalty,
            switch_penalty=self.switch_penalty,
            jump_weight=self.jump_weight,
            jump_scale=self.jump_scale,
            safeguard=self.safeguard,
            safeguard_factor=self.safeguard_factor,
            safeguard_threshold=self.safeguard_threshold,
            safeguard_retries=self.safeguard_retries,
            dt_min=self.dt_min,
            clip_to_interval=self.clip_to_interval,
            seed_low=TRAIN_SEED_LOW,
            seed_high=SEED_HIGH,
        )

    def dqn_settings(self) -> DQNSettings:
        total = self.iterations_per_chunk * self.n_chunks
        return DQNSettings(
            batch_size=self.batch_size,
            gamma=self.gamma,
            tau=self.tau,
            updates_per_iteration=self.updates_per_iteration,
            learning_starts=self.learning_starts,
            eps_start=self.eps_start,
            eps_end=self.eps_end,
            eps_decay_iterations=max(1, round(self.eps_decay_fraction * total)),
            uniform_exploration=self.uniform_exploration,
            double_dqn=self.double_dqn,
            env_chunk=self.env_chunk,
        )

    def network(self) -> QNetwork:
        return QNetwork(tuple(self.hidden), len(self.etas))

    def optimizer(self) -> optax.GradientTransformation:
        return optax.chain(
            optax.clip_by_global_norm(self.max_grad_norm),
            optax.adamw(self.learning_rate, weight_decay=self.weight_decay),
        )

    def validation_seeds(self) -> np.ndarray:
        return self.validation_seed + np.arange(self.validation_systems)

    def calibration_weights(self) -> np.ndarray:
        """Cost weights tried by :func:`calibrate`: log-spaced over the trained range."""
        half = 0.5 * self.cost_weight_spread
        return self.cost_weight * np.logspace(-half, half, self.calibration_points)

    def as_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


SELECTION_KEYS = {
    "front_ratio": "val_front_ratio",
    "dominance": "val_dominance",
    "paired": "val_paired_dominance",
}
"""Model selection over the chunks, and the chunk-record value each minimises: the lowest
validation ratio to the fixed-η front, the lowest :func:`dominance` against the common fixed
setting (below 1: more accurate and cheaper), or the lowest max(median over systems of the error
ratio, of the cost ratio) against the common setting system by system (``paired_ratios``), in
which a run the policy gave up on counts as a loss in error whatever work it saved."""
SELECTIONS = tuple(SELECTION_KEYS)


def selection_rule(selection: str, common_eta: float) -> str:
    """The model-selection rule in words, for the policy's JSON."""
    selection_key(selection)  # a clear error for an unknown rule
    return {
        "dominance": (
            f"lowest max(validation median |dE/E0| / that of eta = {common_eta}, validation "
            f"median force evaluations / those of eta = {common_eta})"
        ),
        "paired": (
            "lowest max(median over validation systems of |dE/E0| / that of eta = "
            f"{common_eta} on the same system, median of the force-evaluation ratio)"
        ),
        "front_ratio": (
            "lowest ratio of the validation median |dE/E0| to the fixed-eta front at the "
            "validation median force evaluations"
        ),
    }[selection]


class TrainResult(NamedTuple):
    """The selected parameters and how training went."""

    params: Any  # Q-network parameters of the chunk that model selection chose
    final_params: Any  # parameters after the last chunk
    history: list[dict[str, float]]  # one record per chunk (learning curves)
    best_chunk: int
    validation_front: list[dict[str, float]]  # fixed-η medians on the validation systems
    train_seconds: float  # wall time of the chunks and validations, compilation excluded
    compile_seconds: float
    cost_weight: float  # the default cost weight of the policy (calibrated for "tradeoff")
    calibration: list[dict[str, float]]  # the selected policy at each calibration weight


def chunk_record(
    stats,
    validation,
    front: list[dict[str, float]],
    chunk: int,
    config: TrainConfig,
    seconds: float,
    common,
) -> dict:
    """Learning-curve values of one chunk: training episodes and the greedy validation.

    common: the validation rollout of the common fixed η, for the paired comparison."""
    stats = jax.tree.map(np.asarray, stats)
    episodes = max(int(stats.episodes.sum()), 1)
    counts = stats.action_counts.sum(axis=0)
    record = {
        "chunk": chunk,
        "iteration": (chunk + 1) * config.iterations_per_chunk,
        "env_steps": (chunk + 1) * config.iterations_per_chunk * config.n_envs,
        "epsilon": float(stats.epsilon[-1]),
        "loss": float(stats.loss.mean()),
        "reward": float(stats.reward.mean()),
        "episodes": float(stats.episodes.sum()),
        "episode_return": float(stats.return_sum.sum() / episodes),
        "episode_log_energy_error": float(stats.log_error_sum.sum() / episodes),
        "episode_force_evals": float(stats.force_evals_sum.sum() / episodes),
        "failure_rate": float(stats.failures.sum() / episodes),
        "force_evals_per_step": float(stats.force_evals.mean()),
        "mean_action": float(np.dot(counts, np.arange(counts.size)) / max(counts.sum(), 1)),
        "val_return": float(np.mean(validation.returns)),
        "val_energy_error_median": float(np.median(validation.energy_error)),
        "val_energy_error_p90": float(np.percentile(validation.energy_error, 90)),
        "val_force_evals_median": float(np.median(validation.force_evals)),
        "val_failed": float(np.sum(np.asarray(validation.status) != nbody.STATUS_OK)),
        "seconds": seconds,
    }
    at_front = front_error_at(
        np.array([row["force_evals_median"] for row in front]),
        np.array([row["energy_error_median"] for row in front]),
        record["val_force_evals_median"],
    )
    record["val_front_ratio"] = record["val_energy_error_median"] / at_front
    record["val_dominance"] = dominance(
        record["val_energy_error_median"],
        record["val_force_evals_median"],
        common_row(front, config.common_eta),
    )
    record["val_paired_dominance"] = max(
        paired_ratios(
            validation.energy_error, validation.force_evals, common.energy_error, common.force_evals
        )
    )
    return record


def selection_key(selection: str) -> str:
    """The chunk-record value that model selection minimises (see ``SELECTIONS``)."""
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    return SELECTION_KEYS[selection]


def selection_score(record: dict[str, float], selection: str) -> float:
    """What model selection minimises over the chunks."""
    return record[selection_key(selection)]


def dominance(error: float, evals: float, common: dict[str, float]) -> float:
    """max(error / common error, evals / common evals): below 1 when a controller is both more
    accurate and cheaper than the common fixed setting (a validation-front row)."""
    return max(error / common["energy_error_median"], evals / common["force_evals_median"])


def calibrate(
    config: TrainConfig,
    validate: Callable,
    act_params: Any,
    params: EnvParams,
    masses: jax.Array,
    systems: nbody.NBodyState,
    front: list[dict[str, float]],
) -> tuple[float, list[dict[str, float]]]:
    """The default cost weight of a "tradeoff" policy and the policy's validation curve.

    Rolls the policy out on the validation systems at each of ``config.calibration_weights()``
    and returns the weight at which it dominates the common fixed setting (η = common_eta) by
    the widest margin (lowest :func:`dominance`), with one record per weight.
    """
    common = common_row(front, config.common_eta)
    evals_front = np.array([row["force_evals_median"] for row in front])
    errors_front = np.array([row["energy_error_median"] for row in front])
    records = []
    for weight in config.calibration_weights():
        weighted = params._replace(cost_weight=jnp.asarray(weight, jnp.float64))
        result = validate(act_params, weighted, masses, systems)
        error = float(np.median(result.energy_error))
        evals = float(np.median(result.force_evals))
        records.append(
            {
                "cost_weight": float(weight),
                "energy_error_median": error,
                "force_evals_median": evals,
                "front_ratio": error / front_error_at(evals_front, errors_front, evals),
                "dominance": dominance(error, evals, common),
            }
        )
    best = min(records, key=lambda record: record["dominance"])
    return best["cost_weight"], records


def train(
    config: TrainConfig, on_chunk: Callable[[dict[str, float]], None] = lambda record: None
) -> TrainResult:
    """Train a DQN controller; ``on_chunk(record)`` is called after every chunk."""
    selection_key(config.selection)  # a bad selection fails here, not after the first chunk
    env, params, network = config.make_env(), config.make_env_params(), config.network()
    optimizer = config.optimizer()
    learner = init_learner(
        env,
        params,
        network,
        optimizer,
        jax.random.PRNGKey(config.seed),
        config.n_envs,
        config.buffer_size,
    )
    iteration = make_iteration(env, params, network, optimizer, config.dqn_settings())
    act = make_act(tuple(config.hidden), len(config.etas))
    masses, systems = nbody.random_triples(jnp.asarray(config.validation_seeds()))
    no_fixed = jnp.asarray(-1, jnp.int32)

    start = time.perf_counter()
    chunk = make_train_chunk(iteration, config.iterations_per_chunk).lower(learner).compile()
    validate = rollout.lower(
        env, act, config.episode_steps, (learner.q_params, no_fixed), params, masses, systems
    ).compile()
    compile_seconds = time.perf_counter() - start

    start = time.perf_counter()
    front, fixed_runs = [], []
    for action, eta in enumerate(config.etas):
        fixed_action = (learner.q_params, jnp.asarray(action, jnp.int32))
        fixed = validate(fixed_action, params, masses, systems)
        fixed_runs.append(fixed)
        front.append(
            {
                "eta": eta,
                "energy_error_median": float(np.median(fixed.energy_error)),
                "force_evals_median": float(np.median(fixed.force_evals)),
            }
        )
    common = fixed_runs[front.index(common_row(front, config.common_eta))]
    history, best_score, best_chunk, best_params = [], np.inf, -1, learner.q_params
    for index in range(config.n_chunks):
        learner, stats = chunk(learner)
        validation = validate((learner.q_params, no_fixed), params, masses, systems)
        seconds = time.perf_counter() - start
        record = chunk_record(stats, validation, front, index, config, seconds, common)
        history.append(record)
        score = selection_score(record, config.selection)
        if score < best_score:
            best_score, best_chunk, best_params = score, index, learner.q_params
        on_chunk(record)
    cost_weight, calibration = config.cost_weight, []
    if config.observation == "tradeoff":
        cost_weight, calibration = calibrate(
            config, validate, (best_params, no_fixed), params, masses, systems, front
        )
    return TrainResult(
        params=best_params,
        final_params=learner.q_params,
        history=history,
        best_chunk=best_chunk,
        validation_front=front,
        train_seconds=time.perf_counter() - start,
        compile_seconds=compile_seconds,
        cost_weight=cost_weight,
        calibration=calibration,
    )

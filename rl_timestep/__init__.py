"""Reinforcement-learned time-step control for gravitational three-body integrations (pure JAX).

The environment (:mod:`rl_timestep.env`), its observations (:mod:`rl_timestep.features`), the
DQN agent (:mod:`rl_timestep.network`, :mod:`rl_timestep.replay`, :mod:`rl_timestep.dqn`), the
training loop (:mod:`rl_timestep.train`), roll-outs against fixed settings
(:mod:`rl_timestep.evaluate`) and policies on disk (:mod:`rl_timestep.policy`).
"""

from rl_timestep.env import (
    PUBLISHED_ETAS,
    PUBLISHED_INTERVAL,
    TRAIN_SEED_LOW,
    EnvParams,
    EnvState,
    StepInfo,
    TimestepEnv,
    control_reward,
    env_params,
)
from rl_timestep.evaluate import Rollout, fixed_action, front_error_at, rollout, summarise
from rl_timestep.features import OBSERVATIONS, n_features, observe
from rl_timestep.policy import (
    DEFAULT_POLICY,
    Policy,
    PolicyError,
    load_policy,
    make_act,
    save_policy,
)
from rl_timestep.train import TrainConfig, TrainResult, train

__all__ = [
    "DEFAULT_POLICY",
    "OBSERVATIONS",
    "PUBLISHED_ETAS",
    "PUBLISHED_INTERVAL",
    "TRAIN_SEED_LOW",
    "EnvParams",
    "EnvState",
    "Policy",
    "PolicyError",
    "Rollout",
    "StepInfo",
    "TimestepEnv",
    "TrainConfig",
    "TrainResult",
    "control_reward",
    "env_params",
    "fixed_action",
    "front_error_at",
    "load_policy",
    "make_act",
    "n_features",
    "observe",
    "rollout",
    "save_policy",
    "summarise",
    "train",
]

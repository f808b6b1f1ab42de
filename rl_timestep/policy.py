"""A trained time-step controller on disk: ``params.msgpack`` (flax) + ``config.json``.

The JSON says what the parameters mean (network widths, observation kind, η of each action,
control interval, the integrator and reward it was trained with, the seeds it saw and the MLflow
run that produced it); loading validates it and refuses parameters whose tree or shapes differ
from the network it describes. Nothing is unpickled.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization
from jax import Array

from rl_timestep.features import OBSERVATIONS, n_features
from rl_timestep.network import QNetwork, greedy_action, init_params

POLICY_FORMAT = "closureflow-rl-timestep-policy/1"
PARAMS_FILE = "params.msgpack"
CONFIG_FILE = "config.json"
DEFAULT_POLICY = Path(__file__).resolve().parent / "policies" / "default"
"""The controller shipped with the package (trained by ``closureflow run rl-timestep-train``)."""

_REQUIRED = {
    "format": str,
    "algorithm": str,
    "observation": str,
    "n_features": int,
    "hidden": list,
    "etas": list,
    "interval": float,
    "integrator": str,
}


class PolicyError(ValueError):
    """A policy folder that is missing, malformed or inconsistent; the message says what."""


@dataclass(frozen=True)
class Policy:
    """A Q-network's parameters and the JSON config that describes them."""

    params: Any
    config: dict[str, Any]

    @property
    def network(self) -> QNetwork:
        return QNetwork(tuple(self.config["hidden"]), len(self.config["etas"]))

    @property
    def etas(self) -> tuple[float, ...]:
        return tuple(float(eta) for eta in self.config["etas"])


def validate_policy_config(config: dict[str, Any]) -> None:
    """Raise PolicyError unless config has every required key with a sensible value."""
    for key, kind in _REQUIRED.items():
        if key not in config:
            raise PolicyError(f"{CONFIG_FILE}: missing key {key!r}")
        value = config[key]
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind):
            raise PolicyError(f"{CONFIG_FILE}: {key} must be a {kind.__name__}, got {value!r}")
    if config["format"] != POLICY_FORMAT:
        raise PolicyError(f"{CONFIG_FILE}: format {config['format']!r}, expected {POLICY_FORMAT!r}")
    if config["observation"] not in OBSERVATIONS:
        raise PolicyError(
            f"{CONFIG_FILE}: observation must be one of {OBSERVATIONS}, got "
            f"{config['observation']!r}"
        )
    expected = n_features(config["observation"])
    if config["n_features"] != expected:
        raise PolicyError(
            f"{CONFIG_FILE}: n_features {config['n_features']} does not match observation "
            f"{config['observation']!r} ({expected} features)"
        )
    if not config["hidden"] or not all(isinstance(w, int) and w > 0 for w in config["hidden"]):
        raise PolicyError(f"{CONFIG_FILE}: hidden must list positive layer widths")
    etas = config["etas"]
    if len(etas) < 2 or not all(isinstance(e, int | float) and e > 0 for e in etas):
        raise PolicyError(f"{CONFIG_FILE}: etas must list at least two positive values")
    if not config["interval"] > 0:
        raise PolicyError(f"{CONFIG_FILE}: interval must be > 0")


def save_policy(folder: str | Path, params: Any, config: dict[str, Any]) -> Path:
    """Write params (flax msgpack) and config (JSON, validated) into folder; returns it."""
    config = {"format": POLICY_FORMAT, **config}
    validate_policy_config(config)
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    state = serialization.to_state_dict(jax.tree.map(np.asarray, params))
    (target / PARAMS_FILE).write_bytes(serialization.msgpack_serialize(state))
    (target / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return target


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): tuple(np.shape(leaf)) for path, leaf in flat}


def load_policy(folder: str | Path) -> Policy:
    """Read and validate a policy folder written by :func:`save_policy`."""
    source = Path(folder)
    config_path, params_path = source / CONFIG_FILE, source / PARAMS_FILE
    for path in (config_path, params_path):
        if not path.is_file():
            raise PolicyError(f"policy {str(source)!r}: {path.name} not found")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as err:
        raise PolicyError(f"{config_path}: not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise PolicyError(f"{config_path}: must hold a JSON object")
    validate_policy_config(config)
    network = QNetwork(tuple(config["hidden"]), len(config["etas"]))
    template = init_params(network, jax.random.PRNGKey(0), config["n_features"])
    try:
        raw = serialization.msgpack_restore(params_path.read_bytes())
    except Exception as err:  # noqa: BLE001 - any decoding problem is a bad file
        raise PolicyError(f"{params_path}: not a flax msgpack file ({err})") from None
    expected, found = _shapes(template), _shapes(raw)
    if expected != found:
        differing = sorted(set(expected) ^ set(found)) or [
            key for key in expected if expected[key] != found[key]
        ]
        key = differing[0]
        raise PolicyError(
            f"{params_path} does not match {CONFIG_FILE} (hidden {config['hidden']}, "
            f"{config['n_features']} features, {len(config['etas'])} actions): parameter {key} "
            f"has shape {found.get(key, 'missing')}, expected {expected.get(key, 'none')}"
        )
    params = serialization.from_state_dict(template, raw)
    params = jax.tree.map(lambda leaf, like: jnp.asarray(leaf, like.dtype), params, template)
    return Policy(params, config)


@functools.lru_cache(maxsize=16)
def make_act(hidden: tuple[int, ...], n_actions: int):
    """The controller ``act((q_params, fixed_action), obs) -> action`` of one network shape.

    fixed_action < 0: the greedy action of the Q-network; otherwise that action, whatever the
    observation (the fixed-η baselines). One function per shape, so one compilation serves the
    learned policy and every fixed setting.
    """
    network = QNetwork(hidden, n_actions)

    def act(act_params: tuple[Any, Array], obs: Array) -> Array:
        q_params, fixed = act_params
        greedy = greedy_action(network, q_params, obs)
        return jnp.where(fixed < 0, greedy, fixed).astype(jnp.int32)

    return act

"""Policies on disk: round trip, validation of the JSON, refusal of mismatched parameters, and
the shipped default policy."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rl_timestep.env import PUBLISHED_ETAS
from rl_timestep.features import n_features
from rl_timestep.network import QNetwork, greedy_action, init_params
from rl_timestep.policy import (
    CONFIG_FILE,
    DEFAULT_POLICY,
    PARAMS_FILE,
    PolicyError,
    load_policy,
    make_act,
    save_policy,
)

CONFIG = {
    "algorithm": "dqn",
    "observation": "invariant",
    "n_features": n_features("invariant"),
    "hidden": [16, 8],
    "etas": list(PUBLISHED_ETAS),
    "interval": 1.09,
    "integrator": "hermite4",
    "mlflow_run_id": "0" * 32,
}


@pytest.fixture(scope="module")
def params():
    network = QNetwork((16, 8), len(PUBLISHED_ETAS))
    return init_params(network, jax.random.PRNGKey(1), CONFIG["n_features"])


def test_round_trip_keeps_parameters_config_and_actions(tmp_path, params):
    folder = save_policy(tmp_path / "policy", params, CONFIG)
    policy = load_policy(folder)
    for got, want in zip(jax.tree.leaves(policy.params), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    assert {k: policy.config[k] for k in CONFIG} == CONFIG
    obs = jax.random.normal(jax.random.PRNGKey(2), (32, CONFIG["n_features"]))
    act = make_act((16, 8), len(PUBLISHED_ETAS))
    expected = greedy_action(policy.network, params, obs)
    np.testing.assert_array_equal(jax.vmap(lambda o: act((policy.params, -1), o))(obs), expected)
    assert int(act((policy.params, jnp.asarray(3)), obs[0])) == 3


def test_mismatched_shapes_are_refused_with_a_clear_message(tmp_path, params):
    folder = save_policy(tmp_path / "policy", params, CONFIG)
    config = json.loads((folder / CONFIG_FILE).read_text())
    config["hidden"] = [32, 8]
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(
        PolicyError, match=r"does not match config.json .*has shape \(16,\), expected \(32,\)"
    ):
        load_policy(folder)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_features": 13}, "n_features 13 does not match observation 'invariant'"),
        ({"observation": "pixels"}, "observation must be one of"),
        ({"etas": [0.01]}, "at least two positive values"),
        ({"interval": -1.0}, "interval must be > 0"),
        ({"format": "something-else"}, "format"),
    ],
)
def test_invalid_configs_are_refused(tmp_path, params, change, message):
    folder = save_policy(tmp_path / "policy", params, CONFIG)
    config = {**json.loads((folder / CONFIG_FILE).read_text()), **change}
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(PolicyError, match=message):
        load_policy(folder)


def test_missing_or_corrupt_files_are_refused(tmp_path, params):
    with pytest.raises(PolicyError, match="config.json not found"):
        load_policy(tmp_path)
    folder = save_policy(tmp_path / "policy", params, CONFIG)
    (folder / PARAMS_FILE).write_bytes(b"\x00not msgpack")
    with pytest.raises(PolicyError, match="msgpack"):
        load_policy(folder)
    (folder / CONFIG_FILE).write_text("{")
    with pytest.raises(PolicyError, match="not valid JSON"):
        load_policy(folder)


def test_shipped_default_policy_loads_and_names_its_training_run():
    policy = load_policy(DEFAULT_POLICY)
    assert len(policy.config["mlflow_run_id"]) == 32
    assert policy.config["held_out_below"] >= 100
    assert policy.config["integrator"] == "hermite4"
    assert (DEFAULT_POLICY / PARAMS_FILE).stat().st_size < 100_000

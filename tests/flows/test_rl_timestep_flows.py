"""The rl-timestep flows: bad configs exit 2 naming the key; the evaluation's pure orchestration
(rows of every method, the front comparison, artifacts); the training flow's policy record."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flows.cli import main
from flows.config import build_config
from flows.rl_eval import (
    RLEvalConfig,
    evaluate_integrator,
    front_metrics,
    held_out_systems,
    ias15_reference,
    integrator_metrics,
    markdown_table,
    paired_metrics,
    pareto_plot,
    write_artifacts_task,
)
from flows.rl_train import RLTrainConfig, policy_config, train_metrics
from rl_timestep.evaluate import front_error_at
from rl_timestep.features import n_features
from rl_timestep.network import init_params
from rl_timestep.policy import load_policy, save_policy
from rl_timestep.train import TrainConfig, TrainResult

ROW_KEYS = {
    "method",
    "eta",
    "energy_error_median",
    "energy_error_p90",
    "force_evals_median",
    "wall_time_s",
}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "rl-timestep-eval", "--set", "n_seeds=0"], "n_seeds"),
        (["run", "rl-timestep-eval", "--set", "t_end=0"], "t_end"),
        (["run", "rl-timestep-eval", "--set", "tail_threshold=0"], "tail_threshold"),
        (["run", "rl-timestep-eval", "--set", "integrator=leapfrog"], "integrator"),
        (["run", "rl-timestep-eval", "--set", "policy=/no/such/policy"], "policy: no such file"),
        (["run", "rl-timestep-eval", "--set", f"policy={'ab' * 16}"], "not found"),
        (["run", "rl-timestep-eval", "--set", "common_eta=0.02"], "common_eta: must be one of"),
        (["run", "rl-timestep-eval", "--set", "transfer_integrators=[hermite4]"], "repeat"),
        (["run", "rl-timestep-train", "--set", "hidden=[]"], "hidden"),
        (["run", "rl-timestep-train", "--set", "gamma=1"], "gamma"),
        (["run", "rl-timestep-train", "--set", "etas=[0.01]"], "etas"),
        (["run", "rl-timestep-train", "--set", "eps_end=0.5", "--set", "eps_start=0.1"], "eps_end"),
        (["run", "rl-timestep-train", "--set", "integrator=yoshida4"], "integrator"),
        (
            [
                "run",
                "rl-timestep-train",
                "--set",
                "observation=tradeoff",
                "--set",
                "cost_weight_spread=0",
            ],
            "cost_weight_spread: must be > 0",
        ),
        (
            [
                "run",
                "rl-timestep-train",
                "--set",
                "observation=invariant",
                "--set",
                "cost_weight_spread=1",
            ],
            "cost_weight_spread: needs",
        ),
        (["run", "rl-timestep-train", "--set", "common_eta=0.02"], "common_eta"),
    ],
)
def test_bad_configs_exit_2_naming_the_key(argv, expected, capsys):
    assert main(argv) == 2
    assert expected in capsys.readouterr().err


def test_front_interpolates_in_log_log():
    evals = np.array([100.0, 1000.0, 10000.0])
    errors = np.array([1e-4, 1e-8, 1e-10])
    assert front_error_at(evals, errors, 1000.0) == pytest.approx(1e-8)
    assert front_error_at(evals, errors, np.sqrt(1e5)) == pytest.approx(1e-6)
    assert front_error_at(evals, errors, 1e5) == pytest.approx(1e-12)  # last segment extended
    # Equal costs (a short run) count once, with the better error, and never give nan.
    tied = front_error_at(np.array([100.0, 100.0, 1000.0]), np.array([1e-3, 1e-4, 1e-8]), 316.0)
    assert tied == pytest.approx(1e-6, rel=1e-2)
    assert front_error_at(np.array([50.0, 50.0]), np.array([1e-5, 1e-6]), 70.0) == 1e-6


def test_front_metrics_compare_with_the_fixed_curve():
    rows = [
        {
            "method": "fixed",
            "integrator": "hermite4",
            "eta": eta,
            "label": f"fixed {eta}",
            "energy_error_median": err,
            "force_evals_median": evals,
        }
        for eta, err, evals in [(0.1, 1e-4, 300.0), (0.01, 1e-8, 3000.0), (0.001, 1e-12, 30000.0)]
    ]
    rl = {
        "method": "rl",
        "integrator": "hermite4",
        "eta": None,
        "label": "rl",
        "energy_error_median": 5e-9,
        "energy_error_p90": 1e-8,
        "force_evals_median": 2000.0,
    }
    metrics = front_metrics([*rows, rl], "hermite4", 0.01)
    expected_front = 10 ** (-8 + 4 * np.log10(3000 / 2000))
    assert metrics["front_energy_error_at_rl"] == pytest.approx(expected_front)
    assert metrics["below_front"] == 1.0 and metrics["beats_common"] == 1.0
    worse = {**rl, "energy_error_median": 1e-7}
    metrics = front_metrics([*rows, worse], "hermite4", 0.01)
    assert metrics["below_front"] == 0.0 and metrics["beats_common"] == 0.0


def test_paired_metrics_expose_a_policy_that_gives_up_on_bad_runs():
    """Same median error, lower median cost, bought by abandoning a third of the runs: the
    medians say the policy wins, the paired numbers say where the saving came from."""
    common = {"energy_error": [1e-9] * 6, "force_evals": [3000] * 6}
    rl = {
        "energy_error": [9e-10, 9e-10, 9e-10, 9e-10, 1e-4, 1e-3],
        "force_evals": [3000, 3000, 3000, 3000, 600, 600],
    }
    assert np.median(rl["force_evals"]) == 3000.0  # ties with common η on the median ...
    rl["force_evals"][0] = 2900  # ... and now beats it there
    metrics = paired_metrics(rl, common, tail_threshold=1e-6)
    assert metrics["rl_tail_share"] == pytest.approx(1 / 3)
    assert metrics["common_tail_share"] == 0.0
    assert metrics["rl_cost_ratio_where_accurate"] == 1.0
    assert metrics["rl_cost_ratio_where_tail"] == pytest.approx(0.2)
    assert metrics["rl_error_ratio_paired_median"] == pytest.approx(0.9)
    assert metrics["rl_cost_ratio_paired_median"] == pytest.approx((2900 / 3000 + 1) / 2)
    clean = paired_metrics(common, common, tail_threshold=1e-6)
    assert clean["rl_tail_share"] == 0.0 and "rl_cost_ratio_where_tail" not in clean


@pytest.fixture(scope="module")
def saved_policy(tmp_path_factory):
    """A policy as the training flow writes it, from an untrained network (no training run)."""
    config = TrainConfig(hidden=(8,), n_chunks=2, iterations=4, n_envs=2)
    params = init_params(config.network(), jax.random.PRNGKey(0), n_features(config.observation))
    record = {
        "env_steps": 8.0,
        "episodes": 0.0,
        "episode_return": -1.0,
        "val_return": -2.0,
        "val_front_ratio": 0.9,
        "val_dominance": 1.1,
        "val_paired_dominance": 1.05,
        "val_energy_error_median": 1e-9,
        "val_energy_error_p90": 1e-8,
        "val_force_evals_median": 100.0,
    }
    front = [
        {"eta": eta, "energy_error_median": 1e-9, "force_evals_median": 100.0}
        for eta in config.etas
    ]
    calibration = [{"cost_weight": 1.0, "energy_error_median": 1e-9, "force_evals_median": 99.0}]
    result = TrainResult(params, params, [record, record], 1, front, 1.5, 2.5, 1.0, calibration)
    folder = tmp_path_factory.mktemp("policy") / "policy"
    save_policy(folder, params, policy_config(config, result, "f" * 32, "rl-timestep-train"))
    return config, result, folder


def test_training_record_names_the_run_and_the_seeds(saved_policy):
    config, result, folder = saved_policy
    policy = load_policy(folder)
    assert policy.config["mlflow_run_id"] == "f" * 32
    assert "seeds below 10000 were never used" in policy.config["training_seeds"]
    assert len(policy.config["validation_front"]) == len(config.etas)
    assert policy.config["train_config"]["hidden"] == [8]
    metrics = train_metrics(config, result)
    assert metrics["val_front_ratio"] == 0.9 and metrics["best_chunk"] == 1.0


def test_evaluation_rows_and_artifacts(saved_policy, tmp_path):
    _, _, folder = saved_policy
    config = build_config(
        RLEvalConfig,
        {
            "policy": str(folder),
            "n_seeds": 3,
            "t_end": 2.0,
            "transfer_integrators": [],
            "safeguard": True,
            "max_steps_per_interval": 5_000,
        },
    )
    masses, systems = held_out_systems(config)
    assert np.asarray(masses).shape == (3, 3)
    policy = load_policy(folder)
    rows, details, compile_s = evaluate_integrator(config, policy, "hermite4", masses, systems)
    assert compile_s > 0 and len(rows) == len(policy.etas) + 2
    assert all(ROW_KEYS <= set(row) for row in rows)
    assert [row["method"] for row in rows[-2:]] == ["rl", "rl"] and rows[-1]["safeguard"]
    fixed = [row for row in rows if row["method"] == "fixed"]
    assert [row["eta"] for row in fixed] == list(policy.etas)
    # Smaller η: more force evaluations.
    evals = [row["force_evals_median"] for row in fixed]
    assert np.all(np.diff(evals) <= 0) and evals[0] > 10 * evals[-1]
    assert set(details) == {f"hermite4/{row['label']}" for row in rows}
    metrics = integrator_metrics(rows, details, "hermite4", config)
    assert metrics["common_eta"] == 0.01 and 0.0 <= metrics["rl_tail_share"] <= 1.0
    assert metrics["rl_cost_ratio_paired_median"] > 0
    reference = ias15_reference(np.asarray(masses), systems, config.t_end)
    if reference is not None:
        errors, evals, _ = reference
        assert np.max(errors) < 1e-13 and np.min(evals) > 0
    artifacts = write_artifacts_task.fn(config, rows, details, tmp_path)
    table = json.loads(artifacts["pareto"].read_text())
    assert {row["method"] for row in table} == {"rl", "fixed"}
    assert artifacts["pareto_plot"].stat().st_size > 0
    assert artifacts["paired_plot"].name == "paired.png"
    assert artifacts["paired_plot"].stat().st_size > 0
    assert "| rl |" in markdown_table(rows)
    assert pareto_plot(rows, "t", tmp_path / "p.png").exists()


def test_quick_configs_are_small():
    train = build_config(RLTrainConfig, {}, quick=True)
    assert train.n_envs * train.iterations <= 200
    evaluation = build_config(RLEvalConfig, {}, quick=True)
    assert evaluation.n_seeds * evaluation.t_end <= 50
    assert jnp.asarray(evaluation.n_seeds) > 0


def test_tradeoff_policy_runs_at_its_calibrated_and_the_swept_weights(tmp_path):
    config = TrainConfig(hidden=(8,), observation="tradeoff", cost_weight_spread=0.5)
    params = init_params(config.network(), jax.random.PRNGKey(1), n_features("tradeoff"))
    record = {
        "env_steps": 8.0,
        "val_return": -2.0,
        "val_front_ratio": 0.9,
        "val_dominance": 1.1,
        "val_paired_dominance": 1.05,
        "val_energy_error_median": 1e-9,
        "val_energy_error_p90": 1e-8,
        "val_force_evals_median": 100.0,
    }
    result = TrainResult(params, params, [record], 0, [], 1.0, 1.0, 1.3, [])
    folder = save_policy(tmp_path / "policy", params, policy_config(config, result, "e" * 32, "x"))
    assert load_policy(folder).config["cost_weight"] == 1.3
    evaluation = build_config(
        RLEvalConfig,
        {
            "policy": str(folder),
            "n_seeds": 2,
            "t_end": 1.0,
            "transfer_integrators": [],
            "tradeoff_sweep": [0.5, 2.0],
            "max_steps_per_interval": 5_000,
        },
    )
    masses, systems = held_out_systems(evaluation)
    rows, _, _ = evaluate_integrator(evaluation, load_policy(folder), "hermite4", masses, systems)
    rl = [(row["label"], row["cost_weight"]) for row in rows if row["method"] == "rl"]
    assert rl == [("rl", 1.3), ("rl w=0.5", 0.5), ("rl w=2", 2.0)]
    assert (
        front_metrics(rows, "hermite4", 0.01)["rl_force_evals_median"]
        == rows[-3]["force_evals_median"]
    )


def test_cost_weight_needs_a_tradeoff_policy(saved_policy):
    _, _, folder = saved_policy
    with pytest.raises(ValueError, match="cost_weight: the policy was not trained"):
        build_config(RLEvalConfig, {"policy": str(folder), "cost_weight": 2.0})

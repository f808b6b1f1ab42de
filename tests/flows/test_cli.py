"""The CLI contract end to end against real Prefect and MLflow servers on 127.0.0.1.

The servers are started once for the module; each `closureflow run` is a real subprocess.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient

from flows.cli import main
from flows.serve import DEFAULT_DEPLOYMENTS, build_deployments, read_entries
from tests.flows.servers import mlflow_server, prefect_server

COLLISION = [
    "--set",
    "ic=custom",
    "--set",
    "masses=[1, 1]",
    "--set",
    "positions=[[0, 0], [1, 0]]",
    "--set",
    "velocities=[[0, 0], [0, 0]]",
    "--set",
    "t_end=1.0",
    "--set",
    "n_chunks=2",
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("servers")
    with prefect_server(workdir) as prefect_api, mlflow_server(workdir) as mlflow_uri:
        yield {"PREFECT_API_URL": prefect_api, "MLFLOW_TRACKING_URI": mlflow_uri}


def closureflow(args, env_extra, cwd):
    env = dict(os.environ, **env_extra)
    command = [sys.executable, "-m", "flows.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def completed(servers, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("run-ok")
    args = ["run", "nbody", "--quick", "--json", "--set", "n_outputs=40", "--output", "out"]
    return closureflow(args, servers, cwd), cwd


@pytest.fixture(scope="module")
def diverged(servers, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("run-fail")
    return closureflow(["run", "nbody", "--json", *COLLISION, "--output", "out"], servers, cwd), cwd


def test_quick_run_prints_one_json_object_and_finishes_the_mlflow_run(servers, completed):
    result, cwd = completed
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(result.stdout)  # exactly one JSON object, nothing else on stdout
    assert set(record) >= {
        "flow",
        "status",
        "mlflow_run_id",
        "experiment",
        "metrics",
        "artifacts",
        "output_dir",
    }
    assert record["status"] == "completed" and record["experiment"] == "nbody"
    for name in (
        "energy_error",
        "energy_error_max",
        "energy_error_p90",
        "n_steps",
        "n_force_evals",
        "wall_time_s",
    ):
        assert name in record["metrics"]
    assert record["metrics"]["energy_error"] < 1e-6
    state = json.loads((cwd / record["artifacts"]["final_state"]).read_text())
    assert state["t"] == 10.0 and len(state["masses"]) == 3
    assert "nbody [hermite4, 1 system(s)]: 4/4 (100%)" in result.stderr  # progress on stderr

    client = MlflowClient(servers["MLFLOW_TRACKING_URI"])
    run = client.get_run(record["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["integrator"] == "hermite4"
    assert run.data.tags["precision"] == "float64" and "jax.backend" in run.data.tags
    logged = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"orbits.png", "energy_error.png", "final_state.json", "summary.json"} <= logged
    series = client.get_metric_history(run.info.run_id, "energy_error_t")
    assert len(series) == 41


def test_diverging_run_exits_1_marks_failed_and_keeps_the_checkpoint(servers, diverged):
    result, cwd = diverged
    assert result.returncode == 1, result.stderr[-3000:]
    record = json.loads(result.stdout)
    assert record["status"] == "failed"
    assert "bodies 0 and 1" in record["error"] and "t = 0.785" in record["error"]
    assert "run failed" in result.stderr and "bodies 0 and 1" in result.stderr
    assert (cwd / record["artifacts"]["checkpoint"]).is_file()
    client = MlflowClient(servers["MLFLOW_TRACKING_URI"])
    run = client.get_run(record["mlflow_run_id"])
    assert run.info.status == "FAILED"
    assert "energy_error" in run.data.metrics  # partial metrics kept
    assert "checkpoint.msgpack" in {item.path for item in client.list_artifacts(run.info.run_id)}


def test_flow_runs_are_recorded_on_the_prefect_server(servers, completed, diverged):
    response = httpx.post(f"{servers['PREFECT_API_URL']}/flow_runs/filter", json={})
    states = sorted(run["state_type"] for run in response.json())
    assert states == ["COMPLETED", "FAILED"]


def test_invalid_config_exits_2_before_anything_starts(servers, tmp_path):
    result = closureflow(
        [
            "run",
            "nbody",
            "--set",
            "masses=[1, -2, 3]",
            "--set",
            "ic=custom",
            "--set",
            "positions=[[0,0],[1,0],[0,1]]",
            "--set",
            "velocities=[[0,0],[0,0],[0,0]]",
        ],
        servers,
        tmp_path,
    )
    assert result.returncode == 2
    assert "masses: every mass must be finite and > 0" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "nbody", "--set", "t_end=0"], "t_end"),
        (["run", "nbody", "--set", "integrator=euler"], "integrator"),
        (["run", "nbody", "--set", "velocity=1"], "velocity: unknown key"),
        (["run", "nbody", "-c", "/nonexistent.yaml"], "does not exist"),
        (["run", "no-such-flow"], "unknown flow 'no-such-flow'; available: nbody"),
        (["run"], "the following arguments are required"),
        (["compare", "--experiment", "no-such-experiment"], "unknown experiment"),
    ],
)
def test_bad_usage_exits_2(argv, expected, capsys):
    assert main(argv) == 2
    assert expected in capsys.readouterr().err


def test_compare_prints_table_and_plot(servers, completed, diverged, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", servers["MLFLOW_TRACKING_URI"])
    plot = tmp_path / "compare.png"
    argv = [
        "compare",
        "--experiment",
        "nbody",
        "--metric",
        "energy_error",
        "--metric",
        "n_force_evals",
        "--last",
        "10",
        "--plot",
        str(plot),
    ]
    assert main(argv) == 0
    table = capsys.readouterr().out
    for record in (json.loads(completed[0].stdout), json.loads(diverged[0].stdout)):
        assert record["mlflow_run_id"][:8] in table
    header = table.splitlines()[1].split()
    assert header[:3] == ["run_id", "started", "status"]
    assert {"ic", "t_end", "energy_error", "n_force_evals"} <= set(header)
    assert "FAILED" in table and "FINISHED" in table
    assert plot.stat().st_size > 0


def test_list_names_the_flows(capsys):
    assert main(["list"]) == 0
    assert capsys.readouterr().out.startswith("nbody")


def test_serve_needs_a_prefect_server(capsys, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["serve"]) == 2
    assert "prefect server start" in capsys.readouterr().err


def test_default_deployments_validate():
    deployments = build_deployments(read_entries(DEFAULT_DEPLOYMENTS))
    names = [d.name for d in deployments]
    assert names == ["nbody-nightly-quick", "nbody-random-triples"]
    assert deployments[0].schedules and deployments[1].parameters["config"]["n_systems"] == 100


def test_mlflow_folder_holds_no_python():
    assert not list((Path(__file__).parents[2] / "mlflow").glob("*.py"))

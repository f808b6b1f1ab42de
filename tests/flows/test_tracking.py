"""MLflow logging helpers against the session's SQLite store (no server needed)."""

import pytest
from mlflow import MlflowClient

from flows.tracking import tracked_run, tracking_uri


@pytest.fixture()
def client():
    return MlflowClient(tracking_uri())


def test_run_records_params_tags_series_and_finishes(client):
    with tracked_run("tracking-test", "ok", {"a": {"b": 1}, "xs": [1, 2]}) as run:
        run.log_metrics({"loss": 0.5})
        run.log_series("curve", [3.0, 2.0, float("nan"), 1.0], [0, 1, 2, 3])
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.params == {"a.b": "1", "xs": "[1, 2]"}
    assert logged.data.tags["precision"] == "float64" and "closureflow.version" in logged.data.tags
    history = client.get_metric_history(run.run_id, "curve")
    assert [(m.step, m.value) for m in history] == [(0, 3.0), (1, 2.0), (3, 1.0)]


def test_exception_marks_the_run_failed_and_keeps_what_was_logged(client):
    with pytest.raises(RuntimeError), tracked_run("tracking-test", "bad", {}) as run:
        run.log_metrics({"partial": 1.0})
        raise RuntimeError("diverged")
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FAILED" and logged.data.metrics["partial"] == 1.0


def test_run_started_by_mlflow_projects_is_adopted(client, monkeypatch):
    experiment_id = client.create_experiment("project-launch")
    project_run = client.create_run(experiment_id)
    monkeypatch.setenv("MLFLOW_RUN_ID", project_run.info.run_id)
    with tracked_run("nbody", "adopting", {"eta": 0.01}) as run:
        run.log_metrics({"energy_error": 1e-9})
    assert run.run_id == project_run.info.run_id and run.experiment == "project-launch"
    assert client.get_run(run.run_id).data.metrics["energy_error"] == 1e-9

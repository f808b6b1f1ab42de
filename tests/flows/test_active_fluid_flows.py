"""Active-fluid flows: config validation, growth-rate measurement, chunked simulation with
checkpoint/resume, and a blow-up that fails the run but keeps its checkpoint (in process)."""

import json

import numpy as np
import pytest
from mlflow import MlflowClient

from flows.active_fluid import (
    KINETIC_FLOW,
    KineticConfig,
    MomentConfig,
    StabilityConfig,
    kinetic_simulator,
    measure_growth_rates,
    moment_simulator,
    resume_simulation,
    simulate_in_chunks,
    simulation_artifacts_task,
    start_simulation,
)
from flows.checkpoint import save_checkpoint
from flows.cli import main
from flows.config import build_config
from flows.runtime import RunFailed, checkpoint_meta
from flows.tracking import tracking_uri

TINY = {"n": 8, "n_theta": 8, "t_end": 0.4, "dt": 0.01, "n_outputs": 4, "n_chunks": 2}


@pytest.mark.parametrize(
    ("flow", "assignment", "expected"),
    [
        ("active-fluid-kinetic", "n=31", "n: Value error, must be an even number"),
        ("active-fluid-kinetic", "n=4", "must be an even number of grid points >= 8"),
        ("active-fluid-kinetic", "n_theta=10", "n_theta: Value error, must be a multiple of 4"),
        ("active-fluid-kinetic", "d_t=0", "d_t: Input should be greater than 0"),
        ("active-fluid-moment", "d_r=-0.1", "d_r: Input should be greater than 0"),
        ("active-fluid-kinetic", "dt=1", "dt: 1 exceeds the explicit stability limit"),
        ("active-fluid-moment", "closure=cubic", "closure: Input should be 'bingham'"),
        ("active-fluid-kinetic", "n_chunks=7", "n_chunks: must divide n_outputs (80)"),
        ("active-fluid-stability", "mode=[0, 0]", "mode: Value error, must be two integers"),
        ("active-fluid-stability", "mode=[6, 0]", "mode: wave indices must stay below n/3"),
        ("active-fluid-stability", "model=fno", "model: Input should be 'kinetic' or 'moment'"),
        ("active-fluid-kinetic", "viscosity=1", "viscosity: unknown key"),
        ("active-fluid-kinetic", "resume_from=/no/such.msgpack", "resume_from: file does not"),
        ("nbody", "resume_from=/no/such.msgpack", "resume_from: file does not exist"),
    ],
)
def test_bad_configs_exit_2_naming_the_key(flow, assignment, expected, capsys):
    assert main(["run", flow, "--set", assignment]) == 2
    assert expected.replace("Value error, ", "") in capsys.readouterr().err.replace(
        "Value error, ", ""
    )


def test_published_step_is_accepted_for_the_published_parameters():
    for alpha, zeta in [(-1.0, 1.0), (-5.0, 17.0)]:
        values = {"alpha": alpha, "zeta": zeta, "n": 256, "n_theta": 256, "dt": 4e-4}
        build_config(KineticConfig, values)


def test_moment_model_growth_rate_matches_linear_theory():
    config = build_config(
        StabilityConfig, {"n": 8, "n_theta": 8, "model": "moment", "alpha": -2.0, "zeta": 0.5}
    )
    result = measure_growth_rates(config)
    for part in ("shear", "normal", "concentration"):
        assert result.measured[part] == pytest.approx(result.predicted[part], rel=1e-2), part


@pytest.fixture(scope="module")
def moment_run(tmp_path_factory):
    """An uninterrupted tiny moment-model run, with the checkpoint after its first chunk."""
    config = build_config(MomentConfig, TINY)
    simulator = moment_simulator(config, "bingham")
    folder = tmp_path_factory.mktemp("moment") / "snapshots"
    checkpoint = folder.parent / "checkpoint.msgpack"

    def keep_first(run):
        if run.chunks_done == 1:
            meta = checkpoint_meta(
                "active-fluid-moment", config, chunks_done=1, series=run.series,
                chunk_files=[p.name for p in run.chunk_files],
            )  # fmt: skip
            save_checkpoint(checkpoint, run.state, meta)

    run = simulate_in_chunks(config, simulator, start_simulation(simulator.init()), folder,
                             keep_first)  # fmt: skip
    return config, simulator, run, checkpoint


def test_chunked_moment_run_conserves_and_records(moment_run):
    config, _, run, _ = moment_run
    assert run.failure is None and run.chunks_done == 2
    np.testing.assert_allclose(run.series["t"], [0.1, 0.2, 0.3, 0.4], rtol=1e-12)
    assert max(abs(c - 1.0) for c in run.series["mean_c"]) < 1e-13
    assert max(run.series["trace_error"]) < 1e-12
    sample = np.load(run.chunk_files[-1])
    assert sample["D"].shape == (2, 8, 8, 2, 2) and sample["S_E"].shape == (2, 8, 8, 2, 2)


def test_resumed_run_reproduces_the_uninterrupted_one(moment_run, tmp_path):
    config, simulator, full, checkpoint = moment_run
    resumed_config = build_config(MomentConfig, {**TINY, "resume_from": str(checkpoint)})
    folder = tmp_path / "snapshots"
    run = resume_simulation("active-fluid-moment", resumed_config, simulator.init(), folder)
    assert run.chunks_done == 1 and len(run.chunk_files) == 1
    run = simulate_in_chunks(resumed_config, simulator, run, folder)
    assert run.series == full.series
    np.testing.assert_array_equal(run.state.fields.D_hat, full.state.fields.D_hat)


def test_resume_refuses_another_configuration(moment_run):
    *_, checkpoint = moment_run
    other = build_config(MomentConfig, {**TINY, "alpha": -2.0, "resume_from": str(checkpoint)})
    with pytest.raises(RunFailed, match="differs in: alpha"):
        resume_simulation("active-fluid-moment", other, moment_simulator(other, "bingham").init(),
                          checkpoint.parent / "elsewhere")  # fmt: skip


def test_kinetic_blow_up_fails_the_run_and_keeps_the_checkpoint(tmp_path, capsys):
    """A probe threshold below the initial perturbation counts as a blow-up at the first check."""
    out = tmp_path / "out"
    argv = ["run", KINETIC_FLOW, "--json", "--output", str(out)]
    for key, value in {**TINY, "amplitude": 0.2, "blowup_threshold": 1.05}.items():
        argv += ["--set", f"{key}={value}"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert record["status"] == "failed"
    assert "simulation blew up" in record["error"] and "grid point (i, j)" in record["error"]
    assert "at t = 0," in record["error"]  # the initial state already exceeds the threshold
    assert (out / "checkpoint.msgpack").is_file()
    run = MlflowClient(tracking_uri()).get_run(record["mlflow_run_id"])
    assert run.info.status == "FAILED"
    assert "wall_time_s" in run.data.metrics


def test_kinetic_simulator_matches_the_flow_contract(tmp_path):
    config = build_config(KineticConfig, TINY)
    simulator = kinetic_simulator(config)
    run = simulate_in_chunks(config, simulator, start_simulation(simulator.init()), tmp_path)
    assert run.failure is None
    sample = np.load(run.chunk_files[0])
    # The kinetic S:D, S:E are exact: at t > 0 they differ from the isotropic values.
    assert set(sample.files) == {"t", "c", "D", "E", "u", "S_D", "S_E"}
    assert np.max(np.abs(sample["u"])) > 0

    artifacts = simulation_artifacts_task.fn(KINETIC_FLOW, config, run, tmp_path, "run-id")
    assert {"dataset", "fields", "diagnostics", "spectrum", "velocity_spectrum"} <= set(artifacts)
    dataset = np.load(artifacts["dataset"])
    assert dataset["t"].shape == (4,) and dataset["S_D"].shape == (4, 8, 8, 2, 2)
    provenance = json.loads(str(dataset["provenance"]))
    assert provenance["mlflow_run_id"] == "run-id" and provenance["config"]["n"] == 8
    spectrum = json.loads(artifacts["velocity_spectrum"].read_text())
    assert spectrum["t_from"] == pytest.approx(0.3) and len(spectrum["late_mean"]) == 5

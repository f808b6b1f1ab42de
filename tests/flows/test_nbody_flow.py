"""The nbody flow's pure orchestration: systems, chunking, checkpoint/resume, failures, metrics."""

import numpy as np
import pytest

from flows.checkpoint import save_checkpoint
from flows.config import build_config
from flows.nbody import (
    NBodyConfig,
    failure_message,
    final_state_record,
    initial_system,
    integrate_in_chunks,
    output_times,
    resume_run,
    run_checkpoint_meta,
    run_metrics,
    start_run,
)
from flows.runtime import RunFailed

HEAD_ON = [
    "ic=custom",
    "masses=[1, 1]",
    "positions=[[0, 0], [1, 0]]",
    "velocities=[[0, 0], [0, 0]]",
    "t_end=1.0",
    "n_outputs=8",
    "n_chunks=8",
]


def figure_eight_config(**extra):
    values = {"ic": "figure_eight", "t_end": 2.0, "n_outputs": 8, "n_chunks": 4, **extra}
    return build_config(NBodyConfig, values)


@pytest.fixture(scope="module")
def figure_eight_run(tmp_path_factory):
    """An uninterrupted run, with the checkpoint written after its second chunk."""
    config = figure_eight_config()
    masses, state = initial_system(config)
    path = tmp_path_factory.mktemp("ckpt") / "after-2.msgpack"

    def keep_second(run, _seconds):
        if int(run.chunks_done) == 2:
            save_checkpoint(path, run, run_checkpoint_meta(config, run))

    run, seconds = integrate_in_chunks(config, masses, start_run(masses, state), keep_second)
    return config, masses, run, seconds, path


def test_initial_systems_are_batched():
    for ic in ("figure_eight", "pythagorean", "lagrange"):
        masses, state = initial_system(build_config(NBodyConfig, {"ic": ic}))
        assert masses.shape == (1, 3) and state.positions.shape == (1, 3, 2)
    config = build_config(
        NBodyConfig, {"ic": "random_triple", "n_systems": 5, "seed": 7, "masses": [1, 2, 3]}
    )
    masses, state = initial_system(config)
    assert masses.shape == (5, 3) and state.velocities.shape == (5, 3, 2)
    momentum = np.einsum("bn,bnd->bd", np.asarray(masses), np.asarray(state.velocities))
    np.testing.assert_allclose(momentum, 0.0, atol=1e-14)


def test_output_times_land_on_t_end():
    times = output_times(build_config(NBodyConfig, {"t_end": 3.0, "n_outputs": 10, "n_chunks": 4}))
    assert times.shape == (4, 3)
    assert times[-1, -1] == 3.0 and np.all(np.diff(times.ravel()) > 0)


def test_uninterrupted_run_is_accurate(figure_eight_run):
    config, masses, run, seconds, _ = figure_eight_run
    assert int(run.chunks_done) == config.n_chunks
    assert run.times.shape == (9,) and run.positions.shape == (1, 9, 3, 2)
    assert float(run.state.t[0]) == config.t_end
    metrics = run_metrics(np.asarray(masses), run, seconds, 0.0)
    assert metrics["energy_error"] < 1e-8
    assert metrics["angular_momentum_error"] < 1e-10
    assert metrics["n_force_evals"] >= metrics["n_steps"] > 0
    record = final_state_record(masses, run)
    assert record["t"] == 2.0 and len(record["positions"]) == 3 and record["status"] == ["ok"]


def test_resume_reproduces_the_uninterrupted_run(figure_eight_run):
    config, masses, full, _, path = figure_eight_run
    resumed_config = figure_eight_config(resume_from=str(path))
    template = start_run(*initial_system(resumed_config))
    resumed = resume_run(resumed_config, template)
    assert int(resumed.chunks_done) == 2
    resumed, _ = integrate_in_chunks(resumed_config, masses, resumed)
    np.testing.assert_array_equal(
        np.asarray(resumed.state.positions), np.asarray(full.state.positions)
    )
    np.testing.assert_array_equal(
        np.asarray(resumed.state.velocities), np.asarray(full.state.velocities)
    )
    np.testing.assert_array_equal(resumed.energies, full.energies)
    np.testing.assert_array_equal(np.asarray(resumed.stats.n_steps), np.asarray(full.stats.n_steps))


def test_resume_refuses_another_configuration(figure_eight_run):
    *_, path = figure_eight_run
    other = figure_eight_config(resume_from=str(path), eta=0.02)
    with pytest.raises(RunFailed, match="differs in: eta"):
        resume_run(other, start_run(*initial_system(other)))


def test_head_on_collision_reports_time_and_bodies():
    config = build_config(NBodyConfig, {}, HEAD_ON)
    masses, state = initial_system(config)
    run, _ = integrate_in_chunks(config, masses, start_run(masses, state))
    message = failure_message(run)
    assert message is not None and "bodies 0 and 1" in message
    # Free fall from rest at separation 1 with total mass 2 collides at t = pi/4.
    fail_time = float(np.asarray(run.stats.fail_time)[0])
    assert fail_time == pytest.approx(np.pi / 4, abs=1e-3)
    assert int(run.chunks_done) == 7  # stopped after the chunk (0.75, 0.875] that failed


def test_sequential_batch_equals_the_vmapped_batch():
    """Both batch strategies integrate every system with its own steps: same states, same work."""
    values = {"ic": "random_triple", "n_systems": 3, "seed": 11, "t_end": 1.0, "n_outputs": 4}
    runs = {}
    for strategy in ("vmap", "sequential"):
        config = build_config(NBodyConfig, {**values, "n_chunks": 2, "batch_strategy": strategy})
        masses, state = initial_system(config)
        runs[strategy], _ = integrate_in_chunks(config, masses, start_run(masses, state))
    vmapped, sequential = runs["vmap"], runs["sequential"]
    np.testing.assert_allclose(sequential.positions, vmapped.positions, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(sequential.energies, vmapped.energies, rtol=1e-13)
    np.testing.assert_array_equal(
        np.asarray(sequential.stats.n_force_evals), np.asarray(vmapped.stats.n_force_evals)
    )
    assert len(set(np.asarray(vmapped.stats.n_steps).tolist())) > 1  # uneven work per system


def test_interpolated_samples_leave_the_steps_alone():
    """With sampling=interpolate a densely sampled run takes exactly the steps of a run sampled
    only at its chunk ends, and ends in the same state bit for bit."""
    values = {"ic": "random_triple", "n_systems": 2, "seed": 3, "t_end": 1.0, "n_chunks": 2}
    dense = build_config(NBodyConfig, {**values, "n_outputs": 16, "sampling": "interpolate"})
    sparse = build_config(NBodyConfig, {**values, "n_outputs": 2})
    runs = []
    for config in (dense, sparse):
        masses, state = initial_system(config)
        runs.append(integrate_in_chunks(config, masses, start_run(masses, state))[0])
    dense_run, sparse_run = runs
    assert dense_run.times.shape == (17,) and sparse_run.times.shape == (3,)
    np.testing.assert_array_equal(
        np.asarray(dense_run.stats.n_force_evals), np.asarray(sparse_run.stats.n_force_evals)
    )
    np.testing.assert_array_equal(
        np.asarray(dense_run.state.positions), np.asarray(sparse_run.state.positions)
    )
    np.testing.assert_array_equal(dense_run.energies[:, ::8], sparse_run.energies)

"""Closure flows: bad configs exit 2 naming the key; the shipped closure loads and is exact at
isotropy; a tiny closure-train run (with active learning) saves a closure that closure-evaluate
and active-fluid-moment load by MLflow run id, with the metrics the issue names."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mlflow import MlflowClient

from closures.kinetic import isotropic_coefficients, tensor_basis
from closures.kinetic.network import ClosureConfig, LearnedClosure
from flows.active_fluid import MomentConfig, step_limit
from flows.cli import main
from flows.closure_evaluate import (
    COARSE_DT,
    COARSE_STEP_FRACTION,
    ClosureEvaluateConfig,
    ensemble_metrics,
    spectrum_distance,
)
from flows.closure_pipeline import ACCEPTANCE, acceptance, aggregate
from flows.closure_store import (
    DEFAULT_CLOSURE_DIR,
    is_run_id,
    load_closure_folder,
    resolve_closure,
    save_closure,
)
from flows.closure_train import ClosureTrainConfig
from flows.config import build_config, validate_config
from flows.tracking import tracking_uri
from physics.active_fluid import ActiveFluidParams

TINY_DATA = {"n": 8, "n_theta": 8, "dt": 0.01, "t_end": 1.0, "n_outputs": 4, "t_min": 0.25}
TINY_TRAIN = {
    **TINY_DATA, "alphas": [-2.0], "zetas": [0.5, 1.0], "steps": 20, "batch_size": 64,
    "points_per_snapshot": 16, "holdout_every": 2, "hidden": [4], "active_rounds": 1,
    "add_per_round": 1, "retrain_steps": 10,
}  # fmt: skip
TINY_EVALUATE = {"n": 8, "n_theta": 8, "coarse_n": 8, "dt": 0.01, "coarse_dt": 0.02,
                 "t_end": 0.4, "n_outputs": 4, "t_min": 0.1}  # fmt: skip


def argv(flow: str, values: dict, output: Path | None = None) -> list[str]:
    args = ["run", flow, "--json"] + (["--output", str(output)] if output else [])
    for key, value in values.items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    return args


@pytest.mark.parametrize(
    ("flow", "assignment", "expected"),
    [
        ("closure-train", "hidden=[0]", "hidden: Value error, must be a non-empty list"),
        ("closure-train", "inputs=DEX", "inputs: Input should be 'D', 'DL' or 'DE'"),
        ("closure-train", "initial_runs=[9]", "initial_runs: indices must lie in [0, 9)"),
        ("closure-train", "dt=1", "alphas/zetas: the kinetic run"),
        ("closure-train", "datasets=[/nonexistent.npz]", "datasets: Value error, must be a"),
        ("closure-evaluate", "closure=cubic", "closure: Value error, Input should be 'bingham'"),
        ("closure-evaluate", "coarse_n=96", "coarse_n: must be even, >= 8 and <= n (64)"),
        ("closure-evaluate", "n_theta=10", "n/n_theta/dt: invalid run"),
        ("closure-evaluate", "seeds=[2, 2]", "seeds: must be distinct non-negative integers"),
        ("closure-evaluate", "coarse_dt=0.2", "coarse_n/coarse_dt: invalid run: dt: 0.2 exceeds"),
        ("closure-train", "kind=cnn", "kind: 'cnn' needs inputs 'D' (set inputs=D"),
        ("closure-estimate", "estimate=[beta]", "estimate.0: Input should be 'alpha' or 'zeta'"),
        ("closure-estimate", "t_min=7.9", "t_min: no window of 2 snapshots fits"),
        ("closure-estimate", "window=0", "window: Input should be greater than or equal to 1"),
        ("active-fluid-moment", "closure=cubic", "closure: Input should be 'bingham'"),
    ],
)
def test_bad_configs_exit_2_naming_the_key(flow, assignment, expected, capsys):
    assert main(["run", flow, "--set", assignment]) == 2
    normalise = lambda text: text.replace("Value error, ", "")  # noqa: E731
    assert normalise(expected) in normalise(capsys.readouterr().err)


def test_default_coarse_step_is_capped_by_the_coarse_stability_limit():
    """coarse_dt by default: 0.05 where half the coarse grid's stability limit allows it, else
    that half (more active flows get smaller steps); a set value is kept."""
    default = validate_config(ClosureEvaluateConfig, {})
    assert default.coarse_step() == COARSE_DT == 0.05
    active = validate_config(ClosureEvaluateConfig, {"alpha": -3.5, "zeta": 1.0})
    limit = step_limit(ActiveFluidParams(alpha=-3.5, zeta=1.0), active.coarse_n)
    assert active.coarse_step() == COARSE_STEP_FRACTION * limit < COARSE_DT
    assert active.coarse().dt == active.coarse_step()
    chosen = validate_config(ClosureEvaluateConfig, {"alpha": -5.0, "coarse_dt": 0.01})
    assert chosen.coarse_step() == chosen.coarse().dt == 0.01


def test_shipped_closure_loads_and_is_exact_at_isotropy():
    closure, params, meta = load_closure_folder(DEFAULT_CLOSURE_DIR)
    assert isinstance(closure, LearnedClosure) and is_run_id(meta["mlflow_run_id"])
    assert meta["training_data"]["runs"] and meta["flow"] == "closure-train"
    c = jnp.array([1.0, 1.3])
    iso = c[:, None, None] * jnp.eye(2) / 2
    E = jnp.array([[[0.3, 0.1], [0.1, -0.3]]] * 2)
    exact = tensor_basis(isotropic_coefficients(c), iso, E)
    for got, want in zip(closure(params, c, iso, E), exact, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-13)
    assert resolve_closure("learned").label == "learned"
    assert build_config(MomentConfig, {"closure": "learned"}).closure == "learned"
    assert build_config(MomentConfig, {"closure": str(DEFAULT_CLOSURE_DIR)})


def test_strain_dependent_closure_is_configured_saved_and_loaded(tmp_path):
    """inputs=DL goes from the closure-train config to config.json and back to the same closure,
    which the moment flow accepts by folder."""
    config = build_config(ClosureTrainConfig, {"inputs": "DL", "hidden": [4]}).network()
    closure = LearnedClosure(ClosureConfig.from_json({**config.to_json(), "strain_scale": 0.5}))
    params = closure.init(jax.random.key(0))
    params = jax.tree.map(lambda leaf: leaf + 0.3, params)
    folder = save_closure(tmp_path / "closure", closure, params, {"mlflow_run_id": "none"})
    resolved = resolve_closure(str(folder))
    assert resolved.closure == closure and resolved.closure.config.inputs == "DL"
    c = jnp.array([1.0, 1.2])
    D = jnp.array([[[0.7, 0.1], [0.1, 0.3]], [[0.5, -0.2], [-0.2, 0.7]]])
    E = jnp.array([[[0.3, 0.1], [0.1, -0.3]]] * 2)
    for got, want in zip(resolved.closure(resolved.params, c, D, E), closure(params, c, D, E),
                         strict=True):  # fmt: skip
        np.testing.assert_array_equal(got, want)
    assert build_config(MomentConfig, {"closure": str(folder)}).closure == str(folder)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny closure-train run through the CLI (2 kinetic runs, 1 active-learning round)."""
    out = tmp_path_factory.mktemp("train")
    code = main(argv("closure-train", TINY_TRAIN, out))
    assert code == 0
    return out


def test_closure_train_saves_and_logs_a_closure(trained, capsys):
    record = json.loads((trained / "summary.json").read_text())
    metrics = record["metrics"]
    for name in ("learned", "bingham", "quadratic"):
        assert metrics[f"apriori_rel_error_{name}"] > 0
    assert "active_round_1_held_out_error" in metrics and metrics["n_runs"] == 2
    closure, _, meta = load_closure_folder(trained / "closure")
    assert closure.config.hidden == (4,) and meta["mlflow_run_id"] == record["mlflow_run_id"]
    runs = meta["training_data"]["runs"]
    assert [(r["alpha"], r["zeta"]) for r in runs] == [(-2.0, 0.5), (-2.0, 1.0)]
    assert runs[0]["times"][0] == 0.25 and runs[0]["name"].startswith(record["mlflow_run_id"])
    client = MlflowClient(tracking_uri())
    logged = {a.path for a in client.list_artifacts(record["mlflow_run_id"], "closure")}
    assert logged == {"closure/params.msgpack", "closure/config.json"}
    for plot in ("loss", "harmonic_factor", "error_by_order"):
        assert Path(record["artifacts"][plot]).is_file()


def test_closure_evaluate_loads_the_trained_closure_by_run_id(trained, tmp_path, capsys):
    """closure-evaluate by MLflow run id, on an ensemble of two seeds: the issue's metrics are
    those of the ensemble means, and every seed's own metrics are logged beside them."""
    run_id = json.loads((trained / "summary.json").read_text())["mlflow_run_id"]
    capsys.readouterr()
    config = {**TINY_EVALUATE, "closure": run_id, "seed": 1, "seeds": [2]}
    assert main(argv("closure-evaluate", config, tmp_path)) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert metrics["n_seeds"] == 2
    for name in ("velocity_rms", "order_parameter"):
        late = [metrics[f"{name}_late_learned_seed{k}"] for k in (1, 2)]
        kinetic = [metrics[f"{name}_late_kinetic_seed{k}"] for k in (1, 2)]
        assert late[0] != late[1]  # two different runs
        assert metrics[f"{name}_rel_error_learned"] == pytest.approx(
            abs(sum(late) / sum(kinetic) - 1), rel=1e-12
        )
    apriori = [metrics[f"apriori_rel_error_learned_seed{k}"] for k in (1, 2)]
    assert metrics["apriori_rel_error_learned"] == pytest.approx(sum(apriori) / 2, rel=1e-12)
    distances = [metrics[f"spectrum_log_l2_learned_seed{k}"] for k in (1, 2)]
    assert metrics["spectrum_log_l2_run_mean_learned"] == pytest.approx(sum(distances) / 2)
    assert np.isfinite(metrics["spectrum_log_l2_learned"])  # of the ensemble-mean spectra
    names = [f"apriori_rel_error_{m}" for m in ("learned", "bingham", "quadratic")]
    for model in ("learned", "bingham"):
        names += [f"{k}_{model}" for k in ("order_parameter_rel_error", "velocity_rms_rel_error",
                                           "spectrum_log_l2", "stable")]  # fmt: skip
    assert set(names + ["speedup_vs_kinetic"]) <= set(metrics)
    assert metrics["stable_learned"] == 1.0 and metrics["stable_bingham"] == 1.0
    assert metrics["speedup_vs_kinetic"] > 0
    assert metrics["coarse_dt_effective"] == pytest.approx(TINY_EVALUATE["coarse_dt"])
    assert metrics["kinetic_dt_effective"] == pytest.approx(TINY_EVALUATE["dt"])
    for plot in ("comparison", "spectra", "order_fields"):
        assert (tmp_path / f"{plot}.png").is_file()


def test_ensemble_spectrum_distance_compares_ensemble_means_not_single_runs():
    """Two coarse runs whose late spectra are the two kinetic runs' spectra, paired the other way
    round (what sampling noise alone does): every single run is off, the ensemble is exact."""
    k = 2 * np.pi / 10 * np.arange(12)
    truth = (1 + k) ** -3.0
    wobble = np.exp(0.3 * np.sin(3 * k))  # one chaotic run's deviation from the mean spectrum
    kinetic = [truth * wobble, truth / wobble]
    spectra = [{"kinetic": (k, kinetic[j]), "learned": (k, kinetic[1 - j]),
                "bingham": (k, 1.2 * kinetic[j])} for j in (0, 1)]  # fmt: skip
    runs = [{**one_run_metrics(), **{f"spectrum_log_l2_{m}": spectrum_distance(
        one[m], one["kinetic"], 10) for m in ("learned", "bingham")}} for one in spectra]
    metrics = ensemble_metrics(runs, spectra, 10)
    assert metrics["spectrum_log_l2_learned"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["spectrum_log_l2_bingham"] == pytest.approx(np.log(1.2), rel=1e-12)
    single = runs[0]["spectrum_log_l2_learned"]
    assert single > np.log(1.2)  # per run, the noise makes the exact closure look worse
    assert metrics["spectrum_log_l2_run_mean_learned"] == pytest.approx(single, rel=1e-12)
    assert metrics["spectrum_closer_runs"] == 0


def one_run_metrics() -> dict:
    """One run's metrics of :func:`evaluate` other than the spectrum distances (values
    irrelevant here)."""
    names = [f"apriori_rel_error_{m}" for m in ("learned", "bingham", "quadratic")]
    names += [f"{q}_late_{m}" for q in ("order_parameter", "velocity_rms")
              for m in ("kinetic", "learned", "bingham")]  # fmt: skip
    names += [f"{k}_{m}" for k in ("stable", "ms_per_step", "speedup_vs_kinetic")
              for m in ("learned", "bingham")]  # fmt: skip
    names += ["ms_per_step_kinetic", "speedup_vs_kinetic", "kinetic_dt_effective",
              "coarse_dt_effective", "kinetic_wall_time_s"]  # fmt: skip
    return dict.fromkeys(names, 1.0)


def pair_metrics(learned: float, stable: float = 1.0, speedup: float = 40.0) -> dict:
    return {
        "apriori_rel_error_learned": learned, "apriori_rel_error_bingham": 1.0,
        "stable_learned": stable, "order_parameter_rel_error_learned": 0.05,
        "velocity_rms_rel_error_learned": 0.08, "spectrum_log_l2_learned": 0.1,
        "spectrum_log_l2_bingham": 0.2, "speedup_vs_kinetic": speedup,
    }  # fmt: skip


def test_pipeline_summaries_and_acceptance_checks():
    per_pair = [pair_metrics(0.4), pair_metrics(0.6, stable=0.0, speedup=20.0)]
    summary = aggregate(per_pair)
    assert summary["apriori_rel_error_learned"] == pytest.approx(0.5)
    assert summary["stable_learned"] == 0.0 and summary["speedup_vs_kinetic"] == 20.0
    checks = acceptance(per_pair, {"alpha_rel_error": 0.03})
    assert checks == {"apriori": False, "stable": False, "order": True, "velocity": True,
                      "spectrum": True, "speed": False, "alpha": True}  # fmt: skip
    assert set(checks) == set(ACCEPTANCE)
    assert all(acceptance([pair_metrics(0.4)], {"alpha_rel_error": 0.01}).values())


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("held_out=[[-1.0]]", "held_out: must be a non-empty list of [alpha, zeta] pairs"),
        ("coarse_n=128", "held_out/eval_*/coarse_*: pair 0:"),
        ("estimate_t_min=19.9", "estimate*:"),
    ],
)
def test_pipeline_bad_configs_exit_2(assignment, expected, capsys):
    assert main(["run", "closure-pipeline", "--set", assignment]) == 2
    assert expected in capsys.readouterr().err


def test_closure_pipeline_runs_end_to_end_and_leaves_its_report(tmp_path, capsys):
    """The flagship flow on a tiny problem: data, training, one held-out pair judged on two
    seeds, estimation; the report names every acceptance check and links plots that exist; the
    metrics carry the per-pair ensemble and acceptance keys."""
    config = {**TINY_TRAIN, "held_out": [[-1.5, 0.75]], "eval_seeds": [2], "eval_n": 8,
              "eval_n_theta": 8, "eval_t_end": 0.4, "eval_outputs": 4, "coarse_n": 8,
              "coarse_dt": 0.02, "estimate_windows": 1, "estimate_steps": 2,
              "estimate_t_min": 0.1}  # fmt: skip
    assert main(argv("closure-pipeline", config, tmp_path)) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert {f"accept_{name}" for name in ACCEPTANCE} <= set(metrics)
    assert metrics["coarse_dt_effective_pair0"] == pytest.approx(0.02)
    assert metrics["n_seeds_pair0"] == 2 and "spectrum_log_l2_learned_seed2_pair0" in metrics
    report = (tmp_path / "report.md").read_text()
    assert "coarse 8², dt = 0.02; t ≤ 0.4, seeds 1, 2 (each pair judged" in report
    for text in ACCEPTANCE.values():
        assert text in report
    for link in ("comparison_pair0.png", "spectra_pair0.png", "estimation.png"):
        assert link in report and (tmp_path / link).is_file()

"""Learned kinetic closure on held-out (α, ζ): a-priori errors, coarse moment runs against the
kinetic theory (stability, order parameter, velocity rms, spectra, speed), and α estimation.

For each held-out pair (not in the shipped closure's training grid α ∈ {−1, −2, −3} ×
ζ ∈ {0.5, 1, 1.5}, seed 0) this runs exactly what ``closure-evaluate`` runs (kinetic reference
on n² × n_theta, coarse 32² moment runs with the learned and the Bingham closure from the same
state, to t = 20) and ``closure-estimate`` (α from the kinetic data truncated to 32², learned
closure), without Prefect or MLflow, and records the table in RESULTS.md.

Usage: python benchmarks/kinetic_closures.py [--quick] [--closure REF] [--no-record]
(REF as in closure-evaluate: ``learned``, a closure-train run id or a closure folder)
"""

import argparse
import datetime
import shutil
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import jax
from results import RESULTS, record_section

import physics  # noqa: F401  (float64)
from closures.kinetic.apriori import best_harmonic_factor
from closures.kinetic.dataset import pointwise
from flows.closure_estimate import EstimationConfig, estimation_metrics, run_estimation
from flows.closure_evaluate import EvaluationConfig, evaluate, evaluation_plots
from flows.closure_pipeline import coarse_fields
from flows.closure_plots import harmonic_factor_plot
from flows.closure_store import load_kinetic_dataset, resolve_closure
from flows.config import validate_config

SECTION = "## closures: learned kinetic closure on held-out (α, ζ)"
PAIRS = [(-1.5, 0.75), (-2.5, 1.25), (-3.5, 1.0)]
FIGURES = Path(__file__).with_name("figures")
FIGURE_PAIR = 1  # the pair whose time series and spectra become closure_{comparison,spectra}.png
NOTE = (
    "The shipped closure (`closures/kinetic/trained/default`, inputs `D`, MLP 16-16 tanh) was"
    " trained by the default `closureflow run closure-train`: 9 kinetic runs α ∈ {−1, −2, −3}"
    " × ζ ∈ {0.5, 1, 1.5}, seed 0, on 64² × 64 (t ≤ 20; resolved, unlike 32², where Ψ < 0 a"
    "nd s > 1 at some points), 4000"
    " a-priori Adam steps, no a-posteriori stage. The first two pairs interpolate between the"
    " training parameters, α = −3.5 extrapolates beyond them; seed 1 is not in the training da"
    "ta either. The row 'best h(s²)' is the a-priori error of the best possible closure of D a"
    "lone on each pair's own snapshots (`closures.kinetic.apriori.best_harmonic_factor`: every"
    " equivariant pointwise S(D) has m₄ = h m₂²/c; h fitted per quantile bin of s² on the data"
    " it is scored on, so no closure of D, learned or not, gets much below it; a finer h(c, s²)"
    " lowered it by < 1%): it lies above ½ o"
    "n two of the three pairs, so the target 'a-priori error ≤ ½ of Bingham's' is out of reach"
    " of any closure of D there. The speed-up depends on the machine's load at the moment of"
    " measurement (kinetic and coarse runs are timed minutes apart on a shared CPU)."
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32² kinetic, one pair, t = 10")
    parser.add_argument("--closure", default="learned", help="closure reference to evaluate")
    parser.add_argument(
        "--no-record", action="store_true", help="print the table only (no RESULTS.md, figures)"
    )
    args = parser.parse_args()
    record = not (args.quick or args.no_record)
    n, t_end, pairs = (32, 10.0, PAIRS[:1]) if args.quick else (64, 20.0, PAIRS)
    rows = []
    with TemporaryDirectory() as tmp:
        for k, (alpha, zeta) in enumerate(pairs):
            log(f"pair α={alpha:g}, ζ={zeta:g}: kinetic {n}² × 64, coarse 32² ...")
            config = validate_config(EvaluationConfig, {
                "closure": args.closure, "alpha": alpha, "zeta": zeta, "seed": 1, "n": n,
                "n_theta": 64, "t_end": t_end, "n_outputs": int(4 * t_end),
            })  # fmt: skip
            folder = Path(tmp) / f"pair{k}"
            start = time.perf_counter()
            evaluation = evaluate(config, folder, "benchmark", "benchmark")
            metrics = evaluation.metrics
            if record and k == FIGURE_PAIR:
                plots = evaluation_plots(evaluation, config, folder, "benchmark")
                for name in ("comparison", "spectra"):
                    shutil.copy(plots[name], FIGURES / f"closure_{name}.png")
            info, fields = load_kinetic_dataset(str(folder / "kinetic"))
            held = pointwise(fields.select(fields.t >= config.t_min - 1e-9), zeta, 0)
            metrics["apriori_floor_of_D"] = best_harmonic_factor(held)[2]
            estimation = validate_config(EstimationConfig, {
                "closure": args.closure, "alpha": alpha, "zeta": zeta, "n": 32, "t_end": t_end,
                "n_outputs": int(4 * t_end), "t_min": 4.0, "n_windows": 4, "steps": 30,
            })  # fmt: skip
            result = run_estimation(estimation, folder / "estimate", "benchmark", "benchmark",
                                    (info, coarse_fields(fields, 32)))  # fmt: skip
            metrics.update(estimation_metrics(result))
            metrics["seconds"] = time.perf_counter() - start
            rows.append((alpha, zeta, metrics))
            log(f"  done in {metrics['seconds']:.0f} s")

    def line(label: str, key: str, fmt: str = "{:.3g}") -> str:
        return f"| {label} | " + " | ".join(fmt.format(m[key]) for *_, m in rows) + " |"

    header = "| quantity | " + " | ".join(f"α = {a:g}, ζ = {z:g}" for a, z, _ in rows) + " |"
    table = "\n".join([
        header, "|---" * (len(rows) + 1) + "|",
        line("a-priori rel. MSE of S:T, learned", "apriori_rel_error_learned", "{:.2e}"),
        line("a-priori rel. MSE of S:T, Bingham", "apriori_rel_error_bingham", "{:.2e}"),
        line("a-priori rel. MSE of S:T, quadratic", "apriori_rel_error_quadratic", "{:.2e}"),
        "| a-priori learned / Bingham | " + " | ".join(
            f"{m['apriori_rel_error_learned'] / m['apriori_rel_error_bingham']:.2f}"
            for *_, m in rows) + " |",
        "| best h(s²) fitted on these snapshots (floor of closures of D) / Bingham | " + " | ".join(
            f"{m['apriori_floor_of_D'] / m['apriori_rel_error_bingham']:.2f}"
            for *_, m in rows) + " |",
        "| stable to t_end: learned / Bingham | " + " | ".join(
            f"{m['stable_learned']:.0f} / {m['stable_bingham']:.0f}" for *_, m in rows) + " |",
        line("late ⟨s⟩ kinetic", "order_parameter_late_kinetic", "{:.4f}"),
        line("⟨s⟩ rel. error, learned", "order_parameter_rel_error_learned", "{:.3f}"),
        line("⟨s⟩ rel. error, Bingham", "order_parameter_rel_error_bingham", "{:.3f}"),
        line("late u_rms kinetic", "velocity_rms_late_kinetic", "{:.4f}"),
        line("u_rms rel. error, learned", "velocity_rms_rel_error_learned", "{:.3f}"),
        line("u_rms rel. error, Bingham", "velocity_rms_rel_error_bingham", "{:.3f}"),
        line("log-spectrum rms distance, learned", "spectrum_log_l2_learned"),
        line("log-spectrum rms distance, Bingham", "spectrum_log_l2_bingham"),
        line("kinetic ms/step", "ms_per_step_kinetic", "{:.2f}"),
        line("coarse ms/step, learned", "ms_per_step_learned", "{:.2f}"),
        line("coarse ms/step, Bingham", "ms_per_step_bingham", "{:.2f}"),
        line("speed-up vs kinetic, learned", "speedup_vs_kinetic", "{:.1f}x"),
        line("speed-up vs kinetic, Bingham", "speedup_vs_kinetic_bingham", "{:.1f}x"),
        line("α from velocity regression", "alpha_regression", "{:.4f}"),
        line("α after gradient descent", "alpha_estimated", "{:.4f}"),
        line("α rel. error", "alpha_rel_error", "{:.3f}"),
    ])  # fmt: skip
    command = "python benchmarks/kinetic_closures.py" + "".join(f" {a}" for a in sys.argv[1:])
    section = (
        f"{SECTION}\n\n"
        f"{datetime.date.today()}, 2-core CPU shared with other jobs, no GPU; jax "
        f"{jax.__version__}; `{command}`. Closure `{args.closure}`; kinetic reference "
        f"{n}² × 64, dt = 2e-3, seed 1, to t = {t_end:g}; coarse moment runs 32², dt = 0.02, "
        "from the same initial state; late = second half of the run; spectra compared over "
        "shells 1 … 10 (the coarse grid's dealiased range). Timings are warm (compilation "
        "excluded) and measured one after another in one process; the machine was shared, so "
        "they carry ±30%.\n\n"
        f"{table}\n\n{NOTE}\n"
    )
    if record:
        record_section(SECTION, section, RESULTS)
        resolved = resolve_closure(args.closure)
        harmonic_factor_plot(resolved.closure, resolved.params, f"closure {args.closure}",
                             FIGURES / "closure_harmonic_factor.png")  # fmt: skip
    print(section)


if __name__ == "__main__":
    main()

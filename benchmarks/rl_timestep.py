"""The learned η controller against every fixed η and REBOUND IAS15, recorded in RESULTS.md.

Runs the same pure functions as ``closureflow run rl-timestep-eval`` (no Prefect, no MLflow) on
held-out random triples, prints the Pareto table and the acceptance check (the policy's median
|ΔE/E₀| against the fixed-η curve interpolated in log-log at its median force evaluations, and
against the common setting η = 0.01), and records them in benchmarks/RESULTS.md; with
``--pareto FILE`` it records the ``pareto.json`` of a flow run instead of computing one.

Usage: python benchmarks/rl_timestep.py [--policy default] [--seed-start 0] [--n-seeds 100]
       [--t-end 100] [--safeguard] [--pareto out/pareto.json] [--note-file NOTE.md] [--quick]
"""

import argparse
import datetime
import json
import sys
from pathlib import Path

from results import RESULTS, record_section

# Run as a script, this file's folder comes first on sys.path, where its name would shadow the
# rl_timestep package: once ``results`` is imported from it, it leaves the path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]

import jax  # noqa: E402
import numpy as np  # noqa: E402

from flows.config import build_config  # noqa: E402
from flows.rl_eval import (  # noqa: E402
    RLEvalConfig,
    default_cost_weight,
    evaluate_integrator,
    front_metrics,
    held_out_systems,
    ias15_reference,
    integrator_metrics,
    markdown_table,
    resolve_policy,
    row,
)
from rl_timestep.policy import load_policy  # noqa: E402

SECTION = "## rl_timestep: learned η controller vs fixed η vs REBOUND IAS15"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def evaluate(config: RLEvalConfig) -> tuple[list[dict], dict]:
    """The pareto rows and the per-system results, as the flow writes them."""
    policy = load_policy(resolve_policy(config.policy))
    masses, systems = held_out_systems(config)
    rows, details = [], {}
    for integrator in [config.integrator, *config.transfer_integrators]:
        more, more_details, _ = evaluate_integrator(
            config, policy, integrator, masses, systems, log
        )
        rows += more
        details.update(more_details)
    reference = ias15_reference(np.asarray(masses), systems, config.t_end)
    if reference is None:
        log("REBOUND not installed: no IAS15 row")
    else:
        errors, evals, wall = reference
        rows.append(row("ias15", None, errors, evals, wall, integrator="ias15", label="ias15"))
    return rows, details


def verdict(rows: list[dict], details: dict | None, integrator: str, config: RLEvalConfig) -> str:
    """The acceptance check of one integrator and, with per-system results, the paired one."""
    if details is None:
        m = front_metrics(rows, integrator, config.common_eta)
    else:
        m = integrator_metrics(rows, details, integrator, config)
    below = "below" if m["below_front"] else "NOT below"
    beats = "beats" if m["beats_common"] else "does NOT beat"
    text = (
        f"- {integrator}: policy median |ΔE/E₀| {m['rl_energy_error_median']:.2e} at "
        f"{m['rl_force_evals_median']:,.0f} force evaluations; the fixed-η curve there: "
        f"{m['front_energy_error_at_rl']:.2e} (ratio {m['rl_over_front']:.2f}, {below} the "
        f"front). η = {m['common_eta']:g}: {m['common_energy_error_median']:.2e} at "
        f"{m['common_force_evals_median']:,.0f}: the policy {beats} it in both error and cost."
    )
    if details is None:
        return text
    accurate, tail = (
        f"{m[key]:.2f}" if key in m else "—"
        for key in ("rl_cost_ratio_where_accurate", "rl_cost_ratio_where_tail")
    )
    common = f"η = {m['common_eta']:g}"
    return text + (
        f" System by system: {m['rl_tail_share']:.0%} of the policy's runs end above "
        f"{config.tail_threshold:g} ({common}: {m['common_tail_share']:.0%}); its force "
        f"evaluations over {common}'s are {accurate} (median) on the runs it ends at or below "
        f"that and {tail} on the others."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="default")
    parser.add_argument("--seed-start", type=int, default=0)
    parser.add_argument("--n-seeds", type=int, default=100)
    parser.add_argument("--t-end", type=float, default=100.0)
    parser.add_argument("--safeguard", action="store_true", help="add the policy + safeguard")
    parser.add_argument("--pareto", help="record this pareto.json instead of computing one")
    parser.add_argument("--note-file", help="Markdown file whose text goes below the table")
    parser.add_argument("--quick", action="store_true", help="6 systems to t = 5, not recorded")
    args = parser.parse_args()
    values = {
        "policy": args.policy,
        "seed_start": args.seed_start,
        "n_seeds": 6 if args.quick else args.n_seeds,
        "t_end": 5.0 if args.quick else args.t_end,
        "safeguard": args.safeguard,
    }
    config = build_config(RLEvalConfig, values)
    if args.pareto:
        rows = json.loads(Path(args.pareto).read_text())
        beside = Path(args.pareto).with_name("per_system.json")  # as the flow writes them
        details = json.loads(beside.read_text()) if beside.exists() else None
    else:
        rows, details = evaluate(config)
    policy = load_policy(resolve_policy(config.policy))
    table = markdown_table(rows)
    checks = "\n".join(
        verdict(rows, details, integrator, config)
        for integrator in [config.integrator, *config.transfer_integrators]
    )
    print(table)
    print(checks)
    if args.quick:
        return
    source = f"`{args.pareto}` of a flow run" if args.pareto else "computed here"
    steps = (
        " (a step lands on every interval end)"
        if policy.config.get("clip_to_interval", True)
        else " (the integrator's own steps; η changes at the first step past an interval's end, "
        "so a fixed η is exactly the uninterrupted integration)"
    )
    weight = (
        f", cost weight {default_cost_weight(policy):.3g} (the policy's calibrated trade-off)"
        if policy.config["observation"] == "tradeoff"
        else ""
    )
    command = "python benchmarks/rl_timestep.py" + "".join(f" {a}" for a in sys.argv[1:])
    section = (
        f"{SECTION}\n\n"
        f"{datetime.date.today().isoformat()}, 2-core CPU (shared), no GPU; jax {jax.__version__}; "
        f"`{command}` (table {source}).\n"
        f"Policy `{config.policy}` (MLflow run `{policy.config.get('mlflow_run_id')}`, trained on "
        f"random_triple seeds ≥ {policy.config.get('held_out_below')}); {config.n_seeds} held-out "
        f"systems, seeds {config.seed_start} … {config.seed_start + config.n_seeds - 1}, "
        f"integrated to t = {config.t_end:g} in control intervals of "
        f"{policy.config['interval']:g} time units{steps}{weight}. Every fixed η runs through the "
        "same environment (same intervals, same force-evaluation count); medians over the "
        "systems of the final |ΔE/E₀| and of the force evaluations (the initial one included); "
        "wall times are whole batches, one system after another, compiled beforehand. IAS15: "
        "REBOUND defaults, force evaluations counted with an `additional_forces` counter.\n\n"
        f"{table}\n{checks}\n"
        + (f"\n{Path(args.note_file).read_text().strip()}\n" if args.note_file else "")
    )
    record_section(SECTION, section)
    log(f"recorded in {RESULTS}")


if __name__ == "__main__":
    main()

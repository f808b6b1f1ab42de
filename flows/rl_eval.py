"""The ``rl-timestep-eval`` flow: a time-step controller against every fixed η, and IAS15.

On ``n_seeds`` held-out random triples (seeds ``seed_start …``; training never used seeds below
10 000) it integrates to ``t_end`` with the learned policy and with each fixed η of the policy's
action set, all through the same environment (same control intervals, same force-evaluation
count), for ``integrator`` and then for each of ``transfer_integrators`` (the same policy, not
retrained). REBOUND's IAS15 (optional dependency) is the machine-precision anchor. Artifacts: the
``pareto`` table (JSON rows ``{method, eta, energy_error_median, energy_error_p90,
force_evals_median, wall_time_s, …}``), the ``pareto_plot`` (error against force evaluations,
log-log), the ``paired_plot`` (each system's error and cost relative to the common fixed η) and
per-system results.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from prefect import flow, task
from prefect.cache_policies import NONE
from pydantic import Field, field_validator, model_validator

import physics.nbody as nbody
from flows.config import FlowConfig, validate_config
from flows.plots import save_figure
from flows.progress import Progress
from flows.runtime import FlowOutcome, execute
from flows.tracking import RunLogger, tracking_client
from rl_timestep.env import SEED_HIGH, TimestepEnv, env_params
from rl_timestep.evaluate import (
    Rollout,
    common_row,
    front_error_at,
    n_control_steps,
    per_system_ratios,
    rollout,
    summarise,
)
from rl_timestep.policy import DEFAULT_POLICY, Policy, PolicyError, load_policy, make_act

FLOW_NAME = "rl-timestep-eval"
DESCRIPTION = "Evaluate a time-step controller against every fixed η and REBOUND IAS15"
VariableStep = Literal["hermite4", "yoshida4_adaptive"]
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
METHODS = ("rl", "fixed", "ias15")


@functools.lru_cache(maxsize=8)
def resolve_policy(reference: str) -> Path:
    """The folder of a policy given as "default", a folder or config.json path, or an MLflow
    run id (its ``policy`` artifacts are downloaded). Raises ValueError naming the problem."""
    if reference == "default":
        return DEFAULT_POLICY
    path = Path(reference).expanduser()
    if path.exists():
        return path.parent if path.is_file() else path
    if not RUN_ID.match(reference):
        raise ValueError("no such file or folder, and not an MLflow run id (32 hex digits)")
    client = tracking_client()
    try:
        client.get_run(reference)
    except Exception as err:  # noqa: BLE001 - MLflow raises several kinds for a missing run
        raise ValueError(f"MLflow run {reference} not found ({type(err).__name__})") from None
    target = Path(tempfile.mkdtemp(prefix="closureflow-policy-"))
    try:
        folder = client.download_artifacts(reference, "policy", str(target))
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"MLflow run {reference} has no policy artifacts ({err})") from None
    return Path(folder)


class RLEvalConfig(FlowConfig):
    """Configuration of ``rl-timestep-eval`` (units G = M☉ = au = 1)."""

    policy: str = Field(
        "default", description='"default" (shipped), a policy folder, or an MLflow run id'
    )
    seed_start: int = Field(0, ge=0, description="first random_triple seed")
    n_seeds: int = Field(100, ge=1, description="systems: seeds seed_start .. seed_start+n-1")
    t_end: float = Field(100.0, gt=0, description="end time of every integration")
    integrator: VariableStep = Field("hermite4", description="integrator the policy drives")
    transfer_integrators: list[VariableStep] = Field(
        ["yoshida4_adaptive"], description="further integrators driven without retraining"
    )
    common_eta: float = Field(0.01, gt=0, description="the usual fixed setting to beat")
    cost_weight: float | None = Field(
        None,
        gt=0,
        description="tradeoff policies: price of force evaluations (default: the policy's own)",
    )
    tradeoff_sweep: list[float] = Field(
        [], description="tradeoff policies: further cost weights, one extra row each"
    )
    safeguard: bool = Field(False, description="also evaluate the policy with the safeguard")
    safeguard_factor: float = Field(10.0, gt=1, description="η divisor of a redone interval")
    safeguard_threshold: float = Field(2.0, gt=0, description="decades of error jump to redo")
    safeguard_retries: int = Field(2, ge=1)
    max_steps_per_interval: int = Field(
        100_000, ge=1, description="integrator steps per control interval before giving up"
    )
    ias15: bool = Field(True, description="REBOUND IAS15 anchor (skipped if not installed)")
    tail_threshold: float = Field(
        1e-6, gt=0, description="final |ΔE/E₀| above which a run counts as gone bad (tail)"
    )

    quick_overrides = {"n_seeds": 6, "t_end": 5.0, "max_steps_per_interval": 20_000}

    @field_validator("policy")
    @classmethod
    def _policy_loads(cls, reference: str) -> str:
        try:
            load_policy(resolve_policy(reference))
        except PolicyError as err:
            raise ValueError(str(err)) from None
        return reference

    @model_validator(mode="after")
    def _consistent(self) -> RLEvalConfig:
        if self.seed_start + self.n_seeds > SEED_HIGH:
            raise ValueError(f"n_seeds: seeds must stay below {SEED_HIGH}")
        if self.integrator in self.transfer_integrators:
            raise ValueError("transfer_integrators: must not repeat integrator")
        if len(set(self.transfer_integrators)) != len(self.transfer_integrators):
            raise ValueError("transfer_integrators: must not repeat an integrator")
        policy = load_policy(resolve_policy(self.policy))
        if policy.config["observation"] != "tradeoff":
            if self.cost_weight is not None:
                raise ValueError("cost_weight: the policy was not trained with a trade-off input")
            if self.tradeoff_sweep:
                raise ValueError(
                    "tradeoff_sweep: the policy was not trained with a trade-off input"
                )
        if not all(weight > 0 for weight in self.tradeoff_sweep):
            raise ValueError("tradeoff_sweep: cost weights must be > 0")
        etas = policy.etas
        if not any(math.isclose(self.common_eta, eta, rel_tol=1e-6) for eta in etas):
            listed = ", ".join(f"{eta:.4g}" for eta in etas)
            raise ValueError(f"common_eta: must be one of the policy's actions ({listed})")
        return self


# ----------------------------------------------------------------------------------------------
# Pure orchestration (no Prefect, no MLflow): shared by the flow and the tests.


def held_out_systems(config: RLEvalConfig) -> tuple[jax.Array, nbody.NBodyState]:
    seeds = jnp.arange(config.seed_start, config.seed_start + config.n_seeds)
    return nbody.random_triples(seeds)


def row(
    method: str,
    eta: float | None,
    errors: np.ndarray,
    evals: np.ndarray,
    wall: float,
    **extra: Any,
) -> dict[str, Any]:
    """One ``pareto`` row: medians over the systems of the final |ΔE/E₀| and the force evals."""
    return {
        "method": method,
        "eta": eta,
        "energy_error_median": float(np.median(errors)),
        "energy_error_p90": float(np.percentile(errors, 90)),
        "force_evals_median": float(np.median(evals)),
        "wall_time_s": wall,
        "force_evals_mean": float(np.mean(evals)),
        **extra,
    }


def default_cost_weight(policy: Policy) -> float:
    """The cost weight a policy runs with unless told otherwise (its calibrated one)."""
    return float(
        policy.config.get("cost_weight", policy.config.get("reward", {}).get("cost_weight", 1.0))
    )


def _timed(fn):
    start = time.perf_counter()
    result = jax.block_until_ready(fn())
    return result, time.perf_counter() - start


def evaluate_integrator(
    config: RLEvalConfig,
    policy: Policy,
    integrator: str,
    masses: jax.Array,
    systems: nbody.NBodyState,
    on_row=lambda label: None,
) -> tuple[list[dict[str, Any]], dict[str, Any], float]:
    """Rows for every fixed η and the policy (and the policy with the safeguard), per-system
    results and the compile time. One compiled rollout serves all of them."""
    env = TimestepEnv(integrator, policy.config["observation"], config.max_steps_per_interval)
    n_steps = n_control_steps(config.t_end, policy.config["interval"])
    act = make_act(tuple(policy.config["hidden"]), len(policy.etas))
    reward = policy.config.get("reward", {})

    weight = default_cost_weight(policy) if config.cost_weight is None else config.cost_weight

    def params(safeguard: bool, cost_weight: float = weight):
        return env_params(
            etas=policy.etas,
            interval=policy.config["interval"],
            clip_to_interval=policy.config.get("clip_to_interval", True),
            t_end=config.t_end,
            max_energy_error=reward.get("max_energy_error", 0.1),
            cost_weight=cost_weight,
            safeguard=safeguard,
            safeguard_factor=config.safeguard_factor,
            safeguard_threshold=config.safeguard_threshold,
            safeguard_retries=config.safeguard_retries,
        )

    def run(action: int, safeguard: bool = False, cost_weight: float = weight) -> Rollout:
        act_params = (policy.params, jnp.asarray(action, jnp.int32))
        return compiled(act_params, params(safeguard, cost_weight), masses, systems)

    start = time.perf_counter()
    compiled = rollout.lower(
        env,
        act,
        n_steps,
        (policy.params, jnp.asarray(-1, jnp.int32)),
        params(False),
        masses,
        systems,
    ).compile()
    compile_s = time.perf_counter() - start

    rows, details = [], {}
    runs = [
        (f"fixed eta={eta:.3g}", "fixed", index, False, weight)
        for index, eta in enumerate(policy.etas)
    ]
    runs.append(("rl", "rl", -1, False, weight))
    if config.safeguard:
        runs.append(("rl+safeguard", "rl", -1, True, weight))
    runs += [(f"rl w={w:.3g}", "rl", -1, False, w) for w in config.tradeoff_sweep]
    for label, method, action, safeguard, cost_weight in runs:
        on_row(f"{integrator}: {label}")
        result, wall = _timed(lambda a=action, s=safeguard, w=cost_weight: run(a, s, w))
        summary = summarise(result)
        errors, evals = np.asarray(result.energy_error), np.asarray(result.force_evals)
        rows.append(
            row(
                method,
                policy.etas[action] if action >= 0 else None,
                errors,
                evals,
                wall,
                integrator=integrator,
                label=label,
                safeguard=safeguard,
                n_failed=summary.n_failed,
                cost_weight=cost_weight if method == "rl" else None,
            )
        )
        details[f"{integrator}/{label}"] = per_system(result)
    return rows, details, compile_s


def per_system(result: Rollout) -> dict[str, Any]:
    """Per-system final errors and costs, and how often each η was used."""
    etas = np.asarray(result.etas)
    used = etas[np.isfinite(etas)]
    values, counts = np.unique(np.round(used, 12), return_counts=True)
    return {
        "energy_error": np.asarray(result.energy_error).tolist(),
        "force_evals": np.asarray(result.force_evals).tolist(),
        "status": np.asarray(result.status).tolist(),
        "eta_usage": {f"{v:.4g}": int(c) for v, c in zip(values, counts, strict=True)},
    }


def ias15_reference(masses: np.ndarray, systems: nbody.NBodyState, t_end: float):
    """REBOUND IAS15 on each system: (errors, force evals, wall seconds), or None without
    REBOUND. Wall time from a pass without the force counter; evaluations counted in a second."""
    try:
        import rebound
    except ImportError:
        return None
    positions, velocities = np.asarray(systems.positions), np.asarray(systems.velocities)

    def simulation(index: int, count: list[int] | None = None):
        sim = rebound.Simulation()
        sim.G = 1.0
        sim.integrator = "ias15"
        for m, x, v in zip(masses[index], positions[index], velocities[index], strict=True):
            sim.add(m=float(m), x=x[0], y=x[1], vx=v[0], vy=v[1])
        if count is not None:
            sim.additional_forces = lambda _: count.__setitem__(0, count[0] + 1)
        return sim

    start = time.perf_counter()
    errors = []
    for index in range(len(masses)):
        sim = simulation(index)
        e0 = sim.energy()
        sim.integrate(t_end)
        errors.append(abs(sim.energy() / e0 - 1.0))
    wall = time.perf_counter() - start
    evals = []
    for index in range(len(masses)):
        count = [0]
        simulation(index, count).integrate(t_end)
        evals.append(count[0])
    return np.array(errors), np.array(evals), wall


def front_metrics(rows: list[dict[str, Any]], integrator: str, common_eta: float) -> dict:
    """How the policy's row compares with the fixed-η curve of the same integrator."""
    fixed = [r for r in rows if r["method"] == "fixed" and r["integrator"] == integrator]
    rl = next(r for r in rows if r["label"] == "rl" and r["integrator"] == integrator)
    evals = np.array([r["force_evals_median"] for r in fixed])
    errors = np.array([r["energy_error_median"] for r in fixed])
    front = front_error_at(evals, errors, rl["force_evals_median"])
    common = common_row(fixed, common_eta)
    dominated_by = [
        r["eta"]
        for r in fixed
        if r["energy_error_median"] <= rl["energy_error_median"]
        and r["force_evals_median"] <= rl["force_evals_median"]
    ]
    return {
        "rl_energy_error_median": rl["energy_error_median"],
        "rl_energy_error_p90": rl["energy_error_p90"],
        "rl_force_evals_median": rl["force_evals_median"],
        "front_energy_error_at_rl": front,
        "rl_over_front": rl["energy_error_median"] / front,
        "below_front": float(rl["energy_error_median"] < front),
        "common_eta": common["eta"],
        "common_energy_error_median": common["energy_error_median"],
        "common_force_evals_median": common["force_evals_median"],
        "beats_common": float(
            rl["energy_error_median"] < common["energy_error_median"]
            and rl["force_evals_median"] < common["force_evals_median"]
        ),
        "dominated_by_fixed": float(bool(dominated_by)),
    }


def paired_metrics(rl: dict[str, Any], common: dict[str, Any], tail_threshold: float) -> dict:
    """The policy against the common fixed η system by system (two ``per_system`` entries).

    A controller can lower its median cost without a better median error by giving up on runs
    that have gone bad: they end above the median error whatever they cost. These numbers show
    it: the share of runs above ``tail_threshold`` for both, and the median over systems of the
    policy's force evaluations over the common η's on the same system, separately where the
    policy ended at or below the threshold and where above (a key is left out where there is no
    such system)."""
    rl_errors, common_errors = np.asarray(rl["energy_error"]), np.asarray(common["energy_error"])
    error_ratio, cost_ratio = per_system_ratios(
        rl_errors, rl["force_evals"], common_errors, common["force_evals"]
    )
    accurate = rl_errors <= tail_threshold
    metrics = {
        "rl_tail_share": float(np.mean(~accurate)),
        "common_tail_share": float(np.mean(common_errors > tail_threshold)),
        "rl_error_ratio_paired_median": float(np.median(error_ratio)),
        "rl_cost_ratio_paired_median": float(np.median(cost_ratio)),
    }
    if accurate.any():
        metrics["rl_cost_ratio_where_accurate"] = float(np.median(cost_ratio[accurate]))
    if (~accurate).any():
        metrics["rl_cost_ratio_where_tail"] = float(np.median(cost_ratio[~accurate]))
    return metrics


def integrator_metrics(
    rows: list[dict[str, Any]], details: dict[str, Any], integrator: str, config: RLEvalConfig
) -> dict[str, float]:
    """:func:`front_metrics` and :func:`paired_metrics` of the policy driving one integrator."""
    metrics = front_metrics(rows, integrator, config.common_eta)
    rl, common, _ = paired_details(rows, details, integrator, config.common_eta)
    metrics.update(paired_metrics(rl, common, config.tail_threshold))
    return metrics


def paired_details(
    rows: list[dict[str, Any]], details: dict[str, Any], integrator: str, common_eta: float
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The per-system results of the policy and of the common fixed η driving one integrator,
    and the common η's row: (policy results, common η results, common η row)."""
    fixed = [r for r in rows if r["method"] == "fixed" and r["integrator"] == integrator]
    common = common_row(fixed, common_eta)
    return details[f"{integrator}/rl"], details[f"{integrator}/{common['label']}"], common


def paired_plot(
    rl: dict[str, Any],
    common: dict[str, Any],
    labels: tuple[str, str],
    tail_threshold: float,
    path: Path,
) -> Path:
    """Each system's final |ΔE/E₀| ratio against its force-evaluation ratio, policy over the
    common fixed η (log-log). Runs the policy ended above ``tail_threshold`` are marked: a
    cluster far up and to the left is a policy saving work by giving up on bad runs."""
    import matplotlib.pyplot as plt

    error, cost = per_system_ratios(
        rl["energy_error"], rl["force_evals"], common["energy_error"], common["force_evals"]
    )
    tail = np.asarray(rl["energy_error"]) > tail_threshold
    fig, ax = plt.subplots(figsize=(6.5, 5.2))
    ax.loglog(cost[~tail], error[~tail], "o", ms=4, alpha=0.7, label=f"ends ≤ {tail_threshold:g}")
    ax.loglog(cost[tail], error[tail], "x", ms=5, color="C3", label=f"ends > {tail_threshold:g}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.loglog(
        [np.median(cost)],
        [np.median(error)],
        "*",
        ms=16,
        color="C1",
        mec="k",
        label="medians of the ratios",
    )
    ax.set_xlabel(f"force evaluations: {labels[0]} / {labels[1]} (same system)")
    ax.set_ylabel(f"final |ΔE/E₀|: {labels[0]} / {labels[1]} (same system)")
    ax.set_title("system by system; lower left of the cross: better and cheaper", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def is_sweep(r: dict[str, Any]) -> bool:
    """A policy row at one of the ``tradeoff_sweep`` weights."""
    return r["method"] == "rl" and r.get("label", "").startswith("rl w=")


def pareto_plot(rows: list[dict[str, Any]], title: str, path: Path) -> Path:
    """Median |ΔE/E₀| against median force evaluations (log-log): one fixed-η curve per
    integrator, the policy's point(s), IAS15."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    integrators = list(dict.fromkeys(r["integrator"] for r in rows if r["method"] != "ias15"))
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = {name: cycle[index % len(cycle)] for index, name in enumerate(integrators)}
    floor = np.finfo(np.float64).eps
    for integrator in integrators:
        colour = colours[integrator]
        fixed = sorted(
            (r for r in rows if r["method"] == "fixed" and r["integrator"] == integrator),
            key=lambda r: r["force_evals_median"],
        )
        x = [r["force_evals_median"] for r in fixed]
        y = [max(r["energy_error_median"], floor) for r in fixed]
        ax.loglog(x, y, "o-", color=colour, ms=4, lw=1, label=f"fixed η, {integrator}")
        for r, xi, yi in zip(fixed, x, y, strict=True):
            ax.annotate(
                f"{r['eta']:.2g}",
                (xi, yi),
                fontsize=6,
                xytext=(3, 3),
                textcoords="offset points",
                color=colour,
            )
        sweep = sorted(
            (r for r in rows if r["integrator"] == integrator and is_sweep(r)),
            key=lambda r: r["force_evals_median"],
        )
        if sweep:
            ax.loglog(
                [r["force_evals_median"] for r in sweep],
                [max(r["energy_error_median"], floor) for r in sweep],
                "d--",
                color=colour,
                ms=5,
                lw=1,
                mfc="w",
                label=f"rl, other cost weights, {integrator}",
            )
        for r in rows:
            if r["method"] == "rl" and r["integrator"] == integrator and not is_sweep(r):
                ax.loglog(
                    r["force_evals_median"],
                    max(r["energy_error_median"], floor),
                    "X" if r["safeguard"] else "*",
                    color="w" if r["safeguard"] else colour,
                    ms=8 if r["safeguard"] else 16,
                    mec=colour if r["safeguard"] else "k",
                    mew=1.5,
                    label=f"{r['label']}, {integrator}",
                    zorder=4 if r["safeguard"] else 3,
                )
    for r in rows:
        if r["method"] == "ias15":
            ax.loglog(
                r["force_evals_median"],
                max(r["energy_error_median"], floor),
                "s",
                color="k",
                ms=8,
                label="REBOUND IAS15",
            )
    ax.set_xlabel("force evaluations (median over systems)")
    ax.set_ylabel("final |ΔE/E₀| (median over systems)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The pareto rows as a Markdown table."""
    lines = [
        "| method | integrator | η | median \\|ΔE/E₀\\| | p90 \\|ΔE/E₀\\| | median force evals "
        "| wall (s) | failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        eta = "—" if r["eta"] is None else f"{r['eta']:.3g}"
        label = r.get("label", r["method"])
        lines.append(
            f"| {label} | {r.get('integrator', '—')} | {eta} | {r['energy_error_median']:.2e} | "
            f"{r['energy_error_p90']:.2e} | {r['force_evals_median']:,.0f} | "
            f"{r['wall_time_s']:.2f} | {r.get('n_failed', 0)} |"
        )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Prefect tasks and flow.


@task(name="rl-timestep-eval-controllers", cache_policy=NONE)
def controllers_task(
    config: RLEvalConfig, policy: Policy
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, float]]:
    masses, systems = held_out_systems(config)
    integrators = [config.integrator, *config.transfer_integrators]
    per_integrator = len(policy.etas) + 1 + int(config.safeguard) + len(config.tradeoff_sweep)
    progress = Progress(
        f"{FLOW_NAME} [{config.n_seeds} systems]", per_integrator * len(integrators)
    )
    done = [0]

    def on_row(label: str) -> None:
        progress.update(done[0], label)
        done[0] += 1

    rows, details, compile_times = [], {}, {}
    for integrator in integrators:
        more_rows, more_details, compile_s = evaluate_integrator(
            config, policy, integrator, masses, systems, on_row
        )
        rows += more_rows
        details.update(more_details)
        compile_times[f"compile_time_s_{integrator}"] = compile_s
    progress.update(done[0])
    return rows, details, compile_times


@task(name="rl-timestep-eval-ias15", cache_policy=NONE)
def ias15_task(config: RLEvalConfig) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    if not config.ias15:
        return None, None
    masses, systems = held_out_systems(config)
    result = ias15_reference(np.asarray(masses), systems, config.t_end)
    if result is None:
        print(
            "note: REBOUND is not installed; the IAS15 anchor is skipped "
            "(pip install -e '.[bench]')",
            file=sys.stderr,
        )
        return None, None
    errors, evals, wall = result
    details = {"energy_error": errors.tolist(), "force_evals": evals.tolist()}
    return row("ias15", None, errors, evals, wall, integrator="ias15", label="ias15"), details


@task(name="rl-timestep-eval-artifacts", cache_policy=NONE)
def write_artifacts_task(
    config: RLEvalConfig, rows: list[dict[str, Any]], details: dict[str, Any], output_dir: Path
) -> dict[str, Path]:
    pareto = output_dir / "pareto.json"
    pareto.write_text(json.dumps(rows, indent=1))
    systems = output_dir / "per_system.json"
    systems.write_text(json.dumps(details))
    table = output_dir / "pareto.md"
    table.write_text(markdown_table(rows))
    title = (
        f"{config.n_seeds} held-out random triples (seeds {config.seed_start}…), "
        f"t_end = {config.t_end:g}"
    )
    plot = pareto_plot(rows, title, output_dir / "pareto.png")
    rl, common, common_fixed = paired_details(rows, details, config.integrator, config.common_eta)
    paired = paired_plot(
        rl,
        common,
        ("rl", f"η = {common_fixed['eta']:.3g}"),
        config.tail_threshold,
        output_dir / "paired.png",
    )
    return {
        "pareto": pareto,
        "pareto_plot": plot,
        "paired_plot": paired,
        "pareto_table": table,
        "per_system": systems,
    }


def eval_body(config: RLEvalConfig, logger: RunLogger, output_dir: Path) -> FlowOutcome:
    folder = resolve_policy(config.policy)
    policy = load_policy(folder)
    logger.set_tags(
        {
            "rl_timestep.policy": str(folder),
            "rl_timestep.policy_run_id": str(policy.config.get("mlflow_run_id")),
        }
    )
    rows, details, metrics = controllers_task(config, policy)
    ias15_row, ias15_details = ias15_task(config)
    if ias15_row is not None:
        rows.append(ias15_row)
        details["ias15"] = ias15_details
        metrics["ias15_energy_error_median"] = ias15_row["energy_error_median"]
        metrics["ias15_force_evals_median"] = ias15_row["force_evals_median"]
    metrics["ias15_available"] = float(ias15_row is not None)
    metrics.update(integrator_metrics(rows, details, config.integrator, config))
    for integrator in config.transfer_integrators:
        transfer = integrator_metrics(rows, details, integrator, config)
        metrics.update({f"transfer_{integrator}_{key}": value for key, value in transfer.items()})
    held_out = config.seed_start + config.n_seeds <= policy.config.get("held_out_below", 0)
    metrics["held_out"] = float(held_out)
    metrics["n_seeds"] = float(config.n_seeds)
    artifacts = write_artifacts_task(config, rows, details, output_dir)
    return FlowOutcome(metrics=metrics, artifacts=artifacts)


@flow(name=FLOW_NAME, description=DESCRIPTION)
def rl_eval_flow(config: dict | None = None, output_dir: str | None = None) -> dict:
    """Evaluate a time-step controller; log it to MLflow (experiment ``rl-timestep-eval``)."""
    return execute(FLOW_NAME, validate_config(RLEvalConfig, config or {}), eval_body, output_dir)

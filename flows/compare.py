"""``closureflow compare``: a table (and optional plot) of recent runs of one experiment."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlflow.entities import Run, ViewType

from flows.config import ConfigError
from flows.plots import runs_comparison_plot
from flows.tracking import tracking_client

MAX_DEFAULT_METRICS = 6


@dataclass(frozen=True)
class RunTable:
    """Runs (newest first) with the params that differ between them and the chosen metrics."""

    experiment: str
    run_ids: list[str]
    labels: list[str]
    columns: list[str]  # "param:<key>" / "metric:<name>"
    rows: list[list[str]]
    metric_values: dict[str, list[float]]


def find_runs(experiment: str | None, last: int) -> tuple[str, list[Run]]:
    """The newest ``last`` runs of ``experiment`` (default: the experiment of the newest run)."""
    client = tracking_client()
    experiments = client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
    by_name = {exp.name: exp for exp in experiments}
    if experiment is None:
        newest = (
            client.search_runs(
                [exp.experiment_id for exp in experiments],
                max_results=1,
                order_by=["attributes.start_time DESC"],
            )
            if experiments
            else []
        )
        if not newest:
            raise ConfigError("no runs recorded yet in this tracking store")
        experiment = next(
            e.name for e in experiments if e.experiment_id == newest[0].info.experiment_id
        )
    if experiment not in by_name:
        known = ", ".join(sorted(by_name)) or "none"
        raise ConfigError(f"--experiment: unknown experiment {experiment!r}; known: {known}")
    runs = client.search_runs(
        [by_name[experiment].experiment_id],
        max_results=last,
        order_by=["attributes.start_time DESC"],
    )
    return experiment, runs


def differing_params(runs: list[Run]) -> list[str]:
    """Param keys whose values are not the same in every run."""
    keys = sorted({key for run in runs for key in run.data.params})
    return [k for k in keys if len({run.data.params.get(k) for run in runs}) > 1]


def format_value(value: float | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def build_table(experiment: str, runs: list[Run], metrics: list[str]) -> RunTable:
    if not metrics:
        names = sorted({name for run in runs for name in run.data.metrics})
        metrics = names[:MAX_DEFAULT_METRICS]
    params = differing_params(runs)
    labels = [run.info.run_name or run.info.run_id[:8] for run in runs]
    columns = ["run_id", "started", "status", *params, *metrics]
    rows = []
    values: dict[str, list[float]] = {name: [] for name in metrics}
    for run in runs:
        started = datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC)
        row = [run.info.run_id[:8], started.strftime("%Y-%m-%d %H:%M:%S"), run.info.status]
        row += [format_value(run.data.params.get(key)) for key in params]
        for name in metrics:
            value = run.data.metrics.get(name)
            values[name].append(float("nan") if value is None else float(value))
            row.append(format_value(value))
        rows.append(row)
    return RunTable(experiment, [r.info.run_id for r in runs], labels, columns, rows, values)


def render_table(table: RunTable) -> str:
    """A fixed-width text table with a header line."""
    if not table.rows:
        return f"experiment {table.experiment!r}: no runs"
    widths = [
        max(len(col), *(len(row[i]) for row in table.rows)) for i, col in enumerate(table.columns)
    ]
    lines = [f"experiment {table.experiment!r}: {len(table.rows)} run(s), newest first"]
    lines.append("  ".join(col.ljust(w) for col, w in zip(table.columns, widths, strict=True)))
    lines.append("  ".join("-" * w for w in widths))
    for row in table.rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def compare(
    experiment: str | None, metrics: list[str], last: int, plot: str | None = None
) -> tuple[RunTable, str]:
    """Build and render the table of the newest runs; draw the metrics to ``plot`` if given."""
    if last < 1:
        raise ConfigError(f"--last: must be >= 1, got {last}")
    name, runs = find_runs(experiment, last)
    table = build_table(name, runs, metrics)
    if plot:
        if not table.rows or not table.metric_values:
            raise ConfigError("--plot: nothing to plot (no runs or no metrics)")
        runs_comparison_plot(
            list(reversed(table.labels)),
            {k: list(reversed(v)) for k, v in table.metric_values.items()},
            Path(plot),
        )
    return table, render_table(table)

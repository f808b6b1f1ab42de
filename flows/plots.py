"""PNG plots written by flows (matplotlib, headless Agg backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

MAX_SYSTEMS_DRAWN = 9


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as PNG to ``path`` (folders created) and close it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return target


def orbit_plot(positions: np.ndarray, masses: np.ndarray, title: str, path: str | Path) -> Path:
    """Orbits in the x–y plane.

    positions: (B, T, N, d) sampled trajectories of B systems; masses: (B, N). Up to
    ``MAX_SYSTEMS_DRAWN`` systems are drawn, one panel each; marker size grows with mass and the
    final positions are marked.
    """
    n_drawn = min(positions.shape[0], MAX_SYSTEMS_DRAWN)
    cols = int(np.ceil(np.sqrt(n_drawn)))
    rows = int(np.ceil(n_drawn / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.0 * rows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index >= n_drawn:
            ax.set_visible(False)
            continue
        for body in range(positions.shape[2]):
            track = positions[index, :, body]
            label = f"body {body} (m={masses[index, body]:.3g})"
            line = ax.plot(track[:, 0], track[:, 1], lw=0.8, label=label)[0]
            size = 20 + 60 * masses[index, body] / masses[index].max()
            ax.scatter(track[-1, 0], track[-1, 1], s=size, color=line.get_color(), zorder=3)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        if n_drawn > 1:
            ax.set_title(f"system {index}", fontsize=9)
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(title)
    return save_figure(fig, path)


def energy_error_plot(
    times: np.ndarray, energy_errors: np.ndarray, title: str, path: str | Path
) -> Path:
    """|ΔE/E₀| against time on a log axis; energy_errors: (B, T). A batch shows median and p90."""
    fig, ax = plt.subplots(figsize=(7, 4))
    floor = np.finfo(np.float64).eps
    errors = np.maximum(energy_errors, floor)
    if errors.shape[0] == 1:
        ax.semilogy(times, errors[0], lw=1.0)
    else:
        for row in errors[: MAX_SYSTEMS_DRAWN * 4]:
            ax.semilogy(times, row, lw=0.4, color="0.7")
        ax.semilogy(times, np.median(errors, axis=0), lw=1.6, label="median")
        ax.semilogy(times, np.percentile(errors, 90, axis=0), lw=1.2, ls="--", label="p90")
        ax.legend()
    ax.set_xlabel("t")
    ax.set_ylabel("|ΔE/E₀|")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(fig, path)


def runs_comparison_plot(
    labels: Sequence[str], metrics: Mapping[str, Sequence[float]], path: str | Path
) -> Path:
    """One panel per metric, one bar per run (log scale when values span > 2 decades)."""
    names = list(metrics)
    fig, axes = plt.subplots(
        len(names), 1, figsize=(max(6, 0.6 * len(labels) + 2), 2.8 * len(names)), squeeze=False
    )
    x = np.arange(len(labels))
    for ax, name in zip(axes[:, 0], names, strict=True):
        values = np.asarray(metrics[name], dtype=float)
        finite = values[np.isfinite(values)]
        ax.bar(x, np.where(np.isfinite(values), values, 0.0))
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
            ax.set_yscale("log")
        ax.set_ylabel(name)
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def field_images_plot(
    fields: Mapping[str, np.ndarray],
    L: float,
    title: str,
    path: str | Path,
    director: np.ndarray | None = None,
) -> Path:
    """Side-by-side images of (n, n) fields on the periodic box [0, L)², x to the right.

    ``director``: (n, n) angles; drawn as headless line segments over the second panel (the
    nematic director is a line, not an arrow), on a coarse sub-grid.
    """
    names = list(fields)
    fig, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names), 4.0), squeeze=False)
    extent = (0.0, L, 0.0, L)
    for index, (ax, name) in enumerate(zip(axes[0], names, strict=True)):
        # Arrays are indexed [i (x), j (y)]: transpose so that x runs horizontally.
        image = ax.imshow(
            np.asarray(fields[name]).T,
            origin="lower",
            extent=extent,
            cmap="viridis" if index != 2 else "RdBu_r",
        )
        fig.colorbar(image, ax=ax, shrink=0.8)
        if director is not None and index == 1:
            n = director.shape[0]
            stride = max(1, n // 16)
            x = (np.arange(n)[::stride] + 0.5) * L / n
            angle = director[::stride, ::stride].T
            ax.quiver(
                x,
                x,
                np.cos(angle),
                np.sin(angle),
                headwidth=0,
                headlength=0,
                headaxislength=0,
                pivot="middle",
                color="w",
                scale=30,
                width=0.004,
            )
        ax.set_title(name)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    fig.suptitle(title)
    fig.subplots_adjust(wspace=0.35)
    return save_figure(fig, path)


def time_series_plot(
    t: np.ndarray,
    series: Mapping[str, Sequence[float]],
    title: str,
    path: str | Path,
    log_y: bool = False,
    reference: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """One panel per series against t (or one log panel with all of them and dashed
    ``reference`` curves when ``log_y``, e.g. amplitudes against their predicted growth)."""
    if log_y:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for name, values in series.items():
            ax.semilogy(t, values, lw=1.4, label=name)
        for name, values in (reference or {}).items():
            ax.semilogy(t, values, lw=1.0, ls="--", color="0.3", label=name)
        ax.set_xlabel("t")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(title, fontsize=9)
        return save_figure(fig, path)
    names = list(series)
    fig, axes = plt.subplots(
        len(names), 1, figsize=(7, 2.2 * len(names)), sharex=True, squeeze=False
    )
    for ax, name in zip(axes[:, 0], names, strict=True):
        ax.plot(t, series[name], lw=1.2)
        ax.set_ylabel(name.replace("_", " "), fontsize=8)
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("t")
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def spectrum_plot(
    k: np.ndarray, spectra: Mapping[str, np.ndarray], title: str, path: str | Path
) -> Path:
    """Shell-summed spectra E(k) against k, log-log (the k = 0 shell is left out)."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for label, values in spectra.items():
        ax.loglog(k[1:], np.maximum(values[1:], np.finfo(float).tiny), lw=1.4, label=label)
    ax.set_xlabel("k")
    ax.set_ylabel("E(k)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(fig, path)

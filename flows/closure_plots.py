"""PNG plots of the closure flows (matplotlib, headless): training curves, the learned
harmonic factor against Bingham's, a-priori error by order parameter, coarse-vs-kinetic time
series and spectra, estimation traces."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from closures.kinetic.bessel import bingham_harmonic_factor
from flows.plots import plt, save_figure


def loss_curves_plot(curves: Mapping[str, Sequence[float]], title: str, path: str | Path) -> Path:
    """One log-scale panel per named loss history (x: logged step index)."""
    names = [name for name, values in curves.items() if len(values)]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        ax.semilogy(np.arange(1, len(curves[name]) + 1), curves[name], lw=1.2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("log interval" if "priori" in name and "post" not in name else "step")
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def harmonic_factor_plot(closure, params, title: str, path: str | Path) -> Path:
    """The effective factor h = m₄c/m₂² of a closure at E = 0 against Bingham's g, over the
    order parameter s of uniform uniaxial fields D = (I + s diag(1, −1))/2 (c = 1), read off
    (S:D)₁₁ − (S:D)₂₂ = 3s/4 + h s³/4 (works for local and nonlocal closures alike)."""
    s = np.linspace(0.05, 0.995, 120)
    D = np.zeros((len(s), 8, 8, 2, 2))
    D[..., 0, 0], D[..., 1, 1] = ((1 + s) / 2)[:, None, None], ((1 - s) / 2)[:, None, None]
    D = jnp.asarray(D)
    S_D, _ = closure(params, jnp.ones(D.shape[:-2]), D, jnp.zeros_like(D))
    difference = np.asarray(S_D[:, 0, 0, 0, 0] - S_D[:, 0, 0, 1, 1])
    h = (4 * difference - 3 * s) / s**3
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(s, np.asarray(bingham_harmonic_factor(jnp.asarray(s**2))), lw=1.4, label="Bingham g")
    ax.plot(s, h, lw=1.4, label="learned h (E = 0)")
    ax.set_xlabel("order parameter s")
    ax.set_ylabel("m₄ c / m₂²")
    ax.legend()
    ax.grid(True, alpha=0.3)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def error_by_order_plot(
    order: np.ndarray, errors: Mapping[str, np.ndarray], title: str, path: str | Path
) -> Path:
    """Relative S:T error per sample, binned by the local order parameter (bin means)."""
    bins = np.linspace(0, max(1.0, float(np.max(order))) + 1e-9, 13)
    centres = (bins[1:] + bins[:-1]) / 2
    index = np.digitize(order, bins) - 1
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, values in errors.items():
        means = [np.mean(values[index == k]) if np.any(index == k) else np.nan
                 for k in range(len(centres))]  # fmt: skip
        ax.semilogy(centres, means, marker="o", lw=1.2, label=name)
    ax.set_xlabel("local order parameter s")
    ax.set_ylabel("mean |ΔS:T|² / mean |S:T|²")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def comparison_series_plot(
    series: Mapping[str, tuple[np.ndarray, Mapping[str, np.ndarray]]],
    names: Sequence[str],
    title: str,
    path: str | Path,
) -> Path:
    """One panel per diagnostic in ``names``; each model (key of ``series``: (t, values))
    drawn in every panel."""
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 2.4 * len(names)), sharex=True,
                             squeeze=False)  # fmt: skip
    for ax, name in zip(axes[:, 0], names, strict=True):
        for model, (t, values) in series.items():
            ax.plot(t, values[name], lw=1.3 if model == "kinetic" else 1.0, label=model,
                    color="k" if model == "kinetic" else None)  # fmt: skip
        ax.set_ylabel(name.replace("_", " "), fontsize=8)
        ax.grid(True, alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    axes[-1, 0].set_xlabel("t")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def spectra_plot(
    spectra: Mapping[str, tuple[np.ndarray, np.ndarray]], k_max: float, title: str, path: str | Path
) -> Path:
    """Late-time velocity spectra {label: (k, E(k))}, log-log, the compared range marked."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for label, (kk, values) in spectra.items():
        ax.loglog(kk[1:], np.maximum(values[1:], np.finfo(float).tiny), lw=1.4, label=label,
                  color="k" if label == "kinetic" else None)  # fmt: skip
    ax.axvline(k_max, color="0.5", ls=":", lw=1, label="compared up to")
    ax.set_xlabel("k")
    ax.set_ylabel("E(k)")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def estimation_plot(
    trace: Mapping[str, Sequence[float]],
    loss: Sequence[float],
    truth: Mapping[str, float],
    title: str,
    path: str | Path,
) -> Path:
    """Estimated parameters (with the true values dashed) and the loss per iteration."""
    names = list(trace)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(4.5 * (len(names) + 1), 3.6),
                             squeeze=False)  # fmt: skip
    steps = np.arange(1, len(loss) + 1)
    for ax, name in zip(axes[0], names, strict=False):
        ax.plot(steps, trace[name], lw=1.3)
        if name in truth:
            ax.axhline(truth[name], color="k", ls="--", lw=1, label="truth")
            ax.legend(fontsize=8)
        ax.set_title(name)
        ax.set_xlabel("iteration")
        ax.grid(True, alpha=0.3)
    axes[0, -1].semilogy(steps, loss, lw=1.3)
    axes[0, -1].set_title("trajectory loss")
    axes[0, -1].set_xlabel("iteration")
    axes[0, -1].grid(True, which="both", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)

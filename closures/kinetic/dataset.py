"""Closure training data: kinetic snapshots assembled into pointwise samples, with provenance.

A kinetic run (the ``dataset`` artifact of ``active-fluid-kinetic``) is a stack of snapshots
t (T,), c (T, n, n), D, E, S_D, S_E (T, n, n, 2, 2), u (T, n, n, 2): :class:`RunFields`.
:func:`assemble` turns several runs, each with its physical parameters, into one
:class:`ClosureDataset`: pointwise samples (c, D, E, S:D, S:E, ζ) for a-priori training, the
runs' snapshots themselves for a-posteriori training (trajectories of (c, D, u)), and a
provenance record naming every run, its parameters and the times used. Pure NumPy; reading and
writing files is the flows' job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

FIELDS = ("t", "c", "D", "E", "u", "S_D", "S_E")


class RunFields(NamedTuple):
    """Snapshots of one kinetic run (float64, time leading): t (T,), c (T, n, n),
    D, E, S_D, S_E (T, n, n, 2, 2), u (T, n, n, 2); S_D, S_E exact (from Ψ)."""

    t: np.ndarray
    c: np.ndarray
    D: np.ndarray
    E: np.ndarray
    u: np.ndarray
    S_D: np.ndarray
    S_E: np.ndarray

    @classmethod
    def from_mapping(cls, arrays: Mapping[str, Any]) -> RunFields:
        """From a mapping with (at least) the keys of :data:`FIELDS`, e.g. a loaded npz."""
        missing = [name for name in FIELDS if name not in arrays]
        if missing:
            raise ValueError(f"run data lacks fields {missing}; needs {list(FIELDS)}")
        return cls(*(np.asarray(arrays[name], dtype=np.float64) for name in FIELDS))

    def select(self, index: np.ndarray) -> RunFields:
        """The snapshots at ``index`` (indices or a boolean mask along time)."""
        return RunFields(*(np.asarray(a)[index] for a in self))


@dataclass(frozen=True)
class RunInfo:
    """Where a run came from and its parameters: ``name`` (an MLflow run id or a path),
    α, β, ζ, d_T, d_R, L, seed, grid n and n_theta, and the snapshot spacing dt_output."""

    name: str
    alpha: float
    zeta: float
    seed: int = 0
    beta: float = 0.8
    d_t: float = 0.05
    d_r: float = 0.05
    L: float = 10.0
    n: int = 0
    n_theta: int = 0
    dt: float = 0.0

    @classmethod
    def from_provenance(cls, name: str, provenance: Mapping[str, Any]) -> RunInfo:
        """From the JSON provenance of an ``active-fluid-kinetic`` dataset."""
        config = provenance.get("config", {})
        keys = ("alpha", "zeta", "seed", "beta", "d_t", "d_r", "L", "n", "n_theta")
        return cls(
            name=str(provenance.get("mlflow_run_id") or name),
            **{key: config[key] for key in keys if key in config},
            dt=float(provenance.get("dt_effective", 0.0)),
        )


class ClosureSamples(NamedTuple):
    """Pointwise a-priori samples, N leading: c (N,), D, E, S_D, S_E (N, 2, 2), and per sample
    the ζ of its run (N,), its run index ``run`` (N,) and snapshot time ``t`` (N,)."""

    c: np.ndarray
    D: np.ndarray
    E: np.ndarray
    S_D: np.ndarray
    S_E: np.ndarray
    zeta: np.ndarray
    run: np.ndarray
    t: np.ndarray

    def __len__(self) -> int:  # type: ignore[override]
        return int(self.c.shape[0])

    def take(self, index: np.ndarray) -> ClosureSamples:
        return ClosureSamples(*(a[index] for a in self))


@dataclass
class ClosureDataset:
    """Runs, their snapshots and the pointwise samples drawn from them, with provenance."""

    runs: list[RunInfo]
    fields: list[RunFields]
    samples: ClosureSamples
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def zetas(self) -> list[float]:
        return sorted({run.zeta for run in self.runs})


def pointwise(fields: RunFields, zeta: float, run: int) -> ClosureSamples:
    """Every grid point of every snapshot of a run as samples."""
    T, n = fields.c.shape[0], fields.c.shape[1]
    count = T * n * n
    flat = lambda a: a.reshape(count, *a.shape[3:])  # noqa: E731
    return ClosureSamples(
        c=flat(fields.c), D=flat(fields.D), E=flat(fields.E), S_D=flat(fields.S_D),
        S_E=flat(fields.S_E), zeta=np.full(count, float(zeta)), run=np.full(count, run),
        t=np.repeat(fields.t, n * n),
    )  # fmt: skip


def snapshots(fields: RunFields, zeta: float, run: int) -> ClosureSamples:
    """Every snapshot of a run as one sample of whole fields (for nonlocal closures): c (T, n, n),
    D, E, S_D, S_E (T, n, n, 2, 2), zeta, run and t (T,)."""
    T = len(fields.t)
    return ClosureSamples(
        c=fields.c, D=fields.D, E=fields.E, S_D=fields.S_D, S_E=fields.S_E,
        zeta=np.full(T, float(zeta)), run=np.full(T, run), t=np.asarray(fields.t),
    )  # fmt: skip


def concatenate(parts: Sequence[ClosureSamples]) -> ClosureSamples:
    return ClosureSamples(*(np.concatenate(arrays) for arrays in zip(*parts, strict=True)))


def assemble(
    runs: Sequence[tuple[RunInfo, RunFields]],
    t_min: float = 0.0,
    points_per_snapshot: int | None = None,
    seed: int = 0,
) -> ClosureDataset:
    """Samples from the snapshots at t ≥ t_min of each run (at most ``points_per_snapshot``
    random grid points per snapshot, all if None), with provenance: every run's name and
    parameters and the times it contributed."""
    rng = np.random.default_rng(seed)
    infos, kept, parts, sources = [], [], [], []
    for index, (info, fields) in enumerate(runs):
        fields = fields.select(fields.t >= t_min - 1e-9)
        if not len(fields.t):
            raise ValueError(f"run {info.name!r} has no snapshot at t >= {t_min}")
        samples = pointwise(fields, info.zeta, index)
        per = fields.c.shape[1] * fields.c.shape[2]
        if points_per_snapshot is not None and points_per_snapshot < per:
            choice = np.concatenate(
                [k * per + rng.choice(per, points_per_snapshot, replace=False)
                 for k in range(len(fields.t))]
            )  # fmt: skip
            samples = samples.take(choice)
        infos.append(info)
        kept.append(fields)
        parts.append(samples)
        sources.append({**info.__dict__, "times": [round(float(t), 10) for t in fields.t]})
    provenance = {
        "runs": sources, "t_min": t_min, "points_per_snapshot": points_per_snapshot,
        "seed": seed, "n_samples": int(sum(len(p) for p in parts)),
    }  # fmt: skip
    return ClosureDataset(infos, kept, concatenate(parts), provenance)


def split_snapshots(
    samples: ClosureSamples, every: int = 5
) -> tuple[ClosureSamples, ClosureSamples]:
    """(train, held out): every ``every``-th distinct snapshot (run, t) is held out whole, so
    held-out points are not neighbours in time of training points' snapshots only by chance."""
    keys = np.stack([samples.run, samples.t], axis=-1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    held = (np.arange(len(unique)) % every) == every - 1
    mask = held[inverse.ravel()]
    return samples.take(~mask), samples.take(mask)


def coarsen(field: np.ndarray, m: int) -> np.ndarray:
    """A periodic grid-first field (n, n, ...) resampled to (m, m, ...), m ≤ n, by keeping
    its Fourier modes |k| < m/2 (spectral truncation; exact for band-limited fields)."""
    n = field.shape[0]
    if m == n:
        return np.asarray(field)
    if m > n or m % 2:
        raise ValueError(f"can only coarsen to an even m <= n = {n}, got {m}")
    spectrum = np.fft.fft2(field, axes=(0, 1))
    keep = np.r_[0 : m // 2, n - m // 2 + 1 : n]
    small = np.zeros((m, m, *field.shape[2:]), dtype=complex)
    index = np.r_[0 : m // 2, m // 2 + 1 : m]
    small[np.ix_(index, index)] = spectrum[np.ix_(keep, keep)]
    return np.real(np.fft.ifft2(small, axes=(0, 1))) * (m / n) ** 2

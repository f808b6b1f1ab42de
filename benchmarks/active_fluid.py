"""Active-fluid solvers: JAX kinetic step against a NumPy implementation of the same scheme, and
the moment model (Bingham closure) against the kinetic theory per unit simulated time.

1. Kinetic ms/step at (n, n_theta) = (64, 64) and (128, 128), float64: the jitted JAX solver
   (physics.active_fluid.kinetic) against ``NumpyKinetic`` below, a straightforward NumPy
   transcription of the same discretisation (even θ-harmonics on [0, π), rfftn in (θ, x, y),
   joint 2/3 rule, self-consistent Stokes flow iterated to 1e-12, variable-step SBDF2 with an
   IMEX-Euler start). Before timing, both take the same steps from the same Ψ and must agree
   to 1e-10, so the baseline computes the same thing.
2. Moment model with the Bingham closure against the kinetic solver at the same spatial grid,
   both at the same dt, in simulated time per wall second.

Usage: python benchmarks/active_fluid.py [--quick]   (results go to benchmarks/RESULTS.md)
"""

import argparse
import datetime
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

import physics  # noqa: F401  (float64)
from closures.kinetic import bingham_closure
from physics.active_fluid import (
    ActiveFluidParams,
    initial_conditions,
    kinetic,
    moment,
    moments_of_psi,
)

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## active fluid: kinetic solver vs NumPy, moment model vs kinetic"
STOKES_RTOL = 1e-12
COMPONENT = np.indices((2, 2, 2, 2)).sum(axis=0)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class NumpyKinetic:
    """The kinetic scheme of physics.active_fluid.kinetic in plain NumPy (float64)."""

    def __init__(self, n: int, n_theta: int, params: ActiveFluidParams, dt: float):
        self.p, self.dt, self.M = params, dt, n_theta // 2
        scale = 2 * np.pi / params.L
        ix = np.fft.fftfreq(n, 1.0 / n).round()
        iy = np.arange(n // 2 + 1)
        self.kx = scale * np.where(ix == -n // 2, 0, ix)[:, None]
        self.ky = scale * np.where(iy == n // 2, 0, iy)[None, :]
        self.k2 = scale**2 * (ix[:, None] ** 2 + iy[None, :] ** 2)
        dealias = (3 * np.abs(ix) < n)[:, None] & (3 * iy < n)[None, :]
        q = np.fft.fftfreq(self.M, 1.0 / self.M).round()
        theta = np.pi * np.arange(self.M) / self.M
        self.m = np.where(q == -self.M // 2, 0, 2 * q)[:, None, None]
        self.keep = (3 * np.abs(q) < self.M)[:, None, None] * dealias
        self.cos2, self.sin2 = np.cos(2 * theta)[:, None, None], np.sin(2 * theta)[:, None, None]
        self.decay = params.d_t * self.k2 + params.d_r * ((2 * q) ** 2)[:, None, None]
        kd2 = self.kx**2 + self.ky**2
        self.inv_k2 = np.where(kd2 > 0, 1 / np.where(kd2 > 0, kd2, 1), 0)
        self.n = n

    def irfft2(self, f_hat):
        return np.fft.irfft2(f_hat, s=(self.n, self.n))

    def moments(self, psi_hat):
        """c (n, n), D (2, 2, n, n), S (2, 2, 2, 2, n, n) from the θ-modes."""
        p = psi_hat * (2 * np.pi / self.M)
        c = self.irfft2(p[0])
        re2, im2 = self.irfft2((p[-1] + p[1]) / 2), self.irfft2((p[-1] - p[1]) / 2j)
        re4, im4 = self.irfft2((p[-2] + p[2]) / 2), self.irfft2((p[-2] - p[2]) / 2j)
        d11, d12, d22 = (c + re2) / 2, im2 / 2, (c - re2) / 2
        s1111 = (3 * c + 4 * re2 + re4) / 8
        s1112 = (2 * im2 + im4) / 8
        s1122 = d11 - s1111
        s1222 = d12 - s1112
        s2222 = d22 - s1122
        S = np.stack([s1111, s1112, s1122, s1222, s2222])[COMPONENT]
        return c, np.array([[d11, d12], [d12, d22]]), S

    def flow(self, c, D, S):
        """Self-consistent Stokes flow: (u (2, n, n), ∇u (2, 2, n, n)) by plain fixed point."""
        p = self.p
        c_mean = c.mean()
        nu = 1 + p.beta * c_mean / 8
        DD = np.einsum("ik...,kj...->ij...", D, D)
        S_D = np.einsum("ijkl...,kl...->ij...", S, D)
        fixed = p.alpha * D - 2 * p.zeta * p.beta * (DD - S_D)
        E = np.zeros_like(D)
        for _ in range(100):
            sigma = fixed + p.beta * np.einsum("ijkl...,kl...->ij...", S, E)
            sigma -= p.beta * c_mean / 4 * E
            s_hat = np.fft.rfft2(sigma)
            force = 1j * (self.kx * s_hat[:, 0] + self.ky * s_hat[:, 1])
            k_dot_f = (self.kx * force[0] + self.ky * force[1]) * self.inv_k2
            u_hat = np.stack([force[0] - self.kx * k_dot_f, force[1] - self.ky * k_dot_f])
            u_hat *= self.inv_k2 / nu
            grad_hat = np.stack([1j * self.kx * u_hat, 1j * self.ky * u_hat], axis=1)
            grad = self.irfft2(grad_hat)
            new = (grad + grad.transpose(1, 0, 2, 3)) / 2
            change = np.max(np.abs(new - E))
            E = new
            if change <= STOKES_RTOL * np.max(np.abs(E)):
                break
        return self.irfft2(u_hat), grad

    def explicit(self, psi_hat):
        c, D, S = self.moments(psi_hat)
        u, grad = self.flow(c, D, S)
        A = grad + 2 * self.p.zeta * D
        theta_dot = (
            (A[1, 0] - A[0, 1]) / 2
            + self.cos2 * (A[0, 1] + A[1, 0]) / 2
            + self.sin2 * (A[1, 1] - A[0, 0]) / 2
        )
        psi = np.fft.irfftn(psi_hat, s=(self.M, self.n, self.n), axes=(-3, -2, -1))
        fluxes = np.stack([u[0] * psi, u[1] * psi, theta_dot * psi])
        flux_hat = np.fft.rfftn(fluxes, axes=(-3, -2, -1))
        divergence = self.kx * flux_hat[0] + self.ky * flux_hat[1] + self.m * flux_hat[2]
        return -1j * divergence * self.keep

    def run(self, psi_hat, steps: int):
        """``steps`` steps: IMEX Euler, then constant-step SBDF2 (as the JAX solver)."""
        dt, prev, explicit_prev = self.dt, None, None
        for _ in range(steps):
            explicit = self.explicit(psi_hat)
            if prev is None:
                rhs, gamma = psi_hat + dt * explicit, dt
            else:
                rhs = (2 * psi_hat - 0.5 * prev + dt * (2 * explicit - explicit_prev)) / 1.5
                gamma = dt / 1.5
            prev, explicit_prev = psi_hat, explicit
            psi_hat = rhs / (1 + gamma * self.decay)
        return psi_hat


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def kinetic_vs_numpy(n: int, n_theta: int, steps: int, params, dt: float) -> dict:
    psi = initial_conditions.random_plane_waves(0, n, n_theta, amplitude=0.3)
    state = kinetic.init_state(psi, dt)
    reference = NumpyKinetic(n, n_theta, params, dt)
    psi_hat0 = np.asarray(state.fields)
    ours = kinetic.advance(state, params, 3).fields
    theirs = reference.run(psi_hat0, 3)
    mismatch = float(np.max(np.abs(np.asarray(ours) - theirs)) / np.max(np.abs(theirs)))
    if mismatch > 1e-10:
        raise RuntimeError(f"NumPy baseline disagrees with the JAX solver: {mismatch:.2e}")
    kinetic.advance(state, params, steps)  # compile
    jax_s = best_time(lambda: kinetic.advance(state, params, steps).fields)
    numpy_s = best_time(lambda: reference.run(psi_hat0, steps), repeats=1)
    return {"n": n, "n_theta": n_theta, "steps": steps, "jax_ms": 1e3 * jax_s / steps,
            "numpy_ms": 1e3 * numpy_s / steps, "mismatch": mismatch}  # fmt: skip


def moment_vs_kinetic(n: int, n_theta: int, t_span: float, params, dt: float) -> dict:
    psi = initial_conditions.random_plane_waves(0, n, n_theta, amplitude=0.3)
    steps = round(t_span / dt)
    k_state = kinetic.init_state(psi, dt)
    c, D, _ = moments_of_psi(psi)
    m_state = moment.init_state(c, D, dt)
    kinetic.advance(k_state, params, steps)
    moment.advance(m_state, params, steps, bingham_closure)
    kinetic_s = best_time(lambda: kinetic.advance(k_state, params, steps).fields)
    moment_s = best_time(lambda: moment.advance(m_state, params, steps, bingham_closure).fields)
    return {"n": n, "n_theta": n_theta, "dt": dt, "t_span": t_span,
            "kinetic_s": kinetic_s, "moment_s": moment_s}  # fmt: skip


def record(section: str) -> None:
    """Replace (or append) this benchmark's section in RESULTS.md."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grids, a smoke run")
    args = parser.parse_args()
    params = ActiveFluidParams()
    dt = 2e-3
    grids = [(16, 16)] if args.quick else [(64, 64), (128, 128)]
    speed_rows = []
    for n, n_theta in grids:
        log(f"kinetic JAX vs NumPy at {n}² × {n_theta} ...")
        speed_rows.append(kinetic_vs_numpy(n, n_theta, 5 if args.quick else 20, params, dt))
    moment_rows = []
    for n, n_theta in [(16, 16)] if args.quick else [(64, 32), (64, 64), (128, 64)]:
        log(f"moment (Bingham) vs kinetic at {n}² (kinetic n_theta = {n_theta}) ...")
        moment_rows.append(moment_vs_kinetic(n, n_theta, 0.05 if args.quick else 0.5, params, dt))

    table1 = (
        "| grid (n² × n_theta) | JAX ms/step | NumPy ms/step | speed-up | JAX vs NumPy after 3 "
        "steps (rel. max) |\n|---|---|---|---|---|\n"
    ) + "\n".join(
        f"| {r['n']}² × {r['n_theta']} | {r['jax_ms']:.2f} | {r['numpy_ms']:.2f} | "
        f"{r['numpy_ms'] / r['jax_ms']:.1f}x | {r['mismatch']:.1e} |"
        for r in speed_rows
    )
    table2 = (
        "| grid n² | kinetic n_theta | dt | simulated time | kinetic (s) | moment+Bingham (s) "
        "| speed-up |\n|---|---|---|---|---|---|---|\n"
    ) + "\n".join(
        f"| {r['n']}² | {r['n_theta']} | {r['dt']:g} | {r['t_span']:g} | {r['kinetic_s']:.3f} | "
        f"{r['moment_s']:.3f} | {r['kinetic_s'] / r['moment_s']:.1f}x |"
        for r in moment_rows
    )
    command = "python benchmarks/active_fluid.py" + "".join(f" {a}" for a in sys.argv[1:])
    section = (
        f"{SECTION}\n\n"
        f"{datetime.date.today().isoformat()}, 2-core CPU, no GPU; jax {jax.__version__}, "
        f"numpy {np.__version__}; `{command}`. Published parameters (α = −1, β = 0.8, ζ = 1, "
        f"d_T = d_R = 0.05, L = 10), float64, dt = {dt:g}, state from random plane waves "
        "(amplitude 0.3) of isotropy. Wall times: best of 3 warm runs (NumPy: one run), "
        "compilation excluded.\n\n"
        f"Kinetic solver, JAX against a NumPy transcription of the same scheme:\n\n{table1}\n\n"
        f"Moment model with the Bingham closure against the kinetic solver on the same spatial "
        f"grid and dt:\n\n{table2}\n"
    )
    print(section)
    if not args.quick:
        record(section)
        log(f"recorded in {RESULTS}")


if __name__ == "__main__":
    main()

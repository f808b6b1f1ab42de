"""Active-fluid solvers: JAX kinetic step against NumPy implementations of the same scheme, and
the moment model (Bingham closure) against the kinetic theory per unit simulated time.

1. Kinetic ms/step at (n, n_theta) = (64, 64) and (128, 128), float64: the jitted JAX solver
   (physics.active_fluid.kinetic) against two NumPy implementations of the same discretisation
   (even θ-harmonics on [0, π), joint 2/3 rule, variable-step SBDF2 with an IMEX-Euler start,
   the Stokes flow self-consistent to 1e-12 at the start, then S:E lagged in each step at
   the extrapolated strain 2Eⁿ⁻¹ − Eⁿ⁻², its part β (max c/2) E moved into the viscosity):
   - ``NumpyKinetic``, the straightforward transcription: Ψ to the (θ, x, y) grid by one 3D
     inverse FFT, the three fluxes back by 3D FFTs, the Stokes iteration on the full strain
     tensor (3 + 4 FFTs);
   - ``NumpyKineticModes``, a transcription of the algorithm the JAX solver uses: complex
     θ-mode fields Ψ_q(x) of the kept modes only, the θ-flux as a banded product in q, and the
     Stokes solve on the two trace-free strain components packed as one complex field (one
     complex FFT each way), by conjugate gradients and then fixed-point iterations to 1e-12.
   Both compute the same numbers: before timing, each takes the same steps as the JAX solver
   from the same Ψ and must agree with it to 1e-10.
2. The moment model with the Bingham closure against the kinetic solver at the same spatial
   grid, the kinetic solver at n_theta = n (resolved: at n = 64, n_theta = 32 is not), both
   from the same state to T later, from two starts: the near-isotropic plane waves at t = 0,
   and the developed active-nematic state of a kinetic run at t = 20 (the moment model from
   its c and D). Each solver runs at the largest step its own accuracy allows: from a
   geometric list of step counts N (dt = T/N), the smallest N whose state at T (velocity rms
   and mean order parameter) is finite and within 1% of that solver's own reference
   (N = 2000) for it and every larger N in the list. Reported: wall time per unit simulated
   time at those steps, and the cost ratio at an equal dt.

Usage: python benchmarks/active_fluid.py [--quick]   (results go to benchmarks/RESULTS.md)
"""

import argparse
import datetime
import os
import resource
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from results import RESULTS, record_section

import physics  # noqa: F401  (float64)
from closures.kinetic import bingham_closure
from physics.active_fluid import (
    ActiveFluidParams,
    diagnostics,
    initial_conditions,
    kinetic,
    moment,
    moments_of_psi,
)

SECTION = "## active fluid: kinetic solver vs NumPy, moment model vs kinetic"
STOKES_RTOL = 1e-12
COMPONENT = np.indices((2, 2, 2, 2)).sum(axis=0)
T_END = 5.0
DEVELOPED_T = 20.0
DEVELOPED_DT = 0.01
REFERENCE_STEPS = 2000
STEP_COUNTS = (1000, 707, 500, 354, 250, 177, 125, 88, 62, 44, 31, 22, 16, 11, 8)
ACCURACY = 0.01
ROUNDS = 5


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

    def flow(self, c, D, S, guess=None):
        """(u (2, n, n), ∇u (2, 2, n, n)) of the Stokes flow: self-consistent by plain fixed
        point (no guess), or with S:E lagged at the guess E (2, 2, n, n)."""
        p = self.p
        shift = c.mean() / 4 if guess is None else c.max() / 2
        nu = 1 + p.beta * shift / 2
        DD = np.einsum("ik...,kj...->ij...", D, D)
        S_D = np.einsum("ijkl...,kl...->ij...", S, D)
        fixed = p.alpha * D - 2 * p.zeta * p.beta * (DD - S_D)
        E = np.zeros_like(D) if guess is None else guess
        for _ in range(100 if guess is None else 1):
            sigma = fixed + p.beta * np.einsum("ijkl...,kl...->ij...", S, E)
            sigma -= p.beta * shift * E
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

    def explicit(self, psi_hat, guess=None):
        """(explicit terms, the flow's strain E (2, 2, n, n)), S:E lagged at the guess if any."""
        c, D, S = self.moments(psi_hat)
        u, grad = self.flow(c, D, S, guess)
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
        return -1j * divergence * self.keep, (grad + grad.transpose(1, 0, 2, 3)) / 2

    def run(self, psi_hat, steps: int):
        """``steps`` steps: IMEX Euler, then constant-step SBDF2 (as the JAX solver), the
        strain extrapolated from the last two steps' (the first step's standing in for both)."""
        dt, prev, explicit_prev, last, before = self.dt, None, None, None, None
        for _ in range(steps):
            guess = None if last is None else 2 * last - before
            explicit, strain = self.explicit(psi_hat, guess)
            last, before = strain, strain if last is None else last
            if prev is None:
                rhs, gamma = psi_hat + dt * explicit, dt
            else:
                rhs = (2 * psi_hat - 0.5 * prev + dt * (2 * explicit - explicit_prev)) / 1.5
                gamma = dt / 1.5
            prev, explicit_prev = psi_hat, explicit
            psi_hat = rhs / (1 + gamma * self.decay)
        return psi_hat


class NumpyKineticModes(NumpyKinetic):
    """The same scheme in NumPy, computed the way the JAX solver computes it.

    Ψ_q(x) = Σ_j Ψ(θ_j, x) e^{−2iqθ_j} for the K θ-modes q ≥ 0 the 2/3 rule keeps (plus q = K)
    by one complex inverse 2D FFT each; c, D, S from Ψ_0, Ψ_1, Ψ_2; the θ-flux of mode q as
    r Ψ_q + a (Ψ_{q−1} + Ψ_{q+1})/2 + b (Ψ_{q−1} − Ψ_{q+1})/2i; three forward 2D FFTs per mode;
    modes q < 0 by symmetry. Stokes: the linear problem e = P(σ₀ + A e) for the strain
    e = E11 + iE12, P the Stokes map from the trace-free stress σ = σ_n + iσ_s to the strain,
    ê = −(σ̂ − e^{4iφ} conj σ̂(−k))/4ν per wave vector of angle φ (one complex FFT each way),
    A the pointwise S:E feedback (affine in e, formed from the components of S); solved by
    conjugate gradients to a residual of STOKES_RTOL relative to e, as the JAX solver.
    """

    def __init__(self, n: int, n_theta: int, params: ActiveFluidParams, dt: float):
        super().__init__(n, n_theta, params, dt)
        self.K = (self.M - 1) // 3 + 1
        self.kc = (n - 1) // 3 + 1
        self.ky_full = self.kx.T
        self.keep_x = (3 * np.abs(np.fft.fftfreq(n, 1.0 / n).round()) < n)[:, None]
        kd2 = self.kx**2 + self.ky_full**2
        self.inv_k2_full = np.where(kd2 > 0, 1 / np.where(kd2 > 0, kd2, 1), 0)
        self.nonzero = kd2 > 0
        self.rotation = ((self.kx + 1j * self.ky_full) ** 2 * self.inv_k2_full) ** 2

    @staticmethod
    def reflected(f_hat):
        """f_hat at −k on the full (n, n) FFT grid."""
        return np.roll(f_hat[::-1, ::-1], 1, axis=(0, 1))

    def strain(self, sigma, nu):
        """Strain E11 + iE12 (n, n) of the Stokes flow of the trace-free stress σ_n + iσ_s."""
        z = np.fft.fft2(sigma)
        rotated = self.rotation * np.conj(self.reflected(z))
        return np.fft.ifft2((-0.25 / nu) * (self.nonzero * z - rotated))

    def flow_trace_free(self, c, d, s, guess=None):
        """(u (2, n, n), ∇u (2, 2, n, n)) of D = d (d11, d12, d22) and the distinct components
        s (S1111, S1112, S1122, S1222, S2222) of S, each (n, n): self-consistent (no guess), or
        with S:E lagged at the guess E11 + iE12 (n, n)."""
        p = self.p
        shift = c.mean() / 4 if guess is None else c.max() / 2
        nu = 1 + p.beta * shift / 2
        d11, d12, d22 = d
        s1111, s1112, s1122, s1222, s2222 = s
        dd11, dd12, dd22 = d11 * d11 + d12 * d12, d12 * (d11 + d22), d12 * d12 + d22 * d22
        sd11 = s1111 * d11 + 2 * s1112 * d12 + s1122 * d22
        sd12 = s1112 * d11 + 2 * s1122 * d12 + s1222 * d22
        sd22 = s1122 * d11 + 2 * s1222 * d12 + s2222 * d22
        fixed = p.alpha * np.array([d11, d12, d22]) - 2 * p.zeta * p.beta * (
            np.array([dd11, dd12, dd22]) - np.array([sd11, sd12, sd22])
        )
        fixed_stress = (fixed[0] - fixed[2]) / 2 + 1j * fixed[1]

        def feedback(e):  # β (S:E − shift E), trace-free part, of E11 + iE12
            e11, e12 = e.real, e.imag
            se11 = (s1111 - s1122) * e11 + 2 * s1112 * e12
            se12 = (s1112 - s1222) * e11 + 2 * s1122 * e12
            se22 = (s1122 - s2222) * e11 + 2 * s1222 * e12
            return p.beta * ((se11 - se22) / 2 + 1j * se12 - shift * e)

        def dot(a, b):  # the real inner product of (E11, E12) fields
            return np.sum(a.real * b.real + a.imag * b.imag)

        e = guess  # lagged: S:E at the guess, no solve
        if guess is None:
            # Conjugate gradients on (I − P A) e = P σ₀ (self-adjoint on the range of P).
            r = self.strain(fixed_stress, nu)
            e, direction, rr = np.zeros_like(r), r, dot(r, r)
            for _ in range(100):
                if np.max(np.abs(r)) <= STOKES_RTOL * np.max(np.abs(e)):
                    break
                image = direction - self.strain(feedback(direction), nu)
                alpha = rr / dot(direction, image)
                e, r = e + alpha * direction, r - alpha * image
                rr, previous = dot(r, r), rr
                direction = r + (rr / previous) * direction
        sigma = np.fft.fft2(fixed_stress + feedback(e))
        mirror = np.conj(self.reflected(sigma))
        normal_hat, shear_hat = (sigma + mirror) / 2, (sigma - mirror) / 2j
        kx, ky = self.kx, self.ky_full
        force = 1j * np.array([kx * normal_hat + ky * shear_hat, kx * shear_hat - ky * normal_hat])
        k_dot_f = (kx * force[0] + ky * force[1]) * self.inv_k2_full
        u_hat = (force[0] - kx * k_dot_f + 1j * (force[1] - ky * k_dot_f)) * self.inv_k2_full / nu
        u, du_dx, du_dy = np.fft.ifft2(np.array([u_hat, 1j * kx * u_hat, 1j * ky * u_hat]))
        grad = np.array([[du_dx.real, du_dy.real], [du_dx.imag, du_dy.imag]])
        return np.array([u.real, u.imag]), grad

    def explicit(self, psi_hat, guess=None):
        M, n, K, kc = self.M, self.n, self.K, self.kc
        q = np.arange(max(K + 1, 3))
        rows = -np.arange(n) % n
        mirror = np.conj(psi_hat[-q % M][:, rows, n // 2 - 1 : 0 : -1])
        psi = np.fft.ifft2(np.concatenate([psi_hat[q % M], mirror], axis=-1))
        weight = 2 * np.pi / M
        c, m2, m4 = psi[0].real * weight, np.conj(psi[1]) * weight, np.conj(psi[2]) * weight
        d = ((c + m2.real) / 2, m2.imag / 2, (c - m2.real) / 2)
        s1111 = (3 * c + 4 * m2.real + m4.real) / 8
        s1112 = (2 * m2.imag + m4.imag) / 8
        s1122 = d[0] - s1111
        s1222 = d[1] - s1112
        s = (s1111, s1112, s1122, s1222, d[2] - s1122)
        e_guess = None if guess is None else guess[0, 0] + 1j * guess[0, 1]
        u, grad = self.flow_trace_free(c, d, s, e_guess)
        A = grad + 2 * self.p.zeta * np.array([[d[0], d[1]], [d[1], d[2]]])
        rotation = (A[1, 0] - A[0, 1]) / 2
        stretch_c, stretch_s = (A[0, 1] + A[1, 0]) / 2, (A[1, 1] - A[0, 0]) / 2
        neighbours = np.concatenate([np.conj(psi[1:2]), psi])  # Ψ_{q−1} at q: Ψ_{−1} = conj Ψ_1
        positive = np.empty((K, n, kc), complex)
        negative = np.empty((K, n, kc), complex)
        batch = max(1, min(4, 2**16 // n**2))  # as the JAX solver, a few modes at a time
        for start in range(0, K, batch):
            q = np.arange(start, min(start + batch, K))
            lower, centre, upper = neighbours[q], neighbours[q + 1], neighbours[q + 2]
            theta_flux = (
                rotation * centre
                + stretch_c * (lower + upper) / 2
                + stretch_s * (lower - upper) / 2j
            )
            X, Y, T = np.fft.fft2(np.stack([u[0] * centre, u[1] * centre, theta_flux]))
            rates = -1j * self.keep_x * (self.kx * X + self.ky_full * Y + 2 * q[:, None, None] * T)
            positive[q] = rates[..., :kc]
            negative[q] = np.conj(rates[:, rows][..., -np.arange(kc) % n])
        out = np.zeros((M, n, n // 2 + 1), complex)
        out[:K, :, :kc] = positive
        out[M - K + 1 :, :, :kc] = negative[:0:-1]
        return out, (grad + grad.transpose(1, 0, 2, 3)) / 2


def load_summary(before: tuple[float, ...]) -> str:
    """The 1/5/15-minute load averages at the start (``before``) and now, as "a, b, c / d, e, f"."""
    return " / ".join(", ".join(f"{x:.1f}" for x in load) for load in (before, os.getloadavg()))


def best_times(fns: dict[str, Callable[[], object]], rounds: int = ROUNDS) -> dict[str, float]:
    """Best wall time (s) of each function over ``rounds`` rounds, each round calling every
    function once in turn: on a shared machine, the load then falls on all of them alike."""
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def cpu_per_wall(fn: Callable[[], object]) -> float:
    """Process CPU seconds per wall second while fn runs: > 1 when it uses several cores."""
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    jax.block_until_ready(fn())
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - start
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / wall


def kinetic_vs_numpy(n: int, n_theta: int, steps: int, params, dt: float) -> dict:
    psi = initial_conditions.random_plane_waves(0, n, n_theta, amplitude=0.3)
    state = kinetic.init_state(psi, dt)
    psi_hat0 = np.asarray(state.fields)
    ours = np.asarray(kinetic.advance(state, params, 3).fields)
    row = {"n": n, "n_theta": n_theta, "steps": steps}
    runs = {}
    for name, baseline in [("numpy", NumpyKinetic), ("modes", NumpyKineticModes)]:
        reference = baseline(n, n_theta, params, dt)
        theirs = reference.run(psi_hat0, 3)
        # Relative to the change over the three steps (the mean mode alone would hide errors).
        mismatch = float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs - psi_hat0)))
        if mismatch > 1e-10:
            raise RuntimeError(f"{baseline.__name__} disagrees with the JAX solver: {mismatch:.2e}")
        runs[name] = lambda run=reference.run: run(psi_hat0, steps)
        row[f"{name}_mismatch"] = mismatch
    runs["jax"] = lambda: kinetic.advance(state, params, steps).fields
    runs["jax"]()  # compile
    for name, seconds in best_times(runs).items():
        row[f"{name}_ms"] = 1e3 * seconds / steps
    row["cpu"] = cpu_per_wall(lambda: kinetic.advance(state, params, steps).fields)
    return row


def accuracy_scan(solve: Callable[[int], tuple[float, float, float]]) -> dict:
    """The smallest step count N of STEP_COUNTS (largest dt = T/N) whose (u_rms, ⟨s⟩) at T are
    finite and within ACCURACY of the N = REFERENCE_STEPS run, as are all larger N's."""
    ref_u, ref_s, above_one = solve(REFERENCE_STEPS)
    chosen = None
    for steps in STEP_COUNTS:
        u, s, _ = solve(steps)
        error = max(abs(u / ref_u - 1), abs(s / ref_s - 1))
        log(f"    N = {steps}: u_rms {u:.6f}, <s> {s:.6f}, error {error:.2e}")
        if not (np.isfinite(error) and error <= ACCURACY):
            break
        chosen = {"steps": steps, "error": error}
    if chosen is None:
        raise RuntimeError(f"no step count in {STEP_COUNTS} is accurate to {ACCURACY}")
    return chosen | {"u_rms": ref_u, "order": ref_s, "above_one": above_one}


def observables(snap) -> tuple[float, float, float]:
    """(velocity rms, mean order parameter, fraction of points with order parameter > 1)."""
    order = diagnostics.order_parameter(snap.c, snap.D)
    return (
        float(diagnostics.velocity_statistics(snap.u).rms),
        float(np.mean(order)),
        float(np.mean(order > 1)),
    )


def developed_state(n: int, params) -> np.ndarray:
    """psi_hat of the kinetic solver (n_theta = n) at t = DEVELOPED_T from the plane-wave state:
    the statistically steady active-nematic regime (⟨s⟩ ≈ 0.9, defects and vortices)."""
    psi = initial_conditions.random_plane_waves(0, n, n, amplitude=0.3)
    steps = round(DEVELOPED_T / DEVELOPED_DT)
    return np.asarray(kinetic.advance(kinetic.init_state(psi, DEVELOPED_DT), params, steps).fields)


def moment_vs_kinetic(n: int, psi_hat, params) -> dict:
    """Accuracy-matched cost of both solvers from the kinetic state psi_hat (n_theta = n) and,
    for the moment model, its moments c, D."""
    psi_hat = jnp.asarray(psi_hat)
    moment_fields = moment.MomentFields(*kinetic.moment_spectra(psi_hat))

    def kinetic_run(steps: int):
        return kinetic.advance(kinetic.spectral_state(psi_hat, T_END / steps), params, steps)

    def moment_run(steps: int):
        state = moment.spectral_state(moment_fields, T_END / steps)
        return moment.advance(state, params, steps, bingham_closure)

    kinetic_snapshot = jax.jit(kinetic.snapshot)
    moment_snapshot = jax.jit(moment.snapshot, static_argnums=2)
    solvers = {
        "kinetic": (kinetic_run, lambda s: kinetic_snapshot(s, params)),
        "moment": (moment_run, lambda s: moment_snapshot(s, params, bingham_closure)),
    }
    row = {"n": n, "n_theta": psi_hat.shape[0] * 2}
    for name, (run, snapshot) in solvers.items():
        log(f"  {name}: accuracy scan")

        def solve(steps: int, run=run, snapshot=snapshot):
            return observables(snapshot(run(steps)))

        row[name] = accuracy_scan(solve)
    # Timed in alternation; the moment model also at the kinetic solver's step (equal dt).
    equal = row["kinetic"]["steps"]
    runs = {
        name: (lambda run=run, k=row[name]["steps"]: run(k).t) for name, (run, _) in solvers.items()
    }
    if equal != row["moment"]["steps"]:
        runs["moment_equal"] = lambda: moment_run(equal).t
        runs["moment_equal"]()  # compile
    best = best_times(runs)
    for name in solvers:
        row[name]["wall_s"] = best[name]
        row[name]["ms_per_step"] = 1e3 * best[name] / row[name]["steps"]
    row["moment_equal_ms"] = 1e3 * best.get("moment_equal", best["moment"]) / equal
    return row


def per_step_at(n: int, dt: float, steps: int, params) -> dict:
    """ms/step of both solvers at one dt (kinetic at n_theta = n), no accuracy scan."""
    psi = initial_conditions.random_plane_waves(0, n, n, amplitude=0.3)
    c, D, _ = moments_of_psi(psi)
    k_state, m_state = kinetic.init_state(psi, dt), moment.init_state(c, D, dt)
    del psi
    best = best_times(
        {
            "kinetic": lambda: kinetic.advance(k_state, params, steps).t,
            "moment": lambda: moment.advance(m_state, params, steps, bingham_closure).t,
        },
        rounds=3,
    )
    return {"n": n, "dt": dt} | {f"{k}_ms": 1e3 * v / steps for k, v in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grids, a smoke run")
    args = parser.parse_args()
    load_before = os.getloadavg()
    params = ActiveFluidParams()
    dt = 2e-3
    grids = [(16, 16)] if args.quick else [(64, 64), (128, 128)]
    speed_rows = []
    for n, n_theta in grids:
        log(f"kinetic JAX vs NumPy at {n}² × {n_theta} ...")
        speed_rows.append(kinetic_vs_numpy(n, n_theta, 5 if args.quick else 20, params, dt))
    moment_rows = {}
    for n in [32] if args.quick else [64, 128]:
        log(f"moment (Bingham) vs kinetic at {n}² (kinetic n_theta = {n}) ...")
        plane_waves = kinetic.to_spectral(initial_conditions.random_plane_waves(0, n, n, 0.3))
        log(f"  from plane waves (t = 0); developing the state to t = {DEVELOPED_T:g} ...")
        developed = developed_state(n, params)
        for start, psi_hat in [("plane waves", plane_waves), ("developed", developed)]:
            log(f"  start: {start}")
            moment_rows.setdefault(start, []).append(moment_vs_kinetic(n, psi_hat, params))
        del plane_waves, developed
    published = 48 if args.quick else 256
    log(f"per step at {published}² × {published} ...")
    large = per_step_at(
        published, T_END / moment_rows["developed"][-1]["kinetic"]["steps"], 5, params
    )

    table1 = (
        "| grid (n² × n_theta) | JAX ms/step | NumPy, 3D-FFT transcription: ms/step | JAX speed-up "
        "| NumPy, JAX's algorithm: ms/step | JAX speed-up | max rel. difference to JAX after "
        "3 steps (3D-FFT / JAX's algorithm) |\n|---|---|---|---|---|---|---|\n"
    ) + "\n".join(
        f"| {r['n']}² × {r['n_theta']} | {r['jax_ms']:.2f} | {r['numpy_ms']:.1f} | "
        f"{r['numpy_ms'] / r['jax_ms']:.1f}x | {r['modes_ms']:.1f} | "
        f"{r['modes_ms'] / r['jax_ms']:.1f}x | {r['numpy_mismatch']:.0e} / "
        f"{r['modes_mismatch']:.0e} |"
        for r in speed_rows
    )
    cpu = ", ".join(f"{r['cpu']:.2f} at {r['n']}² × {r['n_theta']}" for r in speed_rows)

    def solver_row(start, r, name, label):
        s = r[name]
        return (
            f"| {start} | {r['n']}² | {label} | {T_END / s['steps']:.3g} ({s['steps']}) | "
            f"{s['error']:.1e} | {s['ms_per_step']:.2f} | {s['wall_s'] / T_END:.3f} | "
            f"{s['u_rms']:.4f} / {s['order']:.4f} |"
        )

    table2 = (
        "| start | grid n² | solver | largest accurate dt (steps to T) | rel. error there "
        "| ms/step | wall s per unit time | u_rms / ⟨s⟩ at T (reference) |\n"
        "|---|---|---|---|---|---|---|---|\n"
    ) + "\n".join(
        solver_row(start, r, "kinetic", f"kinetic, n_theta = {r['n_theta']}")
        + "\n"
        + solver_row(start, r, "moment", "moment + Bingham")
        for start, rows in moment_rows.items()
        for r in rows
    )
    table3 = (
        "| start | grid n² | per unit simulated time (each at its dt) | per step at equal dt "
        "| kinetic points with s > 1 at T |\n|---|---|---|---|---|\n"
    ) + "\n".join(
        f"| {start} | {r['n']}² | {r['kinetic']['wall_s'] / r['moment']['wall_s']:.1f}x | "
        f"{r['kinetic']['ms_per_step'] / r['moment_equal_ms']:.1f}x "
        f"(dt = {T_END / r['kinetic']['steps']:.3g}) | {100 * r['kinetic']['above_one']:.1f}% |"
        for start, rows in moment_rows.items()
        for r in rows
    )
    command = "python benchmarks/active_fluid.py" + "".join(f" {a}" for a in sys.argv[1:])
    load = load_summary(load_before)
    section = (
        f"{SECTION}\n\n"
        f"{datetime.date.today().isoformat()}, 2-core CPU shared with other jobs (no GPU; load "
        f"average over 1, 5, 15 min at start / end: {load}); jax {jax.__version__}, numpy "
        f"{np.__version__}; `{command}`. Published parameters (α = −1, β = 0.8, ζ = 1, "
        "d_T = d_R = 0.05, L = 10), float64. Wall times: best of "
        f"{ROUNDS} warm runs (NumPy too; "
        "3 at 256²), compilation excluded, the solvers compared in a table run in alternation "
        "(round after round), so that changes in the load fall on all of them. CPU-seconds per "
        f"wall-second of the JAX kinetic runs: {cpu} (NumPy's FFTs are single-threaded).\n\n"
        f"Kinetic solver (dt = {dt:g}, state: random plane waves of amplitude 0.3 about "
        "isotropy), JAX against two NumPy implementations of the same scheme (the Stokes flow "
        "self-consistent at the start, S:E lagged at the extrapolated strain in every step): "
        "the straightforward transcription (3D FFTs in (θ, x, y), full-tensor Stokes solve, "
        "fixed-point iteration at the start) and a transcription of the algorithm the JAX "
        "solver uses (FFTs of the kept θ-modes only, banded θ-flux, two-component Stokes solve "
        "with the two components packed in one complex FFT, conjugate gradients at the start). "
        "The second column pair isolates what JAX itself buys; the first includes the "
        "algorithmic savings.\n\n"
        f"{table1}\n\n"
        "Moment model (Bingham closure) against the kinetic solver (n_theta = n) on the same "
        f"grid, both from the same state (the moment model from its c and D) to T = {T_END:g} "
        "later, for two starts: *plane waves*, the near-isotropic random plane waves "
        "(amplitude 0.3) at t = 0, before the instability has developed; *developed*, the "
        f"kinetic state at t = {DEVELOPED_T:g} of a run from those plane waves "
        f"(dt = {DEVELOPED_DT:g}), in the statistically steady active-nematic regime where the "
        "models are used. Accuracy criterion, the same for both solvers: the largest "
        f"dt = T/N, N in {list(STEP_COUNTS)}, whose velocity rms and mean order parameter ⟨s⟩ "
        f"at T are finite and within {100 * ACCURACY:g}% of the same solver's "
        f"N = {REFERENCE_STEPS} run, as are those of every smaller dt in the list. Each solver "
        "is judged against its own reference: the two references differ by the closure's "
        "error, not the step.\n\n"
        f"{table2}\n\n"
        "Cost ratio kinetic / moment:\n\n"
        f"{table3}\n\n"
        f"At the published resolution, {large['n']}² × {large['n']} (no accuracy scan: too "
        f"costly here), at dt = {large['dt']:.3g} (the kinetic solver's largest accurate dt from "
        f"the developed state at {moment_rows['developed'][-1]['n']}²): kinetic "
        f"{large['kinetic_ms']:.0f} ms/step, moment + Bingham {large['moment_ms']:.1f} ms/step, "
        f"{large['kinetic_ms'] / large['moment_ms']:.1f}x per step.\n"
    )
    print(section)
    if not args.quick:
        record_section(SECTION, section, RESULTS)
        log(f"recorded in {RESULTS}")


if __name__ == "__main__":
    main()

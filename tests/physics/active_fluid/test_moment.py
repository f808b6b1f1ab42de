"""Moment solver with pluggable closures: steady isotropy, growth rates against theory (with a
closure exact at isotropy, and with Bingham), trace and mass conservation, exact diffusion,
SBDF2 order, exact restart, blow-up detection, and gradients through rollouts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physics.spectral as sp
from physics.active_fluid import (
    ActiveFluidParams,
    contract,
    fit_growth_rate,
    fourth_moment_from_harmonics,
    mode_amplitudes,
    moment,
    moments_of_psi,
    predicted_growth_rates,
    second_harmonic,
    wave_vector,
)
from physics.active_fluid import initial_conditions as ic

N = 16
DEFAULT = ActiveFluidParams()


def linear_closure(params, c, D, E):
    """S with m₄ = 0: exact at isotropy and trace-consistent (S_ijkk = D_ij), linear in D."""
    del params, c
    trace, m2 = second_harmonic(D)
    S = fourth_moment_from_harmonics(trace, m2, jnp.zeros_like(m2))
    return contract(S, D), contract(S, E)


def weighted_closure(weight, c, D, E):
    """A closure with a parameter: m₄ = weight · m₂²/c (Bingham-like for weight ≈ 1)."""
    del c
    trace, m2 = second_harmonic(D)
    S = fourth_moment_from_harmonics(trace, m2, weight * m2**2 / trace)
    return contract(S, D), contract(S, E)


def moment_fields(psi):
    c, D, _ = moments_of_psi(psi)
    return c, D


@pytest.fixture(scope="module")
def random_fields():
    return moment_fields(ic.random_plane_waves(11, N, 16, amplitude=0.6))


@pytest.mark.parametrize(
    "params",
    [DEFAULT, ActiveFluidParams(alpha=-4.0, zeta=9.0), ActiveFluidParams(alpha=2.0, beta=3.0)],
)
def test_isotropic_state_is_steady_without_flow(params):
    c = jnp.ones((N, N))
    D = jnp.broadcast_to(jnp.eye(2) / 2, (N, N, 2, 2))
    state = moment.init_state(c, D, 0.01)
    final = moment.advance(state, params, 20, linear_closure)
    for a, b in zip(final.fields, state.fields, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)
    assert float(jnp.max(jnp.abs(moment.flow(final.fields, params, linear_closure).u))) < 1e-15


GROWTH_CASES = [(-1.0, 1.0, (1, 0)), (-3.0, 0.5, (1, 1)), (2.0, 2.0, (2, 1))]


def perturbed_isotropy(k_index, eps=1e-6):
    psi = ic.isotropic(N, 16)
    for m, weight, phase in [(2, 1.0, ic.SHEAR), (2, 0.7, ic.NORMAL), (0, 0.5, 0.0)]:
        psi += ic.plane_wave(N, 16, k_index, m, weight * eps, phase)
    return moment_fields(psi)


def check_growth_rates(closure, alpha, zeta, k_index):
    params = ActiveFluidParams(alpha=alpha, zeta=zeta)
    state = moment.init_state(*perturbed_isotropy(k_index), 1e-3)
    _, (t, fields) = moment.trajectory(
        state, params, 10, 10, closure, observe=moment.spectral_fields
    )
    amplitudes = mode_amplitudes(fields.c_hat, fields.D_hat, k_index)
    predicted = predicted_growth_rates(params, wave_vector(k_index, params.L)[0])
    for part in ("shear", "normal", "concentration"):
        measured = fit_growth_rate(t, getattr(amplitudes, part))
        assert measured == pytest.approx(float(getattr(predicted, part)), rel=1e-2), part


@pytest.mark.parametrize(("alpha", "zeta", "k_index"), GROWTH_CASES)
def test_growth_rates_match_linear_theory(alpha, zeta, k_index):
    check_growth_rates(linear_closure, alpha, zeta, k_index)


@pytest.mark.parametrize(("alpha", "zeta", "k_index"), GROWTH_CASES)
def test_growth_rates_with_bingham_closure(alpha, zeta, k_index):
    bingham = pytest.importorskip("closures.kinetic.bingham")
    check_growth_rates(bingham.bingham_closure, alpha, zeta, k_index)


def test_trace_and_mean_concentration_are_conserved(random_fields):
    state = moment.init_state(*random_fields, 0.01)
    final, snaps = moment.trajectory(state, DEFAULT, 5, 10, linear_closure)
    np.testing.assert_allclose(jnp.mean(snaps.c, axis=(1, 2)), 1.0, atol=1e-14)
    np.testing.assert_allclose(snaps.D[..., 0, 0] + snaps.D[..., 1, 1], snaps.c, atol=1e-13)
    assert float(jnp.max(jnp.abs(snaps.u[-1]))) > 0.01
    grid = sp.make_grid(N, DEFAULT.L)
    divergence = sp.irfft2(sp.divergence(grid, sp.rfft2(snaps.u[-1])))
    assert float(jnp.max(jnp.abs(divergence))) < 1e-14
    assert float(final.t) == pytest.approx(0.5)


def test_pure_diffusion_modes_decay_at_the_implicit_rate():
    """α = β = ζ = 0: c decays at d_T k², the trace-free part of D at d_T k² + 4 d_R, both
    exactly as the implicit SBDF2 recurrence says."""
    params = ActiveFluidParams(alpha=0.0, beta=0.0, zeta=0.0, d_t=0.05, d_r=0.3)
    psi = ic.isotropic(N, 16) + ic.plane_wave(N, 16, (2, 1), 0, 0.2)
    psi += ic.plane_wave(N, 16, (1, 3), 2, 0.1, ic.SHEAR)
    state = moment.init_state(*moment_fields(psi), 0.02)
    count = 25
    final = moment.advance(state, params, count, linear_closure)
    cases = [("concentration", (2, 1), 0.0), ("shear", (1, 3), 4 * params.d_r)]
    for part, k_index, extra in cases:
        k, _ = wave_vector(k_index, params.L)
        mu = (params.d_t * k**2 + extra) * 0.02
        prev, cur = 1.0, 1 / (1 + mu)
        for _ in range(count - 1):
            prev, cur = cur, (2 * cur - prev / 2) / (1.5 + mu)
        before = getattr(mode_amplitudes(state.fields.c_hat, state.fields.D_hat, k_index), part)
        after = getattr(mode_amplitudes(final.fields.c_hat, final.fields.D_hat, k_index), part)
        assert complex(after / before) == pytest.approx(cur, rel=1e-12)


def test_sbdf2_is_second_order_on_the_moment_solver(random_fields):
    t_end, solution = 0.5, {}
    for count in (10, 20, 40, 160):
        state = moment.init_state(*random_fields, t_end / count)
        solution[count] = moment.advance(state, DEFAULT, count, linear_closure).fields.D_hat
    errors = [float(jnp.max(jnp.abs(solution[k] - solution[160]))) for k in (10, 20, 40)]
    order = np.polyfit(np.log([t_end / 10, t_end / 20, t_end / 40]), np.log(errors), 1)[0]
    assert order == pytest.approx(2.0, abs=0.2)


def test_restart_from_a_mid_run_checkpoint_is_bit_identical(random_fields):
    state = moment.init_state(*random_fields, 0.01)
    straight = moment.advance(state, DEFAULT, 10, linear_closure)
    checkpoint = jax.tree.map(np.asarray, moment.advance(state, DEFAULT, 5, linear_closure))
    resumed = moment.advance(jax.tree.map(jnp.asarray, checkpoint), DEFAULT, 5, linear_closure)
    for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)


def test_blow_up_is_detected(random_fields):
    state = moment.init_state(*random_fields, 1.0)
    final, _, report = moment.guarded_trajectory(state, DEFAULT, 20, 5, linear_closure)
    assert int(report.status) in (sp.STATUS_EXPLODED, sp.STATUS_NON_FINITE)
    assert float(final.t) == pytest.approx(float(report.time) - 1.0)
    assert all(0 <= int(i) < N for i in report.location)
    assert float(jnp.max(moment.probe(final))) <= moment.BLOWUP_THRESHOLD


def test_gradients_through_a_rollout_match_finite_differences():
    """d(loss)/d(alpha) and d(loss)/d(closure weight) through 6 steps on an 8 × 8 grid."""
    c, D = moment_fields(ic.random_plane_waves(3, 8, 16, amplitude=0.8, max_wavenumber=2))
    state = moment.init_state(c, D, 0.05)

    def loss(alpha, weight):
        params = DEFAULT._replace(alpha=alpha)
        final, snaps = moment.trajectory(state, params, 3, 2, weighted_closure, weight)
        return jnp.mean(snaps.u**2) + jnp.mean(final.fields.D_hat.real**2) / 8**4

    alpha, weight = -1.5, 0.8
    grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(alpha, weight)
    h = 1e-5
    fd_alpha = (loss(alpha + h, weight) - loss(alpha - h, weight)) / (2 * h)
    fd_weight = (loss(alpha, weight + h) - loss(alpha, weight - h)) / (2 * h)
    assert abs(float(fd_alpha)) > 1e-4 and abs(float(fd_weight)) > 1e-6
    assert float(grads[0]) == pytest.approx(float(fd_alpha), rel=1e-6)
    assert float(grads[1]) == pytest.approx(float(fd_weight), rel=1e-6)

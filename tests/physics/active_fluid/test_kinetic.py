"""Kinetic solver: layout and moments, steady isotropy, linear growth rates against theory,
the link to the moment model, conservation, exact diffusion, SBDF2 order, exact restart,
blow-up detection and the stability estimate."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physics.spectral as sp
from physics.active_fluid import (
    ActiveFluidParams,
    exact_closure,
    fit_growth_rate,
    harmonic_amplitude,
    harmonic_growth_rate,
    kinetic,
    max_stable_dt,
    mode_amplitudes,
    moment,
    moments_of_psi,
    predicted_growth_rates,
    wave_vector,
)
from physics.active_fluid import initial_conditions as ic

EPS = float(jnp.finfo(jnp.float64).eps)
N, N_THETA = 16, 32
DEFAULT = ActiveFluidParams()


@pytest.fixture(scope="module")
def random_psi():
    """A band-limited (|k index| ≤ 4, m ≤ 4), strongly perturbed distribution."""
    return ic.random_plane_waves(7, N, N_THETA, amplitude=0.6)


def test_layout_round_trip_keeps_the_apolar_part(random_psi):
    psi_hat = kinetic.to_spectral(random_psi)
    assert psi_hat.shape == (N_THETA // 2, N, N // 2 + 1)
    np.testing.assert_allclose(kinetic.to_real(psi_hat), random_psi, atol=100 * EPS)
    theta = 2 * np.pi * np.arange(N_THETA) / N_THETA
    polar = random_psi + 0.1 * np.cos(theta)  # odd harmonic: dropped
    np.testing.assert_allclose(kinetic.to_real(kinetic.to_spectral(polar)), random_psi, atol=1e-14)
    with pytest.raises(ValueError, match="divisible by 4"):
        kinetic.to_spectral(random_psi[..., :30])


def test_moments_from_theta_modes_match_quadrature(random_psi):
    c, D, S = kinetic.moments(kinetic.to_spectral(random_psi))
    theta = 2 * np.pi * np.arange(N_THETA) / N_THETA
    p = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    weight = 2 * np.pi / N_THETA
    psi = np.asarray(random_psi)
    np.testing.assert_allclose(c, weight * psi.sum(-1), atol=1e-14)
    np.testing.assert_allclose(D, weight * np.einsum("xyt,ti,tj->xyij", psi, p, p), atol=1e-14)
    S_quad = weight * np.einsum("xyt,ti,tj,tk,tl->xyijkl", psi, p, p, p, p)
    np.testing.assert_allclose(S, S_quad, atol=1e-14)
    for exact, other in zip((c, D, S), moments_of_psi(random_psi), strict=True):
        np.testing.assert_allclose(exact, other, atol=1e-14)
    assert float(jnp.mean(c)) == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize(
    "params",
    [DEFAULT, ActiveFluidParams(alpha=-4.0, zeta=9.0), ActiveFluidParams(alpha=2.0, beta=3.0)],
)
def test_isotropic_state_is_steady_without_flow(params):
    state = kinetic.init_state(ic.isotropic(N, N_THETA), 0.01)
    final = kinetic.advance(state, params, 20)
    np.testing.assert_allclose(final.fields, state.fields, atol=1e-12)
    assert float(jnp.max(jnp.abs(kinetic.flow(final.fields, params).u))) < 1e-15


def test_theta_moments_of_the_kinetic_rhs_equal_the_moment_rhs(random_psi):
    """With S from Ψ the moment model is exact: its right side (explicit + implicit) equals the
    θ-moments of the kinetic right side, and its steps the moments of the kinetic steps."""
    params = ActiveFluidParams(alpha=-2.0, zeta=1.5)

    @jax.jit
    def both_sides(psi_hat):
        kin = kinetic.equation(params)
        kinetic_side = kinetic.moment_spectra(
            kin.explicit_terms(psi_hat) + kin.implicit_terms(psi_hat)
        )
        c, D, S = kinetic.moments(psi_hat)
        mom = moment.equation(params, exact_closure, S)
        fields = moment.to_spectral(c, D)
        explicit, implicit = mom.explicit_terms(fields), mom.implicit_terms(fields)
        return kinetic_side, (explicit.c_hat + implicit.c_hat, explicit.D_hat + implicit.D_hat)

    (c_t, D_t), (c_moment, D_moment) = both_sides(kinetic.to_spectral(random_psi))
    scale = float(jnp.max(jnp.abs(D_t)))
    assert scale > 1.0  # a strongly active state, not a trivial one
    np.testing.assert_allclose(c_moment, c_t, atol=1e-14 * scale)
    np.testing.assert_allclose(D_moment, D_t, atol=1e-14 * scale)

    c, D, _ = kinetic.moments(kinetic.to_spectral(random_psi))
    kinetic_state, moment_state = (
        kinetic.init_state(random_psi, 0.01),
        moment.init_state(c, D, 0.01),
    )
    for _ in range(3):  # an IMEX Euler step, then SBDF2 with history
        S = kinetic.moments(kinetic_state.fields)[2]
        kinetic_state = kinetic.step(kinetic_state, params)
        moment_state = moment.step(moment_state, params, exact_closure, S)
        c_hat, D_hat = kinetic.moment_spectra(kinetic_state.fields)
        np.testing.assert_allclose(moment_state.fields.c_hat, c_hat, atol=1e-13)
        np.testing.assert_allclose(moment_state.fields.D_hat, D_hat, atol=1e-13)


GROWTH_CASES = [(-1.0, 1.0, (1, 0)), (-3.0, 0.5, (1, 1)), (2.0, 2.0, (2, 1))]


def perturbed_isotropy(k_index, eps=1e-6):
    """Isotropy plus the shear, normal, concentration and m = 4, 6 waves at one wave vector:
    decoupled at linear order, so one run measures all their rates."""
    waves = [(2, 1.0, ic.SHEAR), (2, 0.7, ic.NORMAL), (0, 0.5, 0.0), (4, 1.0, 0.0), (6, 0.8, 0.0)]
    psi = ic.isotropic(N, N_THETA)
    for m, weight, phase in waves:
        psi += ic.plane_wave(N, N_THETA, k_index, m, weight * eps, phase)
    return psi


@pytest.mark.parametrize(("alpha", "zeta", "k_index"), GROWTH_CASES)
def test_growth_rates_match_linear_theory(alpha, zeta, k_index):
    params = ActiveFluidParams(alpha=alpha, zeta=zeta)
    state = kinetic.init_state(perturbed_isotropy(k_index), 1e-3)
    _, (t, psi_hat) = kinetic.trajectory(state, params, 10, 10, observe=kinetic.spectral_fields)
    c_hat, D_hat = jax.vmap(kinetic.moment_spectra)(psi_hat)
    amplitudes = mode_amplitudes(c_hat, D_hat, k_index)
    k, _ = wave_vector(k_index, params.L)
    predicted = predicted_growth_rates(params, k)
    for part in ("shear", "normal", "concentration"):
        measured = fit_growth_rate(t, getattr(amplitudes, part))
        assert measured == pytest.approx(float(getattr(predicted, part)), rel=1e-2), part
    for m in (4, 6):
        measured = fit_growth_rate(t, harmonic_amplitude(psi_hat, k_index, m))
        assert measured == pytest.approx(float(harmonic_growth_rate(params, k, m)), rel=1e-2)


def test_mean_concentration_and_incompressibility_over_a_rollout(random_psi):
    state = kinetic.init_state(random_psi, 0.01)
    final, (t, psi_hat) = kinetic.trajectory(
        state, DEFAULT, 10, 10, observe=kinetic.spectral_fields
    )
    c_mean = psi_hat[:, 0, 0, 0] * 2 * np.pi / (N_THETA // 2) / N**2
    np.testing.assert_allclose(c_mean, 1.0, atol=1e-14)
    c, D, _ = kinetic.moments(final.fields)
    np.testing.assert_allclose(D[..., 0, 0] + D[..., 1, 1], c, atol=1e-14)
    grid = sp.make_grid(N, DEFAULT.L)
    u = kinetic.flow(final.fields, DEFAULT).u
    divergence = sp.irfft2(sp.divergence(grid, sp.rfft2(u)))
    assert float(jnp.max(jnp.abs(u))) > 0.01
    assert float(jnp.max(jnp.abs(divergence))) < 1e-14
    assert float(final.t) == pytest.approx(1.0) == float(t[-1])


PASSIVE = ActiveFluidParams(alpha=0.0, beta=0.0, zeta=0.0, d_t=0.05, d_r=0.05)
DIFFUSION_MODES = [((1, 0), 0), ((2, 1), 2), ((0, 3), 4), ((1, 2), 8)]


def test_pure_diffusion_modes_decay_at_the_implicit_rate_and_converge_to_the_exponential():
    psi = ic.isotropic(N, N_THETA)
    for k_index, m in DIFFUSION_MODES:
        psi += ic.plane_wave(N, N_THETA, k_index, m, 0.1)
    initial = kinetic.to_spectral(psi)
    t_end, errors, counts = 0.5, [], (20, 40, 80)
    for count in counts:
        dt = t_end / count
        final = kinetic.advance(kinetic.init_state(psi, dt), PASSIVE, count)
        for k_index, m in DIFFUSION_MODES:
            k, _ = wave_vector(k_index, PASSIVE.L)
            mu = -float(harmonic_growth_rate(PASSIVE, k, m)) * dt
            prev, cur = 1.0, 1 / (1 + mu)  # IMEX Euler, then SBDF2
            for _ in range(count - 1):
                prev, cur = cur, (2 * cur - prev / 2) / (1.5 + mu)
            ratio = harmonic_amplitude(final.fields, k_index, m) / harmonic_amplitude(
                initial, k_index, m
            )
            assert complex(ratio) == pytest.approx(cur, rel=1e-12)
            errors.append(abs(cur - np.exp(-mu / dt * t_end)))
    errors = np.array(errors).reshape(len(counts), -1).max(axis=1)
    order = np.polyfit(np.log(t_end / np.array(counts)), np.log(errors), 1)[0]
    assert order == pytest.approx(2.0, abs=0.1)


def test_sbdf2_is_second_order_on_the_kinetic_solver(random_psi):
    t_end = 0.2
    solution = {}
    for count in (10, 20, 40, 160):
        state = kinetic.init_state(random_psi, t_end / count)
        solution[count] = kinetic.advance(state, DEFAULT, count).fields
    errors = [float(jnp.max(jnp.abs(solution[k] - solution[160]))) for k in (10, 20, 40)]
    order = np.polyfit(np.log([t_end / 10, t_end / 20, t_end / 40]), np.log(errors), 1)[0]
    assert order == pytest.approx(2.0, abs=0.2)


def test_restart_from_a_mid_run_checkpoint_is_bit_identical(random_psi):
    state = kinetic.init_state(random_psi, 0.01)
    straight = kinetic.advance(state, DEFAULT, 10)
    checkpoint = jax.tree.map(np.asarray, kinetic.advance(state, DEFAULT, 5))
    resumed = kinetic.advance(jax.tree.map(jnp.asarray, checkpoint), DEFAULT, 5)
    for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)


def test_blow_up_is_detected_with_time_and_location(random_psi):
    big_dt = 0.1  # ~4× the stability estimate at this resolution
    assert big_dt > max_stable_dt(DEFAULT, N, N_THETA)
    state = kinetic.init_state(ic.random_plane_waves(0, N, N_THETA, amplitude=0.3), big_dt)
    final, snaps, report = kinetic.guarded_trajectory(state, DEFAULT, 20, 5)
    assert int(report.status) in (sp.STATUS_EXPLODED, sp.STATUS_NON_FINITE)
    assert 0 < float(report.time) <= 10.0
    assert float(final.t) == pytest.approx(float(report.time) - big_dt)
    assert bool(jnp.all(jnp.isfinite(final.fields)))
    assert float(jnp.max(kinetic.probe(final))) <= kinetic.BLOWUP_THRESHOLD
    assert all(0 <= int(i) < N for i in report.location)
    assert float(snaps.t[-1]) == float(final.t)

    spiked = np.asarray(random_psi).copy()
    spiked[3, 5, :] = 1e5
    state = kinetic.init_state(spiked, 0.01, t=0.75)
    _, _, report = kinetic.guarded_trajectory(state, DEFAULT, 2, 2)
    assert int(report.status) == sp.STATUS_EXPLODED
    assert float(report.time) == 0.75
    np.testing.assert_array_equal(report.location, [3, 5])


def test_stability_estimate_rejects_absurd_steps_and_accepts_the_published_one():
    for n in (64, 256):
        assert max_stable_dt(DEFAULT, n, n) > 4e-4
        assert max_stable_dt(DEFAULT, n) > max_stable_dt(DEFAULT, n, n)  # moment model
    assert max_stable_dt(DEFAULT, 64, 64) < 1.0
    # Finer grids and stronger activity need smaller steps.
    assert max_stable_dt(DEFAULT, 128, 128) < max_stable_dt(DEFAULT, 32, 32)
    strong = ActiveFluidParams(alpha=-5.0, zeta=5.0)
    assert max_stable_dt(strong, 64, 64) < max_stable_dt(DEFAULT, 64, 64)

"""The generic IMEX SBDF2 stepper against closed forms: second order with constant and variable
steps, an IMEX-Euler start, exact implicit amplification of diffusion, exact restart, and
blow-up detection in guarded rollouts."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physics.spectral as sp

EPS = float(jnp.finfo(jnp.float64).eps)

# u' = −a u + u² (Bernoulli): −a u implicit, u² explicit; u(t) = 1/(1/a + (1/u₀ − 1/a) e^{at}).
A = 1.0
U0 = jnp.array([0.5, -0.3, 0.9])
BERNOULLI = sp.IMEXEquation(
    explicit_terms=lambda u: u**2,
    implicit_terms=lambda u: -A * u,
    implicit_solve=lambda y, gamma: y / (1 + gamma * A),
)
T_END = 1.0


def bernoulli_exact(t):
    return 1 / (1 / A + (1 / U0 - 1 / A) * np.exp(A * t))


step_bernoulli = jax.jit(functools.partial(sp.sbdf2_step, BERNOULLI))


@functools.partial(jax.jit, static_argnames="num_steps")
def run_bernoulli(dt, num_steps):
    return sp.repeated(step_bernoulli, num_steps)(sp.sbdf2_init(U0, dt))


def fitted_order(steps, errors):
    return np.polyfit(np.log(steps), np.log(errors), 1)[0]


def test_constant_step_sbdf2_is_second_order():
    counts = [10, 20, 40, 80]
    errors = [
        np.max(np.abs(run_bernoulli(T_END / k, k).fields - bernoulli_exact(T_END))) for k in counts
    ]
    assert fitted_order(T_END / np.array(counts), errors) == pytest.approx(2.0, abs=0.1)


def test_variable_step_sbdf2_is_second_order():
    """A repeating pattern of step ratios between 0.35 and 2.8, refined uniformly."""
    pattern = np.array([1.0, 1.7, 0.6, 1.3, 0.8])
    errors, sizes = [], []
    for repeats in (2, 4, 8, 16):
        steps = np.tile(pattern, repeats)
        steps *= T_END / steps.sum()
        state = sp.sbdf2_init(U0, steps[0])
        for dt in steps:
            state = step_bernoulli(state._replace(dt=dt))
        assert float(state.t) == pytest.approx(T_END, abs=1e-14)
        errors.append(np.max(np.abs(state.fields - bernoulli_exact(T_END))))
        sizes.append(steps.max())
    assert fitted_order(np.array(sizes), errors) == pytest.approx(2.0, abs=0.15)


def test_first_step_is_imex_euler_then_sbdf2():
    dt = 0.1
    state = sp.sbdf2_init(U0, dt)
    one = step_bernoulli(state)
    np.testing.assert_allclose(one.fields, (U0 + dt * U0**2) / (1 + dt * A), rtol=10 * EPS)
    assert float(one.dt_prev) == dt
    np.testing.assert_array_equal(one.fields_prev, U0)
    np.testing.assert_allclose(one.explicit_prev, U0**2, rtol=EPS)
    # Second step: the classical constant-step SBDF2 formula.
    two = step_bernoulli(one)
    u1, u0 = one.fields, U0
    expected = (2 * u1 - u0 / 2 + dt * (2 * u1**2 - u0**2)) / (1.5 + dt * A)
    np.testing.assert_allclose(two.fields, expected, rtol=10 * EPS)


def test_coefficients():
    np.testing.assert_allclose(sp.sbdf2_coefficients(1.0), (1.5, 2.0, 0.5))
    np.testing.assert_allclose(sp.sbdf2_coefficients(0.0), (1.0, 1.0, 0.0))
    # Consistency on u = 1 and u = t (u' = 1 extrapolated exactly): steps h and h/ω.
    omega, h = 1.7, 0.3
    a1, a0, am1 = sp.sbdf2_coefficients(omega)
    assert a1 - a0 + am1 == pytest.approx(0.0, abs=1e-15)
    assert a1 * h + am1 * (-h / omega) == pytest.approx(h, abs=1e-15)


def test_restart_from_checkpoint_is_bit_identical():
    state = sp.sbdf2_init(U0, 0.05)
    run5 = jax.jit(sp.repeated(step_bernoulli, 5))
    straight = run5(run5(state))
    saved = jax.tree.map(np.asarray, run5(state))  # e.g. written to and read from disk
    resumed = run5(jax.tree.map(jnp.asarray, saved))
    for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)


def heat_equation(grid, diffusivity):
    """∂t f = κ Δf on spectra, all implicit."""
    rate = diffusivity * grid.k2
    return sp.IMEXEquation(
        explicit_terms=jnp.zeros_like,
        implicit_terms=lambda f: -rate * f,
        implicit_solve=lambda y, gamma: y / (1 + gamma * rate),
    )


def test_diffusion_matches_the_implicit_amplification_and_converges_to_the_exponential():
    n, L, kappa = 16, 2 * np.pi, 0.05
    grid = sp.make_grid(n, L)
    x = grid.x
    field = jnp.cos(3 * x)[:, None] * jnp.cos(2 * x)[None, :] + jnp.sin(5 * x)[:, None]
    step = jax.jit(functools.partial(sp.sbdf2_step, heat_equation(grid, kappa)))
    t_end, errors, counts = 1.0, [], [10, 20, 40]
    for count in counts:
        dt = t_end / count
        state = sp.sbdf2_init(sp.rfft2(field), dt)
        for _ in range(count):
            state = step(state)
        for index, k2 in (((3, 2), 13.0), ((0, 5), 25.0)):
            mu = kappa * k2 * dt
            # IMEX Euler then the SBDF2 recurrence a₁ y₊ = 2 y − y₋/2 with a₁ = 3/2 + μ.
            prev, cur = 1.0, 1 / (1 + mu)
            for _ in range(count - 1):
                prev, cur = cur, (2 * cur - prev / 2) / (1.5 + mu)
            ratio = state.fields[index] / sp.rfft2(field)[index]
            assert complex(ratio) == pytest.approx(cur, rel=1e-13)
        exact = sp.irfft2(sp.rfft2(field) * jnp.exp(-kappa * grid.k2 * t_end))
        errors.append(float(jnp.max(jnp.abs(sp.irfft2(state.fields) - exact))))
    assert fitted_order(t_end / np.array(counts), errors) == pytest.approx(2.0, abs=0.1)


def explosive_step(state):
    """Explicit Euler for f' = f² on a (4, 4) field: blows up where f is largest, at t = 1/f."""
    return state._replace(fields=state.fields + state.dt * state.fields**2, t=state.t + state.dt)


def test_guarded_trajectory_reports_time_and_place_of_blow_up():
    fields = jnp.full((4, 4), 0.1).at[2, 3].set(1.0)
    state = sp.sbdf2_init(fields, 0.01)
    run = jax.jit(
        sp.guarded_trajectory(
            explosive_step, lambda s: s.fields, 40, 10, threshold=1e3, observe=lambda s: s.t
        )
    )
    final, times, report = run(state)
    assert int(report.status) == sp.STATUS_EXPLODED
    np.testing.assert_array_equal(report.location, [2, 3])
    # The reference: step the same map until the first value exceeds 1e3.
    f, t = np.asarray(fields), 0.0
    while f.max() <= 1e3:
        f, t = f + 0.01 * f**2, t + 0.01
    assert float(report.time) == pytest.approx(t, abs=1e-12)
    assert float(final.t) == pytest.approx(t - 0.01, abs=1e-12)  # frozen at the last good state
    assert float(jnp.max(final.fields)) <= 1e3
    assert float(times[-1]) == float(final.t)


def test_guarded_trajectory_reports_non_finite_and_healthy_runs():
    fields = jnp.full((4, 4), 0.1).at[1, 0].set(jnp.nan)
    run = jax.jit(sp.guarded_trajectory(explosive_step, lambda s: s.fields, 3, 2, threshold=1e3))
    _, _, report = run(sp.sbdf2_init(fields, 0.01))
    assert int(report.status) == sp.STATUS_NON_FINITE
    np.testing.assert_array_equal(report.location, [1, 0])
    assert float(report.time) == 0.0
    final, _, report = run(sp.sbdf2_init(jnp.full((4, 4), 0.1), 0.01))
    assert int(report.status) == sp.STATUS_OK and np.isnan(float(report.time))
    np.testing.assert_array_equal(report.location, [-1, -1])
    assert float(final.t) == pytest.approx(0.06)


# u' = −z with the lagged quantity z(u) = u: the stepper supplies z at the extrapolated guess.
LAGGED_DECAY = sp.IMEXEquation(
    explicit_terms=lambda u: -u,
    implicit_terms=lambda u: jnp.zeros_like(u),
    implicit_solve=lambda y, gamma: y,
    lagged_explicit_terms=lambda u, guess: (-guess, u),
    lagged_start=lambda u: u,
)


@functools.partial(jax.jit, static_argnames="num_steps")
def run_lagged_decay(state, num_steps):
    state = sp.sbdf2_start(LAGGED_DECAY, state)
    return sp.repeated(functools.partial(sp.sbdf2_step, LAGGED_DECAY), num_steps)(state)


def test_lagged_quantity_is_started_once_extrapolated_and_second_order():
    fresh = sp.sbdf2_init(U0, 0.1, lagged=jnp.zeros_like(U0))
    started = sp.sbdf2_start(LAGGED_DECAY, fresh)
    for z in started.lagged:
        np.testing.assert_array_equal(z, U0)
    once = run_lagged_decay(fresh, 3)
    np.testing.assert_array_equal(sp.sbdf2_start(LAGGED_DECAY, once).lagged[0], once.lagged[0])
    # The doubly extrapolated explicit term converges from above: local orders 2.5 → 2.1
    # between 10 and 320 steps (measured), so the fit starts at 40.
    errors, counts = [], [40, 80, 160, 320]
    for k in counts:
        final = run_lagged_decay(sp.sbdf2_init(U0, T_END / k, lagged=jnp.zeros_like(U0)), k)
        errors.append(np.max(np.abs(final.fields - U0 * np.exp(-T_END))))
    assert fitted_order(T_END / np.array(counts), errors) == pytest.approx(2.0, abs=0.2)
    straight = run_lagged_decay(fresh, 10)
    resumed = run_lagged_decay(jax.tree.map(np.asarray, run_lagged_decay(fresh, 4)), 6)
    for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)

"""The self-consistent Stokes solve: the converged flow satisfies Stokes with its own strain,
it converges in a few iterations, and it differentiates by the implicit function theorem."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import closures.kinetic as ck
import physics.active_fluid.stokes as stokes
import physics.spectral as sp
from physics.active_fluid import (
    ActiveFluidParams,
    exact_closure,
    fixed_point,
    kinetic,
    solve_flow,
    stokes_iterations,
    stress,
)
from physics.active_fluid import initial_conditions as ic
from physics.active_fluid.stokes import (
    accelerated_fixed_point,
    conjugate_gradients,
    is_affine,
    iterate_to_fixed_point,
    prepare_closure,
    solve_fixed_point,
)

EPS = float(jnp.finfo(jnp.float64).eps)
N = 16
PARAMS = ActiveFluidParams(alpha=-3.0, beta=2.0, zeta=2.0)


@pytest.fixture(scope="module")
def moments():
    """c, D, S of a strongly anisotropic distribution."""
    return kinetic.moments(kinetic.to_spectral(ic.random_plane_waves(5, N, 16, amplitude=0.9)))


def stokes_velocity_of(params, c, D, closure, closure_params, E):
    """u solving −Δu + ∇P = ∇·Σ(E) directly (viscosity 1, no preconditioning)."""
    S_D, S_E = closure(closure_params, c, D, E)
    grid = sp.make_grid(N, params.L)
    return sp.irfft2(sp.stokes_velocity(grid, sp.rfft2(stress(params, D, S_D, S_E))))


def nonlinear_closure(S, c, D, E):
    """Exact S plus a term nonlinear in E, as a learned closure may have."""
    S_D, S_E = exact_closure(S, c, D, E)
    return S_D, S_E + 0.3 * jnp.sum(E * E, axis=(-2, -1))[..., None, None] * D


@pytest.mark.parametrize("closure", [exact_closure, nonlinear_closure])
def test_converged_flow_satisfies_stokes_with_its_own_strain(moments, closure):
    c, D, S = moments
    flow = jax.jit(solve_flow, static_argnums=3)(PARAMS, c, D, closure, S)
    E = (flow.grad_u + jnp.swapaxes(flow.grad_u, -1, -2)) / 2
    scale = float(jnp.max(jnp.abs(flow.u)))
    assert scale > 0.05
    residual = stokes_velocity_of(PARAMS, c, D, closure, S, E) - flow.u
    assert float(jnp.max(jnp.abs(residual))) < 1e-10 * scale
    # The S:E feedback matters: dropping it (E = 0) is far from the solution.
    lagged = stokes_velocity_of(PARAMS, c, D, closure, S, jnp.zeros_like(E)) - flow.u
    assert float(jnp.max(jnp.abs(lagged))) > 1e-2 * scale
    np.testing.assert_allclose(flow.S_E, closure(S, c, D, E)[1], atol=1e-10)
    np.testing.assert_allclose(E[..., 0, 0] + E[..., 1, 1], 0.0, atol=100 * EPS * scale)


class PreparedOnly:
    """A closure that can only be used through its prepare step, which counts its calls."""

    def __init__(self):
        self.prepared = 0

    def __call__(self, params, c, D, E):
        raise AssertionError("the Stokes solve evaluated the unprepared closure")

    def prepare(self, params, c, D):
        self.prepared += 1
        return exact_closure, params


def test_solve_prepares_the_closure_once_and_iterates_the_prepared_form(moments):
    c, D, S = moments
    closure = PreparedOnly()
    flow = solve_flow(PARAMS, c, D, closure, S)
    assert closure.prepared == 1
    reference = solve_flow(PARAMS, c, D, exact_closure, S)
    for got, want in zip(flow, reference, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-14 * float(jnp.max(jnp.abs(want))))


def test_fixed_point_converges_in_a_few_iterations(moments):
    c, D, S = moments
    count = int(stokes_iterations(PARAMS, c, D, exact_closure, S))
    assert 2 <= count <= 25
    isotropic = jnp.broadcast_to(jnp.eye(2) / 2, (N, N, 2, 2))
    S_iso = kinetic.moments(kinetic.to_spectral(ic.isotropic(N, 16)))[2]
    ones = jnp.ones((N, N))
    # Isotropy: no flow, so nothing to iterate; the one evaluation of the map at E = 0 shows it.
    assert int(stokes_iterations(PARAMS, ones, isotropic, exact_closure, S_iso)) == 1
    # An isotropic S (S:E = c̄E/4, moved into the viscosity) under a driving stress that is not:
    # the evaluation at E = 0, then one CG iteration on the (here constant) slope is exact.
    driven = isotropic + 0.1 * (
        D - jnp.trace(D, axis1=-2, axis2=-1)[..., None, None] * jnp.eye(2) / 2
    )
    assert int(stokes_iterations(PARAMS, ones, driven, exact_closure, S_iso)) == 2


def test_fixed_point_gradient_uses_the_implicit_function_theorem():
    """x = a cos(x)/2 + b: dx/da = cos(x)/2 / (1 + a sin(x)/2), dx/db = 1 / (1 + a sin(x)/2)."""

    def f(x, theta):
        a, b = theta
        return a * jnp.cos(x) / 2 + b

    def solve(a, b):
        return fixed_point(f, jnp.zeros(3), (a, b), 1e-14, 200).sum() / 3

    a, b = 0.9, jnp.array(0.4)
    x = float(solve(a, b))
    assert x == pytest.approx(a * np.cos(x) / 2 + 0.4, abs=1e-13)
    da, db = jax.grad(solve, argnums=(0, 1))(a, b)
    denominator = 1 + a * np.sin(x) / 2
    assert float(da) == pytest.approx(np.cos(x) / 2 / denominator, rel=1e-12)
    assert float(db) == pytest.approx(1 / denominator, rel=1e-12)


def test_flow_gradient_matches_finite_differences(moments):
    c, D, S = (m[::2, ::2] for m in moments)  # an 8 × 8 grid

    @jax.jit
    def energy(alpha, beta):
        params = PARAMS._replace(alpha=alpha, beta=beta)
        return jnp.mean(solve_flow(params, c, D, exact_closure, S).u ** 2)

    grads = jax.grad(energy, argnums=(0, 1))(-3.0, 2.0)
    h = 1e-5
    fd = [
        (energy(-3.0 + h, 2.0) - energy(-3.0 - h, 2.0)) / (2 * h),
        (energy(-3.0, 2.0 + h) - energy(-3.0, 2.0 - h)) / (2 * h),
    ]
    for g, f in zip(grads, fd, strict=True):
        assert float(g) == pytest.approx(float(f), rel=1e-6)


def test_conjugate_gradients_solves_a_symmetric_positive_definite_system():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    matrix = q @ np.diag(np.linspace(0.8, 1.2, 12)) @ q.T  # the spread of I − J in the Stokes solve
    b = rng.standard_normal(12)
    y, iterations = conjugate_gradients(
        lambda v: jnp.asarray(matrix) @ v, jnp.asarray(b), 1e-13, 50
    )
    np.testing.assert_allclose(y, np.linalg.solve(matrix, b), rtol=1e-11)
    assert 5 <= int(iterations) <= 12  # a tenth per iteration or better, at most the dimension


def test_accelerated_fixed_point_beats_plain_iteration_on_a_nonlinear_contraction():
    """x = A x + b + sin(x)/20 with A symmetric of spectrum [−1/6, 1/2]: the same fixed point to
    the tolerance, in far fewer evaluations than plain iteration (40)."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    A = jnp.asarray(q @ np.diag(np.linspace(-0.5 / 3, 0.5, 40)) @ q.T)
    b = jnp.asarray(rng.standard_normal(40))

    def f(x, theta):
        return theta[0] @ x + theta[1] + 0.05 * jnp.sin(x)

    x, count = accelerated_fixed_point(f, jnp.zeros(40), (A, b), 1e-12, 200)
    plain, plain_count = iterate_to_fixed_point(f, jnp.zeros(40), (A, b), 1e-12, 500)
    assert float(jnp.max(jnp.abs(f(x, (A, b)) - x))) < 1e-11 * float(jnp.max(jnp.abs(x)))
    np.testing.assert_allclose(x, plain, atol=1e-11)
    assert int(count) <= 0.75 * int(plain_count)


def test_nonlinear_closures_are_solved_without_linearising(moments):
    """A closure nonlinear in E takes the accelerated solve, in fewer evaluations than the
    linearise-then-iterate alternative would need (CG on the linearisation at E = 0, then
    plain iteration to the fixed point); affine closures (also the classical ones, once
    prepared) keep conjugate gradients, which for a nonlinear map would stop at the fixed point
    of its linearisation, not of the map."""
    c, D, S = moments
    assert not is_affine(nonlinear_closure)
    assert is_affine(exact_closure)
    for closure in (ck.bingham_closure, ck.quadratic_closure):
        assert is_affine(prepare_closure(closure, (), c, D)[0])
    accelerated = int(stokes_iterations(PARAMS, c, D, nonlinear_closure, S))
    update = functools.partial(stokes._strain_update, nonlinear_closure)
    x0 = jnp.zeros((2, N, N))
    inputs = (PARAMS, c, D, S)
    model, k_model = solve_fixed_point(update, x0, inputs, 1e-12, 100, affine=True)
    x, k = iterate_to_fixed_point(update, model, inputs, 1e-12, 100)
    assert float(jnp.max(jnp.abs(x - model))) > 1e-6 * float(jnp.max(jnp.abs(x)))
    assert accelerated < int(k_model) + int(k)


def test_affine_stress_reproduces_the_closures_stress_at_any_strain(moments):
    """The slope fields formed once per solve are exact for the affine (and pointwise) closures:
    at a random, non-uniform strain they give the closure's own stress to round-off."""
    c, D, S = moments
    x = jax.random.normal(jax.random.PRNGKey(3), (2, N, N))
    for closure, closure_params in [(exact_closure, S), (ck.bingham_closure, ())]:
        prepared, prepared_params = prepare_closure(closure, closure_params, c, D)
        inputs = (PARAMS, c, D, prepared_params)
        model = stokes.affine_stress(prepared, inputs)
        direct = stokes._deviatoric_stress(prepared, x, inputs)[0]
        affine = model.sigma0 + model.slope[0] * x[0] + model.slope[1] * x[1]
        np.testing.assert_allclose(
            affine, direct, rtol=0, atol=1e-13 * float(jnp.max(jnp.abs(direct)))
        )
        assert (
            float(jnp.max(jnp.abs(model.slope[1] - model.slope[1].mean()))) > 1e-3
        )  # varies in space


@pytest.fixture(scope="module")
def lagged_flows(moments):
    """stepping_flow of the anisotropic state, jitted once, and the self-consistent strain."""
    c, D, S = moments
    lagged = jax.jit(stokes.stepping_flow, static_argnums=3)
    exact = stokes.strain_components(solve_flow(PARAMS, c, D, exact_closure, S).grad_u)
    return lagged, exact


def test_lagged_flow_at_the_self_consistent_strain_is_the_self_consistent_flow(
    moments, lagged_flows
):
    """The lag is consistent: guessing the converged strain returns the converged flow (with
    its S:D, S:E), whatever the shift moved into the viscosity."""
    c, D, S = moments
    lagged, exact = lagged_flows
    flow, strain = lagged(PARAMS, c, D, exact_closure, S, exact)
    reference = solve_flow(PARAMS, c, D, exact_closure, S)
    for name in ("u", "grad_u", "S_D", "S_E"):
        ours, theirs = getattr(flow, name), getattr(reference, name)
        np.testing.assert_allclose(ours, theirs, atol=1e-11 * float(jnp.max(jnp.abs(theirs))))
    np.testing.assert_allclose(strain, exact, atol=1e-11 * float(jnp.max(jnp.abs(exact))))


def test_lag_feedback_is_positive_and_below_one(moments, lagged_flows):
    """The lagged strain's error is J times the guess's, with J positive semi-definite and of
    norm at most βs/(2ν), s = max c/2, ν = 1 + βs/2, on strains of incompressible flows: the
    condition (spectrum in [0, 1)) under which the extrapolated lag is stable."""
    c, D, S = moments
    lagged, exact = lagged_flows
    s = float(jnp.max(c)) / 2
    bound = PARAMS.beta * s / (2 * (1 + PARAMS.beta * s / 2))
    keys = jax.random.split(jax.random.PRNGKey(11), 3)
    norms = []
    for key in keys:
        packed = jax.random.normal(key, (N, N), dtype=jnp.complex128)
        delta = stokes.strain_of_stress(packed, 1.0)  # the strain of a random Stokes flow
        response = lagged(PARAMS, c, D, exact_closure, S, exact + delta)[1] - exact
        assert float(jnp.vdot(delta, response)) >= -1e-12 * float(jnp.vdot(delta, delta))
        norms.append(float(jnp.linalg.norm(response) / jnp.linalg.norm(delta)))
    assert max(norms) <= bound * (1 + 1e-9)
    assert max(norms) > 0.05 * bound  # an anisotropic state: the feedback is not trivial

"""A-posteriori training and parameter estimation through the differentiable moment solver, on
an 8² grid, against trajectories of the moment model with a planted closure and α = −2.5: the
gradient of the trajectory loss against finite differences, in the closure's parameters and in
α; the planted α recovered by velocity regression and by gradient descent; a few training steps
lower the loss. All tests share one compiled loss-and-gradient function (same closure, grid and
window)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from closures.kinetic.aposteriori import (
    TrainingWindow,
    as_params,
    device_window,
    loss_and_gradients,
    make_windows,
    rollout,
    train_aposteriori,
)
from closures.kinetic.dataset import RunFields
from closures.kinetic.estimation import (
    estimate_parameters,
    relative_errors,
    velocity_regression,
)
from closures.kinetic.network import ClosureConfig, LearnedClosure
from physics.active_fluid import ActiveFluidParams, initial_conditions, moments_of_psi

N, STEPS, OUTPUTS, DT_OUTPUT = 8, 2, 2, 0.02
CLOSURE = LearnedClosure(ClosureConfig(hidden=(8,), inputs="D", output_scale=0.5))
WEIGHTS = jnp.ones(3)


def float64_params(seed: int = 0):
    params = CLOSURE.init(jax.random.key(seed))
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed + 1), len(leaves))
    noisy = [leaf.astype(jnp.float64) + 0.3 * jax.random.normal(k, leaf.shape)
             for leaf, k in zip(leaves, keys, strict=True)]  # fmt: skip
    return jax.tree.unflatten(tree, noisy)


def loss_and_grads(closure_params, params, window):
    return loss_and_gradients(CLOSURE, closure_params, params, window, DT_OUTPUT / STEPS, STEPS,
                              WEIGHTS)  # fmt: skip


def test_gradient_matches_finite_differences(planted):
    params, _, windows = planted
    window = device_window(windows[0].window)
    closure_params = float64_params(seed=7)  # not the planted closure: a non-zero loss
    loss, (grad_closure, grad_params) = loss_and_grads(closure_params, params, window)
    assert np.isfinite(float(loss)) and float(loss) > 0
    direction = jax.tree.map(lambda a: jax.random.normal(jax.random.key(5), a.shape),
                             closure_params)  # fmt: skip
    pairs = zip(jax.tree.leaves(grad_closure), jax.tree.leaves(direction), strict=True)
    along = sum(jnp.sum(g * d) for g, d in pairs)
    h = 1e-4
    shifted = lambda s: jax.tree.map(lambda a, d: a + s * h * d, closure_params, direction)  # noqa: E731
    plus, minus = (loss_and_grads(shifted(s), params, window)[0] for s in (1, -1))
    assert float(along) == pytest.approx(float(plus - minus) / (2 * h), rel=1e-5)
    plus, minus = (
        loss_and_grads(closure_params, params._replace(alpha=params.alpha + s * h), window)[0]
        for s in (1, -1)
    )
    assert float(grad_params.alpha) == pytest.approx(float(plus - minus) / (2 * h), rel=1e-5)


def test_gradient_matches_finite_differences_for_the_strain_dependent_closure(planted):
    """The default input set `DL` (S:E quadratic in E): its Stokes solve is the accelerated
    fixed point, differentiated by the implicit function theorem with the iterated adjoint;
    the gradient still matches finite differences."""
    params, _, windows = planted
    window = device_window(windows[0].window)
    closure = LearnedClosure(ClosureConfig(hidden=(8,), inputs="DL", output_scale=0.5))
    closure_params = float64_params(seed=7)
    loss, (grad_closure, _) = loss_and_gradients(closure, closure_params, params, window,
                                                  DT_OUTPUT / STEPS, STEPS, WEIGHTS)  # fmt: skip
    direction = jax.tree.map(lambda a: jax.random.normal(jax.random.key(5), a.shape),
                             closure_params)  # fmt: skip
    # The strain coefficients are the network's 2nd and 3rd outputs, used by DL only: the
    # gradient must reach them.
    assert float(jnp.max(jnp.abs(grad_closure["params"]["Dense_1"]["kernel"][:, 1:]))) > 0
    along = sum(jnp.sum(g * d) for g, d in zip(jax.tree.leaves(grad_closure),
                                               jax.tree.leaves(direction), strict=True))
    h = 1e-4

    def loss_at(step: float):
        shifted = jax.tree.map(lambda a, d: a + step * d, closure_params, direction)
        return loss_and_gradients(closure, shifted, params, window, DT_OUTPUT / STEPS, STEPS,
                                  WEIGHTS)[0]  # fmt: skip

    plus, minus = loss_at(h), loss_at(-h)
    assert float(loss) > 0
    assert float(along) == pytest.approx(float(plus - minus) / (2 * h), rel=1e-5)


@pytest.fixture(scope="module")
def planted():
    """Trajectories of the moment model itself (with the closure) at a planted α = −2.5."""
    truth = as_params(ActiveFluidParams(alpha=-2.5, zeta=1.0))
    closure_params = float64_params()
    psi = initial_conditions.random_plane_waves(1, N, 8, amplitude=0.3, max_wavenumber=2)
    c0, D0, _ = moments_of_psi(psi)
    u0, c, D, u = rollout(CLOSURE, closure_params, truth, c0, D0, DT_OUTPUT / STEPS, 5, STEPS)
    assert c.shape == (5, N, N) and D.shape == (5, N, N, 2, 2) and u.shape == (5, N, N, 2)
    np.testing.assert_allclose(jnp.mean(c, axis=(1, 2)), 1.0, atol=1e-12)  # mean c conserved
    fields = RunFields(np.arange(6) * DT_OUTPUT, *(np.concatenate([a[None], b]) for a, b in
                       ((c0, c), (D0, D), (D0 * 0, D * 0), (u0, u), (D0 * 0, D * 0),
                        (D0 * 0, D * 0))))  # fmt: skip
    windows = [TrainingWindow(truth, w, DT_OUTPUT) for w in make_windows(fields, OUTPUTS)]
    return truth, closure_params, windows


def test_parameter_estimation_recovers_a_planted_alpha(planted):
    truth, closure_params, windows = planted
    assert len(windows) == 2
    guess = [TrainingWindow(w.params._replace(alpha=-1.5), w.window, w.dt_output) for w in windows]
    estimate = estimate_parameters(CLOSURE, closure_params, guess, {"alpha": -1.5}, STEPS,
                                   steps=60, learning_rate=0.1)  # fmt: skip
    assert estimate.loss[-1] < 1e-3 * estimate.loss[0]
    assert relative_errors(estimate.values, truth)["alpha"] < 1e-2
    # The flow is affine in α and ζ for this closure: the regression is exact.
    fitted = velocity_regression(CLOSURE, closure_params, guess, ["alpha", "zeta"])
    assert fitted["alpha"] == pytest.approx(-2.5, rel=1e-8)
    assert fitted["zeta"] == pytest.approx(1.0, rel=1e-8)


def test_aposteriori_training_lowers_the_trajectory_loss(planted):
    params, _, windows = planted
    start = float64_params(seed=7)
    trained, history = train_aposteriori(CLOSURE, start, windows[:1], STEPS, steps=3,
                                         learning_rate=3e-2)  # fmt: skip
    after = loss_and_grads(trained, params, device_window(windows[0].window))[0]
    assert float(after) < history[0]

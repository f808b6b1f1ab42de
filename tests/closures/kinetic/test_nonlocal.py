"""The nonlocal (CNN) closure: symmetry of the square (grid rotations/reflections with the tensor
rotation), rotation equivariance at fixed positions, trace consistency, exactness at isotropy
and at perfect alignment, and the untrained closure equal to Bingham's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import closures.kinetic as ck
from closures.kinetic.dataset import RunInfo, assemble
from closures.kinetic.network import ClosureConfig
from closures.kinetic.nonlocal_closure import NonlocalClosure, symmetrise
from closures.kinetic.training import TrainingSettings, train_closure
from tests.closures.kinetic.test_learned import synthetic_run

CLOSURE = NonlocalClosure(ClosureConfig(hidden=(4,), inputs="D", kind="cnn", kernel=3,
                                        output_scale=2.0))  # fmt: skip


@pytest.fixture(scope="module")
def params():
    params = CLOSURE.init(jax.random.key(0))
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    return jax.tree.unflatten(tree, [leaf + 0.5 * jax.random.normal(k, leaf.shape, leaf.dtype)
                                     for leaf, k in zip(leaves, keys, strict=True)])  # fmt: skip


@pytest.fixture(scope="module")
def fields():
    """A batch of 2 random 8² fields: c, D (positive, tr D = c), E."""
    ka, ke = jax.random.split(jax.random.key(3))
    A = jax.random.normal(ka, (2, 8, 8, 2, 2))
    D = A @ jnp.swapaxes(A, -1, -2) / 4 + 0.05 * jnp.eye(2)
    G = jax.random.normal(ke, (2, 8, 8, 2, 2))
    return jnp.trace(D, axis1=-2, axis2=-1), D, (G + jnp.swapaxes(G, -1, -2)) / 2


def test_kernels_have_the_symmetry_of_the_square():
    k = symmetrise(jax.random.normal(jax.random.key(0), (3, 3, 2, 2)))
    np.testing.assert_allclose(jnp.rot90(k, axes=(0, 1)), k, atol=1e-14)
    np.testing.assert_allclose(jnp.flip(k, axis=1), k, atol=1e-14)


def test_grid_rotation_and_reflection_with_the_tensors(fields, params):
    c, D, E = fields
    R = jnp.array([[0.0, -1.0], [1.0, 0.0]])  # rotation by 90°
    turn_grid = lambda f: jnp.rot90(f, axes=(1, 2))  # noqa: E731
    turn = lambda T: R @ turn_grid(T) @ R.T  # noqa: E731
    S_D, S_E = CLOSURE(params, c, D, E)
    S_D_r, S_E_r = CLOSURE(params, turn_grid(c), turn(D), turn(E))
    np.testing.assert_allclose(S_D_r, turn(S_D), atol=1e-12)
    np.testing.assert_allclose(S_E_r, turn(S_E), atol=1e-12)
    F = jnp.diag(jnp.array([-1.0, 1.0]))  # x → −x
    flip = lambda T: F @ jnp.flip(T, axis=1) @ F  # noqa: E731
    S_D_f, _ = CLOSURE(params, jnp.flip(c, axis=1), flip(D), flip(E))
    np.testing.assert_allclose(S_D_f, flip(S_D), atol=1e-12)


def test_pointwise_rotation_trace_and_linearity(fields, params):
    c, D, E = fields
    angle = 0.7
    R = jnp.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    S_D, S_E = CLOSURE(params, c, D, E)
    S_D_r, S_E_r = CLOSURE(params, c, R @ D @ R.T, R @ E @ R.T)
    np.testing.assert_allclose(S_D_r, R @ S_D @ R.T, atol=1e-12)
    np.testing.assert_allclose(S_E_r, R @ S_E @ R.T, atol=1e-12)
    np.testing.assert_allclose(jnp.trace(S_D, axis1=-2, axis2=-1), jnp.sum(D * D, (-2, -1)),
                               atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(jnp.trace(S_E, axis1=-2, axis2=-1), jnp.sum(D * E, (-2, -1)),
                               atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(CLOSURE(params, c, D, 2 * E)[1], 2 * S_E, atol=1e-12)


def test_exact_at_isotropy_and_alignment_and_untrained_is_bingham(fields, params):
    c, D, E = fields
    iso = c[..., None, None] * jnp.eye(2) / 2
    angle = jnp.linspace(0, 3, 64).reshape(1, 8, 8)
    n = jnp.stack([jnp.cos(angle), jnp.sin(angle)], -1)
    aligned = c[:1, ..., None, None] * n[..., :, None] * n[..., None, :]
    for Dx, cx, Ex in ((iso, c, E), (aligned, c[:1], E[:1])):
        for got, want in zip(CLOSURE(params, cx, Dx, Ex), ck.bingham_closure((), cx, Dx, Ex),
                             strict=True):  # fmt: skip
            np.testing.assert_allclose(got, want, atol=1e-12)
    fresh = CLOSURE.init(jax.random.key(5))
    for got, want in zip(CLOSURE(fresh, c, D, E), ck.bingham_closure((), c, D, E), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_training_on_whole_snapshots(fields, params):
    """train_closure with kind 'cnn' fits a CNN closure on snapshot batches and scores it."""
    runs = [(RunInfo("synthetic", alpha=-1.0, zeta=z), synthetic_run(k, CLOSURE, params))
            for k, z in enumerate([0.5, 1.5])]  # fmt: skip
    settings = TrainingSettings(network=CLOSURE.config, steps=30, learning_rate=1e-2,
                                snapshot_batch=2, holdout_every=3)  # fmt: skip
    trained = train_closure(assemble(runs), settings)
    assert isinstance(trained.closure, NonlocalClosure)
    assert trained.apriori_history[-1] < trained.apriori_history[0]
    assert trained.scores["learned"]["S_T"] < trained.scores["bingham"]["S_T"]

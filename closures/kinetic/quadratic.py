"""The quadratic closure S = DD/c: cheap, but wrong at isotropy (S1111 = c/4 instead of 3c/8)."""

from typing import Any

import jax.numpy as jnp
from jax import Array

from physics.active_fluid.moments import exact_closure


def fourth_moment(D: Array) -> Array:
    """S_ijkl = D_ij D_kl / c with c = tr D.

    D: (..., 2, 2) symmetric (c > 0; c = 0 with D = 0 gives S = 0). Returns S (..., 2, 2, 2, 2),
    symmetric in (ij), (kl) and under (ij) ↔ (kl) but not fully symmetric, with S_ijkk = D_ij.
    At isotropy (D = cI/2) it gives S1111 = c/4, not the exact 3c/8.
    """
    c = D[..., 0, 0] + D[..., 1, 1]
    c_or_one = jnp.where(c > 0, c, 1.0)
    return jnp.einsum("...ij,...kl->...ijkl", D, D) / c_or_one[..., None, None, None, None]


def quadratic_closure(params: Any, c: Array, D: Array, E: Array) -> tuple[Array, Array]:
    """(S:D, S:E) with S = DD/c; the shared closure signature.

    params: ignored (pass ()). c: (...) concentration, ignored in favour of c = tr D, as in
    :func:`closures.kinetic.bingham.bingham_closure`. D, E: (..., 2, 2) symmetric. Returns two
    (..., 2, 2) symmetric arrays: D (D:D)/c and D (D:E)/c. Gives ¼ instead of 3/8 for S1111 at
    isotropy (c = 1).
    """
    closure, S = _prepare(params, c, D)
    return closure(S, c, D, E)


def _prepare(params: Any, c: Array, D: Array):
    """The Stokes solve's prepared form (:func:`~physics.active_fluid.stokes.prepare_closure`),
    which the closure itself applies: the exact closure of S = DD/c, formed once per solve
    (and affine in E, so solved by conjugate gradients)."""
    del params, c
    return exact_closure, fourth_moment(D)


quadratic_closure.prepare = _prepare

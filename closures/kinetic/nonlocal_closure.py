"""A nonlocal learned closure: a small periodic CNN over the order-parameter field, for
comparison with the pointwise one (:mod:`closures.kinetic.network`).

The closure is Bingham's with the harmonic factor g(s²) replaced by

    h = g(s²) + output_scale · s²(1 − s²) · CNN[s²](x),

where CNN maps the whole field s²(x) (clipped to [0, 1]) to a field, so h at a point depends on
the order parameter around it. S is the fully symmetric tensor with m₄ = h m₂²/c, and
(S:D, S:E) its contractions, so as for the local closure with inputs ``"D"`` the closure is
trace-consistent, linear in E, exact at isotropy (pointwise: s² = 0 there) and at perfect
alignment. Every kernel is averaged over the 8 symmetries of the square (D4) and padded
periodically, so the closure is equivariant under grid rotations by multiples of 90° and
reflections (combined with the same rotation of D and E); the pointwise factor makes it
equivariant under any rotation of D and E at fixed positions.

Inputs are grid-first fields: c (..., n, n), D, E (..., n, n, 2, 2); leading axes are a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
from jax import Array, lax

from closures.kinetic.bessel import bingham_harmonic_factor
from closures.kinetic.network import ACTIVATIONS, ClosureConfig
from physics.active_fluid.moments import (
    fourth_moment_from_harmonics,
    harmonic_closure,
    second_harmonic,
)
from physics.precision import NETWORK_DTYPE


def symmetrise(kernel: Array) -> Array:
    """The average of a (k, k, in, out) kernel over the 8 symmetries of the square."""
    turns = [jnp.rot90(kernel, r, axes=(0, 1)) for r in range(4)]
    return sum(turns + [jnp.flip(t, axis=0) for t in turns]) / 8


class SymmetricConv(nn.Module):
    """Periodic 'same' convolution (..., n, n, C) → (..., n, n, features) with a D4-symmetric
    kernel."""

    features: int
    kernel: int
    zero: bool = False

    @nn.compact
    def __call__(self, x: Array) -> Array:
        init = nn.initializers.zeros if self.zero else nn.initializers.lecun_normal()
        k = self.param("kernel", init, (self.kernel, self.kernel, x.shape[-1], self.features),
                       NETWORK_DTYPE)  # fmt: skip
        bias = self.param("bias", nn.initializers.zeros, (self.features,), NETWORK_DTYPE)
        batch = x.shape[:-3]
        x = x.reshape((-1, *x.shape[-3:]))
        pad = self.kernel // 2
        x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="wrap")
        y = lax.conv_general_dilated(x, symmetrise(k.astype(x.dtype)), (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))  # fmt: skip
        return (y + bias.astype(y.dtype)).reshape((*batch, *y.shape[-3:]))


class CNN(nn.Module):
    """Symmetric periodic convolutions with the given hidden widths; one output channel, last
    layer zero-initialised (an untrained closure is Bingham's)."""

    hidden: tuple[int, ...]
    activation: str
    kernel: int

    @nn.compact
    def __call__(self, x: Array) -> Array:
        act = ACTIVATIONS[self.activation]
        for width in self.hidden:
            x = act(SymmetricConv(width, self.kernel)(x))
        return SymmetricConv(1, self.kernel, zero=True)(x)[..., 0]


@dataclass(frozen=True)
class NonlocalClosure:
    """The CNN closure with the shared signature (fields, not points); ``init`` makes params."""

    config: ClosureConfig = field(default_factory=lambda: ClosureConfig(inputs="D", kind="cnn"))

    @property
    def network(self) -> CNN:
        return CNN(self.config.hidden, self.config.activation, self.config.kernel)

    def init(self, key: Array) -> Any:
        return self.network.init(key, jnp.zeros((1, 8, 8, 1), NETWORK_DTYPE))

    def harmonics(self, params: Any, D: Array) -> tuple[Array, Array, Array]:
        """(c, m₂, m₄) (..., n, n) with m₄ = h m₂²/c, h from the CNN of the s² field."""
        c, m2 = second_harmonic(D)
        c_or_one = jnp.where(c > 0, c, 1.0)
        x = jnp.clip(jnp.abs(m2) ** 2 / c_or_one**2, 0.0, 1.0)
        correction = self.network.apply(params, x[..., None])
        h = bingham_harmonic_factor(x) + self.config.output_scale * x * (1 - x) * correction
        return c, m2, h * m2**2 / c_or_one

    def fourth_moment(self, params: Any, D: Array) -> Array:
        """S (..., n, n, 2, 2, 2, 2) of :meth:`harmonics`."""
        return fourth_moment_from_harmonics(*self.harmonics(params, D))

    def prepare(self, params: Any, c: Array, D: Array) -> tuple[Any, Any]:
        """The CNN runs once per Stokes solve
        (:func:`~physics.active_fluid.stokes.prepare_closure`); the solve iterates
        :func:`~physics.active_fluid.moments.harmonic_closure` of its harmonics."""
        del c
        return harmonic_closure, self.harmonics(params, D)

    def __call__(self, params: Any, c: Array, D: Array, E: Array) -> tuple[Array, Array]:
        """(S:D, S:E) (..., n, n, 2, 2); c is taken as tr D."""
        closure, prepared = self.prepare(params, c, D)
        return closure(prepared, c, D, E)

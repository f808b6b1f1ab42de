"""The learned, rotation-equivariant kinetic closure: invariants → tensor-basis coefficients.

A pointwise network maps rotation invariants of (D, E) to corrections of the Bingham closure's
tensor-basis coefficients (:mod:`closures.kinetic.invariants`),

    S:D = β₀ I + β₁ D,    S:E = α₀ I + α₁ D + α₂ E,

so that, by construction,

- it is equivariant under rotations and reflections (D, E → R D Rᵀ, R E Rᵀ): the coefficients
  are functions of invariants only;
- it is trace-consistent, tr(S:D) = D:D and tr(S:E) = D:E (the identity S_ijkk = D_ij): β₀ and
  α₀ are not learned but follow from β₁, α₁, α₂;
- it is exact at isotropy: the invariants are shifted to vanish there, z = (s², |E′|², D′:E′)
  with s² = 2|D′|²/c² (primes: trace-free parts), and every correction vanishes when D′ = 0,
  whatever E, so at D = cI/2 the coefficients equal
  :func:`~closures.kinetic.invariants.isotropic_coefficients`; the corrections are O(|z|), i.e.
  second order about isotropy, so the moment model keeps the exact linear growth rates;
- it is exact at perfect alignment: every correction carries a factor 1 − s² (s² clipped to
  [0, 1]), so S = c nnnn at s = 1, where the D equation balances (4ζ D·D = 2ζ·2 S:D) and a
  closure that missed it would drive s beyond 1 (D no longer positive);
- S:E vanishes with E (for trace-free E).

The Bingham coefficients are, with g = I₂I₀/I₁² at s² (:mod:`closures.kinetic.bessel`),
β₁ = 3c/4 + g|D′|²/(2c), α₁ = g D′:E′/c + tr E/2, α₂ = c/4 − g|D′|²/(2c). Two input sets
(``ClosureConfig.inputs``):

- ``"DE"`` (the published network's invariants tr(D·D), tr(E·E), D:E): three corrections,
  δβ₁ = c(1 − s²)[N₁(z) − N₁(0, z₂, 0)], δα₂ = c(1 − s²)[N₃(z) − N₃(0, z₂, 0)] and
  δα₁ = ε(1 − s²)[N₂(z) − N₂(z₁, 0, 0) − N₂(0, z₂, 0) + N₂(0)] for the network N. S:E is then
  nonlinear in E, so the moment model's self-consistent Stokes solve iterates the closure
  (slower).
- ``"D"``: one learned harmonic factor h(s²) = g(s²) + s²(1 − s²) N₁(s²) in place of g in all
  three coefficients, i.e. the exact (S:D, S:E) of the fully symmetric S with m₄ = h m₂²/c:
  consistent between S:D and S:E, linear in E; the Stokes solve runs the network once and then
  iterates as for Bingham.
- ``"DL"``: as ``"D"``, plus a part of m₄ linear in the local strain, with complex harmonics
  m₂ = D11 − D22 + 2iD12 and e = E11 − E22 + 2iE12,

      m₄ = [h m₂² + (1 − s²)(N₂(s²) c m₂ e + N₃(s²) m₂³ ē / c) / ε] / c,

  the only terms of that order that turn as m₄ (by 4φ under a rotation by φ) and vanish at
  D′ = 0; still (S:D, S:E) of one fully symmetric S (so trace-consistent), exact at isotropy
  with the exact linear response (the strain part is second order) and at s = 1. S:E is then
  quadratic in E; the Stokes solve runs the network once (:meth:`LearnedClosure.prepare`) and
  solves the nonlinear map by Anderson acceleration (about the iterations of ``"D"``).

:class:`LearnedClosure` has the moment solver's closure signature ``closure(params, c, D, E)``
and is hashable (a static argument of the jitted solver); its params are a flax parameter tree.
The network computes in the precision of its inputs (float64 inside the solver); parameters are
created in :data:`physics.precision.NETWORK_DTYPE`. With the initial (zero) last layer the
closure is the Bingham closure exactly.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization
from jax import Array

from closures.kinetic.bessel import bingham_harmonic_factor
from closures.kinetic.invariants import invariants, tensor_basis
from physics.active_fluid.moments import (
    fourth_moment_from_harmonics,
    harmonic_closure,
    harmonics_at_strain,
    second_harmonic,
    strain_affine_closure,
)
from physics.precision import NETWORK_DTYPE

ACTIVATIONS = {"tanh": jnp.tanh, "sin": jnp.sin, "silu": jax.nn.silu, "gelu": jax.nn.gelu}
"""Hidden-layer activations by config name (``sin`` is the published network's)."""

N_CORRECTIONS = 3  # δβ₁, δα₁, δα₂: β₀, α₀ follow from the trace identity.
INPUTS = {"DE": 3, "D": 1, "DL": 1}
"""Input sets and their number of features."""


@dataclass(frozen=True)
class ClosureConfig:
    """Architecture and input/output scales of a learned closure (JSON-able, hashable).

    hidden: widths of the hidden layers. activation: a key of :data:`ACTIVATIONS`.
    strain_scale: typical |E′| (1/time) that normalises the strain invariants.
    output_scale: size of the corrections for an O(1) network output, relative to c (β₁, α₂)
    and to strain_scale (α₁); for inputs ``"D"``/``"DL"``, of the harmonic factor (and of
    the strain part of m₄ relative to c m₂ e/ε, ε = strain_scale). inputs: a key of
    :data:`INPUTS`. kind: ``"local"`` (pointwise MLP, :class:`LearnedClosure`) or ``"cnn"``
    (periodic CNN over the grid, :class:`closures.kinetic.nonlocal_closure.NonlocalClosure`,
    inputs ``"D"`` only); kernel: its (odd) kernel width.
    """

    hidden: tuple[int, ...] = (16, 16)
    activation: str = "tanh"
    strain_scale: float = 1.0
    output_scale: float = 1.0
    inputs: str = "D"
    kind: str = "local"
    kernel: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}")
        if self.inputs not in INPUTS:
            raise ValueError(f"inputs must be one of {sorted(INPUTS)}")
        if self.strain_scale <= 0 or self.output_scale <= 0:
            raise ValueError("strain_scale and output_scale must be positive")
        if self.kind not in ("local", "cnn") or (self.kind == "cnn" and self.inputs != "D"):
            raise ValueError("kind must be 'local', or 'cnn' with inputs 'D'")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError("kernel must be an odd width")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> ClosureConfig:
        return cls(**{**values, "hidden": tuple(values.get("hidden", cls.hidden))})


class MLP(nn.Module):
    """Plain MLP features (..., F) → (..., N_CORRECTIONS); last layer starts at zero,
    so an untrained closure is the Bingham closure."""

    hidden: tuple[int, ...]
    activation: str

    @nn.compact
    def __call__(self, x: Array) -> Array:
        act = ACTIVATIONS[self.activation]
        for width in self.hidden:
            x = act(nn.Dense(width, param_dtype=NETWORK_DTYPE)(x))
        last = nn.Dense(N_CORRECTIONS, param_dtype=NETWORK_DTYPE, kernel_init=nn.initializers.zeros)
        return last(x)


def _trace(T: Array) -> Array:
    return T[..., 0, 0] + T[..., 1, 1]


def _trace_free(T: Array) -> Array:
    return T - _trace(T)[..., None, None] * jnp.eye(2, dtype=T.dtype) / 2


def shifted_invariants(D: Array, E: Array) -> Array:
    """(|D′|², |E′|², D′:E′) (..., 3): the invariants tr(D·D), tr(E·E), D:E less their values
    for isotropic D (c²/2, (tr E)²/2, c tr E/2), computed from the trace-free parts D′, E′ so
    that no round-off makes |D′|² negative."""
    return invariants(_trace_free(D), _trace_free(E))


def features(config: ClosureConfig, D: Array, E: Array) -> Array:
    """z (..., 3): the shifted invariants normalised, (s², |E′|²/ε², D′:E′/(cε)), all zero at
    isotropy; s² = 2|D′|²/c² is the squared scalar order parameter, ε = config.strain_scale.
    Inputs ``"D"`` and ``"DL"`` keep only s² (..., 1), computed from D alone (so that the
    network is no part of the solver's linearisation in E)."""
    c = _trace(D)
    c_or_one = jnp.where(c > 0, c, 1.0)
    if config.inputs in ("D", "DL"):
        D_prime = _trace_free(D)
        return 2 * jnp.sum(D_prime**2, axis=(-2, -1))[..., None] / c_or_one[..., None] ** 2
    d2, e2, de = jnp.moveaxis(shifted_invariants(D, E), -1, 0)
    eps = config.strain_scale
    return jnp.stack([2 * d2 / c_or_one**2, e2 / eps**2, de / (c_or_one * eps)], axis=-1)


def bingham_coefficients(D: Array, E: Array) -> Array:
    """The Bingham closure's tensor-basis coefficients (..., 5), ordered (α₀, α₁, α₂, β₀, β₁)."""
    zero = jnp.zeros(D.shape[:-2], D.dtype)
    return _coefficients(D, E, (zero, zero, zero, zero), 1.0)


def _coefficients(
    D: Array, E: Array, corrections: tuple[Array, Array, Array, Array], strain_scale: float
) -> Array:
    """Bingham coefficients corrected by (δh, δβ₁/c, δα₁/ε, δα₂/c) (each (...)): δh is added
    to the harmonic factor g; traces exact."""
    d2, _, de = jnp.moveaxis(shifted_invariants(D, E), -1, 0)
    c, tr_e = _trace(D), _trace(E)
    c_or_one = jnp.where(c > 0, c, 1.0)
    d_h, d_b1, d_a1, d_a2 = corrections
    h = bingham_harmonic_factor(2 * d2 / c_or_one**2) + d_h
    b1 = 3 * c / 4 + h * d2 / (2 * c_or_one) + c * d_b1
    a1 = h * de / c_or_one + tr_e / 2 + strain_scale * d_a1
    a2 = c / 4 - h * d2 / (2 * c_or_one) + c * d_a2
    # Trace identity: tr(S:D) = 2β₀ + β₁c = D:D, tr(S:E) = 2α₀ + α₁c + α₂ tr E = D:E.
    b0 = (c**2 / 2 + d2 - b1 * c) / 2
    a0 = (c * tr_e / 2 + de - a1 * c - a2 * tr_e) / 2
    return jnp.stack([a0, a1, a2, b0, b1], axis=-1)


@dataclass(frozen=True)
class LearnedClosure:
    """A learned local closure with the shared signature; ``init`` makes its parameters."""

    config: ClosureConfig = field(default_factory=ClosureConfig)

    @property
    def network(self) -> MLP:
        return MLP(self.config.hidden, self.config.activation)

    def init(self, key: Array) -> Any:
        """Fresh parameters (the corrections start at zero: the Bingham closure)."""
        return self.network.init(key, jnp.zeros((1, INPUTS[self.config.inputs]), NETWORK_DTYPE))

    def corrections(self, params: Any, D: Array, E: Array) -> tuple[Array, Array, Array, Array]:
        """(δh, δβ₁/c, δα₁/ε, δα₂/c), each (...), scaled by output_scale (see the module
        docstring): all zero whenever D is isotropic, whatever E, and at perfect alignment.
        For inputs ``"DL"`` only δh, the part of m₄ that does not depend on E."""
        z = features(self.config, D, E)
        x = jnp.clip(z[..., 0], 0.0, 1.0)
        z = z.at[..., 0].set(x)
        apply = functools.partial(self.network.apply, params)
        # The factor 1 − s² keeps the uniaxial limit S = c nnnn (h = 1 at s = 1), where the
        # moment equations balance exactly; unphysical s > 1 gets no correction.
        scale = self.config.output_scale * (1 - x)
        zero = jnp.zeros(z.shape[:-1], z.dtype)
        if self.config.inputs in ("D", "DL"):
            return scale * x * apply(z)[..., 0], zero, zero, zero
        at_isotropy = apply(z * jnp.array([0.0, 1.0, 0.0], z.dtype))
        without_strain = apply(z * jnp.array([1.0, 0.0, 0.0], z.dtype))
        out = apply(z)
        d_b1 = out[..., 0] - at_isotropy[..., 0]
        # A mixed difference: zero both at D′ = 0 and at E′ = 0.
        origin = apply(jnp.zeros((1, z.shape[-1]), z.dtype))[0, 1]
        d_a1 = out[..., 1] - without_strain[..., 1] - at_isotropy[..., 1] + origin
        d_a2 = out[..., 2] - at_isotropy[..., 2]
        return zero, scale * d_b1, scale * d_a1, scale * d_a2

    def coefficients(self, params: Any, c: Array, D: Array, E: Array) -> Array:
        """Tensor-basis coefficients (..., 5) ordered (α₀, α₁, α₂, β₀, β₁); c is taken as
        tr D (as the classical closures do) and the argument is ignored. Not for inputs
        ``"DL"`` (m₄ depends on E: no fixed coefficients)."""
        del c
        if self.config.inputs == "DL":
            raise ValueError("inputs 'DL' has no fixed tensor-basis coefficients; call it")
        return _coefficients(D, E, self.corrections(params, D, E), self.config.strain_scale)

    def strain_affine_harmonics(
        self, params: Any, D: Array
    ) -> tuple[Array, Array, Array, Array, Array]:
        """Inputs ``"D"`` and ``"DL"``: (c, m₂, m₄⁰, a, b) (...), the harmonics of the closure's
        fully symmetric S at the strain harmonic e = E11 − E22 + 2iE12 being c, m₂ and
        m₄ = m₄⁰ + a e + b ē (see the module docstring; a = b = 0 for ``"D"``). Depends on D
        alone: the network runs here, once per Stokes solve (:meth:`prepare`)."""
        c, m2 = second_harmonic(D)
        c_or_one = jnp.where(c > 0, c, 1.0)
        x = jnp.clip(features(self.config, D, D)[..., 0], 0.0, 1.0)  # E is not a feature here
        out = self.network.apply(params, x[..., None])
        scale = self.config.output_scale * (1 - x)
        h = bingham_harmonic_factor(jnp.abs(m2) ** 2 / c_or_one**2) + scale * x * out[..., 0]
        m4_fixed = h * m2**2 / c_or_one
        if self.config.inputs != "DL":
            zero = jnp.zeros_like(m4_fixed)
            return c, m2, m4_fixed, zero, zero
        strain = scale / self.config.strain_scale
        per_e = strain * out[..., 1] * c * m2 / c_or_one
        per_conj_e = strain * out[..., 2] * m2**3 / c_or_one**2
        return c, m2, m4_fixed, per_e, per_conj_e

    def harmonics(self, params: Any, D: Array, E: Array) -> tuple[Array, Array, Array]:
        """Inputs ``"D"`` and ``"DL"``: the harmonics (c, m₂, m₄) (...) of the closure's fully
        symmetric S at the strain E (see the module docstring; E is ignored for ``"D"``)."""
        harmonics = self.strain_affine_harmonics(params, D)
        if self.config.inputs != "DL":
            return harmonics[:3]
        return harmonics_at_strain(harmonics, E)

    def fourth_moment(self, params: Any, D: Array) -> Array:
        """Inputs ``"D"`` (for ``"DL"``: at E = 0): the fully symmetric S (..., 2, 2, 2, 2) with
        harmonics c = tr D, m₂ and m₄ = h m₂²/c, h the learned factor (the closure is
        (S:D, S:E) of it)."""
        return fourth_moment_from_harmonics(*self.harmonics(params, D, jnp.zeros_like(D)))

    def prepare(self, params: Any, c: Array, D: Array) -> tuple[Any, Any]:
        """(closure, params) of the Stokes solve for this D
        (:func:`~physics.active_fluid.stokes.prepare_closure`): for inputs ``"D"`` and ``"DL"``
        the network runs once and the solve iterates
        :func:`~physics.active_fluid.moments.harmonic_closure` (``"D"``) or
        :func:`~physics.active_fluid.moments.strain_affine_closure` (``"DL"``) of its output;
        inputs ``"DE"`` (a network of E) prepare nothing."""
        del c
        if self.config.inputs == "DE":
            return self, params
        harmonics = self.strain_affine_harmonics(params, D)
        if self.config.inputs == "D":
            return harmonic_closure, harmonics[:3]
        return strain_affine_closure, harmonics

    def __call__(self, params: Any, c: Array, D: Array, E: Array) -> tuple[Array, Array]:
        """(S:D, S:E) (..., 2, 2): for inputs ``"D"``/``"DL"`` those of the fully symmetric S
        of :meth:`strain_affine_harmonics` (through :meth:`prepare`), for ``"DE"`` of the
        tensor basis with the learned coefficients."""
        if self.config.inputs in ("D", "DL"):
            closure, prepared = self.prepare(params, c, D)
            return closure(prepared, c, D, E)
        return tensor_basis(self.coefficients(params, c, D, E), D, E)


def params_to_bytes(params: Any) -> bytes:
    """msgpack bytes of a parameter tree (flax serialization; no pickle)."""
    return serialization.to_bytes(jax.tree.map(np.asarray, params))


def params_from_bytes(closure: Any, data: bytes) -> Any:
    """The parameter tree stored by :func:`params_to_bytes`, in the structure of
    ``closure.init``; raises ValueError when the bytes do not fit the architecture."""
    template = closure.init(jax.random.key(0))
    try:
        params = serialization.from_bytes(template, data)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"closure parameters do not match the architecture: {err}") from None
    shapes = jax.tree.map(np.shape, template)
    if jax.tree.map(np.shape, params) != shapes:
        raise ValueError("closure parameters do not match the architecture (layer shapes)")
    return params

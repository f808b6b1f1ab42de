"""Physical parameters of the 2D active-fluid kinetic theory (non-dimensional units)."""

from typing import NamedTuple

from jax import Array

PUBLISHED_DT = 4e-4
"""Time step of the published kinetic runs (the code also used 3.90625e-4 = 1/2560)."""


class ActiveFluidParams(NamedTuple):
    """A pytree of the model's parameters; every leaf may be traced (and differentiated).

    alpha: active stress coefficient, α < 0 for pushers (extensile). beta: constraint-stress
    coefficient (particle concentration/rigidity). zeta: steric alignment strength.
    d_t: translational diffusion. d_r: rotational diffusion. L: side of the periodic box.
    Defaults are the published ones (α = −1, β = 0.8, ζ = 1, d_T = d_R = 0.05, L = 10).
    Concentrations are normalised so that the mean of c is 1 (isotropic Ψ = 1/2π).
    """

    alpha: Array | float = -1.0
    beta: Array | float = 0.8
    zeta: Array | float = 1.0
    d_t: Array | float = 0.05
    d_r: Array | float = 0.05
    L: Array | float = 10.0

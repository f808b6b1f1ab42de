"""Gravitational N-body physics in pure JAX (float64, G = 1): forces, invariants, integrators
(adaptive Hermite, leapfrog, Yoshida, variable-step Yoshida) and initial conditions, all
jit/vmap-able."""

from physics.nbody.forces import accelerations, accelerations_and_jerks, closest_pair
from physics.nbody.initial_conditions import (
    FIGURE_EIGHT_PERIOD,
    RANDOM_TRIPLE_SPEED,
    custom,
    figure_eight,
    lagrange,
    pythagorean,
    random_triple,
    random_triples,
)
from physics.nbody.integrate import (
    ADAPTIVE_INTEGRATORS,
    CRITERIA,
    INTEGRATORS,
    dense_trajectory,
    integrate,
    trajectory,
)
from physics.nbody.invariants import (
    angular_momentum,
    centre_of_mass_frame,
    kinetic_energy,
    linear_momentum,
    potential_energy,
    total_energy,
)
from physics.nbody.state import (
    STATUS_MAX_STEPS,
    STATUS_NON_FINITE,
    STATUS_OK,
    STATUS_STEP_FLOOR,
    IntegrationStats,
    NBodyState,
)
from physics.nbody.timestep import aarseth_timestep, shared_timestep

__all__ = [
    "ADAPTIVE_INTEGRATORS",
    "CRITERIA",
    "FIGURE_EIGHT_PERIOD",
    "INTEGRATORS",
    "RANDOM_TRIPLE_SPEED",
    "STATUS_MAX_STEPS",
    "STATUS_NON_FINITE",
    "STATUS_OK",
    "STATUS_STEP_FLOOR",
    "IntegrationStats",
    "NBodyState",
    "aarseth_timestep",
    "accelerations",
    "accelerations_and_jerks",
    "angular_momentum",
    "centre_of_mass_frame",
    "closest_pair",
    "custom",
    "dense_trajectory",
    "figure_eight",
    "integrate",
    "kinetic_energy",
    "lagrange",
    "linear_momentum",
    "potential_energy",
    "pythagorean",
    "random_triple",
    "random_triples",
    "shared_timestep",
    "total_energy",
    "trajectory",
]

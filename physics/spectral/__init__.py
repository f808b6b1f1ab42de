"""Periodic 2D Fourier grids and one generic IMEX (SBDF2) time stepper, shared by the kinetic
and moment solvers of the active fluid: real FFTs, wavenumbers, 2/3-rule dealiasing, spectral
derivatives, the Stokes projection, and ``lax.scan`` rollouts with blow-up detection."""

from physics.spectral.grid import (
    Grid,
    divergence,
    gradient,
    irfft2,
    laplacian,
    make_grid,
    reflected,
    rfft2,
    stokes_velocity,
    two_thirds_keep,
    unpack_pair,
    wavenumber_indices,
)
from physics.spectral.time_stepping import (
    STATUS_EXPLODED,
    STATUS_NON_FINITE,
    STATUS_OK,
    IMEXEquation,
    RolloutStatus,
    SBDF2State,
    guarded_trajectory,
    repeated,
    sbdf2_coefficients,
    sbdf2_init,
    sbdf2_step,
    trajectory,
)

__all__ = [
    "STATUS_EXPLODED",
    "STATUS_NON_FINITE",
    "STATUS_OK",
    "Grid",
    "IMEXEquation",
    "RolloutStatus",
    "SBDF2State",
    "divergence",
    "gradient",
    "guarded_trajectory",
    "irfft2",
    "laplacian",
    "make_grid",
    "reflected",
    "repeated",
    "rfft2",
    "sbdf2_coefficients",
    "sbdf2_init",
    "sbdf2_step",
    "stokes_velocity",
    "trajectory",
    "two_thirds_keep",
    "unpack_pair",
    "wavenumber_indices",
]

"""2D active-fluid kinetic theory and its moment model in pure JAX (float64).

:mod:`~physics.active_fluid.kinetic` evolves the orientation distribution Ψ(x, y, θ);
:mod:`~physics.active_fluid.moment` evolves (c, D) with a pluggable closure
``closure(params, c, D, E) -> (S:D, S:E)``. Both share the spectral grid and SBDF2 stepper of
:mod:`physics.spectral`, the self-consistent Stokes solve of
:mod:`~physics.active_fluid.stokes`, and the state type :class:`~physics.spectral.SBDF2State`.
Public real-space fields are grid-first with tensor components last: c (n, n),
D (n, n, 2, 2), u (n, n, 2), S (n, n, 2, 2, 2, 2), Ψ (n, n, n_theta).
"""

from physics.active_fluid import diagnostics, initial_conditions, kinetic, moment
from physics.active_fluid.moments import (
    Snapshot,
    contract,
    exact_closure,
    fourth_moment_from_harmonics,
    harmonics,
    moments_of_psi,
    second_harmonic,
    second_moment_from_harmonics,
)
from physics.active_fluid.params import PUBLISHED_DT, ActiveFluidParams
from physics.active_fluid.stability import (
    GrowthRates,
    ModeAmplitudes,
    fit_growth_rate,
    harmonic_amplitude,
    harmonic_growth_rate,
    max_stable_dt,
    mode_amplitudes,
    predicted_growth_rates,
    wave_vector,
)
from physics.active_fluid.stokes import (
    STOKES_MAX_ITERATIONS,
    STOKES_RTOL,
    Closure,
    Flow,
    fixed_point,
    solve_flow,
    stokes_iterations,
    stress,
)

__all__ = [
    "PUBLISHED_DT",
    "STOKES_MAX_ITERATIONS",
    "STOKES_RTOL",
    "ActiveFluidParams",
    "Closure",
    "Flow",
    "GrowthRates",
    "ModeAmplitudes",
    "Snapshot",
    "contract",
    "diagnostics",
    "exact_closure",
    "fit_growth_rate",
    "fixed_point",
    "fourth_moment_from_harmonics",
    "harmonic_amplitude",
    "harmonic_growth_rate",
    "harmonics",
    "initial_conditions",
    "kinetic",
    "max_stable_dt",
    "mode_amplitudes",
    "moment",
    "moments_of_psi",
    "predicted_growth_rates",
    "second_harmonic",
    "second_moment_from_harmonics",
    "solve_flow",
    "stokes_iterations",
    "stress",
    "wave_vector",
]

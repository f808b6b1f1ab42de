"""Classical closures of the 2D active-fluid kinetic theory, and the tensor basis of learned ones.

Every closure has the moment solver's signature ``closure(params, c, D, E) -> (S:D, S:E)`` with
c (...), D, E (..., 2, 2) symmetric and outputs (..., 2, 2); classical ones ignore params (pass
()). ``CLOSURES`` maps the names that configs use to them. The moment algebra they rest on
(harmonics ↔ moments, ``contract``, and ``exact_closure``, whose params are a known S field for
a-priori comparisons) lives in :mod:`physics.active_fluid.moments` and is re-exported here.
"""

from closures.kinetic.bessel import bingham_harmonic_factor
from closures.kinetic.bingham import bingham_closure
from closures.kinetic.bingham import fourth_moment as bingham_fourth_moment
from closures.kinetic.invariants import invariants, isotropic_coefficients, tensor_basis
from closures.kinetic.quadratic import fourth_moment as quadratic_fourth_moment
from closures.kinetic.quadratic import quadratic_closure
from physics.active_fluid import Closure
from physics.active_fluid.moments import contract, exact_closure, fourth_moment_from_harmonics

CLOSURES: dict[str, Closure] = {"bingham": bingham_closure, "quadratic": quadratic_closure}

__all__ = [
    "CLOSURES",
    "Closure",
    "bingham_closure",
    "bingham_fourth_moment",
    "bingham_harmonic_factor",
    "contract",
    "exact_closure",
    "fourth_moment_from_harmonics",
    "invariants",
    "isotropic_coefficients",
    "quadratic_closure",
    "quadratic_fourth_moment",
    "tensor_basis",
]

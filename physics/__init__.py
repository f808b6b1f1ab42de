"""Pure, differentiable simulators (jit/vmap-able, no I/O).

The physics here needs float64 (N-body energy errors of 1e-10, kinetic theory); it is switched on
in one place, :mod:`physics.precision`, when this package is imported.
"""

from physics.precision import enable_float64

enable_float64()

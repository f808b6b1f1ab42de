"""State and bookkeeping pytrees shared by every N-body integrator.

Units throughout: G = 1; masses, lengths and times in any consistent N-body units.
"""

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array

STATUS_OK = 0
STATUS_STEP_FLOOR = 1
STATUS_NON_FINITE = 2
STATUS_MAX_STEPS = 3


class NBodyState(NamedTuple):
    """Phase-space state of N bodies in d = 2 or 3 dimensions.

    positions: (N, d) float64. velocities: (N, d) float64. t: () float64 simulation time.
    """

    positions: Array
    velocities: Array
    t: Array


class IntegrationStats(NamedTuple):
    """Work done and outcome of an integration.

    n_steps: () int64, accepted steps (a Yoshida step counts once).
    n_force_evals: () int64, all-pairs force evaluations (a Hermite acceleration+jerk evaluation
        counts one), including the one that starts the integration.
    status: () int32, one of the ``STATUS_*`` constants; failures are sticky.
    fail_time: () float64, simulation time of the last good state when a failure was detected
        (nan while ``status == STATUS_OK``).
    fail_pair: (2,) int32, the closest pair (i < j) of that state ((-1, -1) while ok).
    """

    n_steps: Array
    n_force_evals: Array
    status: Array
    fail_time: Array
    fail_pair: Array


def fresh_stats(n_force_evals: int) -> IntegrationStats:
    """Statistics of an integration that has not taken a step yet."""
    return IntegrationStats(
        n_steps=jnp.zeros((), jnp.int64),
        n_force_evals=jnp.asarray(n_force_evals, jnp.int64),
        status=jnp.asarray(STATUS_OK, jnp.int32),
        fail_time=jnp.asarray(jnp.nan, jnp.float64),
        fail_pair=jnp.full((2,), -1, jnp.int32),
    )

"""Roll a controller out on given systems and summarise its accuracy and cost.

A controller is ``act(act_params, obs) -> action``; a fixed η is the controller that ignores the
observation, so the learned policy and every fixed setting run through the same environment, the
same interval boundaries and the same force-evaluation count. Systems run one after another
inside one jitted call (``lax.map``): a finished system stops, and no system waits for the slowest
of a vectorised batch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

import physics.nbody as nbody
from rl_timestep.env import EnvParams, TimestepEnv

Act = Callable[[Any, Array], Array]


class Rollout(NamedTuple):
    """Outcome per system (leading axis B) and per control step (axis S)."""

    energy_error: Array  # (B,) final |ΔE/E₀| (at the failure for a failed system)
    force_evals: Array  # (B,) total, the initial evaluation included
    status: Array  # (B,) nbody STATUS_* or env.STATUS_ENERGY of the last step
    steps: Array  # (B,) control steps taken
    t: Array  # (B,) time reached
    etas: Array  # (B, S) η used in each control step (nan after the end)
    errors: Array  # (B, S) |ΔE/E₀| after each control step (nan after the end)
    retries: Array  # (B,) safeguard redos
    returns: Array  # (B,) undiscounted sum of the rewards


def n_control_steps(t_end: float, interval: float) -> int:
    """Control steps needed to reach t_end (the last one may be shorter)."""
    return max(1, math.ceil(t_end / interval - 1e-9))


def fixed_action(action: Array, obs: Array) -> Array:
    """The controller that always picks ``action``."""
    del obs
    return action


def rollout_one(
    env: TimestepEnv,
    act: Act,
    n_steps: int,
    act_params: Any,
    params: EnvParams,
    masses: Array,
    system: nbody.NBodyState,
) -> Rollout:
    """One system from t = 0 to params.t_end (n_steps control steps), unbatched outputs."""
    obs, state = env.reset_to(masses, system, params)

    def control_step(loop, _):
        obs, state, done, status, retries, total = loop

        def advance(_):
            action = act(act_params, obs)
            new_obs, new_state, reward, finished, info = env.step_env(state, action, params)
            moved = (new_obs, new_state, finished, info.status, retries + info.retries)
            return (*moved, total + reward), (info.eta, info.energy_error)

        def idle(_):
            return loop, (jnp.nan, jnp.nan)

        return lax.cond(done, idle, advance, None)

    int32 = jnp.zeros((), jnp.int32)
    start = (obs, state, jnp.asarray(False), int32, int32, jnp.zeros((), jnp.float64))
    (_, state, _, status, retries, total), (etas, errors) = lax.scan(
        control_step, start, None, length=n_steps
    )
    return Rollout(
        energy_error=state.energy_error,
        force_evals=state.force_evals,
        status=status,
        steps=state.steps,
        t=state.carry.state.t,
        etas=etas,
        errors=errors,
        retries=retries,
        returns=total,
    )


@functools.partial(jax.jit, static_argnames=("env", "act", "n_steps"))
def rollout(
    env: TimestepEnv,
    act: Act,
    n_steps: int,
    act_params: Any,
    params: EnvParams,
    masses: Array,
    systems: nbody.NBodyState,
) -> Rollout:
    """:func:`rollout_one` for every system of a batch (masses (B, N)), one after another."""
    one = functools.partial(rollout_one, env, act, n_steps, act_params, params)
    return lax.map(lambda system: one(*system), (masses, systems))


class Summary(NamedTuple):
    """Batch statistics of a rollout (plain floats)."""

    energy_error_median: float
    energy_error_p90: float
    force_evals_median: float
    force_evals_mean: float
    n_failed: int


def summarise(result: Rollout) -> Summary:
    errors = np.asarray(result.energy_error)
    evals = np.asarray(result.force_evals)
    return Summary(
        energy_error_median=float(np.median(errors)),
        energy_error_p90=float(np.percentile(errors, 90)),
        force_evals_median=float(np.median(evals)),
        force_evals_mean=float(np.mean(evals)),
        n_failed=int(np.sum(np.asarray(result.status) != nbody.STATUS_OK)),
    )


def front_error_at(front_evals: np.ndarray, front_errors: np.ndarray, evals: float) -> float:
    """The fixed-η front's median error at a cost, interpolated linearly in log-log.

    front_evals, front_errors: the fixed settings' median force evaluations and median errors.
    Outside the range of the front the nearest segment is extrapolated. Settings with equal
    cost (short runs) count once, with the lowest error among them.
    """
    x_all = np.log10(np.asarray(front_evals, float))
    y_all = np.log10(np.maximum(np.asarray(front_errors, float), 1e-300))
    x = np.unique(x_all)
    y = np.array([y_all[x_all == value].min() for value in x])
    if len(x) == 1:
        return float(10 ** y[0])
    k = int(np.clip(np.searchsorted(x, np.log10(evals)), 1, len(x) - 1))
    slope = (y[k] - y[k - 1]) / (x[k] - x[k - 1])
    return float(10 ** (y[k - 1] + slope * (np.log10(evals) - x[k - 1])))


ERROR_FLOOR = 1e-15
"""|ΔE/E₀| below this is round-off: errors are floored here before they are divided."""


def common_row(rows: list[dict[str, Any]], common_eta: float) -> dict[str, Any]:
    """The row (a dict with "eta") of the fixed η closest (in log) to ``common_eta``."""
    return min(rows, key=lambda row: abs(math.log(row["eta"] / common_eta)))


def per_system_ratios(
    errors: np.ndarray, evals: np.ndarray, reference_errors: np.ndarray, reference_evals: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each system's final |ΔE/E₀| and force evaluations over a reference's on the same system
    (errors floored at ``ERROR_FLOOR``): (error ratios, cost ratios)."""
    error_ratio = np.maximum(np.asarray(errors, float), ERROR_FLOOR) / np.maximum(
        np.asarray(reference_errors, float), ERROR_FLOOR
    )
    return error_ratio, np.asarray(evals, float) / np.asarray(reference_evals, float)


def paired_ratios(
    errors: np.ndarray, evals: np.ndarray, reference_errors: np.ndarray, reference_evals: np.ndarray
) -> tuple[float, float]:
    """Medians over systems of :func:`per_system_ratios`: (error ratio, cost ratio).

    Unlike the ratio of the medians, these see where a saving comes from: a controller that
    gives up on the runs that have gone bad saves work there, which moves its median cost but
    not its median error (those runs end above the median either way); system by system it
    saves nothing on the others."""
    error_ratio, cost_ratio = per_system_ratios(errors, evals, reference_errors, reference_evals)
    return float(np.median(error_ratio)), float(np.median(cost_ratio))

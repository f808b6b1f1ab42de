"""The time-step control environment, pure JAX in the gymnax style.

An episode integrates one planar three-body system (``physics.nbody.random_triple``, G = M☉ = au
= 1). Every control step the agent picks an accuracy parameter η from ``params.etas`` and the
integrator advances the system by ``params.interval`` time units with it (clipped at
``params.t_end``, where the episode is truncated). The integrator's carry (forces, and for
Hermite their derivatives) is kept between control steps. With ``clip_to_interval`` (the
published set-up) the last step of an interval is shortened to land on its end, which costs up to
one extra step per interval; without it the integrator takes its own steps and a control step
ends with the first step that reaches or passes the interval's end, so a run at one η is exactly
the uninterrupted integration, whatever the interval, and short intervals cost nothing extra.

Reward of a control step, with ℓ(e) = log10(e + energy_target) of the relative energy error e:

    r = −error_weight · (ℓ(e_after) − ℓ(e_before)) − w · force_evals / cost_scale
        − failure_penalty · [failed] − switch_penalty · [η changed]
        − jump_weight · log10(1 + j / jump_scale)

where j = |ΔE/E₀ after − ΔE/E₀ before| is the energy change of this interval alone.

The cost weight w is ``params.cost_weight``, or, with ``cost_weight_spread`` > 0, drawn for each
episode log-uniformly within ``cost_weight_spread`` decades centred on it; the "tradeoff"
observation shows the agent log10 w, so one policy learns every trade-off in that range.

It decreases strictly with the error the step leaves and with the force evaluations it spent
(:func:`control_reward`). The error terms telescope: over an episode they sum to ℓ of the final
error, so with γ → 1 the agent minimises the log of the final |ΔE/E₀| (errors far below
``energy_target`` cost nothing) plus the force evaluations it spends. The final error of a chaotic
integration is set by its worst intervals, so a policy that alternates between two η at random is
as inaccurate as the larger one and as costly as their mean: ``switch_penalty`` asks the agent to
change η only where it expects a gain.

The telescoped log error values the same absolute error less once a run has gone bad: at
e = 1e-6 a further 1e-7 moves ℓ by 0.04 decades, at e = 1e-9 by 2. A policy trained on it alone
learns to give up on such runs (raise η after an encounter), which fattens the tail of the final
errors. The jump term (``jump_weight`` > 0; 0 is the published reward) charges each interval's own
energy change, whatever came before, in decades above ``jump_scale``: intervals that change the
energy by less than ``jump_scale`` cost nearly nothing, so it bites only where an interval goes
wrong.

The episode terminates (fails) when |ΔE/E₀| exceeds ``max_energy_error``, when the integrator
reports a failure (non-finite state, step below ``dt_min``) or when one interval needs more than
``max_steps`` integrator steps.

Safeguard (``params.safeguard``): when one interval raises ℓ by more than
``safeguard_threshold`` decades, it is redone from the saved state with η divided by
``safeguard_factor``, at most ``safeguard_retries`` times; the force evaluations of the discarded
attempts count in the step's cost.

``reset(key, params)`` and ``step(key, state, action, params)`` (which resets a finished episode
with a new system, returning its first observation, while ``info.final_obs`` keeps the last one)
are pure and work under ``jit``, ``vmap`` and ``lax.map``. The integrator and the observation kind
are static attributes of :class:`TimestepEnv`; everything in :class:`EnvParams` is traced.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

import physics.nbody as nbody
from physics.nbody.integrate import make_integrator
from physics.nbody.state import fresh_stats
from physics.nbody.stepping import Integrator, may_continue, select, settle
from rl_timestep.features import OBSERVATIONS, n_features, observe

PUBLISHED_ETAS = tuple(float(f"{10**exponent:.12g}") for exponent in np.linspace(-4.0, -1.0, 10))
"""The published action set: 10 log-spaced η from 1e-4 to 1e-1."""
PUBLISHED_INTERVAL = 1.09
"""Published physical time per control step (time units of G = M☉ = au = 1)."""
TRAIN_SEED_LOW = 10_000
"""Training systems are random_triple(seed) with seed ≥ this; seeds below are held out."""
SEED_HIGH = 2**31 - 1

STATUS_ENERGY = 4
"""Failure status of a control step whose |ΔE/E₀| exceeded ``max_energy_error``."""


class EnvParams(NamedTuple):
    """Traced environment parameters (scalars are () arrays; see the module docstring)."""

    etas: Array  # (A,) η of each action
    interval: Array  # time per control step
    t_end: Array  # episode end time (truncation)
    max_energy_error: Array  # |ΔE/E₀| above this ends the episode as a failure
    energy_target: Array  # errors well below this cost nothing
    error_weight: Array
    cost_weight: Array
    cost_scale: Array  # force evaluations per unit of cost
    cost_weight_spread: Array  # decades of the per-episode cost weight's range (0: fixed)
    failure_penalty: Array
    switch_penalty: Array  # charged when the action differs from the previous one
    jump_weight: Array  # weight of the interval's own energy change (0: published reward)
    jump_scale: Array  # interval energy changes well below this cost nothing
    safeguard: Array  # () bool
    safeguard_factor: Array
    safeguard_threshold: Array  # decades of ℓ increase in one step that trigger a redo
    safeguard_retries: Array  # () int
    dt_min: Array
    clip_to_interval: Array  # () bool: land a step on every interval end (else natural steps)
    seed_low: Array  # reset() draws random_triple seeds in [seed_low, seed_high)
    seed_high: Array


def env_params(
    etas: tuple[float, ...] = PUBLISHED_ETAS,
    interval: float = PUBLISHED_INTERVAL,
    t_end: float = 100 * PUBLISHED_INTERVAL,
    max_energy_error: float = 0.1,
    energy_target: float = 1e-10,
    error_weight: float = 1.0,
    cost_weight: float = 1.0,
    cost_scale: float = 1000.0,
    cost_weight_spread: float = 0.0,
    failure_penalty: float = 10.0,
    switch_penalty: float = 0.0,
    jump_weight: float = 0.0,
    jump_scale: float = 1e-8,
    safeguard: bool = False,
    safeguard_factor: float = 10.0,
    safeguard_threshold: float = 2.0,
    safeguard_retries: int = 2,
    dt_min: float = 1e-11,
    clip_to_interval: bool = True,
    seed_low: int = TRAIN_SEED_LOW,
    seed_high: int = SEED_HIGH,
) -> EnvParams:
    """:class:`EnvParams` from plain values (defaults: the published set-up, safeguard off)."""
    f64 = jnp.float64
    return EnvParams(
        etas=jnp.asarray(etas, f64),
        interval=jnp.asarray(interval, f64),
        t_end=jnp.asarray(t_end, f64),
        max_energy_error=jnp.asarray(max_energy_error, f64),
        energy_target=jnp.asarray(energy_target, f64),
        error_weight=jnp.asarray(error_weight, f64),
        cost_weight=jnp.asarray(cost_weight, f64),
        cost_scale=jnp.asarray(cost_scale, f64),
        cost_weight_spread=jnp.asarray(cost_weight_spread, f64),
        failure_penalty=jnp.asarray(failure_penalty, f64),
        switch_penalty=jnp.asarray(switch_penalty, f64),
        jump_weight=jnp.asarray(jump_weight, f64),
        jump_scale=jnp.asarray(jump_scale, f64),
        safeguard=jnp.asarray(safeguard),
        safeguard_factor=jnp.asarray(safeguard_factor, f64),
        safeguard_threshold=jnp.asarray(safeguard_threshold, f64),
        safeguard_retries=jnp.asarray(safeguard_retries, jnp.int32),
        dt_min=jnp.asarray(dt_min, f64),
        clip_to_interval=jnp.asarray(clip_to_interval),
        seed_low=jnp.asarray(seed_low, jnp.int64),
        seed_high=jnp.asarray(seed_high, jnp.int64),
    )


def log_error_level(energy_error: Array, params: EnvParams) -> Array:
    """ℓ(e) = log10(e + energy_target): the error measure of the reward and the safeguard."""
    return jnp.log10(energy_error + params.energy_target)


def control_reward(
    params: EnvParams,
    error_before: Array,
    error_after: Array,
    force_evals: Array,
    failed: Array,
    switched: Array,
    cost_weight: Array | None = None,
    jump: Array | float = 0.0,
) -> Array:
    """Reward of one control step (see the module docstring); all arguments ().

    cost_weight: the episode's weight w (default ``params.cost_weight``); jump: |change of
    ΔE/E₀| over the interval.
    """
    weight = params.cost_weight if cost_weight is None else cost_weight
    return (
        -params.error_weight
        * (log_error_level(error_after, params) - log_error_level(error_before, params))
        - weight * force_evals / params.cost_scale
        - params.failure_penalty * failed
        - params.switch_penalty * switched
        - params.jump_weight * jnp.log10(1.0 + jump / params.jump_scale)
    )


class EnvState(NamedTuple):
    """One environment: the system, the integrator's carry and the episode's bookkeeping."""

    masses: Array  # (N,)
    carry: Any  # the integrator's carry: NBodyState, forces, IntegrationStats of the last step
    energy0: Array  # () initial total energy
    relative_energy: Array  # () current E/E₀ − 1
    last_jump: Array  # () |change of E/E₀| over the last control step
    seed: Array  # () random_triple seed of the system (-1 when given explicitly)
    steps: Array  # () control steps taken in this episode
    last_action: Array  # () int32 action of the last control step (-1 at a reset)
    force_evals: Array  # () force evaluations since the reset, the initial one included
    cost_weight: Array  # () the episode's cost weight w of the reward

    @property
    def energy_error(self) -> Array:
        """() current |ΔE/E₀|."""
        return jnp.abs(self.relative_energy)


class StepInfo(NamedTuple):
    """What a control step did; fields are () unless noted."""

    final_obs: Array  # (F,) observation after the step, before any auto-reset
    terminated: Array  # failure (energy error, integrator failure, step budget)
    truncated: Array  # reached t_end
    force_evals: Array  # force evaluations of this step, discarded safeguard attempts included
    episode_force_evals: Array  # since the reset, this step included
    energy_error: Array  # |ΔE/E₀| after the step
    eta: Array  # η of the attempt that was kept
    retries: Array  # safeguard redos
    status: Array  # nbody STATUS_* of the integration, or STATUS_ENERGY
    steps: Array  # control steps of the episode so far, this one included


class TimestepEnv:
    """Time-step control of a planar three-body integration.

    integrator: a name from ``physics.nbody.ADAPTIVE_INTEGRATORS`` (its step follows η; the
    "rv" criterion). observation: one of ``rl_timestep.features.OBSERVATIONS``. max_steps:
    integrator steps allowed in one control interval (more is a failure). All three are static
    (part of the compiled code).
    """

    def __init__(
        self, integrator: str = "hermite4", observation: str = "invariant", max_steps: int = 20_000
    ):
        if integrator not in nbody.ADAPTIVE_INTEGRATORS:
            raise ValueError(
                f"integrator must be one of {nbody.ADAPTIVE_INTEGRATORS}, got {integrator!r}"
            )
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        self.integrator = integrator
        self.observation = observation
        self.max_steps = int(max_steps)

    def _key(self) -> tuple[str, str, int]:
        return self.integrator, self.observation, self.max_steps

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TimestepEnv) and self._key() == other._key()

    def __hash__(self) -> int:
        # Equal environments share compiled code when passed as a static argument.
        return hash(self._key())

    @property
    def n_features(self) -> int:
        return n_features(self.observation)

    def _scheme(self, eta: Array, params: EnvParams) -> Integrator:
        return make_integrator(self.integrator, "rv", eta, 1.0, params.dt_min, self.max_steps)

    def _observe(self, state: EnvState, params: EnvParams) -> Array:
        system = state.carry.state
        return observe(
            self.observation,
            state.masses,
            system.positions,
            system.velocities,
            state.energy0,
            state.energy_error,
            state.last_jump,
            state.last_action / (params.etas.shape[0] - 1),
            params.interval,
            state.cost_weight,
        )

    def reset_to(
        self,
        masses: Array,
        system: nbody.NBodyState,
        params: EnvParams,
        seed: Array | int = -1,
        cost_weight: Array | None = None,
    ) -> tuple[Array, EnvState]:
        """Start an episode from a given system: masses (N,), its state at t = 0; the cost
        weight defaults to ``params.cost_weight``."""
        masses = jnp.asarray(masses, jnp.float64)
        carry = self._scheme(params.etas[0], params).init(masses, system)
        state = EnvState(
            masses=masses,
            carry=carry,
            energy0=nbody.total_energy(masses, system.positions, system.velocities),
            relative_energy=jnp.zeros((), jnp.float64),
            last_jump=jnp.zeros((), jnp.float64),
            seed=jnp.asarray(seed, jnp.int64),
            steps=jnp.zeros((), jnp.int32),
            last_action=jnp.asarray(-1, jnp.int32),
            force_evals=carry.stats.n_force_evals,
            cost_weight=jnp.asarray(
                params.cost_weight if cost_weight is None else cost_weight, jnp.float64
            ),
        )
        return self._observe(state, params), state

    def reset(self, key: Array, params: EnvParams) -> tuple[Array, EnvState]:
        """A new episode on random_triple(seed), seed uniform in [seed_low, seed_high), and its
        cost weight (see the module docstring)."""
        seed = jax.random.randint(key, (), params.seed_low, params.seed_high, dtype=jnp.int64)
        offset = jax.random.uniform(jax.random.fold_in(key, 1), (), jnp.float64, -0.5, 0.5)
        weight = params.cost_weight * 10.0 ** (offset * params.cost_weight_spread)
        masses, system = nbody.random_triple(seed)
        return self.reset_to(masses, system, params, seed, weight)

    def _integrate(self, state: EnvState, eta: Array, t_next: Array, params: EnvParams):
        """One attempt at the interval: (carry, E/E₀ − 1); the carry's stats cover it alone.

        Steps until t_next, each clipped to land on t_next (``clip_to_interval``) or only on
        ``params.t_end``."""
        start = state.carry._replace(stats=fresh_stats(0))
        scheme = self._scheme(eta, params)
        land = jnp.where(params.clip_to_interval, t_next, params.t_end)

        def running(c):
            return (c.state.t < t_next) & may_continue(c.stats, self.max_steps)

        carry = lax.while_loop(running, lambda c: scheme.step(state.masses, c, land), start)
        carry = carry._replace(stats=settle(carry.stats, carry.state, t_next))
        system = carry.state
        energy = nbody.total_energy(state.masses, system.positions, system.velocities)
        relative = energy / state.energy0 - 1.0
        return carry, jnp.where(jnp.isfinite(relative), relative, jnp.inf)

    def step_env(
        self, state: EnvState, action: Array, params: EnvParams
    ) -> tuple[Array, EnvState, Array, Array, StepInfo]:
        """One control step without auto-reset: (obs, state, reward, done, info)."""
        # Natural steps end past the interval's end: the next one starts from the nominal grid.
        start = jnp.where(
            params.clip_to_interval, state.carry.state.t, state.steps * params.interval
        )
        t_next = jnp.minimum(start + params.interval, params.t_end)

        def jump(relative: Array) -> Array:
            """Increase of ℓ over the interval."""
            return log_error_level(jnp.abs(relative), params) - log_error_level(
                state.energy_error, params
            )

        eta = params.etas[action]
        carry, relative = self._integrate(state, eta, t_next, params)

        def redo(loop):
            carry, relative, _, retries, _ = loop
            return (
                params.safeguard
                & (retries < params.safeguard_retries)
                & (carry.stats.status == nbody.STATUS_OK)
                & (jump(relative) > params.safeguard_threshold)
            )

        def again(loop):
            previous, _, eta, retries, evals = loop
            smaller = eta / params.safeguard_factor
            carry, relative = self._integrate(state, smaller, t_next, params)
            return carry, relative, smaller, retries + 1, evals + previous.stats.n_force_evals

        carry, relative, eta, retries, wasted = lax.while_loop(
            redo,
            again,
            (carry, relative, eta, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int64)),
        )
        evals = carry.stats.n_force_evals + wasted
        error = jnp.abs(relative)
        status = jnp.where(
            carry.stats.status != nbody.STATUS_OK,
            carry.stats.status,
            jnp.where(error > params.max_energy_error, STATUS_ENERGY, nbody.STATUS_OK),
        ).astype(jnp.int32)
        terminated = status != nbody.STATUS_OK
        truncated = ~terminated & (carry.state.t >= params.t_end)
        last_jump = jnp.abs(relative - state.relative_energy)
        reward = control_reward(
            params,
            state.energy_error,
            jnp.where(jnp.isfinite(error), error, state.energy_error),
            evals,
            terminated,
            (state.last_action >= 0) & (action != state.last_action),
            state.cost_weight,
            jnp.where(jnp.isfinite(last_jump), last_jump, 0.0),
        )
        new_state = EnvState(
            masses=state.masses,
            carry=carry,
            energy0=state.energy0,
            relative_energy=relative,
            last_jump=last_jump,
            seed=state.seed,
            steps=state.steps + 1,
            last_action=jnp.asarray(action, jnp.int32),
            force_evals=state.force_evals + evals,
            cost_weight=state.cost_weight,
        )
        obs = self._observe(new_state, params)
        info = StepInfo(
            final_obs=obs,
            terminated=terminated,
            truncated=truncated,
            force_evals=evals,
            episode_force_evals=new_state.force_evals,
            energy_error=error,
            eta=eta,
            retries=retries,
            status=status,
            steps=new_state.steps,
        )
        return obs, new_state, reward, terminated | truncated, info

    def step(
        self, key: Array, state: EnvState, action: Array, params: EnvParams
    ) -> tuple[Array, EnvState, Array, Array, StepInfo]:
        """One control step; a finished episode is replaced by a fresh one drawn with ``key``.

        Returns (obs, state, reward, done, info): obs and state are the new episode's when done;
        info.final_obs is the observation that ended the old one.
        """
        obs, stepped, reward, done, info = self.step_env(state, action, params)
        reset_obs, reset_state = self.reset(key, params)
        state = select(done, reset_state, stepped)
        return jnp.where(done, reset_obs, obs), state, reward, done, info

"""One generic IMEX time stepper (variable-step SBDF2) and the rollouts built on it.

An equation is split as ∂t u = N(u) + L u, N explicit (advection, reactions), L implicit (here
diagonal in Fourier space: diffusion). It is an :class:`IMEXEquation` of three pure functions on
a pytree of arrays u (jax-cfd's interface): ``explicit_terms(u) = N(u)``,
``implicit_terms(u) = L u`` and ``implicit_solve(y, gamma)``, the y' with y' − γ L y' = y.

SBDF2 with step ratio ω = dt_n / dt_{n−1} (Wang & Ruuth 2008):

    (1+2ω)/(1+ω) u¹ − (1+ω) u⁰ + ω²/(1+ω) u⁻¹ = dt [(1+ω) N(u⁰) − ω N(u⁻¹) + L u¹],

superscripts relative to the current step. With ω = 0 it is IMEX Euler,
u¹ − u⁰ = dt [N(u⁰) + L u¹], which is how the first step starts (it has no history): a proper
first-order start, not SBDF2 with the initial state standing in for the previous one. The
stepper state carries the whole history (previous state, its explicit terms and step size), so
a run restarted from a saved :class:`SBDF2State` continues bit for bit.

An equation may also lag an auxiliary quantity z that its explicit terms need and that would
otherwise take an inner solve (the active fluid's strain, which enters its own stress): given
``lagged_explicit_terms(u, guess) -> (N(u), z(u))``, the stepper passes the guess
z* = (1+ω) z⁰ − ω z⁻¹, extrapolated from the last two evaluations exactly as SBDF2 extrapolates
N, and keeps (z⁰, z⁻¹) in the state. A rollout begins with :func:`sbdf2_start`, which solves
for z of a state without history (``lagged_start(u)``) and lets it stand for both, so the
first step's guess is exact and the second step's is constant extrapolation. It branches once
per rollout, not per step: a conditional inside the step costs about 0.25 ms on XLA's CPU
backend (measured in the 64² moment step, itself 0.6 ms).
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array, lax

PyTree = Any

STATUS_OK = 0
STATUS_NON_FINITE = 1
STATUS_EXPLODED = 2


class IMEXEquation(NamedTuple):
    """∂t u = explicit_terms(u) + implicit_terms(u), u a pytree of arrays.

    implicit_solve(y, gamma): the solution y' of y' − gamma · implicit_terms(y') = y, gamma ()
    a positive step-size factor.
    lagged_explicit_terms(u, guess) -> (explicit terms, z(u)): optional; when given, the
    stepper uses it instead of explicit_terms, with the extrapolated guess of a lagged quantity
    z (module docstring); its states need ``lagged`` (see :func:`sbdf2_init`).
    lagged_start(u) -> z(u): z without a guess (an inner solve), for :func:`sbdf2_start`.
    """

    explicit_terms: Callable[[PyTree], PyTree]
    implicit_terms: Callable[[PyTree], PyTree]
    implicit_solve: Callable[[PyTree, Array], PyTree]
    lagged_explicit_terms: Callable[[PyTree, PyTree], tuple[PyTree, PyTree]] | None = None
    lagged_start: Callable[[PyTree], PyTree] | None = None


class SBDF2State(NamedTuple):
    """Everything an SBDF2 step needs; a checkpoint of it restarts a run exactly.

    fields: the solution at time t (pytree). fields_prev: the solution one step earlier.
    explicit_prev: explicit terms at fields_prev. t: () time of ``fields``.
    dt: () the step size the next step takes (change it with ``state._replace(dt=...)``).
    dt_prev: () the size of the step that produced ``fields``; 0 before the first step, which
    makes the next step IMEX Euler.
    lagged: (z⁰, z⁻¹), the lagged quantity at the last two explicit evaluations, for an
    equation with ``lagged_explicit_terms``; () otherwise.
    """

    fields: PyTree
    fields_prev: PyTree
    explicit_prev: PyTree
    t: Array
    dt: Array
    dt_prev: Array
    lagged: PyTree = ()


class RolloutStatus(NamedTuple):
    """Outcome of a guarded rollout.

    status: () int32, STATUS_OK, STATUS_NON_FINITE (a nan/inf appeared) or STATUS_EXPLODED
        (the probe exceeded its threshold). time: () time of the first bad state (nan if ok).
    location: (2,) int32 grid index (i, j) where the probe was largest in the first bad state,
        or in the last good state when the bad one is non-finite everywhere; (−1, −1) if ok.
    """

    status: Array
    time: Array
    location: Array


def sbdf2_init(
    fields: PyTree, dt: Array | float, t: Array | float = 0.0, lagged: PyTree = None
) -> SBDF2State:
    """Stepper state at time t with no history; the first step will be IMEX Euler.

    lagged: a template (e.g. zeros) of the lagged quantity of an equation with
    ``lagged_explicit_terms``, None for any other equation.
    """
    zeros = jax.tree.map(jnp.zeros_like, fields)
    history = () if lagged is None else (lagged, lagged)
    return SBDF2State(
        fields=fields,
        fields_prev=zeros,
        explicit_prev=zeros,
        t=jnp.asarray(t, dtype=float),
        dt=jnp.asarray(dt, dtype=float),
        dt_prev=jnp.zeros((), dtype=float),
        lagged=jax.tree.map(jnp.zeros_like, history),
    )


def sbdf2_coefficients(omega: Array) -> tuple[Array, Array, Array]:
    """(a₁, a₀, a₋₁) of the variable-step SBDF2 left side a₁u¹ − a₀u⁰ + a₋₁u⁻¹, ratio ω ≥ 0.

    (3/2, 2, 1/2) at ω = 1; (1, 1, 0) at ω = 0 (IMEX Euler).
    """
    return (1 + 2 * omega) / (1 + omega), 1 + omega, omega**2 / (1 + omega)


def sbdf2_start(equation: IMEXEquation, state: SBDF2State) -> SBDF2State:
    """The state ready for :func:`sbdf2_step`: for an equation with a lagged quantity z and a
    state without history, z of its fields (``lagged_start``) as both lagged values; any other
    state unchanged. Call it once before a rollout's steps (restarts included: a state with
    history passes through, so a resumed run continues bit for bit)."""
    if equation.lagged_explicit_terms is None:
        return state

    def fill(state: SBDF2State) -> SBDF2State:
        z = equation.lagged_start(state.fields)
        return state._replace(lagged=(z, z))

    return lax.cond(state.dt_prev > 0, lambda s: s, fill, state)


def sbdf2_step(equation: IMEXEquation, state: SBDF2State) -> SBDF2State:
    """Advance by state.dt: IMEX Euler when the state has no history, SBDF2 otherwise (a state
    of an equation with a lagged quantity must have been through :func:`sbdf2_start`)."""
    dt = state.dt
    has_history = state.dt_prev > 0
    # A guarded division keeps gradients finite when dt_prev = 0.
    omega = jnp.where(has_history, dt / jnp.where(has_history, state.dt_prev, 1.0), 0.0)
    a1, a0, am1 = sbdf2_coefficients(omega)
    if equation.lagged_explicit_terms is None:
        explicit, lagged = equation.explicit_terms(state.fields), state.lagged
    else:
        last, before = state.lagged
        guess = jax.tree.map(lambda z, z_prev: (1 + omega) * z - omega * z_prev, last, before)
        explicit, current = equation.lagged_explicit_terms(state.fields, guess)
        lagged = (current, last)
    # Coefficients divided by a₁ once: a scalar division, not one per (complex) array entry.
    c0, cm1, cn, cn_prev = a0 / a1, am1 / a1, dt * (1 + omega) / a1, dt * omega / a1
    rhs = jax.tree.map(
        lambda u, u_prev, n, n_prev: c0 * u - cm1 * u_prev + (cn * n - cn_prev * n_prev),
        state.fields,
        state.fields_prev,
        explicit,
        state.explicit_prev,
    )
    return SBDF2State(
        fields=equation.implicit_solve(rhs, dt / a1),
        fields_prev=state.fields,
        explicit_prev=explicit,
        t=state.t + dt,
        dt=dt,
        dt_prev=dt,
        lagged=lagged,
    )


def repeated(step_fn: Callable[[PyTree], PyTree], num_steps: int | Array) -> Callable:
    """state -> state after ``num_steps`` applications of step_fn.

    A Python int gives a ``lax.scan`` (reverse-differentiable); a traced count a while loop
    (one compilation for every count, not reverse-differentiable).
    """

    def run(state: PyTree) -> PyTree:
        return lax.fori_loop(0, num_steps, lambda _, s: step_fn(s), state)

    return run


def trajectory(
    step_fn: Callable[[PyTree], PyTree],
    num_outputs: int,
    steps_per_output: int,
    observe: Callable[[PyTree], PyTree] = lambda state: state,
) -> Callable:
    """state -> (final state, observations stacked along a new leading axis of num_outputs).

    Output k is observe(state) after (k + 1) · steps_per_output steps; all loops are scans.
    """

    def run(state: PyTree) -> tuple[PyTree, PyTree]:
        def segment(s, _):
            s = repeated(step_fn, steps_per_output)(s)
            return s, observe(s)

        return lax.scan(segment, state, length=num_outputs)

    return run


def _assess(field: Array, threshold: Array) -> tuple[Array, Array]:
    """(status, flat index of the worst point) of an (n, n) probe field."""
    finite = jnp.isfinite(field)
    badness = jnp.where(finite, jnp.abs(field), jnp.inf)
    status = jnp.where(
        ~jnp.all(finite),
        STATUS_NON_FINITE,
        jnp.where(jnp.max(badness) > threshold, STATUS_EXPLODED, STATUS_OK),
    )
    return status.astype(jnp.int32), jnp.argmax(badness)


def _report(bad: PyTree, bad_field: Array, good_field: Array, threshold: Array) -> RolloutStatus:
    """Status of a bad state, located on its own probe or, if non-finite everywhere, the last
    good one's."""
    status, worst = _assess(bad_field, threshold)
    lost = ~jnp.any(jnp.isfinite(bad_field))
    flat = jnp.where(lost, jnp.argmax(jnp.abs(good_field)), worst)
    location = jnp.stack(jnp.unravel_index(flat, bad_field.shape)).astype(jnp.int32)
    return RolloutStatus(status, jnp.asarray(bad.t, dtype=float), location)


def _healthy() -> RolloutStatus:
    return RolloutStatus(
        jnp.asarray(STATUS_OK, jnp.int32), jnp.asarray(jnp.nan), jnp.full((2,), -1, jnp.int32)
    )


def guarded_trajectory(
    step_fn: Callable[[PyTree], PyTree],
    probe: Callable[[PyTree], Array],
    num_outputs: int,
    steps_per_output: int,
    threshold: Array | float,
    observe: Callable[[PyTree], PyTree] = lambda state: state,
) -> Callable:
    """Like :func:`trajectory`, but stops at the first non-finite or exploding state.

    probe(state) -> (n, n) real field whose magnitude measures health (non-finite = lost);
    a state is bad when the probe has a non-finite value or exceeds ``threshold``.
    The probe runs once per output segment, inside the scan (no host polling). When a segment
    ends bad, it is replayed step by step from its (good) start to find the first bad step, and
    the state freezes at the last good one: later outputs repeat it.
    The state with which run starts is checked too. Returns
    run(state) -> (final state, observations, :class:`RolloutStatus`). Assumes a state has ``t``.
    """

    def first_failure(good: PyTree) -> tuple[PyTree, RolloutStatus]:
        def not_done(carry):
            _, _, status, k = carry
            return (status == STATUS_OK) & (k < steps_per_output)

        def one(carry):
            last, _, _, k = carry
            new = step_fn(last)
            status, _ = _assess(probe(new), threshold)
            keep = status == STATUS_OK
            return jax.tree.map(lambda a, b: jnp.where(keep, a, b), new, last), new, status, k + 1

        init = (good, good, jnp.asarray(STATUS_OK, jnp.int32), 0)
        last_good, bad, _, _ = lax.while_loop(not_done, one, init)
        return last_good, _report(bad, probe(bad), probe(last_good), threshold)

    def segment(carry, _):
        state, report = carry

        def advance(state):
            new = repeated(step_fn, steps_per_output)(state)
            status, _ = _assess(probe(new), threshold)
            return lax.cond(status == STATUS_OK, lambda s: (new, _healthy()), first_failure, state)

        state, report = lax.cond(report.status == STATUS_OK, advance, lambda s: (s, report), state)
        return (state, report), observe(state)

    def run(state: PyTree) -> tuple[PyTree, PyTree, RolloutStatus]:
        field = probe(state)
        status, _ = _assess(field, threshold)
        start = lax.cond(
            status == STATUS_OK, _healthy, lambda: _report(state, field, field, threshold)
        )
        (state, report), outputs = lax.scan(segment, (state, start), length=num_outputs)
        return state, outputs, report

    return run

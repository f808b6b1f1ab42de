"""Observations of a gravitational few-body system for a time-step controller.

Three kinds (``OBSERVATIONS``):

- ``"published"``: the 13 numbers of the published controller, positions / 10, velocities and
  -log10|ΔE/E₀| (three bodies in 2D). Neither scale- nor permutation-invariant.
- ``"invariant"``: eight numbers per pair, the pairs sorted from the closest to the widest:
  log10 of the separation and of the relative speed in the system's own units (length G M² / |E₀|,
  speed sqrt(|E₀| / M)); the cosine between separation and relative velocity (approaching < 0);
  the pair's two-body energy over |E₀| (signed log); log10 of how many of its dynamical times
  (the "rv" criterion's min(r / v, sqrt(r³ / (m_i + m_j)))) fit in one control interval, which
  sets the cost of any η; the eccentricity e / (1 + e) and log10(pericentre / separation) of the
  pair's two-body orbit, which announce a close approach before it happens; and log10 of the
  pair's distance from the origin over its separation, the exposure of the pair to round-off in
  the integrator's coordinates. Then the current log10|ΔE/E₀|, log10 of its change over the last
  interval and the previous action (a fraction of the action range, -1 at a reset). Invariant
  under relabelling the bodies, rotations, reflections and changes of units that keep the interval
  in dynamical times; any N ≥ 2 and d = 2 or 3.
- ``"tradeoff"``: the invariant features and log10 of the episode's cost weight (the price of one
  force evaluation against one decade of energy error in the reward), so that one policy serves
  every trade-off, chosen when it is used.

Every feature is O(1) for the systems of interest; the network sees them as float32.
"""

import jax.numpy as jnp
from jax import Array

from physics.nbody.forces import pair_separations

OBSERVATIONS = ("invariant", "published", "tradeoff")
ERROR_FLOOR = 1e-16
"""|ΔE/E₀| below this (round-off of float64) reads as this."""

PAIR_FEATURES = 8
_LOG_ERROR_CENTRE = 8.0
_LOG_ERROR_SCALE = 4.0


def n_features(observation: str, n_bodies: int = 3, dim: int = 2) -> int:
    """Length of the observation vector."""
    if observation == "published":
        return 2 * n_bodies * dim + 1
    if observation in ("invariant", "tradeoff"):
        pairs = PAIR_FEATURES * (n_bodies * (n_bodies - 1) // 2)
        return pairs + 3 + (observation == "tradeoff")
    raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")


def log_error(energy_error: Array) -> Array:
    """log10 of |ΔE/E₀|, floored at ERROR_FLOOR. energy_error: () or (B,)."""
    return jnp.log10(jnp.maximum(jnp.abs(energy_error), ERROR_FLOOR))


def _signed_log(x: Array) -> Array:
    return jnp.sign(x) * jnp.log10(1.0 + jnp.abs(x))


def pair_features(
    masses: Array, positions: Array, velocities: Array, energy0: Array, interval: Array
) -> Array:
    """(P, PAIR_FEATURES) features of the P = N (N - 1) / 2 pairs, closest pair first.

    masses: (N,). positions, velocities: (N, d). energy0: () initial total energy (≠ 0).
    interval: () length of one control interval (time units).
    """
    n = masses.shape[0]
    i, j = jnp.triu_indices(n, k=1)
    _, r2 = pair_separations(positions)
    r = jnp.sqrt(r2[i, j])
    dv = velocities[j] - velocities[i]
    dx = positions[j] - positions[i]
    v = jnp.sqrt(jnp.sum(dv * dv, axis=-1))
    total_mass = jnp.sum(masses)
    scale_energy = jnp.abs(energy0)
    length = total_mass**2 / scale_energy
    speed = jnp.sqrt(scale_energy / total_mass)
    safe_v = jnp.maximum(v, 1e-300)
    cosine = jnp.sum(dx * dv, axis=-1) / (r * safe_v)
    pair_mass = masses[i] + masses[j]
    reduced = masses[i] * masses[j] / pair_mass
    pair_energy = 0.5 * reduced * v**2 - masses[i] * masses[j] / r
    dynamical = jnp.minimum(r / safe_v, jnp.sqrt(r**3 / pair_mass))
    # Two-body orbit of the pair: eccentricity and pericentre distance q (q <= r).
    if positions.shape[-1] == 2:
        h2 = (dx[:, 0] * dv[:, 1] - dx[:, 1] * dv[:, 0]) ** 2
    else:
        h2 = jnp.sum(jnp.cross(dx, dv) ** 2, axis=-1)
    specific = 0.5 * v**2 - pair_mass / r
    ecc = jnp.sqrt(jnp.maximum(1.0 + 2.0 * specific * h2 / pair_mass**2, 0.0))
    pericentre = jnp.minimum(h2 / (pair_mass * (1.0 + ecc)), r)
    # Round-off exposure: how far from the origin the pair sits, in units of its separation.
    offset = 0.5 * (jnp.linalg.norm(positions[i], axis=-1) + jnp.linalg.norm(positions[j], axis=-1))
    features = jnp.stack(
        [
            jnp.log10(r / length),
            jnp.log10(safe_v / speed),
            cosine,
            _signed_log(pair_energy / scale_energy),
            jnp.log10(interval / dynamical),
            ecc / (1.0 + ecc),
            jnp.log10(jnp.maximum(pericentre / r, 1e-8)),
            jnp.log10(jnp.maximum(offset / r, 1e-8)),
        ],
        axis=-1,
    )
    return features[jnp.argsort(r)]


def observe(
    observation: str,
    masses: Array,
    positions: Array,
    velocities: Array,
    energy0: Array,
    energy_error: Array,
    last_jump: Array,
    previous_action: Array,
    interval: Array,
    cost_weight: Array | float = 1.0,
) -> Array:
    """The observation vector (n_features,) float32.

    observation: one of OBSERVATIONS (static). energy_error: () current |ΔE/E₀|.
    last_jump: () |change of E/E₀| over the last control interval (0 at a reset).
    previous_action: () the last action as a fraction of the action range (-1 at a reset).
    cost_weight: () the reward's cost weight (> 0; seen by "tradeoff" only).
    Other arguments as in :func:`pair_features`.
    """
    current = log_error(energy_error)
    if observation == "published":
        features = jnp.concatenate(
            [jnp.ravel(positions) / 10.0, jnp.ravel(velocities), -current[None]]
        )
    elif observation in ("invariant", "tradeoff"):
        pairs = pair_features(masses, positions, velocities, energy0, interval)
        errors = jnp.stack([current, log_error(last_jump)])
        parts = [
            jnp.ravel(pairs),
            (errors + _LOG_ERROR_CENTRE) / _LOG_ERROR_SCALE,
            jnp.reshape(previous_action, (1,)),
        ]
        if observation == "tradeoff":
            parts.append(jnp.reshape(jnp.log10(cost_weight), (1,)).astype(pairs.dtype))
        features = jnp.concatenate(parts)
    else:
        raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
    return features.astype(jnp.float32)

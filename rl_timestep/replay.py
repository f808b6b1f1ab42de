"""A fixed-capacity replay buffer as a pytree of arrays: jit-able, no Python state."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array


class Transitions(NamedTuple):
    """A batch of transitions (leading axis B). next_obs is the observation the action led to,
    also when the episode ended there (never the next episode's first one)."""

    obs: Array  # (B, F) float32
    action: Array  # (B,) int32
    reward: Array  # (B,) float32
    next_obs: Array  # (B, F) float32
    terminated: Array  # (B,) bool: no bootstrapping from next_obs (truncation bootstraps)


class ReplayBuffer(NamedTuple):
    """Ring buffer: ``data`` has capacity C rows; ``position`` is the next row written."""

    data: Transitions
    position: Array  # () int32
    size: Array  # () int32, rows filled so far (≤ C)


def init_buffer(capacity: int, n_features: int) -> ReplayBuffer:
    data = Transitions(
        obs=jnp.zeros((capacity, n_features), jnp.float32),
        action=jnp.zeros((capacity,), jnp.int32),
        reward=jnp.zeros((capacity,), jnp.float32),
        next_obs=jnp.zeros((capacity, n_features), jnp.float32),
        terminated=jnp.zeros((capacity,), bool),
    )
    return ReplayBuffer(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def add(buffer: ReplayBuffer, batch: Transitions) -> ReplayBuffer:
    """Write a batch (B ≤ C rows), overwriting the oldest rows once full."""
    capacity = buffer.data.action.shape[0]
    n = batch.action.shape[0]
    rows = (buffer.position + jnp.arange(n)) % capacity
    data = jax.tree.map(
        lambda stored, new: stored.at[rows].set(new.astype(stored.dtype)), buffer.data, batch
    )
    return ReplayBuffer(
        data, (buffer.position + n) % capacity, jnp.minimum(buffer.size + n, capacity)
    )


def sample(buffer: ReplayBuffer, key: Array, batch_size: int) -> Transitions:
    """Uniformly drawn rows (with replacement) among those filled; the buffer must not be empty."""
    rows = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return jax.tree.map(lambda stored: stored[rows], buffer.data)

"""The Q-network: an MLP from an observation to one value per action (float32)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import Array

from physics.precision import NETWORK_DTYPE


class QNetwork(nn.Module):
    """Observation (..., F) -> action values (..., A); ReLU hidden layers of the given widths."""

    hidden: Sequence[int]
    n_actions: int

    @nn.compact
    def __call__(self, obs: Array) -> Array:
        x = obs.astype(NETWORK_DTYPE)
        for width in self.hidden:
            x = nn.relu(nn.Dense(width, dtype=NETWORK_DTYPE, param_dtype=NETWORK_DTYPE)(x))
        return nn.Dense(self.n_actions, dtype=NETWORK_DTYPE, param_dtype=NETWORK_DTYPE)(x)


def init_params(network: QNetwork, key: Array, n_features: int) -> dict:
    """Freshly initialised parameters for observations of n_features numbers."""
    return network.init(key, jnp.zeros((n_features,), NETWORK_DTYPE))


def greedy_action(network: QNetwork, params: dict, obs: Array) -> Array:
    """argmax_a Q(obs, a); obs (..., F) -> (...) int32."""
    return jnp.argmax(network.apply(params, obs), axis=-1).astype(jnp.int32)


def epsilon_greedy(
    network: QNetwork,
    params: dict,
    key: Array,
    obs: Array,
    epsilon: Array,
    uniform_fraction: Array | float = 1.0,
) -> Array:
    """Greedy actions for a batch obs (B, F), each replaced with probability epsilon by an
    exploratory one: uniform over all actions with probability uniform_fraction, otherwise a
    neighbour of the greedy action (the actions are ordered, so this explores near the policy
    without the rare extreme choices that spoil the rest of an episode)."""
    greedy = greedy_action(network, params, obs)
    explore_key, kind_key, action_key, side_key = jax.random.split(key, 4)
    explore = jax.random.uniform(explore_key, greedy.shape) < epsilon
    uniform = jax.random.uniform(kind_key, greedy.shape) < uniform_fraction
    random = jax.random.randint(action_key, greedy.shape, 0, network.n_actions, dtype=jnp.int32)
    side = 2 * jax.random.bernoulli(side_key, 0.5, greedy.shape).astype(jnp.int32) - 1
    neighbour = jnp.clip(greedy + side, 0, network.n_actions - 1)
    return jnp.where(explore, jnp.where(uniform, random, neighbour), greedy)

"""Deep Q-learning with vectorised environments, the whole iteration one jitted function.

One iteration: every one of the B environments takes one ε-greedy control step (ε decays
linearly with the iteration count, never reset by episodes), the B transitions go into the replay
buffer, then ``updates_per_iteration`` minibatch updates of the Q-network follow (Huber loss on
the one-step target, double DQN by default, AdamW, soft target-network updates). Episodes end and
restart independently in each environment (auto-reset); a transition stores the observation its
action was chosen from and the one that action led to. All randomness comes from one key split
at every use.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import Array, lax

from rl_timestep import replay
from rl_timestep.env import EnvParams, EnvState, TimestepEnv
from rl_timestep.features import log_error
from rl_timestep.network import QNetwork, epsilon_greedy


class DQNSettings(NamedTuple):
    """Static hyperparameters of the agent (hashable: part of the compiled code)."""

    batch_size: int = 128
    gamma: float = 0.99
    tau: float = 0.005
    updates_per_iteration: int = 4
    learning_starts: int = 1_000
    eps_start: float = 1.0
    eps_end: float = 0.02
    eps_decay_iterations: int = 1_000
    uniform_exploration: float = 1.0  # share of exploratory actions drawn uniformly (else ±1)
    double_dqn: bool = True
    env_chunk: int = 1  # environments vmapped together inside the sequential lax.map


class Learner(NamedTuple):
    """Everything a training run carries from one iteration to the next."""

    q_params: Any
    target_params: Any
    opt_state: Any
    buffer: replay.ReplayBuffer
    env_states: EnvState  # batched (B, ...)
    obs: Array  # (B, F)
    episode_returns: Array  # (B,) return of each environment's running episode
    key: Array
    iteration: Array  # () int32, iterations done


class IterationStats(NamedTuple):
    """Per-iteration diagnostics; the episode sums cover the episodes that ended there."""

    reward: Array  # mean over environments
    loss: Array  # mean over the updates (0 before learning starts)
    epsilon: Array
    force_evals: Array  # mean force evaluations per control step
    action_counts: Array  # (A,)
    episodes: Array  # episodes that ended
    failures: Array  # of which failed
    return_sum: Array
    log_error_sum: Array  # sum of final log10|ΔE/E₀|
    force_evals_sum: Array  # sum of episode force evaluations


def epsilon_at(settings: DQNSettings, iteration: Array) -> Array:
    """Linear decay from eps_start to eps_end over eps_decay_iterations, then constant."""
    fraction = jnp.clip(iteration / max(settings.eps_decay_iterations, 1), 0.0, 1.0)
    return settings.eps_start + fraction * (settings.eps_end - settings.eps_start)


def td_loss(
    network: QNetwork,
    settings: DQNSettings,
    q_params: Any,
    target_params: Any,
    batch: replay.Transitions,
) -> Array:
    """Mean Huber loss between Q(s, a) and r + γ (1 − terminated) Q_target(s', a*)."""
    q = network.apply(q_params, batch.obs)
    q_taken = jnp.take_along_axis(q, batch.action[:, None], axis=-1)[:, 0]
    next_target = network.apply(target_params, batch.next_obs)
    if settings.double_dqn:
        chosen = jnp.argmax(network.apply(q_params, batch.next_obs), axis=-1)
        next_value = jnp.take_along_axis(next_target, chosen[:, None], axis=-1)[:, 0]
    else:
        next_value = jnp.max(next_target, axis=-1)
    target = batch.reward + settings.gamma * (1.0 - batch.terminated) * next_value
    return jnp.mean(optax.huber_loss(q_taken, lax.stop_gradient(target)))


def init_learner(
    env: TimestepEnv,
    params: EnvParams,
    network: QNetwork,
    optimizer: optax.GradientTransformation,
    key: Array,
    n_envs: int,
    buffer_size: int,
) -> Learner:
    """Fresh network, optimiser, empty buffer and n_envs environments reset with their own keys."""
    net_key, env_key, key = jax.random.split(key, 3)
    q_params = network.init(net_key, jnp.zeros((env.n_features,), jnp.float32))
    obs, states = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(env_key, n_envs), params)
    return Learner(
        q_params=q_params,
        target_params=q_params,
        opt_state=optimizer.init(q_params),
        buffer=replay.init_buffer(buffer_size, env.n_features),
        env_states=states,
        obs=obs,
        episode_returns=jnp.zeros((n_envs,), jnp.float32),
        key=key,
        iteration=jnp.zeros((), jnp.int32),
    )


def step_environments(
    env: TimestepEnv, params: EnvParams, keys: Array, states: EnvState, actions: Array, chunk: int
):
    """env.step for each environment: one after another, or vmapped in chunks of ``chunk``.

    A vectorised adaptive integration runs until its slowest member is done, so on CPU a
    sequential map wastes nothing where a vmap pays for the most expensive η of the batch.
    """

    def one(args):
        key, state, action = args
        return env.step(key, state, action, params)

    return lax.map(one, (keys, states, actions), batch_size=chunk if chunk > 1 else None)


def make_iteration(
    env: TimestepEnv,
    params: EnvParams,
    network: QNetwork,
    optimizer: optax.GradientTransformation,
    settings: DQNSettings,
):
    """The pure function Learner -> (Learner, IterationStats) of one training iteration."""
    n_actions = network.n_actions

    def update(learner_params, key):
        q_params, target_params, opt_state, buffer = learner_params
        batch = replay.sample(buffer, key, settings.batch_size)
        loss, grads = jax.value_and_grad(td_loss, argnums=2)(
            network, settings, q_params, target_params, batch
        )
        updates, opt_state = optimizer.update(grads, opt_state, q_params)
        q_params = optax.apply_updates(q_params, updates)
        target_params = optax.incremental_update(q_params, target_params, settings.tau)
        return (q_params, target_params, opt_state, buffer), loss

    def iteration(learner: Learner) -> tuple[Learner, IterationStats]:
        key, act_key, env_key, update_key = jax.random.split(learner.key, 4)
        epsilon = epsilon_at(settings, learner.iteration)
        actions = epsilon_greedy(
            network,
            learner.q_params,
            act_key,
            learner.obs,
            epsilon,
            settings.uniform_exploration,
        )
        n_envs = actions.shape[0]
        obs, states, rewards, done, info = step_environments(
            env,
            params,
            jax.random.split(env_key, n_envs),
            learner.env_states,
            actions,
            settings.env_chunk,
        )
        buffer = replay.add(
            learner.buffer,
            replay.Transitions(learner.obs, actions, rewards, info.final_obs, info.terminated),
        )
        learning = buffer.size >= settings.learning_starts

        def learn(_):
            carried = (learner.q_params, learner.target_params, learner.opt_state, buffer)
            carried, losses = lax.scan(
                update, carried, jax.random.split(update_key, settings.updates_per_iteration)
            )
            return carried[:3], jnp.mean(losses)

        def wait(_):
            return (learner.q_params, learner.target_params, learner.opt_state), jnp.zeros(
                (), jnp.float32
            )

        (q_params, target_params, opt_state), loss = lax.cond(learning, learn, wait, None)
        returns = learner.episode_returns + rewards.astype(jnp.float32)
        stats = IterationStats(
            reward=jnp.mean(rewards),
            loss=loss,
            epsilon=epsilon,
            force_evals=jnp.mean(info.force_evals.astype(jnp.float32)),
            action_counts=jnp.bincount(actions, length=n_actions),
            episodes=jnp.sum(done),
            failures=jnp.sum(info.terminated),
            return_sum=jnp.sum(jnp.where(done, returns, 0.0)),
            log_error_sum=jnp.sum(jnp.where(done, log_error(info.energy_error), 0.0)),
            force_evals_sum=jnp.sum(jnp.where(done, info.episode_force_evals, 0)),
        )
        new = Learner(
            q_params=q_params,
            target_params=target_params,
            opt_state=opt_state,
            buffer=buffer,
            env_states=states,
            obs=obs,
            episode_returns=jnp.where(done, 0.0, returns),
            key=key,
            iteration=learner.iteration + 1,
        )
        return new, stats

    return iteration


def make_train_chunk(iteration, n_iterations: int):
    """A jitted function running ``n_iterations`` iterations: Learner -> (Learner, stats (T,))."""

    @jax.jit
    def chunk(learner: Learner) -> tuple[Learner, IterationStats]:
        return lax.scan(lambda c, _: iteration(c), learner, None, length=n_iterations)

    return chunk

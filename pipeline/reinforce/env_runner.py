"""An env runner that samples whole ConfuciuX episodes without RLlib's per-step connector passes.

RLlib's :class:`SingleAgentEnvRunner` runs two connector pipelines per env step
(env-to-module: observations and LSTM state into a batch with a time axis, then
tensors; module-to-env: sampling, numpy, unbatching, action clipping, listifying)
and steps a one-env vector env through its info wrapper; for this env that is
about 0.7 ms per step, twice the policy and the env together. REINFORCE samples
complete episodes from one env, so :class:`EpisodeEnvRunner` does the same work
directly: the observation goes to the module as a (1, 1, D) tensor with the
carried LSTM state, the module's exploration forward returns the sampled action
(see ``ConfuciuXPolicy._forward_exploration``), the env is stepped, and the
finished episode is built once as a :class:`SingleAgentEpisode` for the learner.
Everything else (weights sync, metrics, seeding, state) is the parent's.

The env is reset with the runner's seed whenever the parent would: RLlib sets
``_needs_initial_reset`` after every ``sample(num_episodes=...)``, so each call
starts from the seeded reset, exactly as the default runner does. Timestep
sampling, random actions, several envs per runner and callbacks on episodes
fall back to the parent's loop.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.core.columns import Columns
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.annotations import override


class EpisodeEnvRunner(SingleAgentEnvRunner):
    """Samples complete episodes of one env with one module call and one env step per timestep."""

    @override(SingleAgentEnvRunner)
    def _sample(
        self,
        *,
        num_timesteps: int | None = None,
        num_episodes: int | None = None,
        explore: bool,
        random_actions: bool = False,
        force_reset: bool = False,
    ) -> list[SingleAgentEpisode]:
        if not self._lean_sampling_applies(num_timesteps, num_episodes, explore, random_actions):
            return super()._sample(
                num_timesteps=num_timesteps,
                num_episodes=num_episodes,
                explore=explore,
                random_actions=random_actions,
                force_reset=force_reset,
            )
        assert num_episodes is not None
        episodes = [self._sample_episode() for _ in range(num_episodes)]
        if self.episodes_to_numpy:
            episodes = [episode.to_numpy() for episode in episodes]
        steps = sum(len(episode) for episode in episodes)
        self._done_episodes_for_metrics.extend(episodes)
        self._log_env_steps(metric=self._metrics_num_env_steps_sampled, num_steps=steps)
        self._increase_sampled_metrics(steps, len(episodes))
        return episodes

    def _lean_sampling_applies(
        self, num_timesteps: int | None, num_episodes: int | None, explore: bool, random_actions: bool
    ) -> bool:
        # Episode callbacks would miss their per-step calls: only RLlib's no-op base callback is allowed.
        callbacks = any(getattr(self.config, f"callbacks_on_episode_{hook}", None) for hook in ("start", "step", "end"))
        callbacks = callbacks or any(type(callback) is not RLlibCallback for callback in self._callbacks)
        return (
            num_episodes is not None
            and num_timesteps is None
            and explore
            and not random_actions
            and self.num_envs == 1
            and self.module is not None
            and not callbacks
        )

    def _sample_episode(self) -> SingleAgentEpisode:
        """One complete episode from a (seeded, as the parent) reset."""
        env = self.env.unwrapped.envs[0]
        needs_initial_reset = bool(self._needs_initial_reset)  # type: ignore[has-type]
        observation, info = env.reset(seed=self._seed if needs_initial_reset else None)
        self._needs_initial_reset = True  # as the parent after sample(num_episodes=...)
        state = {key: torch.from_numpy(value)[None] for key, value in self.module.get_initial_state().items()}
        observations, infos, actions, rewards = [observation], [info], [], []
        terminated = truncated = False
        while not (terminated or truncated):
            batch: dict[str, Any] = {Columns.OBS: torch.from_numpy(observation)[None, None]}
            if state:
                batch[Columns.STATE_IN] = state
            out = self.module.forward_exploration(batch)
            state = out.get(Columns.STATE_OUT, state)
            action = out[Columns.ACTIONS][0, 0].numpy()
            observation, reward, terminated, truncated, info = env.step(action)
            observations.append(observation)
            infos.append(info)
            actions.append(action)
            rewards.append(reward)
        return SingleAgentEpisode(
            observations=observations,
            infos=infos,
            actions=actions,
            rewards=rewards,
            terminated=terminated,
            truncated=truncated,
            observation_space=self.env.single_observation_space,
            action_space=self.env.single_action_space,
            len_lookback_buffer=0,
        )

"""REINFORCE on RLlib's new API stack, with the ConfuciuX release's schedule.

RLlib 2.60 ships no PG/REINFORCE, so this is a custom algorithm: the config
holds the knobs, :class:`Reinforce` samples whole episodes, updates the learner
and syncs weights; :mod:`pipeline.reinforce.learner` has the loss and
:mod:`pipeline.reinforce.rl_module` the policy network.

Beyond plain REINFORCE the algorithm keeps the best successful episode (the
whole-model objective, the design and the constraint it used), counts
episodes, whole-model evaluations and cost-model calls, and applies the
release's schedule: after the first success, every ``schedule_every`` episodes
the learning rate is multiplied by ``lr_decay`` (not below ``lr_floor``) and the
softmax temperature divided by ``temperature_decay`` (not below ``temperature_floor``).
"""

from __future__ import annotations

import logging
from typing import Any

from ray.rllib.algorithms import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, LEARNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

from confx.envs.problem import DEFAULT_OBJECTIVE
from confx.pipeline.reinforce.env_runner import EpisodeEnvRunner
from confx.pipeline.reinforce.episode_log import EpisodeLog
from confx.pipeline.reinforce.rl_module import DEFAULT_MODEL_CONFIG, ConfuciuXPolicy
from confx.pipeline.search.settings import RLSettings

logger = logging.getLogger(__name__)

SEARCH_STATE = "confx_search"
"""Key of the search's own state in the algorithm's checkpoint."""

# Keys of the per-iteration results that sweeps and reports read.
BEST_OBJECTIVE = "confx/best_objective"
EPISODES = "confx/episodes"
SUCCESSES = "confx/successful_episodes"
MODEL_EVALUATIONS = "confx/model_evaluations"
COST_MODEL_CALLS = "confx/cost_model_calls"
EPISODE_OBJECTIVE_MEAN = "confx/episode_objective_mean"


class ReinforceConfig(AlgorithmConfig):
    """Configuration of :class:`Reinforce`; defaults are the release's."""

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or Reinforce)
        knobs = RLSettings()  # the one place of the defaults
        self.lr = knobs.lr
        self.gamma = knobs.gamma
        self.episodes_per_update = knobs.episodes_per_update
        self.updates_per_iteration = knobs.updates_per_iteration
        self.episode_budget = 0
        self.network_grad_clip = knobs.network_grad_clip
        self.lstm_grad_clip = knobs.lstm_grad_clip
        self.schedule_every = knobs.schedule_every
        self.lr_decay = knobs.lr_decay
        self.lr_floor = knobs.lr_floor
        self.temperature_decay = knobs.temperature_decay
        self.temperature_floor = knobs.temperature_floor
        # REINFORCE needs whole episodes; by default everything runs in-process.
        self.batch_mode = "complete_episodes"
        self.num_env_runners = 0
        self.env_runner_cls = EpisodeEnvRunner

    @override(AlgorithmConfig)
    def training(
        self,
        *,
        episodes_per_update: int = NotProvided,
        updates_per_iteration: int = NotProvided,
        episode_budget: int = NotProvided,
        network_grad_clip: float = NotProvided,
        lstm_grad_clip: float = NotProvided,
        schedule_every: int = NotProvided,
        lr_decay: float = NotProvided,
        lr_floor: float = NotProvided,
        temperature_decay: float = NotProvided,
        temperature_floor: float = NotProvided,
        **kwargs: Any,
    ) -> ReinforceConfig:
        """Set REINFORCE's knobs (and any of ``AlgorithmConfig.training``'s, e.g. lr, gamma).

        Args:
            episodes_per_update: Complete episodes per gradient update (release: 1).
            updates_per_iteration: Gradient updates per ``train()`` call (one reported iteration).
            episode_budget: Stop sampling once this many episodes ran (0: no limit).
            network_grad_clip: Gradient-norm clip of everything but the LSTM (release: 100).
            lstm_grad_clip: Gradient-norm clip of the LSTM (release: 10).
            schedule_every: Episodes between two lr/temperature decays (release: 100).
            lr_decay: Learning-rate factor per decay (release: 0.8).
            lr_floor: Lowest learning rate (release: 1e-6).
            temperature_decay: Temperature divisor per decay (release: 1.01).
            temperature_floor: Lowest temperature (release: 1).
        """
        super().training(**kwargs)
        for name, value in locals().items():
            if name not in ("self", "kwargs", "__class__") and value is not NotProvided:
                setattr(self, name, value)
        return self

    @override(AlgorithmConfig)
    def validate(self) -> None:
        super().validate()
        for name in ("episodes_per_update", "updates_per_iteration", "schedule_every"):
            if getattr(self, name) < 1:
                self._value_error(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.lr_decay <= 1 or self.temperature_decay < 1:
            self._value_error(
                f"need 0 < lr_decay <= 1 and temperature_decay >= 1, got {self.lr_decay}, {self.temperature_decay}"
            )
        if self.batch_mode != "complete_episodes":
            self._value_error("REINFORCE needs batch_mode='complete_episodes' (returns run to the episode's end)")

    @override(AlgorithmConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=ConfuciuXPolicy, model_config=dict(DEFAULT_MODEL_CONFIG))

    @override(AlgorithmConfig)
    def get_default_learner_class(self) -> type:
        from confx.pipeline.reinforce.learner import ReinforceLearner

        return ReinforceLearner


class Reinforce(Algorithm):
    """Sample ``episodes_per_update`` episodes, update, sync; track the best design."""

    @classmethod
    @override(Algorithm)
    def get_default_config(cls) -> ReinforceConfig:
        return ReinforceConfig()

    @override(Algorithm)
    def setup(self, config: AlgorithmConfig) -> None:
        super().setup(config)
        self.episode_log = EpisodeLog.for_objective(config.env_config.get("objective", DEFAULT_OBJECTIVE))
        self.temperature = float(self.get_module().temperature)

    @override(Algorithm)
    def training_step(self) -> None:
        budget = self.config.episode_budget
        for _ in range(self.config.updates_per_iteration):
            if budget and self.episode_log.episodes >= budget:
                break
            episodes, runner_metrics = self._sample_episodes()
            self.metrics.aggregate(runner_metrics, key=ENV_RUNNER_RESULTS)
            learner_results = self.learner_group.update(
                episodes=episodes,
                timesteps={
                    NUM_ENV_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
                        (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0
                    )
                },
            )
            self.metrics.aggregate(learner_results, key=LEARNER_RESULTS)
            self._record_episodes(episodes)
            self._sync_weights()
        self._log_search_metrics()

    def _sync_weights(self) -> None:
        """Send the learner's weights to the env runners.

        Without remote runners the state goes straight to the local one: RLlib's
        ``sync_weights`` would first put it into the object store (~10% of an update here).
        """
        group = self.env_runner_group
        if group.num_remote_workers() > 0 or group.local_env_runner is None:
            group.sync_weights(from_worker_or_learner_group=self.learner_group, inference_only=True)
            return
        state = self.learner_group.get_state(
            components=f"{COMPONENT_LEARNER}/{COMPONENT_RL_MODULE}", inference_only=True
        )[COMPONENT_LEARNER]
        group.local_env_runner.set_state(state)

    def _sample_episodes(self) -> tuple[list, list]:
        n_runners = max(1, self.config.num_env_runners)
        per_runner = max(1, self.config.episodes_per_update // n_runners)
        sampled = self.env_runner_group.foreach_env_runner(
            lambda runner: (runner.sample(num_episodes=per_runner), runner.get_metrics()),
            local_env_runner=self.env_runner_group.num_remote_workers() <= 0,
        )
        episodes = [episode for batch, _ in sampled for episode in batch]
        return episodes, [metrics for _, metrics in sampled]

    def _record_episodes(self, episodes: list) -> None:
        """Log finished episodes; apply the release's decay schedule."""
        log = self.episode_log
        for episode in episodes:
            if not episode.is_done:
                continue
            log.record(episode.get_infos(-1))
            # The release decays at episodes 99, 199, ... once an episode has succeeded.
            if log.successes and (log.episodes + 1) % self.config.schedule_every == 0:
                self._decay()

    def _decay(self) -> None:
        config = self.config
        self.learner_group.foreach_learner(
            lambda learner: learner.scale_learning_rate(config.lr_decay, config.lr_floor)
        )
        self.temperature = max(config.temperature_floor, self.temperature / config.temperature_decay)
        temperature = self.temperature
        self.learner_group.foreach_learner(lambda learner: _set_temperature(learner, temperature))
        logger.debug("episode %d: lr x %.2f, temperature %.3f", self.episode_log.episodes, config.lr_decay, temperature)

    def _log_search_metrics(self) -> None:
        log = self.episode_log
        values = {
            BEST_OBJECTIVE: log.best_objective,
            EPISODES: log.episodes,
            SUCCESSES: log.successes,
            MODEL_EVALUATIONS: log.episodes,
            COST_MODEL_CALLS: env_cost_model_calls(self),
            EPISODE_OBJECTIVE_MEAN: log.take_recent_mean(),
        }
        for key, value in values.items():
            self.metrics.log_value(key, value, window=1)

    @override(Algorithm)
    def get_state(self, *args: Any, **kwargs: Any) -> dict:
        state = super().get_state(*args, **kwargs)
        state[SEARCH_STATE] = {"episode_log": self.episode_log, "temperature": self.temperature}
        return state

    @override(Algorithm)
    def set_state(self, state: dict) -> None:
        super().set_state(state)
        if SEARCH_STATE in state:
            self.episode_log = state[SEARCH_STATE]["episode_log"]
            self.temperature = state[SEARCH_STATE]["temperature"]


def _set_temperature(learner: Any, temperature: float) -> None:
    for module_id in learner.module.keys():
        learner.module[module_id].temperature.fill_(temperature)


def _runner_envs(runner: Any) -> list:
    return [env.unwrapped for env in getattr(runner.env.unwrapped, "envs", [])]


def env_cost_model_calls(algo: Algorithm) -> int:
    """Unique (layer, action) cost-model evaluations made by every env of an algorithm so far."""
    counts = algo.env_runner_group.foreach_env_runner(
        lambda runner: sum(env.problem.cost_model_calls for env in _runner_envs(runner)),
        local_env_runner=algo.env_runner_group.num_remote_workers() <= 0,
    )
    return int(sum(counts))


def take_env_memo_cells(algo: Algorithm) -> list:
    """The memo cells every env of an algorithm has evaluated (to merge into a driver's problem)."""
    per_runner = algo.env_runner_group.foreach_env_runner(
        lambda runner: [env.problem.memo.take_new_cells() for env in _runner_envs(runner)],
        local_env_runner=algo.env_runner_group.num_remote_workers() <= 0,
    )
    return [cells for runner_cells in per_runner for cells in runner_cells]

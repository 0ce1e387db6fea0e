"""RLlib's built-in PPO on the same environment: the release's "other RL" baseline.

PPO uses RLlib's default MLP policy (the observation carries the step
position) and samples whole episodes; the best successful design is collected
on every env runner by :class:`~pipeline.reinforce.episode_log.EpisodeLogCallback`.
"""

from __future__ import annotations

from typing import Any

from confx.envs.confuciux_env import ConfuciuXEnv
from confx.envs.problem import Problem
from confx.pipeline.search.base import BestTracker, Progress, SearchResult
from confx.pipeline.search.confuciux import adopt_rl_outcome, env_config, single_threaded_torch, train_episodes
from confx.pipeline.search.ray_runtime import ensure_ray
from confx.pipeline.search.settings import DEFAULT_EPOCHS, PPOSettings


def _best_logs(algo: Any) -> list[Any]:
    from confx.pipeline.reinforce.episode_log import RUNNER_ATTRIBUTE

    return algo.env_runner_group.foreach_env_runner(
        lambda runner: getattr(runner, RUNNER_ATTRIBUTE, None),
        local_env_runner=algo.env_runner_group.num_remote_workers() <= 0,
    )


def search(
    problem: Problem,
    *,
    seed: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    settings: PPOSettings = PPOSettings(),
    progress: Progress | None = None,
) -> SearchResult:
    """Train PPO for about ``epochs`` episodes (whole train batches); return its best design."""
    from ray.rllib.algorithms.ppo import PPOConfig

    from confx.pipeline.reinforce.episode_log import EpisodeLogCallback

    ensure_ray()
    single_threaded_torch()
    steps = settings.episodes_per_iteration * problem.n_layers
    config = (
        PPOConfig()
        .environment(ConfuciuXEnv, env_config=env_config(problem))
        .env_runners(num_env_runners=0, batch_mode="complete_episodes")
        .learners(num_learners=0)
        .training(
            lr=settings.lr,
            gamma=settings.gamma,
            train_batch_size_per_learner=steps,
            minibatch_size=settings.minibatch_episodes * problem.n_layers,
            num_epochs=settings.num_epochs,
        )
        .callbacks(EpisodeLogCallback)
        .debugging(seed=seed, log_level="ERROR")
    )
    tracker = BestTracker(problem)
    algo = config.build_algo()
    outcome = train_episodes(
        algo, problem, episodes=epochs, episode_log=lambda: _best_logs(algo)[0], label="PPO", progress=progress
    )
    adopt_rl_outcome(tracker, problem, outcome)
    return tracker.result("ppo", seed)

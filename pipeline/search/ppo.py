"""RLlib's built-in PPO on the same environment: the release's "other RL" baseline.

PPO uses RLlib's default MLP policy (the observation carries the step
position) and samples whole episodes; the best successful design is collected
on every env runner by :class:`~pipeline.reinforce.episode_log.EpisodeLogCallback`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

from envs.confuciux_env import ConfuciuXEnv
from envs.problem import Problem
from pipeline.search.base import BestTracker, SearchResult
from pipeline.search.confuciux import Progress, RLOutcome, _adopt_rl, ensure_ray, env_config


@dataclass(frozen=True)
class PPOSettings:
    """Knobs of the PPO baseline.

    Attributes:
        episodes_per_iteration: Whole episodes per PPO train batch.
        lr: Adam learning rate.
        gamma: Discount factor.
        num_epochs: SGD passes over each batch.
        minibatch_episodes: Minibatch size, in episodes.
    """

    episodes_per_iteration: int = 8
    lr: float = 1e-3
    gamma: float = 0.9
    num_epochs: int = 4
    minibatch_episodes: int = 4


def _best_logs(algo) -> list:  # noqa: ANN001 - an RLlib Algorithm
    from pipeline.reinforce.episode_log import RUNNER_ATTRIBUTE

    return algo.env_runner_group.foreach_env_runner(
        lambda runner: getattr(runner, RUNNER_ATTRIBUTE, None),
        local_env_runner=algo.env_runner_group.num_remote_workers() <= 0,
    )


def search(
    problem: Problem, *, budget: int = 0, seed: int = 0, epochs: int = 500,
    progress: Progress | None = None, **options: object,
) -> SearchResult:  # fmt: skip
    """Train PPO for about ``epochs`` episodes (whole train batches); return its best design."""
    from ray.rllib.algorithms.ppo import PPOConfig

    from costmodel.errors import ConfXError
    from pipeline.reinforce.algorithm import env_cost_model_calls, take_env_memo_cells
    from pipeline.reinforce.episode_log import EpisodeLogCallback

    known = {f.name for f in fields(PPOSettings)}
    if set(options) - known:
        raise ConfXError(f"unknown ppo setting(s) {sorted(set(options) - known)}; known: {sorted(known)}")
    settings = PPOSettings(**options)
    ensure_ray()
    steps = settings.episodes_per_iteration * problem.n_layers
    config = (
        PPOConfig()
        .environment(ConfuciuXEnv, env_config=env_config(problem))
        .env_runners(num_env_runners=0, batch_mode="complete_episodes")
        .learners(num_learners=0)
        .training(lr=settings.lr, gamma=settings.gamma, train_batch_size_per_learner=steps,
                  minibatch_size=settings.minibatch_episodes * problem.n_layers, num_epochs=settings.num_epochs)
        .callbacks(EpisodeLogCallback)
        .debugging(seed=seed, log_level="ERROR")
    )  # fmt: skip
    tracker = BestTracker(problem)
    algo = config.build_algo()
    try:
        curve, log, last_print = [], None, time.perf_counter()
        while log is None or log.episodes < epochs:
            algo.train()
            log = _best_logs(algo)[0]
            if log is None:
                continue
            calls = env_cost_model_calls(algo)
            curve.extend((e, calls, obj) for e, obj in log.curve[len(curve):])
            if progress and time.perf_counter() - last_print > 2:
                progress({"message": f"PPO episode {log.episodes}/{epochs}: best {log.best_objective:.6g}, "
                                     f"{calls:,} cost-model calls",
                          "stage": "rl", "best_objective": log.best_objective,
                          "model_evaluations": problem.model_evaluations + log.episodes, "cost_model_calls": calls})
                last_print = time.perf_counter()
        for cells in take_env_memo_cells(algo):
            problem.memo.merge(cells)
    finally:
        algo.stop()
    problem.model_evaluations += log.episodes
    _adopt_rl(tracker, problem, RLOutcome(log.best_design, log.best_objective, log.best_used, log.episodes, curve))
    return tracker.result("ppo", seed)

"""ConfuciuX's two-stage search (REINFORCE on RLlib, then the GA on Ray tasks), and RL baselines.

``epochs`` E splits as in the release: ``confuciux`` runs 2E/3 RL episodes and
E/3 GA generations; ``reinforce`` and ``ppo`` run E episodes. Every RL episode
counts as one whole-model evaluation (it assigns a whole model), every GA
individual as one; cost-model calls are unique (layer, action) points over
both stages (the env's memo is merged into the problem's).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from confx.envs.confuciux_env import ConfuciuXEnv
from confx.envs.problem import Problem
from confx.pipeline.search.base import BestTracker, Progress, SearchResult
from confx.pipeline.search.ga_stage import run_ga_stage
from confx.pipeline.search.ray_runtime import ensure_ray
from confx.pipeline.search.settings import DEFAULT_EPOCHS, ConfuciuXSettings, GAStageSettings, RLSettings

if TYPE_CHECKING:
    from confx.pipeline.reinforce.algorithm import ReinforceConfig

logger = logging.getLogger(__name__)


@dataclass
class RLOutcome:
    """Best design of an RL run and its curve (rows: episode, cost-model calls, objective)."""

    design: np.ndarray | None
    objective: float
    used: float
    episodes: int
    curve: list[tuple[int, int, float]]


def env_config(problem: Problem) -> dict:
    """The env config that rebuilds ``problem`` inside an env runner."""
    spec = problem.spec
    return {
        "model": spec.model,
        "dataflow": spec.dataflow,
        "objective": spec.objective,
        "constraint": spec.constraint,
        "mul": spec.mul,
        "space": spec.space,
        "cap": spec.cap,
    }


def reinforce_config(problem: Problem, settings: RLSettings, seed: int, *, episodes: int = 0) -> ReinforceConfig:
    """The RLlib config of the RL stage: every knob of :class:`RLSettings`, the env and the seed."""
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from confx.pipeline.reinforce.algorithm import ReinforceConfig
    from confx.pipeline.reinforce.rl_module import ConfuciuXPolicy, model_config

    return (
        ReinforceConfig()
        .environment(ConfuciuXEnv, env_config=env_config(problem))
        .env_runners(num_env_runners=settings.num_env_runners, num_envs_per_env_runner=settings.num_envs_per_env_runner)
        .learners(num_learners=0)
        .training(
            lr=settings.lr,
            gamma=settings.gamma,
            episodes_per_update=settings.episodes_per_update,
            updates_per_iteration=settings.updates_per_iteration,
            episode_budget=episodes,
            network_grad_clip=settings.network_grad_clip,
            lstm_grad_clip=settings.lstm_grad_clip,
            schedule_every=settings.schedule_every,
            lr_decay=settings.lr_decay,
            lr_floor=settings.lr_floor,
            temperature_decay=settings.temperature_decay,
            temperature_floor=settings.temperature_floor,
        )
        .rl_module(
            rl_module_spec=RLModuleSpec(
                module_class=ConfuciuXPolicy, model_config=model_config(settings, n_layers=problem.n_layers)
            )
        )
        .debugging(seed=seed, log_level="ERROR")
        .reporting(metrics_num_episodes_for_smoothing=1)
    )


def run_rl_stage(
    problem: Problem, *, episodes: int, seed: int, settings: RLSettings, progress: Progress | None = None
) -> RLOutcome:
    """Train REINFORCE for ``episodes`` episodes; return its best successful design.

    The env's memo is merged into ``problem`` and the episodes are added to its
    whole-model evaluations.
    """
    ensure_ray()
    single_threaded_torch()
    algo = reinforce_config(problem, settings, seed, episodes=episodes).build_algo()
    return train_episodes(
        algo, problem, episodes=episodes, episode_log=lambda: algo.episode_log, label="RL", progress=progress
    )


def single_threaded_torch() -> None:
    """One intra-op thread: for batch-1 inference of a small net, more only add synchronisation (10x slower here)."""
    import torch

    torch.set_num_threads(1)


def train_episodes(
    algo: Any,
    problem: Problem,
    *,
    episodes: int,
    episode_log: Callable[[], Any],
    label: str,
    progress: Progress | None,
) -> RLOutcome:
    """Train an RLlib algorithm until ``episodes`` episodes ran, then stop it.

    The envs' memos are merged into ``problem`` and the episodes added to its
    whole-model evaluations.

    Args:
        algo: A built RLlib algorithm on :class:`ConfuciuXEnv`.
        episode_log: Returns the :class:`~pipeline.reinforce.episode_log.EpisodeLog` so far (or None).
        label: Names the algorithm in progress messages.
    """
    from confx.pipeline.reinforce.algorithm import env_cost_model_calls, take_env_memo_cells

    try:
        log, last_print = None, time.perf_counter()
        curve: list[tuple[int, int, float]] = []
        while log is None or log.episodes < episodes:
            algo.train()
            log = episode_log()
            if log is None:
                continue
            calls = env_cost_model_calls(algo)
            curve.extend((e, calls, obj) for e, obj in log.curve[len(curve) :])
            if progress and (time.perf_counter() - last_print > 2 or log.episodes >= episodes):
                progress(
                    {
                        "message": f"{label} episode {log.episodes}/{episodes}: best {log.best_objective:.6g}, "
                        f"{log.successes} successful, {calls:,} cost-model calls",
                        "stage": "rl",
                        "best_objective": log.best_objective,
                        "model_evaluations": problem.model_evaluations + log.episodes,
                        "cost_model_calls": calls,
                    }
                )
                last_print = time.perf_counter()
        for cells in take_env_memo_cells(algo):
            problem.memo.merge(cells)
    finally:
        algo.stop()
    base = problem.model_evaluations
    problem.model_evaluations += log.episodes
    curve = [(base + e, calls, obj) for e, calls, obj in curve]
    return RLOutcome(log.best_design, log.best_objective, log.best_used, log.episodes, curve)


def adopt_rl_outcome(tracker: BestTracker, problem: Problem, outcome: RLOutcome) -> None:
    """Make the RL stage's best design the tracker's best, with the RL curve."""
    tracker.curve.extend(outcome.curve)
    if outcome.design is not None:
        evaluation = problem.evaluate(outcome.design, count=False)
        tracker.adopt(outcome.design, evaluation)


def search(
    problem: Problem,
    *,
    seed: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    settings: ConfuciuXSettings = ConfuciuXSettings(),
    progress: Progress | None = None,
) -> SearchResult:
    """ConfuciuX: 2E/3 REINFORCE episodes, then E/3 GA generations seeded with the RL best.

    Args:
        epochs: The release's E.
        settings: The knobs of both stages.
    """
    tracker = BestTracker(problem)
    rl_episodes = epochs * 2 // 3
    outcome = run_rl_stage(problem, episodes=rl_episodes, seed=seed, settings=settings.rl, progress=progress)
    return finish_with_ga(
        tracker, outcome, seed=seed, generations=epochs - rl_episodes, settings=settings.ga, progress=progress
    )


def finish_with_ga(
    tracker: BestTracker,
    outcome: RLOutcome,
    *,
    seed: int,
    generations: int,
    settings: GAStageSettings = GAStageSettings(),
    progress: Progress | None = None,
) -> SearchResult:
    """ConfuciuX's second stage: the GA seeded with the RL stage's best, for ``generations`` generations.

    Args:
        tracker: The search's tracker (made before the RL stage, so that its wall time counts).
    """
    problem = tracker.problem
    adopt_rl_outcome(tracker, problem, outcome)
    if outcome.design is None:
        return tracker.result("confuciux", seed, note="the RL stage found no design within the budget; GA skipped")

    def report(generation: int) -> None:
        if progress and (generation % 20 == 0 or generation == generations):
            progress(
                {
                    "message": f"GA generation {generation}/{generations}: best {tracker.best_objective:.6g}, "
                    f"{problem.model_evaluations:,} model evaluations",
                    "stage": "ga",
                    "best_objective": tracker.best_objective,
                    "model_evaluations": problem.model_evaluations,
                    "cost_model_calls": problem.cost_model_calls,
                }
            )

    run_ga_stage(
        problem,
        outcome.design,
        generations=generations,
        rng=np.random.default_rng(seed),
        tracker=tracker,
        settings=settings,
        on_generation=report,
    )
    return tracker.result("confuciux", seed)


def search_reinforce(
    problem: Problem,
    *,
    seed: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    settings: RLSettings = RLSettings(),
    progress: Progress | None = None,
) -> SearchResult:
    """The RL stage alone, for E episodes."""
    tracker = BestTracker(problem)
    outcome = run_rl_stage(problem, episodes=epochs, seed=seed, settings=settings, progress=progress)
    adopt_rl_outcome(tracker, problem, outcome)
    return tracker.result("reinforce", seed)

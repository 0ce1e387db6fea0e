"""Bookkeeping of RL episodes: counts, the best successful design, and its curve.

Shared by the REINFORCE algorithm (which sees every episode in its training
step) and by RLlib's built-in PPO (through :class:`EpisodeLogCallback`, which
keeps one log on each env runner).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.utils.annotations import override

from confx.envs.problem import DEFAULT_OBJECTIVE, MAXIMISED


@dataclass
class EpisodeLog:
    """Episodes seen, successes, and the best successful episode's design.

    Attributes:
        sense: ``"min"`` or ``"max"``: how objectives compare.
        curve: Rows ``(episode number, best objective)`` at each improvement.
    """

    sense: str = "min"
    episodes: int = 0
    successes: int = 0
    best_objective: float = math.nan
    best_design: np.ndarray | None = None
    best_used: float = math.nan
    curve: list[tuple[int, float]] = field(default_factory=list)
    recent_objectives: list[float] = field(default_factory=list)

    @classmethod
    def for_objective(cls, objective: str) -> EpisodeLog:
        return cls(sense="max" if objective in MAXIMISED else "min")

    def record(self, info: dict[str, Any]) -> bool:
        """Count one finished episode from its last info; return whether it succeeded."""
        self.episodes += 1
        if not info.get("success"):
            return False
        self.successes += 1
        objective = float(info["objective"])
        self.recent_objectives.append(objective)
        if self.best_design is None or self._better(objective, self.best_objective):
            self.best_objective = objective
            self.best_design = np.asarray(info["design"]).copy()
            self.best_used = float(info["constraint_used"])
            self.curve.append((self.episodes, objective))
        return True

    def take_recent_mean(self) -> float:
        """Mean objective of the successful episodes since the last call (NaN if none)."""
        mean = float(np.mean(self.recent_objectives)) if self.recent_objectives else math.nan
        self.recent_objectives = []
        return mean

    def _better(self, a: float, b: float) -> bool:
        return a < b if self.sense == "min" else a > b


RUNNER_ATTRIBUTE = "confx_episode_log"


class EpisodeLogCallback(RLlibCallback):
    """Keeps an :class:`EpisodeLog` on every env runner (for algorithms we do not own, e.g. PPO)."""

    @override(RLlibCallback)
    def on_episode_end(self, *, episode: Any, env_runner: Any = None, **kwargs: Any) -> None:
        log = getattr(env_runner, RUNNER_ATTRIBUTE, None)
        if log is None:
            log = EpisodeLog.for_objective(env_runner.config.env_config.get("objective", DEFAULT_OBJECTIVE))
            setattr(env_runner, RUNNER_ATTRIBUTE, log)
        log.record(episode.get_infos(-1))

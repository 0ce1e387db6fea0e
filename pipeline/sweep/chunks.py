"""Packing a sweep's searches into Tune trials by their expected cost.

A Tune trial costs about a second of a trial slot (its actor, its reports, its bookkeeping),
which is a hundred cheap searches. So the cheap searches (``exact`` and the baselines) are
packed into chunks: a problem group's searches stay together (they share the problem, its
budget and its exact optimum), and groups are packed into chunks of about a target trial time,
small enough that every trial slot gets several. The RL searches (``confuciux``, ``reinforce``,
``ppo``) run for minutes and keep a Tune trial each.

Resume, retries and failures stay per search (see :func:`confx.pipeline.sweep.trial.run_chunk`):
a chunk runs only its searches that have no record yet.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from confx.pipeline.search.settings import RL_ALGORITHMS
from confx.pipeline.sweep.plan import Group, Trial

SECONDS_PER_EVALUATION = {"random": 2e-5, "ga": 3e-5, "anneal": 1e-4, "bo": 0.03}
"""Rough search time per whole-model evaluation on one core, per layer-count-independent baseline."""
EXACT_SECONDS = 0.05
"""A typical exact solve (HiGHS or the DP) of a built-in network."""
GROUP_SECONDS = 0.08
"""Building a group's problem: its budget from the corner designs (strided layers run the engine)."""
SEARCH_SECONDS = 0.01
"""Per-search outputs and tracking, paid even by the cheapest search."""
TARGET_CHUNK_S = 15.0
"""The longest a chunk should take: long enough to amortise its Tune trial, short enough to resume."""
MIN_CHUNK_S = 1.0
"""The shortest: a Tune trial costs about a second of its slot."""
CHUNKS_PER_SLOT = 6
"""Chunks per trial slot when the sweep is large enough, so that the slots finish together."""


@dataclass(frozen=True)
class Chunk:
    """One Tune trial's searches.

    Attributes:
        key: A stable id (names the chunk's Tune trial and its result parts).
        trial_keys: Its searches, in run order (by problem group, ``exact`` first).
        expensive: A single RL search, which reports progress live and logs as it goes.
    """

    key: str
    trial_keys: tuple[str, ...]
    expensive: bool = False


def is_expensive(trial: Trial) -> bool:
    """Whether a search keeps a Tune trial of its own (the RL searches)."""
    return trial.algorithm in RL_ALGORITHMS


def expected_seconds(trial: Trial) -> float:
    """A rough single-core estimate of a cheap search's time, outputs included."""
    if trial.algorithm == "exact":
        return EXACT_SECONDS + SEARCH_SECONDS
    return SECONDS_PER_EVALUATION.get(trial.algorithm, 1e-4) * trial.budget + SEARCH_SECONDS


def _chunk_key(index: int, keys: Sequence[str]) -> str:
    digest = hashlib.sha1("|".join(keys).encode()).hexdigest()[:10]
    return f"chunk{index:05d}-{digest}"


def _groups(trials: Sequence[Trial]) -> dict[Group, list[Trial]]:
    """Cheap trials by problem group, in plan order, ``exact`` first in each group."""
    groups: dict[Group, list[Trial]] = {}
    for trial in trials:
        groups.setdefault(trial.group, []).append(trial)
    return {group: sorted(members, key=lambda t: t.algorithm != "exact") for group, members in groups.items()}


def target_seconds(total_s: float, slots: int, *, target_s: float = TARGET_CHUNK_S) -> float:
    """The chunk size: :data:`CHUNKS_PER_SLOT` chunks per slot, within :data:`MIN_CHUNK_S` and ``target_s``."""
    return max(min(target_s, total_s / max(1, slots * CHUNKS_PER_SLOT)), min(MIN_CHUNK_S, target_s))


def pack_trials(trials: Sequence[Trial], *, slots: int, target_s: float = TARGET_CHUNK_S) -> list[Chunk]:
    """Pack the planned searches into chunks: RL searches alone, cheap ones by group and expected time.

    Args:
        trials: The searches to run (the plan's unfinished ones), in plan order.
        slots: Chunks that run at once (trial slots).
        target_s: The longest a chunk should take.

    Returns:
        The chunks: the cheap ones in plan order first (their results and records come early,
        and a resumed sweep loses little), then the RL searches. Every search is in exactly one chunk.
    """
    expensive = [t for t in trials if is_expensive(t)]
    groups = _groups([t for t in trials if not is_expensive(t)])
    costs = {group: GROUP_SECONDS + sum(expected_seconds(t) for t in members) for group, members in groups.items()}
    size = target_seconds(sum(costs.values()), slots, target_s=target_s)
    packed: list[list[Trial]] = []
    current: list[Trial] = []
    current_s = 0.0
    for group, members in groups.items():
        # Only a group larger than two chunks is split (each part builds the problem and solves it again).
        parts = max(1, math.ceil(costs[group] / size)) if costs[group] > 2 * max(size, target_s) else 1
        step = math.ceil(len(members) / parts)
        for start in range(0, len(members), step):
            part = members[start : start + step]
            part_s = costs[group] * len(part) / len(members)
            if current and current_s + part_s > size:
                packed.append(current)
                current, current_s = [], 0.0
            current += part
            current_s += part_s
    if current:
        packed.append(current)
    chunks = [_cheap_chunk(i, members) for i, members in enumerate(packed)]
    offset = len(chunks)
    chunks += [Chunk(_chunk_key(offset + i, [t.key]), (t.key,), expensive=True) for i, t in enumerate(expensive)]
    return chunks


def _cheap_chunk(index: int, members: Sequence[Trial]) -> Chunk:
    keys = tuple(t.key for t in members)
    return Chunk(_chunk_key(index, keys), keys)


def chunk_of(chunks: Sequence[Chunk]) -> Mapping[str, str]:
    """The chunk of every search, by trial key."""
    return {key: chunk.key for chunk in chunks for key in chunk.trial_keys}

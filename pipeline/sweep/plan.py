"""The plan of a sweep: every trial (one search on one problem) as a frozen, typed :class:`Trial`.

The planner is the only place that makes trials; the driver, the trial runner, the results
tables and the tracking all receive them. A trial's key (its run name plus a hash of what the
run name does not show) is stable across resumes and retries, so it identifies the trial's
output folder and its MLflow run.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from confx.costmodel.errors import ConfXError
from confx.envs.space import ActionSpace
from confx.pipeline.sweep.config import AlgorithmEntry, SweepConfig
from confx.pipeline.workload.resolve import network_label

Group = tuple[str, str, str, str, float]
"""One problem group: its values of :data:`GROUP_AXES`."""

NAME_AXES = ("network", "dataflow", "objective", "constraint", "mul", "space", "algorithm", "settings", "seed")
"""The axes a short run name may show, in the order it shows them."""


@dataclass(frozen=True)
class Trial:
    """One search on one problem, as planned.

    Attributes:
        network: The network's SOURCE as the config gives it (built-in name, CSV path, model to import).
        dataflow: ``dla``, ``shi`` or ``eye``.
        objective: The minimised (or maximised) whole-model objective.
        constraint: ``area`` or ``power``.
        mul: Budget level in [0, 1].
        space: Action space name (``grid`` or ``integer``).
        algorithm: A ``confx search`` algorithm.
        seed: The search's seed.
        budget: Whole-model evaluations (baselines).
        epochs: The release's epochs E (RL searches).
        settings: The algorithm's settings (JSON values).
        hardware: The hardware preset's name.
        noc_bw, simd_lanes: The knob's values (one fixes it, several are per-layer decisions; empty: the preset's).
        table: The layer-table CSV every process of the trial loads (a path or a URI): the import
            cache's file for an imported model, the CSV itself for a path; "" for a built-in name.
    """

    network: str
    dataflow: str
    objective: str
    constraint: str
    mul: float
    space: str
    algorithm: str
    seed: int
    budget: int
    epochs: int
    settings: Mapping[str, Any] = field(default_factory=dict)
    table: str = ""
    hardware: str = "release"
    noc_bw: tuple[int, ...] = ()
    simd_lanes: tuple[int, ...] = ()

    @property
    def group(self) -> Group:
        """The problem group (values of :data:`GROUP_AXES`)."""
        return (self.network, self.dataflow, self.objective, self.constraint, self.mul)

    @functools.cached_property
    def network_name(self) -> str:
        """The network's short name (see :func:`~confx.pipeline.workload.resolve.network_label`)."""
        return network_label(self.network)

    @functools.cached_property
    def run_name(self) -> str:
        """The full name ``<network>_F-<objective>_C-<constraint>_Mul-<mul>_DF-<dataflow>_<alg>_s<seed>``.

        The trial's key builds on it (so it never changes); the MLflow run shows
        :meth:`short_name` and keeps this one as its ``confx.full_name`` tag.
        """
        return (
            f"{self.network_name}_F-{self.objective}_C-{self.constraint}_Mul-{self.mul}_DF-{self.dataflow}"
            f"_{self.algorithm}_s{self.seed}"
        )

    def short_name(self, axes: Sequence[str]) -> str:
        """The run name that shows only the given axes (those that vary in the sweep), in :data:`NAME_AXES` order.

        Settings show as ``<name>-<value>``; ``axes`` names them ``setting.<name>``. With no
        axis to show, the algorithm names the run.
        """
        tokens = {
            "network": self.network_name,
            "dataflow": f"DF-{self.dataflow}",
            "objective": f"F-{self.objective}",
            "constraint": f"C-{self.constraint}",
            "mul": f"Mul-{self.mul}",
            "space": self.space,
            "algorithm": self.algorithm,
            "seed": f"s{self.seed}",
        }
        parts = []
        for axis in NAME_AXES:
            if axis == "settings":
                parts += [f"{k}-{v}" for k, v in sorted(self.settings.items()) if f"setting.{k}" in axes]
            elif axis in axes:
                parts.append(tokens[axis])
        return "_".join(parts) or self.algorithm

    @property
    def settings_json(self) -> str:
        return json.dumps(dict(self.settings), sort_keys=True)

    @functools.cached_property
    def key(self) -> str:
        """A stable, readable id: the run name plus a hash of the settings, budgets and space."""
        hidden = f"{self.settings_json}|{self.budget}|{self.epochs}|{self.space}"
        if (self.hardware, self.noc_bw, self.simd_lanes) != ("release", (), ()):  # release keys stay as they were
            hidden += f"|{self.hardware}|{list(self.noc_bw)}|{list(self.simd_lanes)}"
        return f"{self.run_name}_{hashlib.sha1(hidden.encode()).hexdigest()[:8]}"

    def with_settings(self, settings: Mapping[str, Any]) -> Trial:
        """The same trial with more settings (a tuning sample's on top of the fixed ones)."""
        return replace(self, settings={**self.settings, **settings})

    def to_record(self) -> dict[str, Any]:
        """The trial as plain JSON values (written beside its outputs)."""
        return {
            "network": self.network,
            "dataflow": self.dataflow,
            "objective": self.objective,
            "constraint": self.constraint,
            "mul": self.mul,
            "space": self.space,
            "algorithm": self.algorithm,
            "seed": self.seed,
            "budget": self.budget,
            "epochs": self.epochs,
            "settings": dict(self.settings),
            "table": self.table,
            "hardware": self.hardware,
            "noc_bw": list(self.noc_bw),
            "simd_lanes": list(self.simd_lanes),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Trial:
        """Rebuild a trial from :meth:`to_record`'s output."""
        names = (
            "network",
            "dataflow",
            "objective",
            "constraint",
            "mul",
            "space",
            "algorithm",
            "seed",
            "budget",
            "epochs",
            "settings",
        )
        return cls(
            **{name: record[name] for name in names},
            table=record.get("table", ""),
            hardware=record.get("hardware", "release"),
            noc_bw=tuple(record.get("noc_bw", ())),
            simd_lanes=tuple(record.get("simd_lanes", ())),
        )

    def action_space(self) -> ActionSpace:
        """The trial's action space on its hardware."""
        return action_space(self.space, self.hardware, self.noc_bw, self.simd_lanes)


def action_space(space: str, hardware: str, noc_bw: tuple[int, ...], simd_lanes: tuple[int, ...]) -> ActionSpace:
    """A named space on a named preset, with the knob values a sweep lists."""
    from confx.costmodel.presets import hardware_preset
    from confx.envs.space import design_space, named_space

    return design_space(named_space(space), hardware=hardware_preset(hardware), noc_bw=noc_bw, simd_lanes=simd_lanes)


def varying_axes(trials: Sequence[Trial]) -> tuple[str, ...]:
    """The axes of :data:`NAME_AXES` that take more than one value among trials.

    A setting (``setting.<name>``) varies when it takes two values among the trials of one
    algorithm: a knob that only one algorithm has is not an axis of the sweep.
    """
    values: dict[str, set[str]] = {}
    for trial in trials:
        record = trial.to_record()
        for axis in NAME_AXES:
            if axis != "settings":
                values.setdefault(axis, set()).add(str(record[axis]))
    for algorithm in {t.algorithm for t in trials}:
        group = [t for t in trials if t.algorithm == algorithm]
        for name in {key for t in group for key in t.settings}:
            seen = {json.dumps(t.settings.get(name), sort_keys=True) for t in group}
            if len(seen) > 1:
                values[f"setting.{name}"] = seen
    return tuple(axis for axis, seen in values.items() if len(seen) > 1)


def problem_groups(config: SweepConfig) -> Iterator[Group]:
    """Every problem group of the sweep, in a deterministic order."""
    for network, dataflow, objective, constraint, mul in itertools.product(
        config.networks, config.dataflows, config.objectives, config.constraints, config.muls
    ):
        yield (network, dataflow, objective, constraint, float(mul))


def settings_grid(entry: AlgorithmEntry) -> list[dict[str, Any]]:
    """Every combination of an algorithm's list-valued settings (grid axes)."""
    keys = sorted(entry.settings)
    values = [entry.settings[k] if isinstance(entry.settings[k], list) else [entry.settings[k]] for k in keys]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


Tables = Mapping[str, str]
"""Layer-table file of each network SOURCE that needs one (see :attr:`Trial.table`)."""


def _trial(
    group: Group, config: SweepConfig, entry: AlgorithmEntry, seed: int, settings: Mapping[str, Any], tables: Tables
) -> Trial:
    network, dataflow, objective, constraint, mul = group
    return Trial(
        network,
        dataflow,
        objective,
        constraint,
        mul,
        config.space,
        entry.name,
        int(seed),
        entry.budget,
        entry.epochs,
        dict(settings),
        tables.get(network, ""),
        config.hardware,
        tuple(config.noc_bw),
        tuple(config.simd_lanes),
    )


def plan_trials(config: SweepConfig, tables: Tables | None = None) -> list[Trial]:
    """The sweep's grid trials, in a deterministic order: problem groups x algorithms x settings x seeds.

    Args:
        config: The sweep.
        tables: The resolved layer-table file of each network that is not a built-in name.

    Algorithms with a ``tune`` block are left out: Optuna proposes their settings (see
    :func:`tuning_base_trials`).

    Raises:
        ConfXError: Two trials with the same key (an axis lists a value twice).
    """
    trials = []
    drawn = {index: rotating_groups(config, index) for index, entry in enumerate(config.algorithms) if entry.groups}
    for group in problem_groups(config):
        for index, entry in enumerate(config.algorithms):
            if entry.tune is not None or (index in drawn and group not in drawn[index]):
                continue
            seeds = [0] if entry.name == "exact" else config.seeds  # the exact optimum needs no seed
            trials += [
                _trial(group, config, entry, seed, s, tables or {}) for s in settings_grid(entry) for seed in seeds
            ]
    keys = [t.key for t in trials]
    if len(set(keys)) != len(keys):
        raise ConfXError("the sweep plans the same trial twice (an axis lists a value twice?)")
    return trials


def rotating_groups(config: SweepConfig, index: int) -> set[Group]:
    """The problem groups algorithm ``index`` (which has ``groups``) runs on, drawn by the sweep's ``rotation``."""
    import numpy as np

    entry = config.algorithms[index]
    groups = list(problem_groups(config))
    assert entry.groups is not None
    rng = np.random.default_rng([config.rotation, index])
    picked = rng.choice(len(groups), size=min(entry.groups, len(groups)), replace=False)
    return {groups[i] for i in sorted(picked)}


def tuning_base_trials(config: SweepConfig, entry: AlgorithmEntry, tables: Tables | None = None) -> list[Trial]:
    """The problems (x seeds) every Optuna sample of a tuned algorithm is run on."""
    return [
        _trial(group, config, entry, seed, entry.settings, tables or {})
        for group in problem_groups(config)
        for seed in config.seeds
    ]


def gap(objective_value: float, optimum: float, sense: str) -> float:
    """Relative distance to the optimum, >= 0 when the optimum is right (NaN if unknown)."""
    if not math.isfinite(optimum) or not math.isfinite(objective_value) or optimum == 0:
        return float("nan")
    return objective_value / optimum - 1 if sense == "min" else 1 - objective_value / optimum

"""Sweep configuration: frozen pydantic models that mirror ``conf/*.yaml``.

A sweep names its axes (networks, dataflows, objectives, constraints, budget
levels, seeds) and its algorithms, each with settings. A setting given as a
list is a grid axis; a ``tune`` block instead searches settings with Optuna
through Tune under a trial budget. Defaults live here only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from confx.costmodel import DATAFLOWS
from confx.costmodel.errors import ConfXError
from confx.envs.problem import (
    CONSTRAINTS,
    DEFAULT_CONSTRAINT,
    DEFAULT_DATAFLOW,
    DEFAULT_MUL,
    DEFAULT_OBJECTIVE,
    OBJECTIVES,
)
from confx.pipeline.search.settings import ALGORITHM_NAMES, DEFAULT_BUDGET, DEFAULT_EPOCHS, setting_problems


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Distribution(_Frozen):
    """A search distribution for one setting under ``tune``: exactly one of the fields."""

    uniform: tuple[float, float] | None = None
    loguniform: tuple[float, float] | None = None
    randint: tuple[int, int] | None = None
    choice: list[Any] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Distribution:
        given = [name for name in ("uniform", "loguniform", "randint", "choice") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of uniform, loguniform, randint, choice (got {given or 'none'})")
        return self


class TuneBlock(_Frozen):
    """Search an algorithm's settings with Optuna (TPE) through Tune."""

    space: dict[str, Distribution]
    num_samples: int = Field(8, ge=1)
    metric: Literal["gap", "objective"] = "gap"


class AlgorithmEntry(_Frozen):
    """One algorithm of the sweep.

    Attributes:
        name: Any of ``confx search``'s algorithms.
        budget: Whole-model evaluations (baselines).
        epochs: The release's epochs E (RL searches).
        settings: Algorithm settings; a list value is a grid axis.
        tune: Search these settings with Optuna instead of a grid.
    """

    name: Literal[ALGORITHM_NAMES]  # type: ignore[valid-type]
    budget: int = Field(DEFAULT_BUDGET, ge=1)
    epochs: int = Field(DEFAULT_EPOCHS, ge=3)
    settings: dict[str, Any] = Field(default_factory=dict)
    tune: TuneBlock | None = None

    @model_validator(mode="after")
    def _tune_and_grid_do_not_overlap(self) -> AlgorithmEntry:
        if self.tune is not None:
            both = sorted(set(self.tune.space) & set(self.settings))
            if both:
                raise ValueError(f"settings {both} are both fixed and searched; keep them in one place")
        problems = []
        for key, value in self.settings.items():
            if isinstance(value, list) and not value:
                raise ValueError(f"setting {key!r} is an empty list: an axis needs at least one value")
            for one in value if isinstance(value, list) else [value]:
                problems += setting_problems(self.name, {key: one})
        if self.tune is not None:
            known = setting_problems(self.name, {name: None for name in self.tune.space})
            problems += [p for p in known if p.startswith("unknown")]
        if problems:
            raise ValueError("; ".join(dict.fromkeys(problems)))
        return self


class Resources(_Frozen):
    """Resources of one trial: its own CPUs plus bundles for the GA's nested Ray tasks."""

    cpus_per_trial: float = Field(1.0, gt=0)
    ga_tasks: int = Field(2, ge=0)
    ga_task_cpus: float = Field(0.25, gt=0)
    max_concurrent_trials: int = Field(0, ge=0)


class Tracking(_Frozen):
    """Where runs are tracked: None means a SQLite file inside the results folder."""

    uri: str | None = None


class Nightly(_Frozen):
    """Regression tolerances of the nightly scan (a None tolerance reports without flagging).

    Attributes:
        objective_tolerance: Allowed relative worsening of a group's best objective.
        gap_tolerance: Allowed increase of a group's best gap (absolute, e.g. 0.01 = 1 point).
        wall_time_tolerance: Allowed relative increase of a group's total search wall time.
    """

    objective_tolerance: float | None = Field(0.01, ge=0)
    gap_tolerance: float | None = Field(0.01, ge=0)
    wall_time_tolerance: float | None = Field(None, ge=0)


class SweepConfig(_Frozen):
    """A design-space sweep."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    networks: list[str] = Field(min_length=1)
    dataflows: list[Literal[DATAFLOWS]] = Field(default_factory=lambda: [DEFAULT_DATAFLOW], min_length=1)  # type: ignore[valid-type]
    objectives: list[Literal[OBJECTIVES]] = Field(default_factory=lambda: [DEFAULT_OBJECTIVE], min_length=1)  # type: ignore[valid-type]
    constraints: list[Literal[CONSTRAINTS]] = Field(default_factory=lambda: [DEFAULT_CONSTRAINT], min_length=1)  # type: ignore[valid-type]
    muls: list[float] = Field(default_factory=lambda: [DEFAULT_MUL], min_length=1)
    space: Literal["grid", "integer"] = "grid"
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    algorithms: list[AlgorithmEntry] = Field(min_length=1)
    resources: Resources = Resources()
    tracking: Tracking = Tracking()
    results_dir: str = "results"
    max_failures: int = Field(1, ge=0)
    nightly: Nightly = Nightly()

    @field_validator("muls")
    @classmethod
    def _muls_in_unit_interval(cls, muls: list[float]) -> list[float]:
        bad = [m for m in muls if not 0.0 <= m <= 1.0]
        if bad:
            raise ValueError(f"budget levels must lie in [0, 1], got {bad}")
        return muls

    @field_validator("networks")
    @classmethod
    def _networks_exist(cls, networks: list[str]) -> list[str]:
        # Checked without importing anything; a model's own faults show when the sweep imports it.
        from confx.pipeline.workload.resolve import source_problem

        problems = [p for p in (source_problem(n) for n in networks) if p is not None]
        if problems:
            raise ValueError("; ".join(problems))
        return networks


def _location(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top level)"


def load_sweep_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep YAML file.

    Raises:
        ConfXError: Missing or unparsable file, or every validation problem,
            each naming the file, the key and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfXError(f"{path}: sweep config not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfXError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ConfXError(f"{path}: expected a mapping of keys (name, networks, algorithms, ...), got {kind}")
    try:
        return SweepConfig.model_validate(data)
    except ValidationError as error:
        problems = [
            f"{_location(e)}: unknown key" if e["type"] == "extra_forbidden" else f"{_location(e)}: {e['msg']}"
            for e in error.errors()
        ]
        raise ConfXError(f"{path}: " + "; ".join(problems)) from None

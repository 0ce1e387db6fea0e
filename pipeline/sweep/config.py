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

from confx.costmodel.errors import ConfXError
from confx.envs.problem import (
    CONSTRAINTS,
    DEFAULT_CONSTRAINT,
    DEFAULT_DATAFLOW,
    DEFAULT_MUL,
    DEFAULT_OBJECTIVE,
    OBJECTIVES,
)
from confx.envs.space import ActionSpace
from confx.pipeline.search.settings import ALGORITHM_NAMES, DEFAULT_BUDGET, DEFAULT_EPOCHS, setting_problems

COUNT_MAX = 10**9
"""Largest budget or epochs of a trial."""
SEED_MAX = 2**32 - 1
"""Largest seed (numpy, torch and Optuna take 32-bit seeds)."""


def _repeated(values: list[Any]) -> list[Any]:
    """Values listed more than once, each once, in order."""
    seen: list[Any] = []
    repeated: list[Any] = []
    for value in values:
        if value in seen and value not in repeated:
            repeated.append(value)
        seen.append(value)
    return repeated


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        for index, key in enumerate(keys):
            if key in keys[:index]:
                mark = node.value[index][0].start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice in one mapping; keep one", mark
                )
        return super().construct_mapping(node, deep=deep)


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
        bounds = self.uniform or self.loguniform or self.randint
        if bounds is not None and not bounds[0] < bounds[1] and not (self.randint and bounds[0] == bounds[1]):
            raise ValueError(f"bounds {list(bounds)}: the low bound must be below the high bound")
        if self.loguniform is not None and self.loguniform[0] <= 0:
            raise ValueError(f"loguniform bounds {list(self.loguniform)} must be positive")
        if self.choice is not None and not self.choice:
            raise ValueError("choice needs at least one value")
        return self

    def values(self) -> list[Any]:
        """The values this distribution can draw at its ends (every choice), to check against the setting."""
        if self.choice is not None:
            return list(self.choice)
        if self.randint is not None:
            return list(self.randint)
        bounds = self.uniform or self.loguniform
        assert bounds is not None
        return [float(bound) for bound in bounds]


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
        groups: Run on only this many problem groups, drawn afresh for each ``rotation`` of the
            sweep (the nightly scan rotates by date); None: every group.
    """

    name: Literal[ALGORITHM_NAMES]  # type: ignore[valid-type]
    budget: int = Field(DEFAULT_BUDGET, ge=1, le=COUNT_MAX)
    epochs: int = Field(DEFAULT_EPOCHS, ge=3, le=COUNT_MAX)
    settings: dict[str, Any] = Field(default_factory=dict)
    tune: TuneBlock | None = None
    groups: int | None = Field(None, ge=1)

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
            values = value if isinstance(value, list) else [value]
            for one in values:
                problems += setting_problems(self.name, {key: one})
            problems += [f"setting {key!r} lists {one!r} twice" for one in _repeated(values)]
        if self.tune is not None:
            for name, dist in self.tune.space.items():
                for one in dist.values():
                    problems += [f"tune.space.{name}: {p}" for p in setting_problems(self.name, {name: one})]
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
    dataflows: list[str] = Field(default_factory=lambda: [DEFAULT_DATAFLOW], min_length=1)
    objectives: list[Literal[OBJECTIVES]] = Field(default_factory=lambda: [DEFAULT_OBJECTIVE], min_length=1)  # type: ignore[valid-type]
    constraints: list[Literal[CONSTRAINTS]] = Field(default_factory=lambda: [DEFAULT_CONSTRAINT], min_length=1)  # type: ignore[valid-type]
    muls: list[float] = Field(default_factory=lambda: [DEFAULT_MUL], min_length=1)
    space: Literal["grid", "integer"] = "grid"
    hardware: str = "release"
    noc_bw: list[int] = Field(default_factory=list)
    simd_lanes: list[int] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    algorithms: list[AlgorithmEntry] = Field(min_length=1)
    resources: Resources = Resources()
    tracking: Tracking = Tracking()
    results_dir: str = "results"
    max_failures: int = Field(1, ge=0)
    rotation: int = Field(0, ge=0)
    """Draws the problem groups of algorithms with ``groups`` (the nightly scan sets it from the date)."""
    front_levels: int = Field(41, ge=0, le=10_001)
    """Evenly spaced budget levels of the report's exact Pareto front, besides the sweep's own; 0: the
    sweep's own exact trials are the front (nothing solved again)."""
    nightly: Nightly = Nightly()

    @field_validator("muls")
    @classmethod
    def _muls_in_unit_interval(cls, muls: list[float]) -> list[float]:
        bad = [m for m in muls if not 0.0 <= m <= 1.0]
        if bad:
            raise ValueError(f"budget levels must lie in [0, 1], got {bad}")
        return muls

    @field_validator("dataflows")
    @classmethod
    def _dataflows_are_library_styles(cls, dataflows: list[str]) -> list[str]:
        # Library styles only: every trial exports its design as MAESTRO files from the library's blocks.
        from confx.costmodel.mapping import style_names

        bad = [d for d in dataflows if d not in style_names() or d.startswith("ds_") or d == "dpt"]
        if bad:
            styles = [s for s in style_names() if not s.startswith("ds_") and s != "dpt"]
            raise ValueError(f"unknown dataflow(s) {bad}; use templates or library styles: {', '.join(styles)}")
        return dataflows

    @field_validator("hardware")
    @classmethod
    def _hardware_is_a_preset(cls, hardware: str) -> str:
        from confx.costmodel.presets import PRESETS

        if hardware not in PRESETS:
            raise ValueError(f"unknown hardware preset {hardware!r}; use one of {', '.join(PRESETS)}")
        return hardware

    @field_validator("noc_bw", "simd_lanes")
    @classmethod
    def _knob_values(cls, values: list[int]) -> list[int]:
        if any(v < 1 for v in values) or values != sorted(set(values)):
            raise ValueError(f"values must be sorted, distinct integers >= 1 (one fixes the knob), got {values}")
        return values

    def action_space(self) -> ActionSpace:
        """The sweep's action space on its hardware (NoC bandwidth and SIMD lanes as listed)."""
        from confx.pipeline.sweep.plan import action_space

        return action_space(self.space, self.hardware, tuple(self.noc_bw), tuple(self.simd_lanes))

    @field_validator("seeds")
    @classmethod
    def _seeds_in_range(cls, seeds: list[int]) -> list[int]:
        bad = [seed for seed in seeds if not 0 <= seed <= SEED_MAX]
        if bad:
            raise ValueError(f"seeds must lie in [0, {SEED_MAX}], got {bad}")
        return seeds

    @field_validator("networks", "dataflows", "objectives", "constraints", "muls", "seeds")
    @classmethod
    def _no_value_twice(cls, values: list[Any]) -> list[Any]:
        repeated = _repeated([float(v) if isinstance(v, int | float) else v for v in values])
        if repeated:
            raise ValueError(f"{', '.join(repr(v) for v in repeated)} listed twice; list each value once")
        return values

    @field_validator("networks")
    @classmethod
    def _networks_exist(cls, networks: list[str]) -> list[str]:
        # Checked without importing anything; a model's own faults show when the sweep imports it.
        from confx.pipeline.workload.resolve import source_problem

        problems = [p for p in (source_problem(n) for n in networks) if p is not None]
        if problems:
            raise ValueError("; ".join(problems))
        _check_tables([n for n in networks if n.lower().endswith((".csv", ".csv.gz")) and Path(n).is_file()])
        # Trials run in Ray workers with another working folder: a table path must be absolute.
        return [str(Path(n).absolute()) if Path(n).is_file() else n for n in networks]


def _check_tables(networks: list[str]) -> None:
    """Parse every layer-table file now, so that a malformed CSV fails the config, not a trial."""
    from confx.costmodel.errors import LayerTableError
    from confx.costmodel.layers import load_network

    problems = []
    for network in networks:
        try:
            load_network(network)
        except LayerTableError as error:
            problems.append(str(error))
    if problems:
        raise ValueError("; ".join(problems))


def _location(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top level)"


def _message(error: ErrorDetails) -> str:
    if error["type"] == "extra_forbidden":
        return f"{_location(error)}: unknown key"
    return f"{_location(error)}: {error['msg'].removeprefix('Value error, ')}"


def _yaml_problem(path: Path, error: yaml.YAMLError) -> str:
    """A YAML error as ``file:line:column: reason`` on one line."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        reason = " ".join(part for part in (error.context, error.problem) if part)
        return f"{path}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {reason}"
    return f"{path}: not valid YAML: {' '.join(str(error).split())}"


def load_sweep_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep YAML file.

    Raises:
        ConfXError: Missing or unparsable file, or every validation problem,
            each naming the file, the key and what is wrong.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfXError(f"{path}: is a folder; give a sweep YAML file such as conf/default.yaml")
    if not path.is_file():
        raise ConfXError(f"{path}: sweep config not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8-sig"), Loader=_UniqueKeyLoader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as error:
        raise ConfXError(_yaml_problem(path, error)) from None
    except UnicodeDecodeError:
        raise ConfXError(f"{path}: not a UTF-8 text YAML file (binary content?)") from None
    except OSError as error:
        raise ConfXError(f"{path}: cannot read: {error.strerror}") from None
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ConfXError(f"{path}: expected a mapping of keys (name, networks, algorithms, ...), got {kind}")
    try:
        return SweepConfig.model_validate(data)
    except ValidationError as error:
        raise ConfXError(f"{path}: " + "; ".join(_message(e) for e in error.errors())) from None

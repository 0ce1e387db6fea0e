"""Every search's knobs, one frozen dataclass per algorithm, and the registry of algorithms.

The dataclasses are the one place where a knob and its default live: ``confx search --set``,
the sweep YAML's ``settings``/``tune`` blocks and the RLlib configs are all checked against or
built from them (:func:`make_settings`). This module imports nothing heavy, so that a config can
be validated without torch or Ray.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from confx.costmodel.errors import ConfXError

DEFAULT_BUDGET = 500
"""Whole-model evaluations of a baseline search (the release's 500 epochs)."""
DEFAULT_EPOCHS = 500
"""The release's epochs E of the RL searches."""

BudgetUnit = Literal["evaluations", "epochs", "none"]


@dataclass(frozen=True)
class ExactSettings:
    """Knobs of the exact solver.

    Attributes:
        method: ``dp`` (dynamic programming, default) or ``milp`` (HiGHS) for the summed objectives.
    """

    method: Literal["dp", "milp"] = "dp"


@dataclass(frozen=True)
class RandomSettings:
    """Knobs of random search.

    Attributes:
        batch_size: Designs evaluated per vectorised call (does not change the result).
    """

    batch_size: int = 500


@dataclass(frozen=True)
class AnnealSettings:
    """Knobs of simulated annealing.

    Attributes:
        max_step: Largest index step of a neighbour move.
        initial_temperature: Temperature of the first proposal (relative fitness units).
        final_temperature: Temperature of the last proposal.
    """

    max_step: int = 2
    initial_temperature: float = 0.01
    final_temperature: float = 1e-5


@dataclass(frozen=True)
class GASettings:
    """Knobs of the plain generational GA baseline (the release's).

    Attributes:
        population_size: Individuals per generation.
        n_parents: Best individuals kept as parents (elitism).
        mutation_rate: Probability that a gene is redrawn.
    """

    population_size: int = 50
    n_parents: int = 10
    mutation_rate: float = 0.05


@dataclass(frozen=True)
class BOSettings:
    """Knobs of Bayesian optimisation (a multivariate TPE, with Optuna's defaults).

    Attributes:
        n_startup_trials: Trials before TPE starts modelling (the first is the all-minimum design, the rest random).
        n_ei_candidates: Candidates scored per proposal.
    """

    n_startup_trials: int = 10
    n_ei_candidates: int = 24


@dataclass(frozen=True)
class RLSettings:
    """Knobs of the REINFORCE stage; defaults are the release's.

    Attributes:
        recurrent: LSTM policy (else feed-forward with the step position in the observation).
        lr: Adam learning rate.
        gamma: Discount factor.
        temperature: Initial softmax temperature.
        episodes_per_update: Complete episodes per gradient update.
        updates_per_iteration: Gradient updates per reported iteration.
        num_env_runners: Remote env-runner actors (0: sample in-process).
        num_envs_per_env_runner: Vectorised envs per runner.
        network_grad_clip: Gradient-norm clip of everything but the LSTM.
        lstm_grad_clip: Gradient-norm clip of the LSTM.
        schedule_every: Episodes between two lr/temperature decays (after the first success).
        lr_decay: Learning-rate factor per decay.
        lr_floor: Lowest learning rate.
        temperature_decay: Temperature divisor per decay.
        temperature_floor: Lowest temperature.
        encoder_dim: Width of each observation part's linear encoder.
        hidden_dim: Width of the trunk and of the LSTM.
    """

    recurrent: bool = True
    lr: float = 1e-3
    gamma: float = 0.9
    temperature: float = 1.0
    episodes_per_update: int = 1
    updates_per_iteration: int = 10
    num_env_runners: int = 0
    num_envs_per_env_runner: int = 1
    network_grad_clip: float = 100.0
    lstm_grad_clip: float = 10.0
    schedule_every: int = 100
    lr_decay: float = 0.8
    lr_floor: float = 1e-6
    temperature_decay: float = 1.01
    temperature_floor: float = 1.0
    encoder_dim: int = 10
    hidden_dim: int = 128


@dataclass(frozen=True)
class GAStageSettings:
    """Knobs of ConfuciuX's GA stage; defaults are the release's.

    Attributes:
        population: Individuals per generation.
        parents: Best individuals kept as parents.
        mutation_range: Mutation step as a fraction of half a gene's maximum;
            None uses the problem's budget level ``mul`` (the release's choice).
        mutation_tries: Mutation attempts per individual.
        rebuild_unmutated: Rebuild and mutate again an individual none of whose tries fit the
            budget (the release's loop, at most 2 x population rebuilds per generation).
        crossover_rate: Probability of swapping one gene between two layers.
        seed_spread: Share of the layers whose (P, B) rows each non-elite copy of the seed
            exchanges among themselves in the first generation (0: identical copies, the paper's
            wording); a deliberate difference from the release, whose bug scrambles all of them.
        release_layer_order: Reproduce the release's layer-order bug (a scrambled seed, the
            RL best's fitness for every first individual, budgets read from the sorted
            population), to compare with the release's figures; off in the faithful search.
        use_ray: Evaluate each generation as Ray tasks (else in-process).
        n_chunks: Ray tasks per generation.
        task_cpus: CPUs each Ray task reserves.
    """

    population: int = 20
    parents: int = 8
    mutation_range: float | None = None
    mutation_tries: int = 3
    rebuild_unmutated: bool = True
    crossover_rate: float = 0.2
    seed_spread: float = 0.5
    release_layer_order: bool = False
    use_ray: bool = True
    n_chunks: int = 4
    task_cpus: float = 0.25


@dataclass(frozen=True)
class ConfuciuXSettings(GAStageSettings, RLSettings):
    """Knobs of ConfuciuX: those of its REINFORCE stage and of its GA stage."""

    @property
    def rl(self) -> RLSettings:
        return _project(self, RLSettings)

    @property
    def ga(self) -> GAStageSettings:
        return _project(self, GAStageSettings)


@dataclass(frozen=True)
class ConfuciuXPlusSettings:
    """Knobs of ConfuciuX+ (``confuciux-plus``), the variant; not the release's.

    Attributes:
        policy_fraction: Share of the whole-model evaluations spent by the policy stage.
        episodes_per_update: Designs sampled per policy update (the batch is the baseline).
        lr: Step size of the policy's logits.
        temperature: Softmax temperature of the policy.
        multiplier_rate: Log-step of the budget's multiplier per unit of relative overshoot.
        parents: Designs kept by the evolution stage (seeded with the policy's best distinct samples).
        children: Children scored per generation.
        ktile_rate: Probability that a child moves one K-tile instead of PEs.
        shrink_rate: Probability that a child takes PEs from one layer only (frees budget on a plateau).
        grow_rate: Probability that a child spends the parent's unused budget on one layer.
        max_move: Largest PE transfer as a fraction of the donor layer's PEs.
        max_ktile_step: Largest K-tile step.
        exchanges: Exchange steps per generation, parents taken best first: each probes every layer
            of its parent down and up at once and scores the greedy exchange of budget between
            layers (three of the generation's ``children`` evaluations each).
        probe_bound_rate: Probability that an upward probe takes a layer straight to its bound.
        probe_known_rate: Probability that a probe moves a layer to a value within its reach that the
            search has already evaluated (no new cost-model call), when there is one.
        points_per_layer: Distinct points per layer after which a probe moves that layer only to
            known values (0: no limit); the search's cost-model calls per layer stay near it.
        min_points: On small networks the limit is instead an equal share of this many points.
    """

    policy_fraction: float = 0.5
    episodes_per_update: int = 32
    lr: float = 3.0
    temperature: float = 0.6
    multiplier_rate: float = 2.0
    parents: int = 4
    children: int = 20
    ktile_rate: float = 0.1
    shrink_rate: float = 0.2
    grow_rate: float = 0.2
    max_move: float = 0.5
    max_ktile_step: int = 2
    exchanges: int = 6
    probe_bound_rate: float = 0.2
    probe_known_rate: float = 0.9
    points_per_layer: int = 80
    min_points: int = 2000


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


@dataclass(frozen=True)
class Range:
    """The values a numeric setting may take: ``low <= value <= high`` (``low < value`` when open)."""

    low: float
    high: float = float("inf")
    open_low: bool = False

    def describe(self) -> str:
        low = f"> {self.low:g}" if self.open_low else f">= {self.low:g}"
        return low if self.high == float("inf") else f"{low} and <= {self.high:g}"

    def holds(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        return math.isfinite(value) and above and value <= self.high


_COUNT, _SIZE, _POSITIVE = Range(1, 10**6), Range(1, 10**9), Range(0, open_low=True)
_FRACTION, _OPEN_FRACTION = Range(0, 1), Range(0, 1, open_low=True)
SETTING_RANGES: dict[str, Range] = {
    "batch_size": _COUNT,
    "max_step": _COUNT,
    "initial_temperature": _POSITIVE,
    "final_temperature": _POSITIVE,
    "population_size": Range(2, 10**6),
    "n_parents": _COUNT,
    "mutation_rate": _FRACTION,
    "n_startup_trials": Range(0, 10**6),
    "n_ei_candidates": _COUNT,
    "lr": Range(0, 10, open_low=True),
    "gamma": _FRACTION,
    "temperature": _POSITIVE,
    "episodes_per_update": _COUNT,
    "updates_per_iteration": _COUNT,
    "num_env_runners": Range(0, 1024),
    "num_envs_per_env_runner": Range(1, 1024),
    "network_grad_clip": _POSITIVE,
    "lstm_grad_clip": _POSITIVE,
    "schedule_every": _SIZE,
    "lr_decay": _OPEN_FRACTION,
    "lr_floor": Range(0),
    "temperature_decay": Range(1),
    "temperature_floor": _POSITIVE,
    "encoder_dim": Range(1, 4096),
    "hidden_dim": Range(1, 4096),
    "population": Range(2, 10**6),
    "parents": _COUNT,
    "mutation_range": _FRACTION,
    "mutation_tries": Range(1, 1000),
    "crossover_rate": _FRACTION,
    "n_chunks": Range(1, 1024),
    "task_cpus": Range(0, 1024, open_low=True),
    "policy_fraction": _OPEN_FRACTION,
    "multiplier_rate": Range(0, 100),
    "children": _COUNT,
    "ktile_rate": _FRACTION,
    "grow_rate": _FRACTION,
    "shrink_rate": _FRACTION,
    "max_move": _OPEN_FRACTION,
    "max_ktile_step": Range(1, 1000),
    "probe_bound_rate": _FRACTION,
    "exchanges": Range(0, 10**6),
    "episodes_per_iteration": _COUNT,
    "num_epochs": Range(1, 10**4),
    "minibatch_episodes": _COUNT,
}
"""The range of every numeric setting, by name (a name means the same knob in every algorithm)."""

_AT_MOST = (
    ("n_parents", "population_size"),
    ("parents", "population"),
    ("minibatch_episodes", "episodes_per_iteration"),
)
"""Pairs of settings where the first may not exceed the second."""


def _project(settings: object, cls: type[Any]) -> Any:
    return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class AlgorithmSpec:
    """An algorithm of ``confx search``.

    Attributes:
        name: Its name on the command line and in configs.
        target: ``module:function`` of its search.
        settings: Its knobs' dataclass.
        budget_unit: What bounds it: whole-model ``evaluations`` (``--budget``), RL ``epochs``
            (``--epochs``), or ``none`` (the exact solver).
    """

    name: str
    target: str
    settings: type[Any]
    budget_unit: BudgetUnit


ALGORITHMS: dict[str, AlgorithmSpec] = {
    spec.name: spec
    for spec in (
        AlgorithmSpec("exact", "confx.pipeline.search.exact:search", ExactSettings, "none"),
        AlgorithmSpec("random", "confx.pipeline.search.random_search:search", RandomSettings, "evaluations"),
        AlgorithmSpec("anneal", "confx.pipeline.search.anneal:search", AnnealSettings, "evaluations"),
        AlgorithmSpec("ga", "confx.pipeline.search.genetic:search", GASettings, "evaluations"),
        AlgorithmSpec("bo", "confx.pipeline.search.bayes:search", BOSettings, "evaluations"),
        AlgorithmSpec("confuciux", "confx.pipeline.search.confuciux:search", ConfuciuXSettings, "epochs"),
        AlgorithmSpec("confuciux-plus", "confx.pipeline.search.confuciux_plus:search", ConfuciuXPlusSettings, "epochs"),
        AlgorithmSpec("reinforce", "confx.pipeline.search.confuciux:search_reinforce", RLSettings, "epochs"),
        AlgorithmSpec("ppo", "confx.pipeline.search.ppo:search", PPOSettings, "epochs"),
    )
}
"""Every algorithm, by name."""

ALGORITHM_NAMES = tuple(ALGORITHMS)
RL_ALGORITHMS = frozenset(name for name, spec in ALGORITHMS.items() if spec.budget_unit == "epochs")
"""Searches whose budget is ``epochs`` (RL episodes / GA generations), not whole-model evaluations."""


def algorithm_spec(algorithm: str) -> AlgorithmSpec:
    """The registry entry of an algorithm.

    Raises:
        ConfXError: Unknown algorithm name.
    """
    if algorithm not in ALGORITHMS:
        raise ConfXError(f"unknown algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}")
    return ALGORITHMS[algorithm]


def _accepts(hint: Any, value: object) -> bool:
    """Whether a JSON/YAML value fits a field's type (an int fits a float; a bool fits only a bool)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(arm, value) for arm in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(hint))
    return str(hint).replace("typing.", "") if not isinstance(hint, type) else hint.__name__


def setting_problems(algorithm: str, values: Mapping[str, object]) -> list[str]:
    """Every unknown name or mistyped value among an algorithm's settings (empty when all fit)."""
    cls = algorithm_spec(algorithm).settings
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    problems = []
    for name, value in values.items():
        if name not in hints:
            problems.append(f"unknown {algorithm} setting {name!r} (known: {', '.join(known)})")
        elif not _accepts(hints[name], value):
            problems.append(f"{algorithm} setting {name}={value!r}: expected {_type_name(hints[name])}")
        elif isinstance(value, int | float) and not isinstance(value, bool) and name in SETTING_RANGES:
            if not SETTING_RANGES[name].holds(value):
                problems.append(f"{algorithm} setting {name}={value!r}: must be {SETTING_RANGES[name].describe()}")
    if not problems:
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        merged: dict[str, Any] = {**defaults, **values}
        for small, large in _AT_MOST:
            if small in merged and large in merged and merged[small] > merged[large]:
                problems.append(
                    f"{algorithm} settings {small}={merged[small]} and {large}={merged[large]}: "
                    f"{small} may not exceed {large}"
                )
    return problems


def make_settings(algorithm: str, values: Mapping[str, object] | None = None) -> Any:
    """An algorithm's settings dataclass from plain values (defaults for the rest).

    Raises:
        ConfXError: An unknown algorithm, an unknown setting or a value of the wrong type,
            naming all of them and the known settings.
    """
    values = dict(values or {})
    problems = setting_problems(algorithm, values)
    if problems:
        raise ConfXError("; ".join(problems))
    cls = algorithm_spec(algorithm).settings
    hints = typing.get_type_hints(cls)
    # YAML and JSON give ints where floats are meant; make them floats so settings compare equal.
    coerced = {k: float(v) if hints[k] is float and isinstance(v, int) else v for k, v in values.items()}
    return cls(**coerced)


def describe_settings(algorithm: str) -> str:
    """One line listing an algorithm's settings and defaults (for ``--help``)."""
    cls = algorithm_spec(algorithm).settings
    return ", ".join(f"{f.name}={f.default!r}" for f in dataclasses.fields(cls))

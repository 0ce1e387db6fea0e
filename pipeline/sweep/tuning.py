"""Tuning an algorithm's settings with Optuna (TPE) through Tune, over every problem of the sweep.

Each Tune trial takes one sample of the settings, runs the algorithm on every problem group
and seed (each search recorded like a grid trial) and reports the mean gap (or mean
objective), which Optuna minimises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from confx.envs.problem import MAXIMISED
from confx.pipeline.results import storage
from confx.pipeline.sweep.config import AlgorithmEntry, SweepConfig
from confx.pipeline.sweep.plan import tuning_base_trials, varying_axes
from confx.pipeline.sweep.trial import SweepContext, run_tuning_trial


def search_space(entry: AlgorithmEntry) -> dict[str, Any]:
    """The Tune search space of an algorithm's ``tune.space`` block (``randint`` bounds are inclusive)."""
    from ray import tune

    assert entry.tune is not None
    space: dict[str, Any] = {}
    for name, dist in entry.tune.space.items():
        if dist.uniform is not None:
            space[name] = tune.uniform(*dist.uniform)
        elif dist.loguniform is not None:
            space[name] = tune.loguniform(*dist.loguniform)
        elif dist.randint is not None:
            space[name] = tune.randint(dist.randint[0], dist.randint[1] + 1)
        else:
            space[name] = tune.choice(dist.choice)
    return space


def run_tuning(
    config: SweepConfig,
    entry: AlgorithmEntry,
    index: int,
    context: SweepContext,
    *,
    resources: Callable[[Any], Any],
    resume: bool,
    echo: Callable[[str], None],
) -> None:
    """Search one algorithm's settings (its ``tune`` block) and echo the best sample.

    Args:
        config: The sweep.
        entry: The tuned algorithm.
        index: The algorithm's position among the tuned ones (names its Tune experiment).
        context: What every trial needs.
        resources: Wraps a trainable with the sweep's per-trial resources.
        resume: Continue this tuning stage's Tune experiment if it exists.
        echo: Receives progress lines.
    """
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    assert entry.tune is not None
    name = f"tune-{index}-{entry.name}"
    base = tuning_base_trials(config, entry, context.tables)
    # Optuna's samples differ in the tuned settings: the runs' names show them.
    tuned_axes = ("algorithm", *(f"setting.{name}" for name in entry.tune.space))
    context = dataclasses.replace(context, name_axes=(*context.name_axes, *varying_axes(base), *tuned_axes))
    trainable = resources(tune.with_parameters(run_tuning_trial, context=context, base_trials=base))
    metric = entry.tune.metric
    mode = "max" if metric == "objective" and set(config.objectives) & MAXIMISED else "min"
    experiment = storage.join(context.location, name)
    if resume and tune.Tuner.can_restore(experiment):
        tuner = tune.Tuner.restore(experiment, trainable=trainable, resume_unfinished=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=search_space(entry),
            tune_config=tune.TuneConfig(
                search_alg=OptunaSearch(metric=metric, mode=mode, seed=0),
                num_samples=entry.tune.num_samples,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=context.location,
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=config.max_failures),
                callbacks=tune_loggers(),
            ),
        )
    echo(f"tuning {entry.name}: {entry.tune.num_samples} Optuna samples x {len(base)} searches")
    grid = tuner.fit()
    finished = [r for r in grid if not r.error and metric in (r.metrics or {})]
    if finished:
        best = min(finished, key=lambda r: r.metrics[metric] * (1 if mode == "min" else -1))
        echo(f"tuned {entry.name}: best mean {metric} {best.metrics[metric]:.4g} with {best.config}")


def tune_loggers() -> list[Any]:
    """Tune's JSON and CSV loggers, without its TensorBoard one.

    Tune adds a TensorBoard logger whenever ``tensorboardX`` is installed (``ray[tune]`` installs
    it); importing it cost 1.8 s of a sweep's start-up, for files nobody reads (MLflow is the UI).
    """
    import os

    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"  # read when the Tuner sets up its callbacks
    return [JsonLoggerCallback(), CSVLoggerCallback()]

"""Every algorithm's knobs in one dataclass: names and types checked, defaults shared by the RLlib config."""

from __future__ import annotations

import dataclasses

import pytest

from confx.costmodel.errors import ConfXError
from confx.pipeline.search.settings import (
    ALGORITHMS,
    ConfuciuXSettings,
    GAStageSettings,
    RLSettings,
    describe_settings,
    make_settings,
    setting_problems,
)


def test_unknown_and_mistyped_settings_are_named_together() -> None:
    with pytest.raises(ConfXError) as error:
        make_settings("anneal", {"lr_x": 0.1, "max_step": "abc", "initial_temperature": True})
    message = str(error.value)
    assert "unknown anneal setting 'lr_x'" in message and "max_step" in message
    assert "max_step='abc': expected int" in message and "initial_temperature=True: expected float" in message


def test_ints_fit_float_knobs_and_literals_are_checked() -> None:
    assert make_settings("anneal", {"initial_temperature": 1}).initial_temperature == 1.0
    assert make_settings("exact", {"method": "milp"}).method == "milp"
    assert setting_problems("exact", {"method": "simplex"}) == [
        "exact setting method='simplex': expected one of 'dp', 'milp'"
    ]
    assert make_settings("confuciux", {"mutation_range": None}).mutation_range is None


def test_confuciux_knobs_are_those_of_both_stages() -> None:
    names = {f.name for f in dataclasses.fields(ConfuciuXSettings)}
    assert names == {f.name for f in dataclasses.fields(RLSettings)} | {
        f.name for f in dataclasses.fields(GAStageSettings)
    }
    knobs = ConfuciuXSettings(lr=0.01, population=7)
    assert knobs.rl == RLSettings(lr=0.01) and knobs.ga == GAStageSettings(population=7)


def test_every_algorithm_describes_its_settings() -> None:
    for name in ALGORITHMS:
        assert describe_settings(name)


def test_reinforce_config_takes_its_defaults_from_the_settings_and_rejects_a_zero_schedule() -> None:
    from confx.envs.confuciux_env import ConfuciuXEnv
    from confx.pipeline.reinforce.algorithm import ReinforceConfig

    knobs, config = RLSettings(), ReinforceConfig()
    for name in ("lr", "gamma", "episodes_per_update", "schedule_every", "lr_decay", "temperature_floor"):
        assert getattr(config, name) == getattr(knobs, name), name
    config = config.environment(ConfuciuXEnv, env_config={"model": "alexnet"}).training(schedule_every=0)
    with pytest.raises(ValueError, match="schedule_every must be >= 1"):
        config.validate()

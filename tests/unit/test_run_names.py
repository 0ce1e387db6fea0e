"""What a run shows in the MLflow UI: names led by the sweep's varying axes, and only the params that apply."""

from __future__ import annotations

from pathlib import Path

from confx.pipeline.sweep.config import load_sweep_config
from confx.pipeline.sweep.plan import Trial, plan_trials, varying_axes
from confx.pipeline.sweep.trial import _trial_params

ROOT = Path(__file__).resolve().parents[2]


def trial(**changes: object) -> Trial:
    fields: dict = dict(
        network="resnet18",
        dataflow="dla",
        objective="latency",
        constraint="area",
        mul=0.5,
        space="grid",
        algorithm="ga",
        seed=0,
        budget=500,
        epochs=500,
        settings={},
    )
    return Trial(**{**fields, **changes})


def test_names_show_only_the_axes_that_vary_and_keys_stay_as_before() -> None:
    trials = plan_trials(load_sweep_config(ROOT / "conf" / "default.yaml"))
    axes = varying_axes(trials)
    assert axes == ("network", "dataflow", "mul", "algorithm")
    names = {t.short_name(axes) for t in trials}
    assert "mobilenet_v2_DF-shi_Mul-0.3_confuciux" in names and len(names) == len(trials)
    # The key is built on the full name, which does not depend on the sweep: resume finds the runs again.
    first = trials[0]
    assert first.run_name == "resnet18_F-latency_C-area_Mul-0.3_DF-dla_exact_s0"
    assert first.key == "resnet18_F-latency_C-area_Mul-0.3_DF-dla_exact_s0_7081b22a"


def test_a_setting_varies_only_within_one_algorithm() -> None:
    trials = [trial(algorithm="exact"), trial(settings={"lr": 0.001}), trial(settings={"lr": 0.003})]
    axes = varying_axes(trials)
    assert axes == ("algorithm", "setting.lr")
    assert [t.short_name(axes) for t in trials] == ["exact", "ga_lr-0.001", "ga_lr-0.003"]
    assert varying_axes([trial(algorithm="exact"), trial(settings={"lr": 0.001})]) == ("algorithm",)
    assert trial().short_name(()) == "ga"


def test_params_hold_only_the_budget_that_bounds_the_algorithm() -> None:
    exact, ga, rl = (_trial_params(trial(algorithm=name)) for name in ("exact", "ga", "confuciux"))
    assert "evaluation_budget" not in exact and "epochs" not in exact and "budget" not in exact
    assert ga["evaluation_budget"] == 500 and "epochs" not in ga
    assert rl["epochs"] == 500 and "evaluation_budget" not in rl

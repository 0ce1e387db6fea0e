"""Night-to-night comparison: exactly the groups beyond tolerance are flagged."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from confx.costmodel.errors import ConfXError
from confx.pipeline.sweep.config import Nightly
from confx.pipeline.sweep.nightly import compare_nights, nightly_markdown, parse_date


def _night(objectives: dict[str, float], wall: float = 10.0) -> pd.DataFrame:
    rows = []
    for algorithm, value in objectives.items():
        for seed, extra in ((0, 0.0), (1, 0.05)):
            rows.append(
                {
                    "network": "resnet18",
                    "dataflow": "dla",
                    "objective": "latency",
                    "constraint": "area",
                    "mul": 0.5,
                    "algorithm": algorithm,
                    "seed": seed,
                    "sense": "min",
                    "objective_value": value * (1 + extra),
                    "gap": value / 100.0 - 1 + extra,
                    "wall_time_s": wall,
                    "status": "ok",
                    "feasible": True,
                }
            )
    return pd.DataFrame(rows)


def test_only_the_worsened_group_is_flagged():
    previous = _night({"exact": 100.0, "confuciux": 105.0, "anneal": 110.0})
    current = _night({"exact": 100.0, "confuciux": 110.0, "anneal": 110.5})  # +4.8% and +0.45%
    comparison = compare_nights(previous, current, Nightly(objective_tolerance=0.01, gap_tolerance=0.01))
    flagged = comparison[comparison["regressed"]]
    assert list(flagged["algorithm"]) == ["confuciux"]
    assert "objective +4.76%" in flagged["reasons"].iloc[0] and "gap" in flagged["reasons"].iloc[0]


def test_maximised_objectives_regress_when_they_drop():
    previous = _night({"exact": 100.0}).assign(sense="max", objective="thrpt_ave")
    current = _night({"exact": 90.0}).assign(sense="max", objective="thrpt_ave", gap=0.0)
    comparison = compare_nights(previous.assign(gap=0.0), current, Nightly(gap_tolerance=None))
    assert comparison["regressed"].all() and "objective -" not in comparison["reasons"].iloc[0]
    assert comparison["best_objective_current"].iloc[0] == pytest.approx(94.5)


def test_wall_time_is_only_flagged_when_a_tolerance_is_set():
    previous, current = _night({"exact": 100.0}, wall=10.0), _night({"exact": 100.0}, wall=30.0)
    assert not compare_nights(previous, current, Nightly(wall_time_tolerance=None))["regressed"].any()
    assert compare_nights(previous, current, Nightly(wall_time_tolerance=1.0))["regressed"].all()


def test_failed_trials_and_new_groups_do_not_crash_the_comparison():
    previous = _night({"exact": 100.0})
    current = pd.concat(
        [
            _night({"exact": 100.0, "ppo": 120.0}),
            _night({"anneal": 1.0}).assign(status="failed", objective_value=float("nan")),
        ]
    )
    comparison = compare_nights(previous, current, Nightly())
    assert set(comparison["algorithm"]) == {"exact", "ppo"} and not comparison["regressed"].any()
    text = nightly_markdown(dt.date(2026, 11, 28), None, None, 1)
    assert "baseline" in text


def test_bad_date_is_a_clear_error():
    with pytest.raises(ConfXError, match="YYYY-MM-DD"):
        parse_date("28/11/2026")
    assert parse_date("2026-11-28") == dt.date(2026, 11, 28)

"""The convergence study's arithmetic on hand-made curves (values checked by hand)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from confx.pipeline.results.study import THRESHOLDS, evaluations_to_reach, gap_curves, reach_frame, summary_table


def _curve(rows: list[tuple[int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model_evaluations": [e for e, _ in rows],
            "cost_model_calls": [10 * e for e, _ in rows],
            "best_objective": [o for _, o in rows],
        }
    )


def test_evaluations_to_reach_is_the_first_count_within_the_gap():
    curve = _curve([(1, 150.0), (7, 112.0), (40, 104.0), (300, 100.5), (500, 100.5)])
    assert evaluations_to_reach(curve, 100.0, "min", 0.10) == 40
    assert evaluations_to_reach(curve, 100.0, "min", 0.05) == 40
    assert evaluations_to_reach(curve, 100.0, "min", 0.01) == 300
    assert evaluations_to_reach(curve, 100.0, "min", 0.001) == math.inf
    # A maximised objective: gap = 1 - found / optimum; exactly 10% counts as reached.
    assert evaluations_to_reach(_curve([(3, 80.0), (9, 90.0)]), 100.0, "max", 0.10) == 9


def _trials() -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    axes = {"network": "n", "dataflow": "dla", "objective": "latency", "constraint": "area", "mul": 0.5}
    curves = {
        "c0": _curve([(10, 120.0), (20, 104.0), (100, 100.0)]),
        "c1": _curve([(10, 109.0), (30, 100.9), (100, 100.9)]),
        "r0": _curve([(5, 130.0), (80, 108.0), (400, 103.0)]),
        "r1": _curve([(5, 140.0), (400, 112.0)]),
    }
    rows = [
        {**axes, "trial_key": key, "algorithm": "confuciux" if key[0] == "c" else "random", "seed": int(key[1])}
        for key in curves
    ]
    trials = pd.DataFrame(rows).assign(optimum=100.0, sense="min")
    return trials, curves


def test_summary_medians_counts_and_ratios():
    trials, curves = _trials()
    summary = summary_table(reach_frame(trials, curves)).set_index(["within", "algorithm"])
    assert len(summary) == len(THRESHOLDS) * 2
    # within 10%: confuciux 20 and 10 -> median (observed, lower) 10; random 80 and never -> median 80.
    assert summary.loc[("10%", "confuciux"), "median_evaluations"] == 10
    assert summary.loc[("10%", "random"), "median_evaluations"] == 80
    assert summary.loc[("10%", "random"), "reached"] == 1
    assert summary.loc[("10%", "random"), "ratio_to_reference"] == pytest.approx(8.0)
    # within 5%: confuciux 20 and 30; random 400 and never.
    assert summary.loc[("5%", "confuciux"), "median_evaluations"] == 20
    assert summary.loc[("5%", "random"), "ratio_to_reference"] == pytest.approx(20.0)
    # within 1%: confuciux 100 and 30 -> 30; random never -> not reached, ratio infinite.
    assert summary.loc[("1%", "confuciux"), "median_evaluations"] == 30
    assert math.isinf(summary.loc[("1%", "random"), "median_evaluations"])
    assert math.isinf(summary.loc[("1%", "random"), "q75"])
    assert summary.loc[("1%", "confuciux"), "median_final_gap"] == pytest.approx(0.0045)


def test_gap_curves_step_through_the_best_so_far():
    trials, curves = _trials()
    grid = np.array([1, 5, 10, 25, 100, 400])
    by_algorithm = gap_curves(trials, curves, grid)
    np.testing.assert_allclose(by_algorithm["confuciux"][0], [np.inf, np.inf, 0.2, 0.04, 0.0, np.nan])
    np.testing.assert_allclose(by_algorithm["random"][1], [np.inf, 0.4, 0.4, 0.4, 0.4, 0.12])


def test_ratio_text_names_who_reached() -> None:
    from confx.pipeline.results.study import _ratio, _ratio_text

    assert _ratio_text(_ratio(120.0, 60.0)) == "2.00x"
    assert _ratio_text(_ratio(math.inf, 60.0)) == "never (ConfuciuX does)"
    assert _ratio_text(_ratio(120.0, math.inf)) == "reached, ConfuciuX not"
    assert _ratio_text(_ratio(math.inf, math.inf)) == "-"

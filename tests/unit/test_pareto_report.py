"""The Pareto plot a reader can trust: the exact front at every requested level, found designs where they are."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from confx.envs.problem import build_problem
from confx.pipeline.results.report_plots import pareto_figure
from confx.pipeline.search import run_search
from confx.pipeline.search.pareto import front_levels, sweep_front

PROBLEM = ("alexnet_release", "dla", "latency", "area", "grid")


@pytest.fixture(scope="module")
def front() -> pd.DataFrame:
    return sweep_front([PROBLEM], front_levels([0.3, 0.5], count=21))


def test_levels_are_evenly_spaced_plus_the_sweeps_own() -> None:
    levels = front_levels([0.3, 0.33], count=11)
    assert levels[0] == 0.0 and levels[-1] == 1.0 and 0.33 in levels and len(levels) == 12


def test_front_holds_the_exact_optimum_at_every_requested_level(front: pd.DataFrame) -> None:
    levels = front_levels([0.3, 0.5], count=21)
    assert sorted(front["mul"]) == levels
    for row in front.itertuples(index=False):
        problem = build_problem("alexnet_release", dataflow="dla", objective="latency", constraint="area", mul=row.mul)
        exact = run_search(problem, "exact", seed=0)
        assert row.budget == pytest.approx(problem.budget)
        if not exact.feasible:
            assert math.isnan(row.objective_value)
            continue
        assert row.objective_value == pytest.approx(exact.objective_value, rel=1e-12)
        assert row.optimal and row.constraint_used <= row.budget * (1 + 1e-9)
    finite = front.dropna(subset=["objective_value"]).sort_values("mul")
    assert (np.diff(finite["objective_value"].to_numpy()) <= 1e-6 * finite["objective_value"].max()).all()


def _trial(algorithm: str, mul: float, value: float, used: float, budget: float, optimum: float) -> dict:
    return {"network": "alexnet_release", "dataflow": "dla", "objective": "latency", "constraint": "area", "mul": mul,
            "algorithm": algorithm, "status": "ok", "feasible": True, "sense": "min", "objective_value": value,
            "constraint_used": used, "budget": budget, "gap": value / optimum - 1, "optimum": optimum}  # fmt: skip


def test_found_designs_are_drawn_at_the_constraint_they_used(front: pd.DataFrame) -> None:
    at = front.set_index("mul")
    trials = pd.DataFrame(
        [
            _trial("exact", 0.5, at.loc[0.5, "objective_value"], at.loc[0.5, "constraint_used"],
                   at.loc[0.5, "budget"], at.loc[0.5, "objective_value"]),
            _trial("ga", 0.5, at.loc[0.5, "objective_value"] * 1.2, at.loc[0.5, "budget"] * 0.6,
                   at.loc[0.5, "budget"], at.loc[0.5, "objective_value"]),
            _trial("ga", 0.3, at.loc[0.3, "objective_value"] * 1.1, at.loc[0.3, "budget"] * 0.8,
                   at.loc[0.3, "budget"], at.loc[0.3, "objective_value"]),
        ]
    )  # fmt: skip
    [axes] = pareto_figure(trials, front).axes
    drawn = {}
    for collection in axes.collections:
        if isinstance(collection, PathCollection) and collection.get_label().endswith("(found)"):
            drawn[collection.get_label()] = sorted(map(tuple, collection.get_offsets().tolist()))
    expected = {
        f"{algorithm} (found)": sorted(zip(group["constraint_used"], group["objective_value"], strict=True))
        for algorithm, group in trials.groupby("algorithm")
    }
    assert drawn.keys() == expected.keys()
    for label, points in expected.items():
        assert np.allclose(drawn[label], points, rtol=1e-12)
    # The front's staircase: its designs at the constraint they use, never above a found design's value there.
    [staircase] = [line for line in axes.get_lines() if line.get_label().startswith("exact Pareto front")]
    xs, ys = staircase.get_data()
    finite = front.dropna(subset=["objective_value"])
    assert set(np.asarray(xs)) <= set(finite["constraint_used"])
    for used, value in zip(trials["constraint_used"], trials["objective_value"], strict=True):
        best_affordable = np.asarray(ys)[np.asarray(xs) <= used].min()
        assert best_affordable <= value * (1 + 1e-12)
    assert axes.get_xlabel() == "area (um^2) used by the design" and axes.get_ylabel() == "latency (cycles)"


def test_the_gap_plot_of_a_large_scan_keeps_its_layout(tmp_path, recwarn):
    """A nightly-sized scan (39 network/dataflow pairs, 14 budget levels): the legend must not collapse the plot."""
    from confx.pipeline.results.report_plots import plot_gap_by_algorithm

    rng = np.random.default_rng(0)
    rows = [
        {
            "network": f"net{n}",
            "dataflow": d,
            "mul": m,
            "algorithm": a,
            "gap": 0.01 * rng.random(),
            "status": "ok",
            "feasible": True,
            "objective_value": 1.0,
            "constraint_used": 1.0,
            "budget": 1.0,
        }  # fmt: skip
        for n in range(13)
        for d in ("dla", "shi", "eye")
        for m in np.linspace(0.05, 0.95, 14)
        for a in ("exact", "random")
    ]
    path = plot_gap_by_algorithm(pd.DataFrame(rows), tmp_path / "gap.png")
    assert path.stat().st_size > 0
    assert not [w for w in recwarn if "constrained_layout not applied" in str(w.message)]

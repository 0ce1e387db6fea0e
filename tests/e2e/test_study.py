"""`confx study` on a tiny real sweep: the table holds the values the curves give, and the plots exist."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

from tests.e2e.test_sweep import _confx

pytestmark = pytest.mark.slow

TINY_STUDY = {
    "name": "tiny_study",
    "networks": ["alexnet_release"],
    "dataflows": ["dla"],
    "objectives": ["latency"],
    "constraints": ["area"],
    "muls": [0.5],
    "seeds": [0, 1, 2],
    "algorithms": [
        {"name": "exact"},
        {"name": "random", "budget": 300},
        {"name": "anneal", "budget": 300},
        {"name": "confuciux", "epochs": 15, "settings": {"updates_per_iteration": 5}},
    ],
    "resources": {"cpus_per_trial": 0.5, "ga_tasks": 2, "ga_task_cpus": 0.25},
    "max_failures": 1,
}


def _first_within(curve: pd.DataFrame, optimum: float, threshold: float) -> float:
    for evaluations, best in zip(curve["model_evaluations"], curve["best_objective"], strict=True):
        if best / optimum - 1 <= threshold + 1e-12:
            return float(evaluations)
    return math.inf


def test_study_command_tables_the_evaluations_each_search_needed(tmp_path):
    config = dict(TINY_STUDY, results_dir=str(tmp_path / "results"))
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
    done = _confx("sweep", "study.yaml", cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = tmp_path / "results" / "tiny_study"

    done = _confx("study", str(results), "--out", str(tmp_path / "docs"), cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_csv(tmp_path / "docs" / "study_reach.csv")
    assert sorted(set(table["algorithm"])) == ["anneal", "confuciux", "random"]
    assert set(table["within"]) == {"10%", "5%", "1%"}

    # Recompute one cell from the sweep's own files: random search, within 10%.
    trials = pd.read_parquet(results / "trials.parquet")
    randoms = trials[trials["algorithm"] == "random"]
    needed = sorted(
        _first_within(pd.read_parquet(results / "trials" / key / "curve.parquet"), optimum, 0.10)
        for key, optimum in zip(randoms["trial_key"], randoms["optimum"], strict=True)
    )
    row = table[(table["algorithm"] == "random") & (table["within"] == "10%")].iloc[0]
    assert row["searches"] == 3 and row["reached"] == sum(math.isfinite(n) for n in needed)
    assert row["median_evaluations"] == needed[1]  # the middle of three searches
    assert 1 <= needed[0] <= 300  # random search on 5 layers comes within 10% inside its budget
    reference = table[(table["algorithm"] == "confuciux") & (table["within"] == "10%")].iloc[0]
    if math.isfinite(reference["median_evaluations"]):
        assert row["ratio_to_reference"] == pytest.approx(needed[1] / reference["median_evaluations"])

    markdown = (tmp_path / "docs" / "study_results.md").read_text()
    searches = int(table.loc[table["within"] == "10%", "searches"].sum())
    assert searches >= 6 and "| within | algorithm |" in markdown and f"{searches} searches" in markdown
    for plot in ("study_gap_curves.png", "study_reach.png"):
        assert (tmp_path / "docs" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_study_of_a_folder_without_results_is_one_line_exit_2(tmp_path):
    done = _confx("study", str(tmp_path), cwd=tmp_path, timeout=900)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "trials.parquet" in done.stderr
    assert not list(tmp_path.iterdir())

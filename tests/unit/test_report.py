"""The sweep report: comparison table, markdown and plots, including degenerate trial tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from confx.costmodel.errors import ConfXError
from confx.pipeline.results import report, schema, sweep_tables
from confx.pipeline.results.report import build_report, comparison_table, error_line
from confx.pipeline.results.schema import COMPARISON_COLUMNS, TRIAL_COLUMNS


def trial(network: str, algorithm: str, seed: int, mul: float, value: float | None, **fields: object) -> dict:
    optimum = 1000.0 / mul
    gap = None if value is None else value / optimum - 1
    row = {
        "sweep": "unit",
        "trial_key": f"{network}-{algorithm}-{mul}-{seed}",
        "run_name": f"{network}_F-latency_C-area_Mul-{mul:g}_DF-dla_{algorithm}_s{seed}",
        "network": network,
        "dataflow": "dla",
        "objective": "latency",
        "constraint": "area",
        "mul": mul,
        "space": "grid",
        "algorithm": algorithm,
        "seed": seed,
        "settings": json.dumps({}),
        "objective_value": value,
        "sense": "min",
        "optimum": optimum,
        "gap": gap,
        "constraint_used": 0.9 * mul,
        "budget": mul * 1e6,
        "feasible": True,
        "optimal": algorithm == "exact",
        "model_evaluations": 100,
        "cost_model_calls": 1000,
        "wall_time_s": 0.5,
        "status": "ok",
        "error": None,
        "run_id": f"run-{seed}",
        "node_id": "node-0",
    }
    return {**row, **fields}


@pytest.fixture
def trials() -> pd.DataFrame:
    rows = []
    for network in ("alexnet", "mobilenet_v2"):
        for mul in (0.5, 1.0):
            rows.append(trial(network, "exact", 0, mul, 1000.0 / mul))
            rows += [trial(network, "ga", seed, mul, 1000.0 / mul * (1.1 + 0.1 * seed)) for seed in range(3)]
    rows.append(
        trial(
            "alexnet",
            "ga",
            7,
            0.5,
            None,
            status="failed",
            feasible=None,
            error="Traceback (most recent call last):\n  File x\nRuntimeError: worker lost",
        )
    )
    rows.append(trial("alexnet", "confuciux", 0, 0.5, None, status="failed", error="ConfXError: bad config\nmore"))
    frame = pd.DataFrame(rows)
    assert tuple(frame.columns) == TRIAL_COLUMNS
    return frame


def test_comparison_keeps_the_best_over_seeds(trials: pd.DataFrame) -> None:
    table = comparison_table(trials)
    assert tuple(table.columns) == COMPARISON_COLUMNS
    assert len(table) == 2 * 2 * 2 + 1  # network x mul x (exact, ga) + the confuciux group that only failed
    ga = table[(table["network"] == "alexnet") & (table["mul"] == 0.5) & (table["algorithm"] == "ga")].iloc[0]
    assert ga["best_objective"] == pytest.approx(2200.0)
    assert ga["best_gap"] == pytest.approx(0.1)
    assert ga["mean_gap"] == pytest.approx(0.2)
    assert (ga["trials"], ga["failed"]) == (4, 1)
    assert ga["best_run"] == "alexnet_F-latency_C-area_Mul-0.5_DF-dla_ga_s0"
    exact = table[table["algorithm"] == "exact"]
    assert (exact["best_gap"] == 0).all()
    only_failed = table[table["algorithm"] == "confuciux"].iloc[0]
    assert math.isnan(only_failed["best_objective"]) and only_failed["failed"] == 1


def test_comparison_of_a_maximised_objective() -> None:
    rows = [
        trial(
            "alexnet", "ga", seed, 1.0, value, objective="throughput", sense="max", optimum=50.0, gap=1 - value / 50.0
        )
        for seed, value in enumerate([40.0, 45.0, 30.0])
    ]
    rows.append(trial("alexnet", "ga", 9, 1.0, 49.0, objective="throughput", sense="max", feasible=False))
    [row] = comparison_table(pd.DataFrame(rows)).to_dict("records")
    assert row["best_objective"] == 45.0  # the infeasible 49 does not count
    assert row["best_gap"] == pytest.approx(0.1)


def test_build_report_writes_html_markdown_plots_and_csv(trials: pd.DataFrame, tmp_path: Path) -> None:
    files = build_report(trials, tmp_path / "report", title="Unit sweep")
    assert [path.name for path in files.plots] == ["gap_by_algorithm.png", "pareto.png"]
    for path in files.plots:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = files.markdown.read_text()
    assert text.startswith("# Unit sweep\n")
    assert "18 trials: 16 ok, 2 failed" in text
    assert "![pareto](pareto.png)" in text
    assert "RuntimeError: worker lost" in text and "ConfXError: bad config" in text
    # Only the varying problem axes are columns; the constant ones are said once.
    assert "| network | mul | optimum (cycles) | confuciux | exact | ga |" in text
    assert "Every problem: dataflow dla, objective latency, constraint area." in text
    assert "| alexnet | 0.5 | 2000 | – | 0.00% · 100 evals | 10.00% · 100 evals |" in text
    assert "Closest first: ga is 10.00% from the optimum on average (worst 10.00%; optimal on 0 of 4 problems" in text
    page = files.html.read_text()
    assert page.count("<img ") == 2 and page.count("data:image/png;base64,") == 2 and 'src="pareto' not in page
    assert [path.name for path in files.tables] == ["pivot.csv", "comparison.csv", "trials.csv"]
    pivot = pd.read_csv(files.tables[0])
    assert len(pivot) == 4 and {"ga gap", "ga evaluations", "exact gap"} <= set(pivot.columns)


@pytest.mark.parametrize("which", ["only_failed", "single", "empty"])
def test_build_report_on_degenerate_tables(trials: pd.DataFrame, tmp_path: Path, which: str) -> None:
    subset = {
        "only_failed": trials[trials["status"] == "failed"],
        "single": trials.iloc[:1],
        "empty": trials.iloc[0:0],
    }[which]
    files = build_report(subset, tmp_path, title=which)
    assert all(path.is_file() for path in files.all)
    assert f"{len(subset)} trials" in files.markdown.read_text()


def test_error_line() -> None:
    assert error_line("ValueError: x\ntrace") == "ValueError: x"
    assert error_line("Traceback (most recent call last):\n  File y\nKeyError: 'k'\n") == "KeyError: 'k'"
    assert error_line(None) == "(no message)"


def test_missing_columns_are_reported(trials: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ConfXError, match="gap"):
        build_report(trials.drop(columns=["gap"]), tmp_path, title="x")


def test_report_and_sweep_read_and_write_the_schema_modules_columns(tmp_path: Path) -> None:
    """One list of trial columns: the sweep writes exactly it, the report needs a subset of it."""
    assert report.TRIAL_COLUMNS is schema.TRIAL_COLUMNS
    assert sweep_tables.TRIAL_COLUMNS is schema.TRIAL_COLUMNS
    assert set(report.REPORT_COLUMNS) <= set(schema.TRIAL_COLUMNS)
    frame, written = sweep_tables.assemble_results("unit", [], tmp_path, {})
    assert tuple(frame.columns) == schema.TRIAL_COLUMNS and written == [tmp_path / "trials.parquet"]


def test_report_files_are_written_atomically_and_follow_the_umask(trials: pd.DataFrame, tmp_path: Path) -> None:
    """Every report file (text, CSV, PNG) appears whole, with no temporary file left beside it."""
    import os

    previous = os.umask(0o022)
    try:
        files = build_report(trials, tmp_path / "report", title="Unit sweep")
    finally:
        os.umask(previous)
    written = sorted(p.name for p in (tmp_path / "report").iterdir())
    assert not [name for name in written if name.startswith(".")], written
    for path in files.all:
        assert path.stat().st_size > 0 and (path.stat().st_mode & 0o777) == 0o644, path
    assert all(path.read_bytes().startswith(b"\x89PNG") for path in files.plots)

"""`confx nightly` end to end: two consecutive dates, an injected regression, an idempotent rerun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _nightly(config: Path, date: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "confx.pipeline.cli", "nightly", str(config), "--date", date],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_two_nights_flag_exactly_the_regressed_group_and_a_rerun_adds_nothing(tmp_path):
    data = yaml.safe_load((ROOT / "conf" / "smoke.yaml").read_text())
    data.update(
        name="nightly",
        results_dir=str(tmp_path / "results"),
        algorithms=[{"name": "exact"}, {"name": "random", "budget": 40}, {"name": "anneal", "budget": 40}],
        nightly={"objective_tolerance": 0.01, "gap_tolerance": 0.01, "wall_time_tolerance": None},
    )
    config = tmp_path / "nightly.yaml"
    config.write_text(yaml.safe_dump(data))
    nights = tmp_path / "results" / "nightly"

    first = _nightly(config, "2026-11-27", tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "baseline" in (nights / "date=2026-11-27" / "nightly_report.md").read_text()

    # Inject a regression: last night's random search "was" 5% better than tonight's will be.
    previous = pd.read_parquet(nights / "date=2026-11-27" / "trials.parquet")
    random_row = previous["algorithm"] == "random"
    previous.loc[random_row, "objective_value"] *= 0.95
    previous.to_parquet(nights / "date=2026-11-27" / "trials.parquet", index=False)

    second = _nightly(config, "2026-11-28", tmp_path)
    assert second.returncode == 1, second.stdout[-3000:] + second.stderr[-3000:]
    comparison = pd.read_parquet(nights / "date=2026-11-28" / "comparison.parquet")
    assert list(comparison.loc[comparison["regressed"], "algorithm"]) == ["random"]
    report = (nights / "date=2026-11-28" / "nightly_report.md").read_text()
    assert "1 of 3 groups regressed" in report

    rows_before = pd.read_parquet(nights / "date=2026-11-28" / "trials.parquet")
    rerun = _nightly(config, "2026-11-28", tmp_path)
    assert rerun.returncode == 1
    rows_after = pd.read_parquet(nights / "date=2026-11-28" / "trials.parquet")
    assert len(rows_after) == len(rows_before) == 3
    pd.testing.assert_frame_equal(rows_after.drop(columns="wall_time_s"), rows_before.drop(columns="wall_time_s"))
    layers = pd.read_parquet(nights / "date=2026-11-28" / "layers")
    assert len(layers) == 3 * 5

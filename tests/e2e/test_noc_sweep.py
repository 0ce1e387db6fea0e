"""A sweep on the `edge` preset with the NoC bandwidth per layer and a MAESTRO style: trials run on the
physical model, area is tracked in mm^2, designs export as the style's MAESTRO files."""

from __future__ import annotations

import json
import zipfile

import pandas as pd
import pytest

from confx.pipeline.sweep.config import load_sweep_config
from confx.pipeline.sweep.plan import plan_trials
from tests.e2e.test_sweep import _confx, _runs, _write_config

pytestmark = pytest.mark.slow


def test_edge_sweep_with_noc_decisions_tracks_mm2_and_exports_the_style(tmp_path):
    config_path = _write_config(
        tmp_path,
        name="noc_smoke",
        dataflows=["xp_ws"],
        hardware="edge",
        noc_bw=[16, 64, 256],
        muls=[0.2],
        front_levels=3,
        algorithms=[{"name": "exact"}, {"name": "ga", "budget": 100}],
        results_dir=str(tmp_path / "results"),
    )
    done = _confx("sweep", str(config_path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = tmp_path / "results" / "noc_smoke"
    planned = plan_trials(load_sweep_config(config_path))
    trials = pd.read_parquet(results / "trials.parquet")
    assert sorted(trials["trial_key"]) == sorted(t.key for t in planned) and (trials["status"] == "ok").all()
    assert (trials["constraint_used"] <= trials["budget"] * (1 + 1e-12)).all() and (trials["gap"] >= 0).all()
    layers = pd.read_parquet(results / "layers")
    assert set(layers["noc_bw"]) <= {16, 64, 256} and set(layers["dataflow"].astype(str)) == {"xp_ws"}
    summary = json.loads(next((results / "trials").glob("*exact*/summary.json")).read_text())
    assert summary["hardware"] == "edge" and summary["constraint_unit"] == "mm^2"

    client, runs = _runs(results, "noc_smoke")
    exact = next(r for r in runs if r.data.params.get("algorithm") == "exact")
    assert exact.data.params["hardware"] == "edge"
    assert exact.data.metrics["area_used_mm2"] == pytest.approx(summary["constraint_used_reported"])
    assert "area_used_um2" not in exact.data.metrics
    # A batched exact run's mapping files come as one archive, a maestro/ folder inside.
    archive = client.download_artifacts(exact.info.run_id, "maestro.zip", str(tmp_path))
    with zipfile.ZipFile(archive) as mapping:
        names = mapping.namelist()
        text = mapping.read(names[0]).decode()
    assert len(names) == 5 and all(n.startswith("maestro/") and "xp_ws" in n for n in names)
    assert "Dimensions {" in text and "ClusterSz" in text
    front = pd.read_parquet(results / "pareto.parquet")
    assert front["optimal"].all() and len(front) == 4  # 3 levels and the sweep's own

"""Imported networks end to end: `confx search` and `confx sweep` on a model file, table kept with the results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny_net.py"
SMOKE = ROOT / "conf" / "smoke.yaml"


def _confx(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "confx.pipeline.cli", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_search_on_a_model_file_searches_and_keeps_its_table(tmp_path: Path) -> None:
    out = tmp_path / "out"
    source = f"{TINY}:build"
    done = _confx("search", "--model", source, "--input-shape", "1,3,32,32", "--algorithm", "exact", "--out", str(out),
                  cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    [table] = (out / "networks").glob("*.csv")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "tiny_net" and summary["optimal"] and summary["network_table"] == str(table)
    solution = pd.read_parquet(out / "solution.parquet")
    layers = pd.read_csv(table)
    assert solution[["K", "C", "Y", "X", "stride_y", "groups"]].to_numpy().tolist() == (
        layers[["K", "C", "Y", "X", "stride_y", "groups"]].to_numpy().tolist()
    )
    assert solution["stride_y"].tolist() == [2, 1, 1, 1] and solution["groups"].tolist() == [1, 4, 1, 1]
    assert (solution["true_macs"] > 0).all()
    # The same source again is a cache hit: same table, no second file.
    again = _confx("search", "--model", source, "--input-shape", "1,3,32,32", "--algorithm", "random", "--budget",
                   "20", "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert list((out / "networks").glob("*.csv")) == [table]


def test_sweep_on_a_model_file_logs_the_table_with_every_run(tmp_path: Path) -> None:
    data = yaml.safe_load(SMOKE.read_text())
    data.update(networks=[f"{TINY}:build", "alexnet_release"], results_dir=str(tmp_path / "results"))
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump(data))
    done = _confx("sweep", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = tmp_path / "results" / "smoke"
    [cached] = (results / "networks").glob("*.csv")
    trials = pd.read_parquet(results / "trials.parquet")
    assert (trials["status"] == "ok").all()
    imported = trials[trials["network"] == f"{TINY}:build"]
    assert len(imported) == 3 and imported["run_name"].str.startswith("tiny_net_").all()

    client = mlflow.MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("smoke")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    # The parent holds the imported table (and the import's summary line beside it).
    assert f"networks/{cached.name}" in {a.path for a in client.list_artifacts(parent.info.run_id, "networks")}
    for run in runs:
        if run.data.params.get("network") != f"{TINY}:build":
            continue
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "network.csv" in artifacts, run.info.run_name
        logged = Path(client.download_artifacts(run.info.run_id, "network.csv", str(tmp_path / run.info.run_id)))
        assert logged.read_bytes() == cached.read_bytes()  # every trial searched the same table
    layers = pd.read_parquet(results / "layers")
    tiny = layers[layers["network"].astype(str) == "tiny_net"]
    assert set(tiny["stride_y"]) == {1, 2} and set(tiny["groups"]) == {1, 4}

"""`confx sweep` end to end: real local Ray, real MLflow SQLite store, Parquet results.

Each test runs the CLI in a subprocess (the resume test kills it with SIGKILL),
with its results and tracking store in ``tmp_path``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from confx.pipeline.sweep.config import load_sweep_config
from confx.pipeline.sweep.plan import plan_trials

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "conf" / "smoke.yaml"


def _confx(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "confx.pipeline.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _write_config(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load(SMOKE.read_text())
    data.update(changes)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _runs(results: Path, experiment: str) -> list:
    client = mlflow.MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id], max_results=1000)


def test_smoke_sweep_tracks_every_trial_and_writes_the_planned_rows(tmp_path):
    config_path = _write_config(tmp_path, results_dir=str(tmp_path / "results"))
    done = _confx("sweep", str(config_path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = tmp_path / "results" / "smoke"
    planned = plan_trials(load_sweep_config(config_path))

    trials = pd.read_parquet(results / "trials.parquet")
    assert sorted(trials["trial_key"]) == sorted(t.key for t in planned)
    assert (trials["status"] == "ok").all() and trials["trial_key"].is_unique
    exact = trials[trials["algorithm"] == "exact"].iloc[0]
    assert exact["gap"] == 0 and exact["optimal"]
    assert (trials["gap"] >= 0).all()
    layers = pd.read_parquet(results / "layers")
    assert len(layers) == len(planned) * 5  # alexnet_release has 5 layers
    assert set(layers["network"].astype(str)) == {"alexnet_release"}

    client, runs = _runs(results, "smoke")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == len(planned)
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    confuciux = next(r for r in children if r.data.params["algorithm"] == "confuciux")
    assert confuciux.info.status == "FINISHED"
    assert confuciux.data.params["network"] == "alexnet_release" and "cost_model_version" in confuciux.data.params
    assert confuciux.info.run_name == "confuciux"  # only the varying axis: the algorithm
    assert "epochs" in confuciux.data.params and "evaluation_budget" not in confuciux.data.params
    history = client.get_metric_history(confuciux.info.run_id, "latency_cycles")
    assert len(history) >= 2 and [m.step for m in history] == sorted(m.step for m in history)
    artifacts = {a.path for a in client.list_artifacts(confuciux.info.run_id)}
    assert {"solution.parquet", "curve.parquet", "convergence.png", "maestro"} <= artifacts
    assert len(client.list_artifacts(confuciux.info.run_id, "maestro")) == 5
    assert len(pd.read_csv(results / "pivot.csv")) == 1  # one problem, one row
    assert {"report.html", "pareto.png", "pivot.csv"} <= {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    exact_run = next(r for r in children if r.data.params["algorithm"] == "exact")
    assert "maestro.zip" in {a.path for a in client.list_artifacts(exact_run.info.run_id)}  # batched: one archive
    # Tune keeps its JSON and CSV results, without TensorBoard files (see tune_loggers).
    tune_files = {path.name for path in (results / "tune").rglob("*") if path.is_file()}
    assert {"result.json", "progress.csv"} <= tune_files
    assert not any(name.startswith("events.out.tfevents") for name in tune_files)


def test_resume_after_sigkill_gives_exactly_the_planned_trials(tmp_path):
    config_path = _write_config(tmp_path, name="resume", seeds=[0, 1, 2], results_dir=str(tmp_path / "results"))
    results = tmp_path / "results" / "resume"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen(
        [sys.executable, "-m", "confx.pipeline.cli", "sweep", str(config_path)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and len(list(results.glob("trials/*/trial.json"))) < 2:
        time.sleep(0.5)
    finished_before = len(list(results.glob("trials/*/trial.json")))
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    planned = plan_trials(load_sweep_config(config_path))
    assert 2 <= finished_before < len(planned), "kill the driver in the middle of the sweep"

    done = _confx("sweep", str(config_path), "--resume", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    trials = pd.read_parquet(results / "trials.parquet")
    assert sorted(trials["trial_key"]) == sorted(t.key for t in planned)
    assert (trials["status"] == "ok").all()
    _, runs = _runs(results, "resume")
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    keys = [r.data.tags["confx.trial_key"] for r in children]
    assert sorted(keys) == sorted(t.key for t in planned), "no run lost or duplicated"
    assert len([r for r in runs if "mlflow.parentRunId" not in r.data.tags]) == 1


def test_a_failing_trial_is_retried_then_recorded_and_the_others_finish(tmp_path):
    algorithms = [{"name": "exact"}, {"name": "random", "budget": 20}]
    config_path = _write_config(
        tmp_path, name="failing", algorithms=algorithms, max_failures=1, results_dir=str(tmp_path / "results")
    )
    results = tmp_path / "results" / "failing"
    # A file where the random trial's output folder belongs makes that trial crash (a full disk would too).
    random_key = next(t.key for t in plan_trials(load_sweep_config(config_path)) if t.algorithm == "random")
    (results / "trials").mkdir(parents=True)
    (results / "trials" / random_key).write_text("in the way")
    done = _confx("sweep", str(config_path), "--resume", cwd=tmp_path)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    trials = pd.read_parquet(results / "trials.parquet").set_index("algorithm")
    assert trials.loc["exact", "status"] == "ok"
    assert trials.loc["random", "status"] == "failed" and "existing file" in trials.loc["random", "error"]
    _, runs = _runs(results, "failing")
    failed = [r for r in runs if r.data.tags.get("confx.algorithm") == "random"]
    assert len(failed) == 1 and failed[0].info.status == "FAILED"  # the retry reused the run
    assert "existing file" in failed[0].data.tags["confx.error"]
    assert "trial failed" in done.stdout


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"colour": "red"}, "colour: unknown key"),
        ({"muls": "half"}, "muls"),
        ({"networks": ["lenet5"]}, "unknown network"),
        ({"dataflows": []}, "dataflows"),
        ({"algorithms": [{"name": "exact", "epochs": "many"}]}, "algorithms.0.epochs"),
    ],
)
def test_bad_configs_exit_2_naming_the_key(tmp_path, change, expected):
    config_path = _write_config(tmp_path, **change)
    done = _confx("sweep", str(config_path), cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert expected in done.stderr and str(config_path) in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()


def test_settings_searched_with_optuna_are_recorded_per_search(tmp_path):
    algorithms = [
        {"name": "exact"},
        {
            "name": "anneal",
            "budget": 60,
            "tune": {
                "num_samples": 3,
                "space": {"initial_temperature": {"loguniform": [0.001, 0.1]}, "max_step": {"randint": [1, 3]}},
            },
        },
    ]
    config_path = _write_config(
        tmp_path, name="tuned", algorithms=algorithms, muls=[0.3, 0.5], results_dir=str(tmp_path / "results")
    )
    done = _confx("sweep", str(config_path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "tuned anneal: best mean gap" in done.stdout
    trials = pd.read_parquet(tmp_path / "results" / "tuned" / "trials.parquet")
    annealed = trials[trials["algorithm"] == "anneal"]
    assert len(annealed) == 3 * 2  # 3 Optuna samples, each on both budget levels
    assert annealed["settings"].nunique() == 3 and (annealed["status"] == "ok").all()
    assert annealed["trial_key"].is_unique


def test_a_tuning_only_sweep_assembles_its_results_and_prints_the_tuned_settings(tmp_path):
    """No grid trial, so no chunk writes a part: the tuned searches' folders become the only part."""
    algorithms = [
        {"name": "anneal", "budget": 40, "tune": {"num_samples": 2, "space": {"max_step": {"randint": [1, 3]}}}}
    ]
    config_path = _write_config(tmp_path, name="tuneonly", algorithms=algorithms, results_dir=str(tmp_path / "results"))
    done = _confx("sweep", str(config_path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    trials = pd.read_parquet(tmp_path / "results" / "tuneonly" / "trials.parquet")
    assert len(trials) == 2 and (trials["status"] == "ok").all()
    tuned = _confx("study", str(tmp_path / "results" / "tuneonly"), "--tuned", cwd=tmp_path)
    assert tuned.returncode == 0, tuned.stderr[-3000:]
    assert "anneal" in tuned.stdout and "max_step" in tuned.stdout


def test_results_can_live_at_a_filesystem_uri(tmp_path):
    """A URI location goes through pyarrow's filesystems (file:// here; s3:// or gs:// on a cluster)."""
    shared = tmp_path / "shared"
    algorithms = [{"name": "exact"}, {"name": "random", "budget": 30}]
    config_path = _write_config(tmp_path, name="remote", algorithms=algorithms)
    done = _confx(
        "sweep",
        str(config_path),
        "--results-dir",
        f"file://{shared}",
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'tracking.db'}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    trials = pd.read_parquet(shared / "remote" / "trials.parquet")
    assert len(trials) == 2 and (trials["status"] == "ok").all()
    assert (shared / "remote" / "report.md").is_file() and len(pd.read_parquet(shared / "remote" / "layers")) == 10
    assert sorted(p.name for p in (shared / "remote" / "trials").iterdir()) == sorted(trials["trial_key"])
    assert not (tmp_path / "results").exists()

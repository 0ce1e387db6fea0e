"""The error and signal contract in real processes: exit codes, one stderr line, nothing left behind.

tests/unit/test_cli_errors.py runs the whole table of bad inputs in-process; here one case of
each kind runs as a real ``confx`` subprocess, a bug keeps its traceback, SIGTERM and SIGKILL
hit ``confx cost`` (2 million rows), ``confx search`` and ``confx sweep``, and a resumed sweep
is shown to run exactly the trials that had not finished.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from confx.pipeline.sweep.config import load_sweep_config
from confx.pipeline.sweep.plan import plan_trials

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
COUNTER = Path(__file__).parent / "search_counter"
DESIGN = "K,C,Y,X,R,S,T,dataflow,num_pe,ktile"


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT), **extra}


def _confx(*args: str, cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "confx.pipeline.cli", *args]
    return subprocess.run(command, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=timeout)


def _start(*args: str, cwd: Path, **env: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "confx.pipeline.cli", *args]
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the Ray processes it starts die with it
    )


def _hidden(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if ".confx-" in p.name]


def _wait_for(condition, timeout: float = 300, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _one_error_line(done_stderr: str) -> str:
    lines = [line for line in done_stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done_stderr, done_stderr[-3000:]
    return lines[0]


# ----------------------------------------------------------------------------- exit codes


def test_one_bad_input_of_each_kind_in_a_real_process(tmp_path):
    (tmp_path / "ok.csv").write_text(f"{DESIGN}\n64,3,224,224,11,11,1,dla,4,2\n")
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "afile").write_text("x")
    (tmp_path / "bad.yaml").write_text("name: x\nnetworks: [alexnet\n")
    (tmp_path / "lr.yaml").write_text(yaml.safe_dump(
        {"name": "x", "networks": ["alexnet"], "algorithms": [{"name": "anneal", "settings": {"lr_x": 0.1}}]}
    ))  # fmt: skip
    cases = [
        (["cost", "ok.csv", "folder.csv"], "folder.csv: is an existing folder"),
        (["search", "--model", "alexnet", "--algorithm", "random", "--seed", "-1", "--out", "o"], "--seed"),
        (["search", "--model", "alexnet", "--algorithm", "random", "--out", "afile/o"], "afile"),
        (["search", "--model", "alexnet", "--algorithm", "random", "--num-pe", "1,2,100000000", "--out", "o"],
         "--num-pe"),
        (["pareto", "--model", "alexnet", "--dataflows", "tpu", "--out", "p"], "--dataflows"),
        (["sweep", "bad.yaml"], "bad.yaml:3:1: not valid YAML"),
        (["sweep", "lr.yaml"], "unknown anneal setting 'lr_x'"),
        (["report", "folder.csv"], "no trials.parquet"),
        (["ui", "--port", "0"], "--port"),
    ]  # fmt: skip
    for argv, fragment in cases:
        done = _confx(*argv, cwd=tmp_path, timeout=120)
        assert done.returncode == 2, (argv, done.stderr[-2000:])
        assert fragment in _one_error_line(done.stderr), (argv, done.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "bad.yaml", "folder.csv", "lr.yaml", "ok.csv"]


def test_a_bug_keeps_its_traceback(tmp_path):
    code = (
        "import sys, confx.pipeline.cli as cli\n"
        "def broken(args): raise RuntimeError('a bug')\n"
        "cli._cmd_networks = broken\n"
        "sys.exit(cli.main(['networks']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" in done.stderr and "RuntimeError: a bug" in done.stderr


# ----------------------------------------------------------------------------- confx cost


@pytest.fixture(scope="module")
def two_million_rows(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    n = 2_000_000
    frame = pd.DataFrame(
        {
            "K": rng.integers(1, 512, n), "C": rng.integers(1, 512, n), "Y": rng.integers(8, 64, n),
            "X": rng.integers(8, 64, n), "R": 3, "S": 3, "T": 1,
            "dataflow": rng.choice(["dla", "shi", "eye"], n), "num_pe": rng.integers(1, 128, n),
            "ktile": rng.integers(1, 12, n),
        }
    )  # fmt: skip
    path = tmp_path_factory.mktemp("cost") / "designs.parquet"
    frame.to_parquet(path)
    return path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_signal_during_the_cost_write_leaves_no_file_and_a_rerun_succeeds(tmp_path, two_million_rows, sig):
    out = tmp_path / "out.csv"
    process = _start("cost", str(two_million_rows), str(out), cwd=tmp_path)
    _wait_for(lambda: _hidden(tmp_path), what="the temporary output file")
    time.sleep(0.3)  # well inside the write
    os.killpg(process.pid, sig)
    _, stderr = process.communicate(timeout=120)
    assert not out.exists()
    if sig == signal.SIGTERM:
        assert process.returncode == 143
        assert _one_error_line(stderr) == "confx cost: interrupted by SIGTERM"
        assert not _hidden(tmp_path), "the temporary file is removed"
    else:
        assert process.returncode == -signal.SIGKILL
    rerun = _confx("cost", str(two_million_rows), str(out), cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert not _hidden(tmp_path), "a killed writer's temporary file is removed by the next write"
    assert sum(1 for _ in out.open()) == 2_000_001


# ----------------------------------------------------------------------------- confx search


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_signal_during_a_search_leaves_nothing_and_a_rerun_succeeds(tmp_path, sig):
    # ConfuciuX: torch, RLlib and a local Ray for the GA stage (Ray must not take SIGTERM over).
    search = ["search", "--model", "alexnet", "--algorithm", "confuciux", "--set", "updates_per_iteration=1"]
    process = _start(*search, "--epochs", "3000", "--out", "out", cwd=tmp_path)
    assert process.stdout is not None
    first = process.stdout.readline()  # the first progress line: the search is running
    assert first, process.stderr.read() if process.stderr else ""
    os.killpg(process.pid, sig) if sig == signal.SIGKILL else os.kill(process.pid, sig)
    _, stderr = process.communicate(timeout=180)
    if sig == signal.SIGTERM:
        # RLlib's own warnings come before; the command adds exactly one line and no traceback.
        assert process.returncode == 143, stderr[-3000:]
        assert stderr.splitlines()[-1] == "confx search: interrupted by SIGTERM" and "Traceback" not in stderr
    assert not (tmp_path / "out").exists() and not _hidden(tmp_path)
    rerun = _confx(*search, "--epochs", "6", "--out", "out", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["algorithm"] == "confuciux"
    assert not _hidden(tmp_path)


# ----------------------------------------------------------------------------- confx sweep


def _sweep_config(tmp_path: Path, name: str, n_seeds: int) -> Path:
    config = {
        "name": name,
        "networks": ["alexnet"],
        "seeds": list(range(n_seeds)),
        # Searches of a second or so: a chunk logs them as they finish, so a kill lands between them.
        # Annealing evaluates one design per step, so it stays that slow on the group's filled memo.
        "algorithms": [{"name": "exact"}, {"name": "anneal", "budget": 5000}],
        "resources": {"cpus_per_trial": 1, "ga_tasks": 0},
        "results_dir": str(tmp_path / "results"),
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _records(results: Path) -> set[str]:
    return {p.parent.name for p in results.glob("trials/*/trial.json")}


def _settled_records(results: Path, quiet_s: float = 8.0) -> set[str]:
    """The finished trials once no record has appeared for quiet_s (a Ray worker outlives its driver briefly)."""
    records, since = _records(results), time.time()
    while time.time() - since < quiet_s:
        time.sleep(0.5)
        if _records(results) != records:
            records, since = _records(results), time.time()
    return records


def _statuses(results: Path, name: str) -> list[str]:
    client = mlflow.MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    return [run.info.status for run in client.search_runs([experiment.experiment_id])]


def _last_progress(stdout: str) -> str:
    return [line for line in stdout.splitlines() if line.startswith("[")][-1]


def test_sigterm_during_a_sweep_ends_its_runs_and_resume_finishes_it(tmp_path):
    config = _sweep_config(tmp_path, "term", n_seeds=4)
    results = tmp_path / "results" / "term"
    process = _start("sweep", str(config), cwd=tmp_path)
    _wait_for(lambda: len(_records(results)) >= 1, what="the first finished trial")
    os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 143, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == "confx sweep: interrupted by SIGTERM; continue it with --resume"
    assert "RUNNING" not in _statuses(results, "term") and "KILLED" in _statuses(results, "term")
    assert not _hidden(results)

    done = _confx("sweep", str(config), "--resume", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"\[5 done, 0 failed, 0 running, 0 pending of 5\]$", _last_progress(done.stdout))
    assert set(_statuses(results, "term")) <= {"FINISHED", "KILLED"}
    assert (pd.read_parquet(results / "trials.parquet")["status"] == "ok").all() and not _hidden(results)


def test_resume_after_sigkill_runs_exactly_the_unfinished_trials(tmp_path):
    config = _sweep_config(tmp_path, "kill", n_seeds=10)
    results = tmp_path / "results" / "kill"
    planned = {t.key: t for t in plan_trials(load_sweep_config(config))}
    counter = {"PYTHONPATH": f"{COUNTER}{os.pathsep}{ROOT}"}
    first_log, resume_log = tmp_path / "first.jsonl", tmp_path / "resume.jsonl"
    process = _start("sweep", str(config), cwd=tmp_path, CONFX_SEARCH_LOG=str(first_log), **counter)
    _wait_for(lambda: len(_records(results)) >= 4, what="four finished trials")
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    finished = _settled_records(results)
    assert 4 <= len(finished) < len(planned), "the kill must land in the middle of the sweep"

    done = _confx("sweep", str(config), "--resume", cwd=tmp_path, CONFX_SEARCH_LOG=str(resume_log), **counter)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    searches = [json.loads(line) for line in resume_log.read_text().splitlines()]
    in_trials = sorted((s["algorithm"], s["seed"]) for s in searches if s["in_ray"])
    unfinished = sorted((t.algorithm, t.seed) for key, t in planned.items() if key not in finished)
    assert in_trials == unfinished, "resume runs each unfinished trial once and no finished one"
    n = len(planned)
    assert _last_progress(done.stdout) == f"[{n} done, 0 failed, 0 running, 0 pending of {n}]"
    trials = pd.read_parquet(results / "trials.parquet")
    assert sorted(trials["trial_key"]) == sorted(planned) and (trials["status"] == "ok").all()
    assert not _hidden(results)

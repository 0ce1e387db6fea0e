"""Many concurrent writers against an MLflow server on PostgreSQL and on SQLite: nothing lost or duplicated.

The test starts its own PostgreSQL cluster (as the ``postgres`` user when run as root) and an
``mlflow server`` on 127.0.0.1 for each backend, then logs child runs of one sweep from several
processes at once through the sweep's own calls (``start_trial_run`` and ``log_trial``), and
reads every run back: each trial once, FINISHED, with its params and final metrics. The driver
is ``benchmarks/mlflow_load.py``, which also measures runs/s (BENCHMARKS.md); this test asserts
only on what arrived. ``CONFX_LOAD_RUNS`` sets the number of runs per backend: 250 by default,
about a minute per backend on a quiet 2-core host (ten times that under a load average of 40);
the benchmark recorded in BENCHMARKS.md logs 5,000.
"""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from pathlib import Path

import mlflow
import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import mlflow_load  # noqa: E402  (the load driver lives with the benchmarks; spawned workers import it by name)

pytestmark = pytest.mark.slow

N_RUNS = int(os.environ.get("CONFX_LOAD_RUNS", "250"))
N_PROCESSES = 4


def _own_descendants() -> set[int]:
    """This process's descendants, less multiprocessing's resource tracker (it lives as long as pytest)."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        with suppress(psutil.Error):
            if "resource_tracker" not in " ".join(child.cmdline()):
                found.add(child.pid)
    return found


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_concurrent_writers_lose_and_duplicate_nothing(backend: str, tmp_path: Path) -> None:
    before = _own_descendants()
    with (
        mlflow_load.backend_store(backend, tmp_path / "store") as store,
        mlflow_load.mlflow_server(tmp_path / "server", store, workers=mlflow_load.SERVER_WORKERS[backend]) as uri,
    ):
        experiment_id, parent, _ = mlflow_load.log_concurrently(
            uri, n_runs=N_RUNS, n_processes=N_PROCESSES, sweep=f"load-{backend}"
        )
        runs = mlflow_load.child_runs(uri, experiment_id, parent)
        assert len(runs) == N_RUNS
        assert mlflow_load.check_runs(runs, N_RUNS) == []
        parent_run = mlflow.MlflowClient(uri).get_run(parent)
        assert parent_run.info.status == "FINISHED"
        assert parent_run.data.metrics["n_runs"] == N_RUNS
        # The writers overlapped: every process was still logging when the last one started.
        spans = [
            [run.info for run in runs if int(run.data.params["seed"]) % N_PROCESSES == worker]
            for worker in range(N_PROCESSES)
        ]
        assert max(min(i.start_time for i in span) for span in spans) < min(
            max(i.end_time for i in span) for span in spans
        )
        # The metric history of a run holds its logged points, once each.
        history = mlflow.MlflowClient(uri).get_metric_history(runs[0].info.run_id, "latency_cycles")
        assert [point.step for point in history] == [100]
    if backend == "postgresql":
        assert store.startswith("postgresql://")
    # Every process the test started (PostgreSQL, the server, the logging workers) is gone.
    leftover = {pid for pid in _own_descendants() - before if psutil.pid_exists(pid)}
    assert not leftover, leftover

"""Load test of the tracking path: many runs logged at once from several processes to one MLflow server.

For each backend (a PostgreSQL cluster this script starts, and an SQLite file), it starts an
``mlflow server`` on 127.0.0.1 with its own port and artifact root (``sqlite-file``: no server,
the processes write the file, as a laptop sweep's trials do), opens one sweep parent run,
then logs ``--runs`` child runs from ``--processes`` processes through the sweep's own calls
(:func:`~confx.pipeline.results.tracking.start_trial_run` then
:func:`~confx.pipeline.results.tracking.log_trial`, params and metric histories included). It
then reads every run back and checks that each trial is there exactly once, FINISHED, with its
params and metrics. Prints runs/s per backend and, as the baseline measured in the same run, the
ratio to the first backend.

PostgreSQL refuses to run as root: as root, the cluster runs as the ``postgres`` system user in
a folder of its own under the system temporary folder (the pytest folder is not traversable by
other users); otherwise in ``--work-dir``. Every process started here is stopped by its pid.

Usage: python benchmarks/mlflow_load.py [--runs 5000] [--processes 4] [--backends postgresql sqlite sqlite-file]
    [--side-by-side]
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import mlflow
from mlflow.entities import Run
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from confx.pipeline.results import tracking

BACKENDS = ("postgresql", "sqlite", "sqlite-file")
"""An MLflow server on PostgreSQL or on an SQLite file, or (the laptop default) the SQLite file itself, no server."""
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
PG_DATABASE = "mlflow"
PG_USER = "confx"
SERVER_WORKERS = {"postgresql": 2, "sqlite": 1}
"""Server processes: PostgreSQL takes concurrent writers; SQLite one at a time (as the cluster configs run it)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen, *, first: signal.Signals = signal.SIGTERM, grace_s: float = 15) -> None:
    """Stop a process started in a session of its own, and its whole group, by its pid (SIGKILL after grace_s)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, first)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# ----------------------------------------------------------------------------- PostgreSQL


def _owner_kwargs(owner: str | None) -> dict[str, object]:
    """Popen arguments that run a command as owner (None: as this process's user)."""
    if owner is None:
        return {}
    entry = pwd.getpwnam(owner)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _pg_bin(name: str) -> str:
    """A PostgreSQL server program: on PATH, or in Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not versions:
        raise SystemExit(f"{name} not found: install PostgreSQL (apt-get install postgresql)")
    return str(versions[-1])


@contextmanager
def postgres_cluster(work_dir: Path) -> Iterator[str]:
    """A throw-away PostgreSQL cluster with one database, on a Unix socket only; yields its SQLAlchemy URI.

    ``initdb`` and the server run as the ``postgres`` user when this process is root.
    Authentication is ``trust`` on the socket: a test cluster, never a template for production.
    """
    owner = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="confx-pg-")) if owner else work_dir / "postgres"
    folder.mkdir(parents=True, exist_ok=True)
    if owner:
        os.chown(folder, pwd.getpwnam(owner).pw_uid, pwd.getpwnam(owner).pw_gid)
    data, port = folder / "data", free_port()
    log = folder / "server.log"
    subprocess.run(
        [_pg_bin("initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust", "-E", "UTF8"],
        check=True,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        **_owner_kwargs(owner),  # type: ignore[arg-type]
    )
    # No TCP: the server listens on a Unix socket in its folder only, as the cluster head's does.
    options = f"-p {port} -k {folder} -c listen_addresses= -c max_connections=200 -c fsync=off"
    server = subprocess.Popen(
        [_pg_bin("postgres"), "-D", str(data), *options.split()],
        cwd=folder,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        **_owner_kwargs(owner),  # type: ignore[arg-type]
    )
    try:
        _wait_for(lambda: _pg_ready(folder, port), server, log, what="PostgreSQL")
        subprocess.run(
            [_pg_bin("createdb"), "-h", str(folder), "-p", str(port), "-U", PG_USER, PG_DATABASE],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        yield f"postgresql://{PG_USER}@/{PG_DATABASE}?host={folder}&port={port}"
    finally:
        _stop(server, first=signal.SIGINT, grace_s=30)  # SIGINT: PostgreSQL's "fast" shutdown
        if owner:
            shutil.rmtree(folder, ignore_errors=True)


def _pg_ready(socket_folder: Path, port: int) -> bool:
    command = [_pg_bin("pg_isready"), "-q", "-h", str(socket_folder), "-p", str(port)]
    return subprocess.run(command, check=False).returncode == 0


def _wait_for(ready: object, process: subprocess.Popen, log: Path, *, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():  # type: ignore[operator]
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


# ----------------------------------------------------------------------------- MLflow server


def _http_ready(uri: str) -> bool:
    with suppress(OSError):
        with urllib.request.urlopen(f"{uri}/health", timeout=5) as response:
            return bool(response.status == 200)
    return False


@contextmanager
def mlflow_server(folder: Path, backend_store_uri: str, *, workers: int = 1) -> Iterator[str]:
    """``mlflow server`` on 127.0.0.1 with its own port and artifact root; yields its URI."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", backend_store_uri),
        *("--artifacts-destination", str(folder / "artifacts")),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
    ]
    log = folder / "server.log"
    server = subprocess.Popen(
        command,
        cwd=folder,
        env={**os.environ, **QUIET_ENV},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _http_ready(uri), server, log, what="mlflow server")
        yield uri
    finally:
        _stop(server)


# ----------------------------------------------------------------------------- the load


def trial_key(index: int) -> str:
    return f"load-{index:06d}"


def trial_params(index: int) -> dict[str, object]:
    """A trial's params, as the sweep sets them (axes, budget, settings)."""
    return {
        "network": f"net{index % 13}",
        "dataflow": ("dla", "eye", "shi")[index % 3],
        "objective": "latency",
        "constraint": "area",
        "budget_level": index % 12,
        "algorithm": "random",
        "seed": index,
        "evaluation_budget": 100,
        "trial_key": trial_key(index),
        "setting.batch": 16,
    }


def trial_summary(index: int) -> dict[str, object]:
    """A trial's ``summary.json`` (the values log_trial turns into metrics)."""
    return {
        "objective": "latency",
        "sense": "min",
        "objective_value": 1000.0 + index,
        "constraint": "area",
        "constraint_used": 0.5 + index % 7,
        "budget": 8.0,
        "feasible": True,
        "optimal": index % 2 == 0,
        "model_evaluations": 100,
        "cost_model_calls": 100 + index,
        "wall_time_s": 0.01 * (index % 50),
        "cost_model_version": "load",
    }


OPTIMUM = 900.0


def expected_metrics(index: int) -> dict[str, float]:
    """The final metric values a logged trial must show (what log_trial derives from its summary)."""
    summary = trial_summary(index)
    histories = tracking.trial_histories(summary, None, OPTIMUM)
    finals = tracking.trial_final_metrics(summary, {"optimum": OPTIMUM})
    values = {key: float(points[max(points)]) for key, points in histories.items()}
    values.update({key: float(value) for key, value in finals.items()})  # type: ignore[arg-type]
    return values


def log_share(uri: str, experiment_id: str, parent_run_id: str, indices: Sequence[int]) -> int:
    """Log a worker's trials one after another, as a trial process does: start the run, then log it."""
    for index in indices:
        key, name = trial_key(index), f"load_{index}"
        tags = {"confx.sweep": "load", "confx.algorithm": "random"}
        tracking.start_trial_run(uri, experiment_id, parent_run_id, trial_key=key, run_name=name, tags=tags)
        tracking.log_trial(
            uri,
            experiment_id,
            parent_run_id,
            trial_key=key,
            run_name=name,
            params=trial_params(index),
            tags=tags,
            summary=trial_summary(index),
            curve=None,
            solution=None,
            extra_metrics={"optimum": OPTIMUM},
            status="FINISHED",
            error=None,
            artifact_files=[],
        )
    return len(indices)


@dataclass(frozen=True)
class LoadResult:
    backend: str
    runs: int
    processes: int
    seconds: float
    problems: list[str]

    @property
    def runs_per_s(self) -> float:
        return self.runs / self.seconds


def log_concurrently(uri: str, *, n_runs: int, n_processes: int, sweep: str) -> tuple[str, str, float]:
    """Open a sweep's parent and log n_runs child runs from n_processes processes at once.

    Returns:
        The experiment id, the parent run id and the logging wall time in seconds.
    """
    experiment_id = tracking.ensure_experiment(uri, sweep)
    parent = tracking.open_parent_run(
        uri, experiment_id, sweep_id=sweep, run_name=f"sweep-{sweep}", params={"n_trials": n_runs}, tags={}
    )
    shares = [list(range(n_runs))[worker::n_processes] for worker in range(n_processes)]
    start = time.perf_counter()
    with ProcessPoolExecutor(n_processes, mp_context=get_context("spawn")) as pool:
        logged = sum(pool.map(log_share, *zip(*[(uri, experiment_id, parent, share) for share in shares], strict=True)))
    seconds = time.perf_counter() - start
    assert logged == n_runs, (logged, n_runs)
    tracking.close_parent_run(uri, parent, status="FINISHED", artifact_files=[], metrics={"n_runs": n_runs})
    return experiment_id, parent, seconds


def child_runs(uri: str, experiment_id: str, parent_run_id: str) -> list[Run]:
    """Every active child run of a parent, read page by page."""
    client = mlflow.MlflowClient(uri)
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}'", max_results=5000, page_token=token
        )
        runs += list(page)
        token = page.token
        if not token:
            return runs


def check_runs(runs: Sequence[Run], n_runs: int) -> list[str]:
    """Every trial present exactly once, FINISHED, with its params and final metrics; the problems found."""
    problems = []
    counts = Counter(run.data.tags.get(tracking.TRIAL_KEY_TAG) for run in runs)
    duplicated = sorted(str(key) for key, count in counts.items() if count > 1)
    if duplicated:
        problems.append(f"{len(duplicated)} trials logged more than once, e.g. {duplicated[:3]}")
    by_key: Mapping[object, Run] = {run.data.tags.get(tracking.TRIAL_KEY_TAG): run for run in runs}
    missing = [trial_key(i) for i in range(n_runs) if trial_key(i) not in by_key]
    if missing:
        problems.append(f"{len(missing)} of {n_runs} trials missing, e.g. {missing[:3]}")
    extra = set(by_key) - {trial_key(i) for i in range(n_runs)}
    if extra:
        problems.append(f"{len(extra)} unexpected runs, e.g. {sorted(map(str, extra))[:3]}")
    for index in range(n_runs):
        run = by_key.get(trial_key(index))
        if run is None:
            continue
        params = {key: str(value) for key, value in trial_params(index).items()} | {"sense": "min"}
        params["cost_model_version"] = "load"
        if run.info.status != "FINISHED":
            problems.append(f"{trial_key(index)}: status {run.info.status}")
        if run.data.params != params:
            problems.append(f"{trial_key(index)}: params {run.data.params} instead of {params}")
        if run.data.metrics != expected_metrics(index):
            problems.append(f"{trial_key(index)}: metrics {run.data.metrics} instead of {expected_metrics(index)}")
    return problems


@contextmanager
def backend_store(backend: str, folder: Path) -> Iterator[str]:
    """The server's backend store: a fresh PostgreSQL database, or an SQLite file in folder."""
    if backend == "postgresql":
        with postgres_cluster(folder) as uri:
            yield uri
    elif backend in ("sqlite", "sqlite-file"):
        folder.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{folder / 'mlflow.db'}"
    else:
        raise ValueError(f"backend {backend!r}; use one of {BACKENDS}")


def run_load(backend: str, folder: Path, *, n_runs: int, n_processes: int) -> LoadResult:
    """Start the backend and its server, log the load, read it back and check it."""
    with backend_store(backend, folder / backend) as store:
        if backend == "sqlite-file":
            return _load_and_check(backend, store, n_runs=n_runs, n_processes=n_processes)
        with mlflow_server(folder / backend / "server", store, workers=SERVER_WORKERS[backend]) as uri:
            return _load_and_check(backend, uri, n_runs=n_runs, n_processes=n_processes)


def _load_and_check(backend: str, uri: str, *, n_runs: int, n_processes: int) -> LoadResult:
    experiment_id, parent, seconds = log_concurrently(
        uri, n_runs=n_runs, n_processes=n_processes, sweep=f"load-{backend}"
    )
    problems = check_runs(child_runs(uri, experiment_id, parent), n_runs)
    return LoadResult(backend, n_runs, n_processes, seconds, problems)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5000, help="child runs to log per backend")
    parser.add_argument("--processes", type=int, default=4, help="concurrent logging processes")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=["postgresql", "sqlite"])
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="load the backends at the same time, so that both see the same machine load (a shared host)",
    )
    parser.add_argument("--work-dir", type=Path, default=None, help="where stores and logs go (default: a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="confx-mlflow-load-") as scratch:
        folder = args.work_dir or Path(scratch)
        workers = len(args.backends) if args.side_by_side else 1
        with ThreadPoolExecutor(workers) as backends:
            loads = [
                backends.submit(run_load, b, folder, n_runs=args.runs, n_processes=args.processes)
                for b in args.backends
            ]
            results = [load.result() for load in loads]
    baseline = results[0]
    print(
        f"{'backend':<11} {'runs':>6} {'procs':>5} {'seconds':>8} {'runs/s':>7} {'vs ' + baseline.backend:>14}  check"
    )
    for result in results:
        ratio = result.runs_per_s / baseline.runs_per_s
        check = "every run once, params and metrics ok" if not result.problems else "; ".join(result.problems[:5])
        print(
            f"{result.backend:<11} {result.runs:>6} {result.processes:>5} {result.seconds:>8.1f} "
            f"{result.runs_per_s:>7.1f} {ratio:>13.2f}x  {check}"
        )
    if any(result.problems for result in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""A sweep on a real two-node Ray cluster on this host, submitted through the Jobs API.

Two raylets of 1 CPU each (``ray start --head`` and ``ray start --address``), an MLflow
tracking server on 127.0.0.1, and ``ray job submit`` of ``cluster/run_sweep.py``, exactly as
cluster/README.md submits to a real cluster (there with ``RAY_AUTH_MODE=token``; here every
ray command, the job and its driver run with ``RAY_AUTH_MODE=disabled``).

The cluster lives in a temporary Ray folder of its own (``--temp-dir``), so a ``ray.init()``
elsewhere never finds it, and it is stopped by process id: ``ray stop`` would kill every Ray
on the machine, including the in-process one of the ``local_ray`` fixture. Nothing here calls
``ray.init`` or ``ray.shutdown`` in the pytest process or sets ``RAY_ADDRESS``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import psutil
import pytest
import yaml

from confx.pipeline.sweep.config import load_sweep_config
from confx.pipeline.sweep.plan import plan_trials

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "conf" / "smoke.yaml"
UPLOAD_EXCLUDES = [
    ".venv",
    ".git",
    "results",
    "mlflow.db",
    "mlruns",
    "*.egg-info",
    ".hypothesis",
    ".pytest_cache",
    ".ruff_cache",
    "tests/data",
]
"""Kept out of the job's working-directory upload (the venv alone is about 2 GB)."""
LOCAL_STORE_NAMES = ("mlflow.db", "mlruns", "mlartifacts")
"""What MLflow's embedded (node-local) default store leaves behind."""
QUIET_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}
"""One auth mode for every process, and no usage reports leaving the machine."""


def free_port() -> int:
    """A TCP port free on every interface right now (Ray binds some ports on the host's own address)."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


# --- a local multi-raylet cluster, stopped by process id ----------------------------------


@dataclass(frozen=True)
class LocalCluster:
    """Raylets started with ``ray start`` on this host, each in its own subfolder of ``temp_dir``.

    One Ray folder per raylet, as on separate machines: raylets sharing one would share the
    session's ``runtime_resources``, and the second node's runtime-env agent would replace the
    job's unpacked working directory under the running driver (whose ``getcwd()`` then fails:
    torch aborts with "Intel oneMKL FATAL ERROR: Cannot load libtorch_cpu.so").
    """

    temp_dir: Path
    env: dict[str, str]
    gcs_port: int
    dashboard_port: int

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def gcs_address(self) -> str:
        """The address ``ray start`` recorded (Ray puts the host's own address in place of 127.0.0.1)."""
        return (self.temp_dir / "head" / "ray_current_cluster").read_text().strip()

    def ray(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        """Run a ``ray`` command with the cluster's environment; output goes to a log, not a pipe."""
        log = self.temp_dir / "commands.log"
        with log.open("a") as out:  # ray start's daemons inherit its stdout: a pipe would never close
            out.write(f"$ ray {' '.join(args)}\n")
            out.flush()
            return subprocess.run(
                [str(Path(sys.executable).parent / "ray"), *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
            )

    def log_tail(self, n_chars: int = 4000) -> str:
        return (self.temp_dir / "commands.log").read_text()[-n_chars:]


def cluster_env() -> dict[str, str]:
    """The environment of every ray command, job and driver: this venv first, no inherited RAY_ADDRESS."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")}
    env.update(QUIET_ENV, PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    return env


def cluster_processes(temp_dir: Path) -> list[psutil.Process]:
    """Every process of the cluster: those naming or running in its Ray folder, with all their descendants.

    Ray's workers rename themselves (``ray::IDLE``), so they are found as children of their raylet.
    """
    marker, found = f"{temp_dir}{os.sep}", {}
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        cmdline, cwd = " ".join(proc.info["cmdline"] or []), proc.info["cwd"] or ""
        if marker in cmdline or cwd.startswith(marker):
            found[proc.pid] = proc
            with suppress(psutil.Error):
                found.update({child.pid: child for child in proc.children(recursive=True)})
    found.pop(os.getpid(), None)
    return list(found.values())


def stop_cluster_processes(temp_dir: Path, *, grace_s: float = 15) -> list[psutil.Process]:
    """Terminate the cluster's processes (SIGKILL after the grace period); return any survivors."""
    procs = cluster_processes(temp_dir)
    for proc in procs:
        with suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        with suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
    return [p for p in cluster_processes(temp_dir) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@contextmanager
def local_cluster(
    n_nodes: int, *, cpus_per_node: int = 1, memory_gib: float = 2.0, object_store_mib: int = 300
) -> Iterator[LocalCluster]:
    """Start ``n_nodes`` raylets of ``cpus_per_node`` CPUs on this host; stop them all on exit.

    Each raylet is told its memory and object store: by default each would claim the whole host.
    """
    temp_dir = Path(tempfile.mkdtemp(prefix="cxrc-", dir="/tmp"))  # short: Ray's socket paths must fit 107 chars
    cluster = LocalCluster(temp_dir, cluster_env(), free_port(), free_port())
    sizes = [
        f"--num-cpus={cpus_per_node}",
        f"--memory={int(memory_gib * 1024**3)}",
        f"--object-store-memory={object_store_mib * 1024**2}",
        "--disable-usage-stats",
    ]
    try:
        head = cluster.ray(
            "start",
            "--head",
            f"--port={cluster.gcs_port}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={cluster.dashboard_port}",
            f"--ray-client-server-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--temp-dir={temp_dir / 'head'}",
            *sizes,
        )
        assert head.returncode == 0, cluster.log_tail()
        for index in range(1, n_nodes):
            worker = cluster.ray(
                "start",
                f"--address=127.0.0.1:{cluster.gcs_port}",
                f"--temp-dir={temp_dir}/node{index}",
                f"--dashboard-agent-listen-port={free_port()}",
                *sizes,
            )
            assert worker.returncode == 0, cluster.log_tail()
        wait_for_nodes(cluster, n_nodes)
        yield cluster
    finally:
        survivors = stop_cluster_processes(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert not survivors, f"Ray processes survived the cluster: {[p.pid for p in survivors]}"  # not masking a failure


def wait_for_nodes(cluster: LocalCluster, n_nodes: int, *, timeout_s: float = 120) -> None:
    """Wait until the dashboard lists ``n_nodes`` live nodes."""
    deadline, alive = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline:
        with suppress(OSError, ValueError):
            with urllib.request.urlopen(f"{cluster.dashboard_url}/nodes?view=summary", timeout=5) as response:
                summary = json.load(response)["data"]["summary"]
            alive = sum(node["raylet"]["state"] == "ALIVE" for node in summary)
            if alive >= n_nodes:
                return
        time.sleep(1)
    raise AssertionError(f"{alive} of {n_nodes} nodes alive after {timeout_s} s\n{cluster.log_tail()}")


# --- an MLflow tracking server --------------------------------------------------------------


@contextmanager
def mlflow_server(folder: Path) -> Iterator[str]:
    """An MLflow server on 127.0.0.1 with its store in ``folder``; yields its URI, kills its process group."""
    folder.mkdir(parents=True)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**cluster_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with (folder / "server.log").open("w") as log:
        server = subprocess.Popen(
            command,
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        uri = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            with suppress(OSError):
                with urllib.request.urlopen(f"{uri}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            assert server.poll() is None and time.monotonic() < deadline, (folder / "server.log").read_text()[-3000:]
            time.sleep(0.5)
        yield uri
    finally:
        with suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# --- the test ------------------------------------------------------------------------------


def _write_config(tmp_path: Path) -> Path:
    """Seven 1-CPU trials: three ConfuciuX searches long enough that both nodes work at once."""
    data = yaml.safe_load(SMOKE.read_text())
    data.update(
        name="cluster",
        seeds=[0, 1, 2],
        results_dir=str(tmp_path / "not-used"),
        algorithms=[
            {"name": "exact"},
            {"name": "random", "budget": 2000},
            {"name": "confuciux", "epochs": 30, "settings": {"updates_per_iteration": 2}},
        ],
    )
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _local_stores(folder: Path, *, recursive: bool) -> set[Path]:
    """MLflow embedded stores under (or, not recursive, directly in) a folder."""
    if recursive:
        return {p for name in LOCAL_STORE_NAMES for p in folder.rglob(name)}
    return {folder / name for name in LOCAL_STORE_NAMES if (folder / name).exists()}


def test_a_job_sweep_runs_on_both_nodes_and_tracks_every_trial_on_the_server(tmp_path):
    config = _write_config(tmp_path)
    planned = plan_trials(load_sweep_config(config))
    shared = tmp_path / "shared"
    stores_before = _local_stores(ROOT, recursive=False) | _local_stores(Path.cwd(), recursive=False)

    with local_cluster(2) as cluster, mlflow_server(tmp_path / "server") as uri:
        runtime_env = {"excludes": UPLOAD_EXCLUDES, "env_vars": QUIET_ENV}
        submitted = cluster.ray(
            "job",
            "submit",
            f"--address={cluster.dashboard_url}",
            "--submission-id=confx-cluster",
            f"--working-dir={ROOT}",
            f"--runtime-env-json={json.dumps(runtime_env)}",
            "--",
            "python",
            "cluster/run_sweep.py",
            str(config),
            "--tracking-uri",
            uri,
            "--results-dir",
            str(shared),
            timeout=900,
        )
        with urllib.request.urlopen(f"{cluster.dashboard_url}/api/jobs/confx-cluster", timeout=10) as response:
            job = json.load(response)
        assert submitted.returncode == 0 and job["status"] == "SUCCEEDED", cluster.log_tail()
        uploads = list(cluster.temp_dir.glob("head/session_*/runtime_resources/working_dir_files/*"))
        assert uploads, "the job ran in an uploaded copy of the working directory"
        node_local = _local_stores(cluster.temp_dir, recursive=True) | _local_stores(shared, recursive=True)

        client = mlflow.MlflowClient(uri)
        experiment = client.get_experiment_by_name("cluster")
        runs = client.search_runs([experiment.experiment_id], max_results=1000)
        children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        artifacts = {a.path for a in client.list_artifacts(children[0].info.run_id)} if children else set()

    trials = pd.read_parquet(shared / "cluster" / "trials.parquet")
    assert sorted(trials["trial_key"]) == sorted(t.key for t in planned)
    assert (trials["status"] == "ok").all(), trials[["trial_key", "error"]]
    assert trials["node_id"].nunique() == 2, trials[["trial_key", "node_id"]]
    assert sorted(r.data.tags["confx.trial_key"] for r in children) == sorted(trials["trial_key"])
    assert all(r.info.status == "FINISHED" for r in children)
    assert set(trials["run_id"]) == {r.info.run_id for r in children}
    assert "solution.parquet" in artifacts and any((tmp_path / "server" / "artifacts").rglob("solution.parquet"))
    assert len(pd.read_parquet(shared / "cluster" / "layers")) == len(planned) * 5  # alexnet_release has 5 layers
    assert not node_local, f"a node-local tracking store was written: {node_local}"
    stores_after = _local_stores(ROOT, recursive=False) | _local_stores(Path.cwd(), recursive=False)
    assert stores_after == stores_before
    assert "RAY_ADDRESS" not in os.environ

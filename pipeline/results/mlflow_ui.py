"""`confx ui`: the MLflow UI on a sweep's store, light, local, opening on the sweep's runs.

One ``mlflow server`` with one worker and no job runner (MLflow's defaults start four
workers and a job executor: 16 processes, about 3.4 GiB) listens on 127.0.0.1. The link
it prints opens the experiment's runs table in MLflow's model-training workflow (the
``workflowType=machine_learning`` query of MLflow 3.17's UI; without it the UI lands on
the GenAI overview) through a *shared view*: an experiment tag
``mlflow.sharedViewState.<key>`` holding the table's state as JSON, named by the link's
``viewStateShareKey``. The view shows every run flat, sorted by name (a sorted table does
not fold child runs under their parent), with the columns a comparison needs.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import mlflow
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from confx.costmodel.errors import ConfXError
from confx.pipeline.results.tracking import DB_FILE, default_tracking_uri
from confx.pipeline.results.units import OBJECTIVE_UNITS, objective_key

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
VIEW_KEY = "confx-runs"
"""The shared view's key (``viewStateShareKey``)."""
SHARED_VIEW_TAG = "mlflow.sharedViewState."
RUN_NAME_SORT_KEY = "tags.`mlflow.runName`"
PARAM_AXES = ("network", "dataflow", "objective", "constraint", "mul", "space", "algorithm", "seed")
"""Child-run params shown as columns when they vary among the runs."""
TABLE_METRICS = ("model_evaluations", "wall_time_s")
REPORT_ARTIFACT = "report.html"
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 10.0


# ----------------------------------------------------------------------------- the store and its view


def find_store(results_dir: str | Path) -> Path:
    """The ``mlflow.db`` of a sweep's results folder (or of the one sweep folder inside it).

    Raises:
        ConfXError: No store there.
    """
    results = Path(results_dir)
    if (results / DB_FILE).is_file():
        return results / DB_FILE
    stores = sorted(results.glob(f"*/{DB_FILE}"))
    if not stores:
        raise ConfXError(f"no MLflow store ({DB_FILE}) in {results} or its subfolders; run a sweep first")
    if len(stores) > 1:
        logger.warning("several stores under %s; showing %s", results, stores[0])
    return stores[0]


def sweep_experiment(tracking_uri: str, *, prefer: str) -> str | None:
    """The store's sweep experiment: the one named ``prefer``, else the only one besides MLflow's Default."""
    client = mlflow.MlflowClient(tracking_uri)
    experiments = [e for e in client.search_experiments() if e.name != "Default"]
    named = [e for e in experiments if e.name == prefer]
    if named:
        return str(named[0].experiment_id)
    return str(experiments[0].experiment_id) if len(experiments) == 1 else None


def _column(kind: str, name: str) -> str:
    return f"{kind}.`{name}`"


def runs_view_columns(tracking_uri: str, experiment_id: str) -> list[str]:
    """The columns: duration, the params that vary among the child runs, the gap and the objective (units in keys)."""
    client = mlflow.MlflowClient(tracking_uri)
    runs = client.search_runs([experiment_id], max_results=5000)
    children = [run for run in runs if MLFLOW_PARENT_RUN_ID in run.data.tags]
    params = [
        axis
        for axis in PARAM_AXES
        if len({run.data.params.get(axis) for run in children if axis in run.data.params}) > 1
    ]
    logged = {key for run in children for key in run.data.metrics}
    # The grid orders metrics by name and draws what fits: the few that compare runs (the rest is on each run's page).
    objective_keys = [objective_key(name) for name in OBJECTIVE_UNITS]
    metrics = [key for key in ("gap", *objective_keys, *TABLE_METRICS) if key in logged]
    return [
        _column("attributes", "Duration"),
        *(_column("params", name) for name in params),
        *(_column("metrics", name) for name in metrics),
    ]


def set_runs_view(tracking_uri: str, experiment_id: str) -> None:
    """Write the shared view the link opens (an experiment tag; rewritten on every `confx ui`)."""
    state = {
        "searchFilter": "",
        "orderByKey": RUN_NAME_SORT_KEY,
        "orderByAsc": True,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "selectedColumns": runs_view_columns(tracking_uri, experiment_id),
        "runListHidden": False,
    }
    mlflow.MlflowClient(tracking_uri).set_experiment_tag(experiment_id, SHARED_VIEW_TAG + VIEW_KEY, json.dumps(state))


def runs_view_link(base_url: str, experiment_id: str | None) -> str:
    """The link to an experiment's runs view in the model-training workflow (the experiment list without one)."""
    if experiment_id is None:
        return f"{base_url}/#/experiments?workflowType=machine_learning"
    query = f"workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"
    return f"{base_url}/#/experiments/{experiment_id}/runs?{query}"


def sweep_parent_run(tracking_uri: str, experiment_id: str) -> str | None:
    """The newest parent run of the experiment (a run with no parent), or None."""
    client = mlflow.MlflowClient(tracking_uri)
    runs = client.search_runs([experiment_id], order_by=["attributes.start_time DESC"], max_results=5000)
    parents = [run for run in runs if MLFLOW_PARENT_RUN_ID not in run.data.tags]
    return str(parents[0].info.run_id) if parents else None


def report_link(base_url: str, experiment_id: str, run_id: str) -> str:
    """The link to a parent run's ``report.html`` in the model-training workflow."""
    route = f"#/experiments/{experiment_id}/runs/{run_id}/artifacts/{REPORT_ARTIFACT}"
    return f"{base_url}/{route}?workflowType=machine_learning"


# ----------------------------------------------------------------------------- the server


def server_command(tracking_uri: str, port: int) -> list[str]:
    """``mlflow server`` on 127.0.0.1 with one worker."""
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri,
            "--host", HOST, "--port", str(port), "--workers", "1", "--uvicorn-opts", "--no-access-log"]  # fmt: skip


def server_environment() -> dict[str, str]:
    """The server's environment: no job executor (its own processes), no telemetry."""
    return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise ConfXError(f"port {port} on {HOST} is in use ({error.strerror}); pass another --port") from None


def wait_until_ready(base_url: str, server: subprocess.Popen, *, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll the server's ``/health`` until it answers.

    Raises:
        ConfXError: The server exited, or did not answer within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ConfXError(f"the MLflow server exited with code {server.returncode}; see its messages above")
        try:
            with urllib.request.urlopen(f"{base_url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise ConfXError(f"the MLflow server did not answer on {base_url} within {timeout_s:.0f} s")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_server(server: subprocess.Popen) -> None:
    """Stop the server's process group (``mlflow server`` and its uvicorn worker): SIGTERM, then SIGKILL."""
    if not _group_alive(server.pid):
        server.poll()
        return
    os.killpg(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        server.poll()  # reaps the server, so that a zombie does not count as alive
        if not _group_alive(server.pid):
            return
        time.sleep(0.2)
    logger.warning("the MLflow server did not stop within %.0f s; killing it", STOP_TIMEOUT_S)
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait()


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit, so that a terminated `confx ui` still stops its server."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _can_open_browser() -> bool:
    """A graphical browser can be opened: on macOS and Windows, or under X11 or Wayland."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def serve_ui(
    results_dir: str | Path,
    *,
    port: int,
    open_browser: bool = True,
    echo: Callable[[str], None] = print,
    command: Sequence[str] | None = None,
) -> int:
    """Serve a sweep's MLflow store on 127.0.0.1 until interrupted; print (and open) the runs view's link.

    Args:
        results_dir: A sweep's results folder (holding ``mlflow.db``).
        port: The port to listen on.
        open_browser: Open the link where a graphical browser exists.
        echo: Receives the lines for the user (the link comes once the server answers).
        command: The server command (default: :func:`server_command`).

    Returns:
        0 after Ctrl-C or SIGTERM, else the server's exit code.

    Raises:
        ConfXError: No store in results_dir, the port in use, or a server that does not start.
    """
    store = find_store(results_dir)
    uri = default_tracking_uri(store.parent)
    experiment_id = sweep_experiment(uri, prefer=store.parent.name)
    if experiment_id is not None:
        set_runs_view(uri, experiment_id)
    _check_port_free(port)
    base_url = f"http://{HOST}:{port}"
    server = subprocess.Popen(command or server_command(uri, port), env=server_environment(), start_new_session=True)
    echo(f"MLflow UI for {uri} starting on {base_url} (server pid {server.pid}; Ctrl-C to stop)")
    try:
        with _sigterm_as_exit():
            wait_until_ready(base_url, server)
            link = runs_view_link(base_url, experiment_id)
            echo(f"runs: {link}")
            parent = None if experiment_id is None else sweep_parent_run(uri, experiment_id)
            if experiment_id is not None and parent is not None:
                echo(f"report: {report_link(base_url, experiment_id, parent)}")
            if open_browser and _can_open_browser():
                webbrowser.open(link)
            return server.wait()
    except (KeyboardInterrupt, SystemExit):
        return 0
    finally:
        stop_server(server)

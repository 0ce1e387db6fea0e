"""The files in cluster/: launcher YAMLs that Ray itself accepts, and schedulers that run the nightly scan.

Each launcher YAML goes through the cluster launcher's own ``prepare_config`` (merge with the
provider's ``defaults.yaml``, node-type bounds, local-provider preparation) and ``validate_config``
(the JSON schema). ``prepare_config`` only reads files: it builds no node provider and calls no
cloud API, which the tests make sure of by refusing every socket connection while it runs.
"""

from __future__ import annotations

import configparser
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"
LAUNCHER_CONFIGS = ("aws.yaml", "gcp.yaml", "local.yaml")
NIGHTLY = re.compile(
    r"confx nightly conf/nightly\.yaml --address auto --tracking-uri http://\S+:5000 --results-dir \S+"
)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _prepared(name: str) -> dict:
    return prepare_config(yaml.safe_load((CLUSTER / name).read_text()))


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_launcher_config_passes_rays_own_validation(name, no_network):
    config = _prepared(name)
    validate_config(config)
    head = config["head_node_type"]
    workers = [t for t in config["available_node_types"] if t != head] or [head]  # local: one implicit type
    assert all(config["available_node_types"][t]["max_workers"] >= 1 for t in workers)
    assert all(t["min_workers"] <= t["max_workers"] for t in config["available_node_types"].values())


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_setup_installs_the_cpu_torch_first_then_confx_then_mlflow(name):
    commands = _prepared(name)["setup_commands"]
    position = {
        "venv": next(i for i, c in enumerate(commands) if "python3 -m venv" in c),
        "torch": next(i for i, c in enumerate(commands) if "torch==2.13.0" in c),
        "confx": next(i for i, c in enumerate(commands) if "pip install" in c and "-e ~/confx" in c),
        "mlflow": next(i for i, c in enumerate(commands) if "mlflow==3.17.2" in c),
    }
    assert position["venv"] < position["torch"] < position["confx"] <= position["mlflow"]
    assert "--index-url https://download.pytorch.org/whl/cpu" in commands[position["torch"]]
    assert _prepared(name)["file_mounts"]["~/confx"] == "."


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_every_ray_start_uses_token_auth_and_the_token_is_shared(name):
    config = _prepared(name)
    starts = [c for key in ("head_start_ray_commands", "worker_start_ray_commands") for c in config[key]]
    ray_commands = [c for c in starts if "ray " in c and "mlflow" not in c]
    assert len(ray_commands) == 4  # ray stop + ray start, on the head and on the workers
    assert all("RAY_AUTH_MODE=token" in c for c in ray_commands), ray_commands
    assert any("--head" in c for c in config["head_start_ray_commands"])
    assert any("--address=$RAY_HEAD_IP" in c for c in config["worker_start_ray_commands"])
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    assert any("RAY_AUTH_MODE=token" in c and ".bashrc" in c for c in config["setup_commands"])


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_head_starts_the_mlflow_server_without_the_job_runner(name):
    server = next(c for c in _prepared(name)["head_start_ray_commands"] if "mlflow server" in c)
    assert "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false" in server
    assert "sqlite:///$HOME/mlflow/mlflow.db" in server  # the default store, or the fallback
    for flag in (
        "--backend-store-uri",
        "--artifacts-destination",
        "--host 0.0.0.0",
        "--port 5000",
        "--workers 1",
    ):
        assert flag in server


@pytest.mark.parametrize("name", ["aws.yaml", "gcp.yaml"])
def test_postgresql_store_is_one_uncommented_block_away(name, tmp_path):
    """Uncommented, the PostgreSQL lines are valid setup commands and the server reads the URI they write."""
    text = (CLUSTER / name).read_text()
    config = prepare_config(yaml.safe_load(re.sub(r"(?m)^  # (- .*)$", r"  \1", text)))
    setup = config["head_setup_commands"]
    assert any('-e "$HOME/confx[postgres]"' in c for c in setup)
    assert any("apt-get install" in c and "postgresql" in c for c in setup)
    writes_uri = next(c for c in setup if "~/mlflow/backend-store-uri" in c)
    server = next(c for c in config["head_start_ray_commands"] if "mlflow server" in c)
    store = re.search(r'--backend-store-uri "(\$\(.*?\))"', server).group(1)
    for command in setup:
        assert subprocess.run(["bash", "-n", "-c", command], capture_output=True).returncode == 0, command
    resolve = ["bash", "-c", f'echo "{store}"']
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    assert subprocess.run(resolve, env=env, capture_output=True, text=True).stdout.strip().startswith("sqlite:///")
    subprocess.run(["bash", "-c", writes_uri], env=env, check=True)
    uri = subprocess.run(resolve, env=env, capture_output=True, text=True).stdout.strip()
    assert uri == "postgresql:///mlflow?host=/var/run/postgresql"


def test_local_head_runs_autoscaler_v1_and_its_mlflow_server_stops_with_its_ray():
    """v2 counts the head toward the local node type's min_workers; ``ray down`` stops only Ray (see test_ray_up)."""
    head = _prepared("local.yaml")["head_start_ray_commands"]
    start = next(c for c in head if "ray start --head" in c)
    assert "RAY_enable_autoscaler_v2=0 " in start
    server = next(c for c in head if "mlflow server" in c)
    assert 'tail --pid="$GCS_PID"' in server and "wait -n; kill -- -$$" in server
    assert head.index(start) < head.index(server)  # the server's session waits on the running GCS


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_every_command_is_valid_shell(name):
    config = _prepared(name)
    keys = (
        "initialization_commands",
        "head_setup_commands",
        "worker_setup_commands",
        "head_start_ray_commands",
        "worker_start_ray_commands",
    )
    for command in (c for key in keys for c in config[key]):
        checked = subprocess.run(["bash", "-n", "-c", command], capture_output=True, text=True)
        assert checked.returncode == 0, f"{command}\n{checked.stderr}"


def test_cron_line_runs_the_nightly_scan_with_token_auth():
    lines = [line for line in (CLUSTER / "nightly.cron").read_text().splitlines() if line and line[0] != "#"]
    jobs = [line for line in lines if not re.match(r"^[A-Z_]+=", line)]
    assert "RAY_AUTH_MODE=token" in lines
    assert len(jobs) == 1
    fields = jobs[0].split(maxsplit=5)
    assert len(fields) == 6 and all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]), jobs[0]
    assert NIGHTLY.search(fields[5].replace('"$HOME/confx-venv/bin/confx"', "confx")), fields[5]
    assert "%" not in fields[5]  # cron would turn it into a newline


def test_systemd_timer_starts_the_nightly_service():
    service, timer = configparser.ConfigParser(interpolation=None), configparser.ConfigParser(interpolation=None)
    service.optionxform = timer.optionxform = str  # systemd keys are case-sensitive
    service.read_string((CLUSTER / "confx-nightly.service").read_text())
    timer.read_string((CLUSTER / "confx-nightly.timer").read_text())
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["Environment"] == "RAY_AUTH_MODE=token"
    assert NIGHTLY.search(service["Service"]["ExecStart"].replace("%h/confx-venv/bin/confx", "confx"))
    assert timer["Timer"]["Unit"] == "confx-nightly.service" and timer["Timer"]["OnCalendar"]
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_entry_script_joins_the_cluster_it_runs_on():
    script = (CLUSTER / "run_sweep.py").read_text()
    assert '"confx.pipeline.cli", "sweep", *argv, "--address", "auto"' in script
    refused = subprocess.run(
        [sys.executable, str(CLUSTER / "run_sweep.py"), "conf/smoke.yaml", "--address", "x:1"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "do not pass --address" in refused.stderr

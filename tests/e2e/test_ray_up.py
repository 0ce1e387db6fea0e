"""``ray up`` / ``ray submit`` / ``ray down`` with the shipped ``cluster/local.yaml``, on this host over SSH.

Two "machines" on loopback addresses, head 127.0.0.1 and worker 127.0.0.2, behind an sshd the
test starts (its own host key, config and port). They log in as a throw-away user whose home is
the test folder, as ``ssh_user`` of the launcher config. That config is generated from the
shipped ``cluster/local.yaml`` by replacements that must each hit (so the shipped commands are
what runs): the addresses, the port of every Ray and MLflow listener, one ``--temp-dir`` per
node, the shared folder, and no ``pip install`` (the nodes use this venv's packages). The test
then checks the launcher path end to end: the worker joins, ``ray submit cluster/run_sweep.py --
conf/smoke.yaml`` runs trials on both nodes and every MLflow run and Parquet row arrives, and
``ray down`` leaves no Ray or MLflow process of the throw-away user behind.

Both nodes run as one user on one host, so ``ray stop`` on either would stop both: the worker's
``ray stop`` is left out, and ``ray down`` (which runs ``ray stop`` on the head) stops the worker's
raylet too. A ``ray stop`` of the throw-away user cannot touch anyone else's Ray. The test never
runs ``ray stop`` itself; it stops what is left by the user's uid and by process id. When the
head's or the worker's start fails (on a loaded host a raylet can miss one of Ray's fixed start-up
deadlines), the test does what cluster/README.md says and runs ``ray up`` again (three tries).

The user's Python: the venv's interpreter may live where the user cannot read (pyenv under
``/root``); then the test links the interpreter's files into the home (hard links, no copies of
data) and the user's ``~/confx-venv`` imports this venv's packages through a ``.pth`` file.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import pwd
import random
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import mlflow
import pandas as pd
import psutil
import pytest
import yaml

from confx.pipeline.sweep.config import load_sweep_config
from confx.pipeline.sweep.plan import plan_trials

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="creates a throw-away user and starts sshd: needs root"),
]

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "cluster" / "local.yaml"
SWEEP = "conf/smoke.yaml"
"""The shipped smoke sweep; the test runs it with two seeds (see :func:`two_seed_sweep`)."""
HEAD_IP, WORKER_IP = "127.0.0.1", "127.0.0.2"
SSHD = Path("/usr/sbin/sshd")
QUIET_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
NODE_NICENESS = -10
"""The nodes' priority (sshd's, inherited by every session): a raylet aborts when its dashboard
agent has not started within Ray's fixed deadline, which a host shared with other work misses."""
UP_ATTEMPTS = 3
"""``ray up`` runs until head and worker are up, as cluster/README.md advises after a failed start."""
NODE_SIZES = f"--num-cpus=1 --memory={2 * 1024**3} --object-store-memory={300 * 1024**2}"
"""Each node's share of this host (by default each would claim all of it)."""


class Ports:
    """Distinct free TCP ports in 20000-29999: above Ray's worker ports (10002-19999) and below the
    kernel's ephemeral range, where the ports Ray picks at random (node manager, object manager,
    metrics, runtime-env agent) land, so none of them can take one of these."""

    def __init__(self) -> None:
        self._taken: set[int] = set()
        self._random = random.SystemRandom()

    def take(self) -> int:
        for _ in range(500):
            port = self._random.randrange(20000, 30000)
            if port in self._taken:
                continue
            with socket.socket() as probe:  # the wildcard bind fails if any address holds the port
                try:
                    probe.bind(("0.0.0.0", port))
                except OSError:
                    continue
            self._taken.add(port)
            return port
        raise AssertionError("no free TCP port in 20000-29999")


def replace_once(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced; fails if the shipped config no longer has ``old`` exactly once."""
    assert text.count(old) == 1, f"cluster/local.yaml changed: expected {old!r} once in {text!r}"
    return text.replace(old, new)


def replace_all(text: str, old: str, new: str) -> str:
    """``text`` with every ``old`` replaced; fails if there is none."""
    assert old in text, f"cluster/local.yaml changed: expected {old!r} in {text!r}"
    return text.replace(old, new)


def excerpt(path: Path, n_chars: int = 1500) -> str:
    """The start (where a crash says why) and the end of a log."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"--- {path}: missing ---\n"
    if len(text) > 2 * n_chars:
        text = f"{text[:n_chars]}\n[...]\n{text[-n_chars:]}"
    return f"--- {path} ---\n{text}\n"


# --- the machine: a throw-away user, its Python, an sshd on loopback ------------------------


@dataclass(frozen=True)
class Machine:
    """The throw-away user behind the test's sshd; ``home`` is the test folder of the nodes."""

    user: str
    uid: int
    home: Path
    ssh_port: int
    key: Path
    proxy: Path
    sshd_log: Path

    def processes(self) -> list[psutil.Process]:
        """Every live process of the user (the head's and the worker's Ray, MLflow, SSH sessions)."""
        found = []
        for proc in psutil.process_iter(["uids", "status"]):
            with suppress(psutil.Error):
                if proc.info["uids"].real == self.uid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        return found


def _as_user(user: pwd.struct_passwd, command: list[str], env: dict[str, str], **kwargs) -> None:
    """Run ``command`` as ``user``; its output goes into the failure message."""
    done = subprocess.run(
        command,
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
        env={"HOME": user.pw_dir, "USER": user.pw_name, "PATH": "/usr/bin:/bin", **env},
        cwd=user.pw_dir,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )
    assert done.returncode == 0, f"as {user.pw_name}: {command}\n{done.stdout}\n{done.stderr}"


def _interpreter_for(user: pwd.struct_passwd) -> tuple[Path, dict[str, str]]:
    """This venv's base interpreter as the user can run it, and the environment it needs.

    Where the user cannot reach it, its executable, ``libpython`` and standard library (not its
    site-packages) are hard-linked into ``~/python``: same files, a path the user may traverse.
    """
    executable = Path(os.path.realpath(sys._base_executable))  # type: ignore[attr-defined]
    try:
        subprocess.run(
            [str(executable), "-c", "import encodings"],
            user=user.pw_uid,
            group=user.pw_gid,
            extra_groups=[],
            cwd="/",
            capture_output=True,
            timeout=30,
            check=True,
        )
        return executable, {}
    except (OSError, subprocess.CalledProcessError):
        pass  # not reachable by the user
    base, view = Path(sys.base_prefix), Path(user.pw_dir) / "python"
    stdlib = Path(sysconfig.get_paths(vars={"installed_base": str(base), "base": str(base)})["stdlib"])

    def link(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        try:
            os.link(source, target)
        except OSError:  # another file system: a copy
            shutil.copy2(source, target)

    link(executable, view / executable.relative_to(base))
    for library in (base / "lib").glob("libpython*.so*"):
        link(library, view / "lib" / library.name)
    for folder, subfolders, files in os.walk(stdlib):
        subfolders[:] = [d for d in subfolders if d not in ("site-packages", "test")]  # with the .pyc files
        for name in files:
            source = Path(folder) / name
            if not source.is_symlink():
                link(source, view / source.relative_to(base))
    return view / executable.relative_to(base), {"LD_LIBRARY_PATH": str(view / "lib")}


def _user_venv(user: pwd.struct_passwd) -> dict[str, str]:
    """``~/confx-venv`` of the user, importing this venv's packages; returns the nodes' extra environment.

    It has ``ray`` and ``mlflow`` as the launcher config calls them (``~/confx-venv/bin/...``).
    """
    interpreter, env = _interpreter_for(user)
    venv = Path(user.pw_dir) / "confx-venv"
    _as_user(user, [str(interpreter), "-m", "venv", "--without-pip", str(venv)], env)
    purelib = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    lines = "".join(f"import site; site.addsitedir({folder!r})\n" for folder in sorted(ours))
    (purelib / "zz_confx_test_packages.pth").write_text(lines)
    for name in ("ray", "mlflow"):
        script = next(iter(entry_points(group="console_scripts", name=name)))  # mlflow and mlflow-skinny both name one
        module, _, attribute = script.value.partition(":")
        path = venv / "bin" / name
        path.write_text(f"#!{venv}/bin/python\nimport sys\nfrom {module} import {attribute}\nsys.exit({attribute}())\n")
        path.chmod(0o755)
    _as_user(user, [str(venv / "bin" / "python"), "-c", "import ray, mlflow"], env)
    return env


def _start_sshd(folder: Path, user: str, port: int) -> subprocess.Popen:
    """sshd on both loopback addresses, for ``user`` only, with a host key of its own."""
    assert SSHD.exists(), "no /usr/sbin/sshd: apt-get install openssh-server (.ci/run installs it)"
    folder.mkdir(mode=0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host_key")], check=True)
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress {HEAD_IP}\nListenAddress {WORKER_IP}\nHostKey {folder / 'host_key'}\n"
        f"PidFile none\nAllowUsers {user}\nPermitRootLogin no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nAuthorizedKeysFile .ssh/authorized_keys\n"
        "UsePAM no\nStrictModes yes\nMaxStartups 100\nMaxSessions 100\nPrintMotd no\nLogLevel VERBOSE\n"
        "Subsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation folder
    checked = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, f"sshd -t: {checked.stderr}"
    with (folder / "sshd.log").open("w") as log:
        sshd = subprocess.Popen(
            ["nice", f"-n{NODE_NICENESS}", str(SSHD), "-D", "-e", "-f", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 20
    for address in (HEAD_IP, WORKER_IP):
        while True:
            with suppress(OSError), socket.create_connection((address, port), timeout=2):
                break
            assert sshd.poll() is None and time.monotonic() < deadline, excerpt(folder / "sshd.log")
            time.sleep(0.2)
    return sshd


@contextmanager
def loopback_machine(launcher_dir: Path, ports: Ports) -> Iterator[Machine]:
    """A throw-away user with a home under /tmp, an SSH key and an sshd; all removed on exit."""
    name = f"cxup{secrets.token_hex(4)}"
    home = Path(tempfile.mkdtemp(prefix="cxup-", dir="/tmp"))  # short: Ray's socket paths must fit 107 chars
    sshd = None
    try:
        subprocess.run(
            ["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/bash"]
            + ["--password", "*", "--user-group", name],  # "*": no password, yet not locked (sshd refuses locked ones)
            check=True,
            capture_output=True,
        )
        user = pwd.getpwnam(name)
        os.chown(home, user.pw_uid, user.pw_gid)
        home.chmod(0o755)
        key = launcher_dir / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        port = ports.take()
        shutil.copy(key.with_suffix(".pub"), ssh_dir / "authorized_keys")
        # The head's autoscaler reaches the worker as the user, whose SSH config names the port.
        (ssh_dir / "config").write_text(f"Host {HEAD_IP} {WORKER_IP}\n    Port {port}\n")
        for path in (ssh_dir, ssh_dir / "authorized_keys", ssh_dir / "config"):
            os.chown(path, user.pw_uid, user.pw_gid)
        proxy = home / "ssh-proxy"  # the launcher config has no SSH port (root's ~/.ssh/config is not ours to edit)
        proxy.write_text(f'#!/bin/bash\nexec 3<>"/dev/tcp/$1/{port}" || exit 1\ncat <&3 &\nexec cat >&3\n')
        proxy.chmod(0o755)
        env = _user_venv(user)
        (home / "tmp").mkdir()
        os.chown(home / "tmp", user.pw_uid, user.pw_gid)
        node_env = {**env, **QUIET_ENV, "RAY_TMPDIR": str(home / "tmp"), "TMPDIR": str(home / "tmp")}
        bashrc = home / ".bashrc"  # what the nodes' image provides; setup_commands append the venv's PATH
        bashrc.write_text("".join(f"export {k}={v}\n" for k, v in node_env.items()))
        os.chown(bashrc, user.pw_uid, user.pw_gid)
        sshd = _start_sshd(launcher_dir / "sshd", name, port)
        yield Machine(name, user.pw_uid, home, port, key, proxy, launcher_dir / "sshd" / "sshd.log")
    finally:
        if sshd is not None:  # the listener and its sessions' privileged halves
            stop(psutil.Process(sshd.pid))
            sshd.wait(timeout=15)
        with suppress(KeyError):
            uid = pwd.getpwnam(name).pw_uid
            stop(*(p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid))
            removed = subprocess.run(["userdel", name], capture_output=True, text=True)
            if removed.returncode != 0:
                warnings.warn(f"userdel {name}: {removed.stderr.strip()}", stacklevel=1)
        shutil.rmtree(home, ignore_errors=True)


def stop(*procs: psutil.Process) -> None:
    """Terminate these processes and their descendants; SIGKILL what is left after 10 s."""
    everything = {}
    for proc in procs:
        with suppress(psutil.Error):
            everything.update({p.pid: p for p in [proc, *proc.children(recursive=True)]})
    for proc in everything.values():
        with suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(list(everything.values()), timeout=10)
    for proc in alive:
        with suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


# --- the launcher config: the shipped local.yaml on this host -------------------------------


@dataclass(frozen=True)
class NodePorts:
    """One node's listeners, all from the test's range: none can collide with another Ray on this host."""

    agent_http: int
    agent_grpc: int
    metrics: int
    runtime_env_agent: int
    node_manager: int
    object_manager: int

    def flags(self) -> str:
        return (
            f"--dashboard-agent-listen-port={self.agent_http} --dashboard-agent-grpc-port={self.agent_grpc} "
            f"--metrics-export-port={self.metrics} --runtime-env-agent-port={self.runtime_env_agent} "
            f"--node-manager-port={self.node_manager} --object-manager-port={self.object_manager}"
        )


@dataclass(frozen=True)
class ClusterPorts:
    gcs: int
    dashboard: int
    client_server: int
    mlflow: int
    head: NodePorts
    worker: NodePorts

    @classmethod
    def take(cls, ports: Ports) -> ClusterPorts:
        def node() -> NodePorts:
            return NodePorts(*(ports.take() for _ in range(6)))

        return cls(ports.take(), ports.take(), ports.take(), ports.take(), node(), node())


def one_machine_config(machine: Machine, name: str, token: Path, ports: ClusterPorts) -> dict:
    """cluster/local.yaml with this host's addresses, user, ports and folders; nothing else changed."""
    config = yaml.safe_load(SHIPPED.read_text())
    home, shared = machine.home, str(machine.home / "shared")
    config["cluster_name"] = name
    config["provider"].update(head_ip=HEAD_IP, worker_ips=[WORKER_IP])
    config.update(min_workers=1, max_workers=1)
    config["auth"] = {
        "ssh_user": machine.user,
        "ssh_private_key": str(machine.key),
        "ssh_proxy_command": f"{machine.proxy} %h",
    }
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    config["file_mounts"]["~/.ray/auth_token"] = str(token)
    config["initialization_commands"] = [
        replace_all(c, "/mnt/confx", shared) for c in config["initialization_commands"]
    ]
    installs = [c for c in config["setup_commands"] if "pip install" in c]
    assert len(installs) == 4, config["setup_commands"]
    config["setup_commands"] = [c for c in config["setup_commands"] if c not in installs]

    head_flags = (
        f"--port={ports.gcs} --temp-dir={home}/tmp/ray --node-ip-address={HEAD_IP} "
        f"--dashboard-port={ports.dashboard} --ray-client-server-port={ports.client_server} "
        f"{ports.head.flags()} {NODE_SIZES}"
    )
    head = []
    for command in config["head_start_ray_commands"]:
        if "ray start --head" in command:
            command = replace_once(command, "--port=6379", head_flags)
            command = replace_once(command, "--dashboard-host=0.0.0.0", "--dashboard-host=127.0.0.1")
        elif "/mnt/confx" in command:
            command = command.replace("/mnt/confx", shared)
            if "mlflow server" in command:
                command = replace_once(command, "--host 0.0.0.0 --port 5000", f"--host 127.0.0.1 --port {ports.mlflow}")
        head.append(command)
    config["head_start_ray_commands"] = head

    stop, start = config["worker_start_ray_commands"]
    assert stop.endswith("ray stop"), stop  # one host, one user: it would stop the head as well
    worker_flags = f"--temp-dir={home}/worker-tmp/ray --node-ip-address={WORKER_IP} {ports.worker.flags()} {NODE_SIZES}"
    config["worker_start_ray_commands"] = [
        replace_once(start, "--address=$RAY_HEAD_IP:6379", f"--address=$RAY_HEAD_IP:{ports.gcs} {worker_flags}")
    ]
    return config


# --- the launcher ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Launcher:
    """``ray up`` / ``submit`` / ``down`` / ``exec`` from the repository root, with a log of each."""

    config: Path
    folder: Path
    machine: Machine

    @property
    def log(self) -> Path:
        return self.folder / "launcher.log"

    def ray(self, *args: str, timeout: float) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "MLFLOW_"))}
        env.update(
            QUIET_ENV,
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            RAY_TMPDIR=str(self.folder / "tmp"),  # the launcher's cluster state and lock, not in /tmp/ray
            TMPDIR=str(self.folder / "tmp"),
        )
        with self.log.open("a") as out:
            out.write(f"\n$ ray {' '.join(args)}\n")
            out.flush()
            started = time.monotonic()
            try:
                done = subprocess.run(
                    [str(Path(sys.executable).parent / "ray"), *args],
                    cwd=ROOT,  # file_mounts sync "." : the project
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=timeout,
                )
                out.write(f"[ray {args[0]}: exit {done.returncode} after {time.monotonic() - started:.1f} s]\n")
                return done
            except subprocess.TimeoutExpired:
                message = f"`ray {args[0]}` did not finish in {timeout:.0f} s\n{self.diagnostics()}"
                raise AssertionError(message) from None

    def diagnostics(self) -> str:
        """The launcher's log and the nodes' logs that say why a step failed."""
        home = self.machine.home
        logs = [self.log, home / "mlflow" / "server.log", self.machine.sshd_log]
        for session in (home / "tmp" / "ray", home / "worker-tmp" / "ray"):
            logs += [
                session / "session_latest" / "logs" / name for name in ("monitor.log", "monitor.out", "raylet.err")
            ]
        return "".join(excerpt(path) for path in logs)

    def check(self, *args: str, timeout: float) -> None:
        done = self.ray(*args, timeout=timeout)
        assert done.returncode == 0, f"`ray {' '.join(args)}` exited {done.returncode}\n{self.diagnostics()}"


def worker_joined(launcher: Launcher, cluster_name: str, *, timeout_s: float = 300) -> bool:
    """Whether the head's autoscaler set the worker up and started its Ray (False: its setup failed).

    Autoscaler v1 never retries a node whose setup failed, and the local provider names a node
    by its IP, so a failed worker stays out until the next ``ray up``.
    """
    state = launcher.machine.home / "tmp" / "ray" / f"cluster-{cluster_name}.state"  # the local provider's record
    deadline, status = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        with suppress(OSError, ValueError, KeyError):
            status = json.loads(state.read_text())[WORKER_IP]["tags"]["ray-node-status"]
            if status in ("up-to-date", "update-failed"):
                return status == "up-to-date"
        time.sleep(1)
    raise AssertionError(
        f"the worker did not join within {timeout_s:.0f} s of `ray up` (status {status})\n{launcher.diagnostics()}"
    )


def wait_for_mlflow(launcher: Launcher, uri: str, *, timeout_s: float = 120) -> None:
    """Wait until the head's MLflow server answers (``ray up`` returns while it is still starting)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with suppress(OSError), urllib.request.urlopen(f"{uri}/health", timeout=5) as response:
            if response.status == 200:
                return
        time.sleep(1)
    raise AssertionError(f"MLflow on the head did not answer within {timeout_s:.0f} s\n{launcher.diagnostics()}")


def remove_control_sockets(cluster_name: str, node_user: str) -> None:
    """The SSH control-socket folders of the head's autoscaler (the node user's, all of it) and of
    the launcher (this cluster's only), under /tmp as Ray's command_runner names them."""

    def user_folder(user: str) -> Path:
        return Path(f"/tmp/ray_ssh_{hashlib.sha256(user.encode()).hexdigest()[:10]}")

    shutil.rmtree(user_folder(node_user), ignore_errors=True)
    shutil.rmtree(user_folder(getpass.getuser()) / hashlib.sha256(cluster_name.encode()).hexdigest()[:10], True)


def wait_until_gone(machine: Machine, *, timeout_s: float = 60) -> list[psutil.Process]:
    """The user's processes other than SSH sessions (Ray's, MLflow's) still alive after ``timeout_s``."""

    def left() -> list[psutil.Process]:
        found = []
        for proc in machine.processes():
            with suppress(psutil.Error):
                if proc.name() not in ("sshd", "ssh"):
                    found.append(proc)
        return found

    deadline = time.monotonic() + timeout_s
    while (alive := left()) and time.monotonic() < deadline:
        time.sleep(1)
    return alive


# --- the test -------------------------------------------------------------------------------


def two_seed_sweep(machine: Machine) -> Path:
    """The smoke sweep with seeds 0 and 1, in the user's home (the head runs on this host).

    Its cheap searches share one Tune trial; two ConfuciuX searches make two more, each taking
    a whole 1-CPU node, so the first two trials run at once, one on each node.
    """
    data = yaml.safe_load((ROOT / SWEEP).read_text())
    data["seeds"] = [0, 1]
    path = machine.home / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    os.chown(path, machine.uid, machine.uid)
    return path


def test_ray_up_submit_down_runs_the_sweep_on_both_nodes_and_leaves_nothing_running(tmp_path):
    ports = Ports()
    cluster_ports = ClusterPorts.take(ports)
    name = f"cxup-{secrets.token_hex(3)}"
    (tmp_path / "tmp").mkdir()
    token = tmp_path / "auth_token"
    token.write_text(secrets.token_hex(32))
    with loopback_machine(tmp_path, ports) as machine:
        sweep = two_seed_sweep(machine)
        planned = plan_trials(load_sweep_config(sweep))
        config = tmp_path / "local.yaml"
        config.write_text(yaml.safe_dump(one_machine_config(machine, name, token, cluster_ports), sort_keys=False))
        launcher = Launcher(config, tmp_path, machine)
        shared = machine.home / "shared"
        shared.mkdir()
        os.chown(shared, machine.uid, machine.uid)
        uri = f"http://127.0.0.1:{cluster_ports.mlflow}"
        try:
            for attempt in range(1, UP_ATTEMPTS + 1):  # a raylet that missed Ray's start-up deadline: `ray up` again
                up = launcher.ray("up", "-y", "--no-config-cache", str(config), timeout=420)
                if up.returncode == 0 and worker_joined(launcher, name):
                    break
                assert attempt < UP_ATTEMPTS, f"`ray up` failed {UP_ATTEMPTS} times\n{launcher.diagnostics()}"
            server_pid = int((machine.home / "mlflow" / "server.pid").read_text())
            assert psutil.pid_exists(server_pid), launcher.diagnostics()
            wait_for_mlflow(launcher, uri)
            launcher.check(
                "submit",
                str(config),
                "cluster/run_sweep.py",
                "--",
                str(sweep),
                "--tracking-uri",
                uri,
                "--results-dir",
                str(shared / "results"),
                timeout=600,
            )
            client = mlflow.MlflowClient(uri)
            experiment = client.get_experiment_by_name("smoke")
            runs = client.search_runs([experiment.experiment_id], max_results=1000)
            children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        finally:
            down = launcher.ray("down", "-y", str(config), timeout=180)
            remove_control_sockets(name, machine.user)
        assert down.returncode == 0, f"`ray down` exited {down.returncode}\n{launcher.diagnostics()}"
        left = wait_until_gone(machine)
        assert not left, (
            "left running after `ray down`: "
            + "; ".join(f"{p.pid} {' '.join(p.cmdline())[:200]}" for p in left)
            + f"\n{launcher.diagnostics()}"
        )

        results = shared / "results" / "smoke"
        trials = pd.read_parquet(results / "trials.parquet")
        layers = pd.read_parquet(results / "layers")
        artifacts = machine.home / "shared" / "mlartifacts"
        assert any(artifacts.rglob("solution.parquet")), "no artifact reached the head's MLflow server"

    assert sorted(trials["trial_key"]) == sorted(t.key for t in planned)
    assert (trials["status"] == "ok").all(), trials[["trial_key", "error"]]
    assert trials["node_id"].nunique() == 2, trials[["trial_key", "node_id"]]
    assert sorted(r.data.tags["confx.trial_key"] for r in children) == sorted(trials["trial_key"])
    assert all(r.info.status == "FINISHED" for r in children)
    assert set(trials["run_id"]) == {r.info.run_id for r in children}
    assert len(layers) == len(planned) * 5  # alexnet_release has 5 layers

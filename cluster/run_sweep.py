"""Run `confx sweep` on the Ray cluster this script runs on; the same file serves both ways in:

* ``ray submit cluster/aws.yaml cluster/run_sweep.py -- conf/paper.yaml --tracking-uri ... --results-dir ...``
  copies this file to ``~/`` on the head and runs ``python ~/run_sweep.py ARGS`` there; the
  project is the copy the launcher synced to ``~/confx`` (``$CONFX_HOME`` overrides).
* ``ray job submit --working-dir . ... -- python cluster/run_sweep.py ARGS`` runs it in the
  uploaded working directory, which is then the project.

Either way it runs ``python -m pipeline.cli sweep ARGS --address auto`` from the project folder,
so the driver joins the running cluster instead of starting a Ray of its own, and a relative
config path such as ``conf/paper.yaml`` names the project's file. Pass ``--tracking-uri`` (the
head's MLflow server) and ``--results-dir`` (a folder every node mounts): the defaults are local
to the node the driver runs on.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def project_folder() -> Path:
    """The ConfX checkout to run: the working directory, this file's parent, or ``$CONFX_HOME``."""
    candidates = [Path.cwd(), Path(__file__).resolve().parents[1], Path(os.environ.get("CONFX_HOME", "~/confx"))]
    for folder in candidates:
        if (folder.expanduser() / "pipeline" / "cli.py").is_file():
            return folder.expanduser()
    raise SystemExit(
        f"run_sweep.py: no ConfX project in {', '.join(str(c) for c in candidates)}; "
        "set CONFX_HOME to the synced checkout"
    )


def main(argv: list[str]) -> None:
    if any(arg == "--address" or arg.startswith("--address=") for arg in argv):
        raise SystemExit("run_sweep.py: do not pass --address; the sweep joins this cluster (--address auto)")
    os.chdir(project_folder())
    command = [sys.executable, "-m", "confx.pipeline.cli", "sweep", *argv, "--address", "auto"]
    os.execv(sys.executable, command)  # the job's (or the SSH session's) process becomes the sweep driver


if __name__ == "__main__":
    main(sys.argv[1:])

"""Searches per hour of one sweep on one raylet of 1 CPU against two raylets of 1 CPU each.

Starts a real Ray cluster on this host with ``ray start`` (the helpers of
tests/e2e/test_cluster.py: one Ray folder per raylet, ``RAY_AUTH_MODE=disabled``, stopped by
process id), runs ``confx sweep CONFIG --address <cluster>`` as a driver on it and times the
whole command, start-up included. It then does the same with a second raylet added. Each trial
reserves 1 CPU, so one raylet runs the searches one at a time and two run them two at a time.

The default sweep is a dozen independent simulated-annealing searches on resnet50_release (about 15 s of
CPU each, so that the driver's start-up is amortised). The ratio can only approach 2x when the
host has two idle cores: the driver, the GCS and the raylets share them with the searches.

Usage: python benchmarks/cluster_scaling.py [--searches 12] [--budget 300000] [--config PATH]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the cluster helpers live with the end-to-end test

from tests.e2e.test_cluster import local_cluster  # noqa: E402


def scaling_config(folder: Path, *, searches: int, budget: int) -> Path:
    """A sweep of ``searches`` independent anneal searches (one seed each), 1 CPU per trial."""
    config = {
        "name": "scaling",
        "networks": ["resnet50_release"],
        "dataflows": ["dla"],
        "objectives": ["latency"],
        "constraints": ["area"],
        "muls": [0.5],
        "seeds": list(range(searches)),
        "algorithms": [{"name": "anneal", "budget": budget}],
        "resources": {"cpus_per_trial": 1, "ga_tasks": 0},
        "max_failures": 0,
    }
    path = folder / "scaling.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def timed_sweep(config: Path, results: Path, n_nodes: int) -> tuple[float, pd.DataFrame]:
    """Run the sweep on a fresh cluster of ``n_nodes`` 1-CPU raylets; return its wall time and trials."""
    with local_cluster(n_nodes) as cluster:
        command = [
            sys.executable,
            "-m",
            "confx.pipeline.cli",
            "sweep",
            str(config),
            "--address",
            cluster.gcs_address,
            "--results-dir",
            str(results),
        ]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=results.parent, env=cluster.env, capture_output=True, text=True)
        wall_s = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the sweep on {n_nodes} node(s) failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    name = yaml.safe_load(config.read_text())["name"]
    return wall_s, pd.read_parquet(results / name / "trials.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", type=int, default=12, help="anneal searches in the default sweep")
    parser.add_argument("--budget", type=int, default=300_000, help="whole-model evaluations per search")
    parser.add_argument("--config", type=Path, help="a sweep YAML to time instead of the default")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="confx-scaling-") as tmp:
        folder = Path(tmp)
        config = (
            args.config.resolve() if args.config else scaling_config(folder, searches=args.searches, budget=args.budget)
        )
        rates = {}
        for n_nodes in (1, 2):
            wall_s, trials = timed_sweep(config, folder / f"nodes-{n_nodes}", n_nodes)
            ok = int((trials["status"] == "ok").sum())
            rates[n_nodes] = ok / wall_s * 3600
            mean_search_s, used = trials["wall_time_s"].mean(), trials["node_id"].nunique()
            print(
                f"{n_nodes} raylet(s) x 1 CPU: {ok} searches in {wall_s:.1f} s -> {rates[n_nodes]:.0f} searches/h "
                f"(mean search {mean_search_s:.1f} s; ran on {used} node(s))"
            )
    print(f"ratio two raylets / one raylet: {rates[2] / rates[1]:.2f}x (target >= 1.7x)")


if __name__ == "__main__":
    main()

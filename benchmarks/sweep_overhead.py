"""Wall time, peak memory and orchestration overhead of a sweep (default: conf/default.yaml).

Runs ``confx sweep CONFIG`` in a subprocess on the embedded default (local Ray,
MLflow SQLite, Parquet) while sampling the resident memory of its whole process
tree, then reads ``trials.parquet``: the searches' own wall times against the
sweep's wall time give the fraction spent outside the searches (Ray, Tune,
MLflow, process start-up, imports). As a baseline measured in the same run, the
same searches then run one after another in this process, with no Ray Tune, no
MLflow and no trial processes.

Usage: python benchmarks/sweep_overhead.py [--config conf/default.yaml] [--skip-serial]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil
import torch

from confx.envs.problem import build_problem
from confx.pipeline.search import run_search
from confx.pipeline.sweep.config import load_sweep_config
from confx.pipeline.sweep.plan import plan_trials

ROOT = Path(__file__).resolve().parents[1]


def tree_rss(process: psutil.Process) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_sweep_measured(config: Path, results: Path) -> tuple[float, int]:
    """Run the sweep CLI; return its wall time and the peak memory of its process tree."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    command = [sys.executable, "-m", "confx.pipeline.cli", "sweep", str(config), "--results-dir", str(results)]
    start, peak = time.perf_counter(), 0
    driver = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watched = psutil.Process(driver.pid)
    while driver.poll() is None:
        peak = max(peak, tree_rss(watched))
        time.sleep(0.5)
    if driver.returncode != 0:
        raise SystemExit(f"the sweep failed with exit code {driver.returncode}")
    return time.perf_counter() - start, peak


def run_serially(config_path: Path) -> float:
    """The sweep's searches one after another in-process (GA evaluated in-process too)."""
    config = load_sweep_config(config_path)
    start = time.perf_counter()
    for trial in plan_trials(config):
        problem = build_problem(
            trial.network,
            dataflow=trial.dataflow,
            objective=trial.objective,
            constraint=trial.constraint,
            mul=trial.mul,
            space=trial.space,
        )
        settings = dict(trial.settings) | ({"use_ray": False} if trial.algorithm == "confuciux" else {})
        run_search(
            problem, trial.algorithm, seed=trial.seed, budget=trial.budget, epochs=trial.epochs, settings=settings
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "conf" / "default.yaml")
    parser.add_argument("--skip-serial", action="store_true", help="skip the in-process serial baseline")
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        wall, peak = run_sweep_measured(args.config.resolve(), Path(tmp))
        name = load_sweep_config(args.config).name
        trials = pd.read_parquet(Path(tmp) / name / "trials.parquet")
    search_time = float(trials["wall_time_s"].sum())
    resources = load_sweep_config(args.config).resources
    per_trial = resources.cpus_per_trial + resources.ga_tasks * resources.ga_task_cpus
    slots = max(1, int((os.cpu_count() or 1) // per_trial))  # trials Tune runs at once
    outside = 1 - search_time / (wall * slots)
    print(f"config: {args.config} ({len(trials)} trials, {int((trials['status'] == 'ok').sum())} ok)")
    print(f"sweep wall time: {wall:.1f} s; peak memory of the process tree: {peak / 2**30:.2f} GiB")
    print(f"searches' own wall time, summed: {search_time:.1f} s; {slots} trials at once")
    print(f"fraction of the sweep's trial-slot time outside the searches: {outside:.1%}")
    if not args.skip_serial:
        serial = run_serially(args.config)
        print(f"baseline: the same searches one after another in-process: {serial:.1f} s")
        print(f"ratio sweep wall / serial in-process: {wall / serial:.2f}x")


if __name__ == "__main__":
    main()

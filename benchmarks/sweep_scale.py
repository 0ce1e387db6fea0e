"""Sweeps of ~300, ~3,000 and ~30,000 cheap searches against the same searches in one process.

Each size is a sweep over the release's tables (exact, random, anneal and ga with budget 100 on
every problem group) run by ``confx sweep`` on the embedded default (local Ray, MLflow in
SQLite, Parquet in a temporary folder), while the resident memory of the driver process (and of
its whole process tree) is sampled. As the baselines measured in the same run, the same searches
then run one after another in this process (no Ray, no MLflow, no files): grouped as a chunk runs
them (each group's problem built once, its memo filled and shared by the searches' own memos),
and each problem built as ``confx search`` builds it (every 5th group, times 5). At 30,000 both
run every 10th group, times 10. Printed per size: the sweep's wall time, the in-process times,
the ratio of the sweep's wall time to each in-process time divided by the CPUs (target <= 1.5 at
3,000), the overhead per search in CPU-seconds ((wall x CPUs - grouped) / searches), the
driver's peak memory (target <= 1.5 GiB at 30,000) and the time the chunks spent logging to
MLflow (on their logging threads). ``--rl`` adds a sweep of ``--rl-searches`` ConfuciuX searches
(seeds 0, 1, ...; two trial slots, so that later trials run on reused trial actors as in a
large sweep), against the first search in-process: each Tune trial's time beyond its search
(target <= 5% of the search's time), and the mean over the trials.

Usage: python benchmarks/sweep_scale.py [--sizes 300 3000 30000] [--rl [--rl-epochs 500] [--rl-searches 4]] [--keep DIR]
       (``--sizes`` with no size and ``--rl``: the RL search only)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil
import torch
import yaml
from sweep_overhead import tree_rss  # the sibling benchmark's (this script runs from benchmarks/)

from confx.envs.problem import build_problem
from confx.pipeline.search import run_search
from confx.pipeline.sweep.batch import GroupProblem
from confx.pipeline.sweep.config import load_sweep_config
from confx.pipeline.sweep.plan import plan_trials

ROOT = Path(__file__).resolve().parents[1]
ADDRESS: list[str] = []
"""``--address`` of a Ray started beforehand (on a machine too loaded for a sweep's own Ray to start in 30 s)."""
NETWORKS = [
    "alexnet_release", "resnet18_release", "mobilenet_v2_release", "squeezenet_release", "vgg16_release",
    "googlenet_release", "mnasnet_release", "resnet50_release", "shufflenet_v2_release", "example_release",
    "resnext50_32x4d_release", "wide_resnet50_release", "densenet_release",
]  # fmt: skip
OBJECTIVES = ["latency", "energy", "LEP", "LAP", "EAP", "thrpt_ave", "thrpt_btnk"]
CHEAP = [{"name": "exact"}] + [{"name": name, "budget": 100} for name in ("random", "anneal", "ga")]
SEARCH_BASELINE_EVERY = 5
"""The as-``confx search`` baseline runs every 5th of the groups the grouped one runs (x5): it is 5-20x slower."""
SIZES = {
    300: {"networks": 5, "objectives": 5, "constraints": ["area"], "muls": 1},
    3000: {"networks": 5, "objectives": 5, "constraints": ["area", "power"], "muls": 5},
    30000: {"networks": 13, "objectives": 7, "constraints": ["area", "power"], "muls": 14},
}


def sweep_config(size: int, folder: Path) -> Path:
    """The sweep of about ``size`` cheap searches (4 per problem group)."""
    shape = SIZES[size]
    muls = [round(0.05 + 0.9 * i / max(1, shape["muls"] - 1), 4) for i in range(shape["muls"])]
    config = {
        "name": f"scale{size}",
        "networks": NETWORKS[: shape["networks"]],
        "dataflows": ["dla", "shi", "eye"],
        "objectives": OBJECTIVES[: shape["objectives"]],
        "constraints": shape["constraints"],
        "muls": muls if shape["muls"] > 1 else [0.5],
        "algorithms": CHEAP,
        "resources": {"cpus_per_trial": 1, "ga_tasks": 0},
        "front_levels": 0,
        "results_dir": str(folder),
    }
    path = folder / f"scale{size}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def rl_config(folder: Path, epochs: int, searches: int = 1) -> Path:
    """A sweep of ``searches`` ConfuciuX searches (seeds 0, 1, ...) on MobileNet-V2."""
    config = {
        "name": "scale_rl",
        "networks": ["mobilenet_v2_release"],
        "seeds": list(range(searches)),
        "algorithms": [{"name": "confuciux", "epochs": epochs}],
        "resources": {"cpus_per_trial": 1, "ga_tasks": 0},
        "front_levels": 0,
        "results_dir": str(folder),
    }
    path = folder / "scale_rl.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_sweep_measured(config: Path, *command_args: str, log_path: Path | None = None) -> dict[str, float]:
    """Run ``confx sweep CONFIG`` (or another command); its wall time and the peak memory of its driver and tree."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    command = [sys.executable, "-m", "confx.pipeline.cli", *(command_args or ("sweep",)), str(config), *ADDRESS]
    log_path = log_path or config.with_suffix(".log")
    log = log_path.open("w")
    start, driver_peak, tree_peak = time.perf_counter(), 0, 0
    driver = subprocess.Popen(command, cwd=config.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
    watched = psutil.Process(driver.pid)
    while driver.poll() is None:
        try:
            driver_peak = max(driver_peak, watched.memory_info().rss)
        except psutil.Error:
            pass
        tree_peak = max(tree_peak, tree_rss(watched))
        time.sleep(0.5)
    if (
        driver.returncode not in (0, 1)
        or (driver.returncode == 1 and command_args != ("nightly",))
        or not any(config.parent.glob("**/trials.parquet"))
    ):
        raise SystemExit(f"the sweep failed with exit code {driver.returncode}; see {log_path}")
    return {"wall_s": time.perf_counter() - start, "driver_peak": driver_peak, "tree_peak": tree_peak,
            "returncode": driver.returncode}  # fmt: skip


def tune_results(results: Path) -> list[dict]:
    """The last result of every Tune trial of the sweep (its chunk's counters, logging time, time_total_s)."""
    finals = []
    for path in results.glob("tune/grid-*/*/result.json"):
        lines = path.read_text().splitlines()
        if lines:
            finals.append(json.loads(lines[-1]))
    return finals


def run_in_process(config_path: Path, *, grouped: bool = False, every: int = 1) -> float:
    """The sweep's searches one after another in this process; their total time.

    ``grouped=False``: each problem built as ``confx search`` builds it. ``grouped=True``: as a
    sweep's chunk runs them, each group's problem built once with its shared memo
    (``GroupProblem``), every search on a fresh copy. ``every=n`` runs only every n-th group
    and scales the time by n (for the largest sweep).
    """
    config = load_sweep_config(config_path)
    groups: dict[object, list] = {}
    for trial in plan_trials(config):
        groups.setdefault(trial.group, []).append(trial)
    start = time.perf_counter()
    for trials in list(groups.values())[::every]:
        group = None
        for trial in trials:
            if group is None:
                problem = build_problem(trial.network, dataflow=trial.dataflow, objective=trial.objective,
                                        constraint=trial.constraint, mul=trial.mul, space=trial.space)  # fmt: skip
                group = GroupProblem.of(problem) if grouped else None
            if group is not None:
                problem = group.fresh()
            settings = dict(trial.settings) | ({"use_ray": False} if trial.algorithm == "confuciux" else {})
            try:
                run_search(problem, trial.algorithm, seed=trial.seed, budget=trial.budget, epochs=trial.epochs,
                           settings=settings)  # fmt: skip
            except Exception as error:  # the exact solver refuses a budget below every design
                if trial.algorithm != "exact":
                    raise
                del error
    return (time.perf_counter() - start) * every


def measure(config: Path, cpus: int, every: int) -> dict[str, float]:
    name = load_sweep_config(config).name
    sweep = run_sweep_measured(config)
    results = config.parent / name
    trials = pd.read_parquet(results / "trials.parquet")
    finals = tune_results(results)
    grouped = run_in_process(config, grouped=True, every=every)
    serial = run_in_process(config, every=every * SEARCH_BASELINE_EVERY)
    n = len(trials)
    return {
        "searches": n,
        "ok": int((trials["status"] == "ok").sum()),
        "infeasible": int((~trials["feasible"].fillna(False).astype(bool)).sum()),
        "tune_trials": len(finals),
        "wall_s": sweep["wall_s"],
        "in_process_s": serial,
        "grouped_s": grouped,
        "ratio": sweep["wall_s"] / (serial / cpus),
        "grouped_ratio": sweep["wall_s"] / (grouped / cpus),
        "overhead_ms": 1000 * (sweep["wall_s"] * cpus - grouped) / n,
        "driver_gib": sweep["driver_peak"] / 2**30,
        "tree_gib": sweep["tree_peak"] / 2**30,
        "logging_s": sum(float(r.get("logging_s", 0.0)) for r in finals),
        "search_s": float(trials["wall_time_s"].sum()),
        "trial_s": sum(float(r.get("time_total_s", 0.0)) for r in finals),
    }


def measure_rl(folder: Path, epochs: int, searches: int) -> None:
    """Time a sweep of ConfuciuX searches: each Tune trial's time beyond its search (``wall_time_s``)."""
    config = rl_config(folder, epochs, searches)
    sweep = run_sweep_measured(config)
    trials = pd.read_parquet(folder / "scale_rl" / "trials.parquet")
    search_s = dict(zip(trials["run_id"], trials["wall_time_s"], strict=True))
    finals = sorted(tune_results(folder / "scale_rl"), key=lambda r: r["timestamp"] - r["time_total_s"])
    overheads = []
    for i, final in enumerate(finals):
        search, trial = float(search_s[final["run_id"]]), float(final["time_total_s"])
        overheads.append(trial / search - 1)
        print(f"  RL trial {i + 1} (pid {final['pid']}): search {search:.1f} s, Tune trial {trial:.1f} s: "
              f"{overheads[-1]:.1%} beyond the search", flush=True)  # fmt: skip
    single = folder / "in_process"  # seed 0 alone, without rewriting the measured sweep's config
    single.mkdir(exist_ok=True)
    serial = run_in_process(rl_config(single, epochs))
    print(
        f"ConfuciuX ({epochs} epochs, mobilenet_v2_release, {len(finals)} searches): seed 0 in-process {serial:.1f} s; "
        f"Tune trials {sum(overheads) / len(overheads):.1%} beyond their searches on average "
        f"({min(overheads):.1%} .. {max(overheads):.1%}); sweep wall {sweep['wall_s']:.1f} s",
        flush=True,
    )


def nightly_scan(folder: Path) -> None:
    """Time ``confx nightly conf/nightly.yaml`` for one date, its results in folder."""
    data = yaml.safe_load((ROOT / "conf" / "nightly.yaml").read_text()) | {"results_dir": str(folder)}
    config = folder / "nightly.yaml"
    config.write_text(yaml.safe_dump(data))
    run = run_sweep_measured(config, "nightly", log_path=folder / "nightly.log")
    night = next((folder / "nightly").glob("date=*"))
    trials = pd.read_parquet(night / "trials.parquet")
    print(
        f"nightly scan: {len(trials)} searches ({int((trials['status'] == 'ok').sum())} ok, "
        f"{int((~trials['feasible'].fillna(False).astype(bool)).sum())} nothing feasible), exit code "
        f"{run['returncode']}; wall {run['wall_s'] / 60:.1f} min, driver peak {run['driver_peak'] / 2**30:.2f} GiB, "
        f"process tree peak {run['tree_peak'] / 2**30:.2f} GiB, searches' own time {trials['wall_time_s'].sum():.0f} s "
        f"(load average now {os.getloadavg()[0]:.1f})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=sorted(SIZES), choices=sorted(SIZES))
    parser.add_argument("--rl", action="store_true", help="also measure ConfuciuX searches inside a sweep")
    parser.add_argument("--rl-epochs", type=int, default=500, help="the ConfuciuX search's E (500: the release's)")
    parser.add_argument("--rl-searches", type=int, default=4, help="ConfuciuX searches in the RL sweep")
    parser.add_argument("--keep", type=Path, help="keep the sweeps' results in this folder")
    parser.add_argument("--nightly", action="store_true", help="only time conf/nightly.yaml's full scan (one date)")
    parser.add_argument(
        "--address", help="a local Ray started beforehand (`ray start --head`), instead of the sweep's own"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    ADDRESS.extend(["--address", args.address] if args.address else [])
    cpus = os.cpu_count() or 1
    print(f"{cpus} CPUs; load average at start {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if args.nightly:
            nightly_scan(folder)
            return
        for size in args.sizes:
            every = 10 if size >= 30000 else 1
            row = measure(sweep_config(size, folder), cpus, every)
            sampled = f" (every {every}th group, x{every})" if every > 1 else ""
            print(
                f"{row['searches']:>6} searches ({row['ok']} ok, {row['infeasible']} nothing feasible) in "
                f"{row['tune_trials']} Tune trials: sweep {row['wall_s']:.1f} s; in-process{sampled}: "
                f"as `confx search` {row['in_process_s']:.1f} s, sweep / (that / {cpus} CPUs) = {row['ratio']:.2f}x; "
                f"grouped as a chunk {row['grouped_s']:.1f} s, sweep / (that / {cpus} CPUs) = "
                f"{row['grouped_ratio']:.2f}x; overhead {row['overhead_ms']:.1f} CPU-ms per search over the "
                f"grouped run, driver peak {row['driver_gib']:.2f} GiB (process tree {row['tree_gib']:.2f} "
                f"GiB), MLflow logging {row['logging_s']:.1f} s on the chunks' threads "
                f"(load average now {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        if args.rl:
            measure_rl(folder, args.rl_epochs, args.rl_searches)


if __name__ == "__main__":
    main()

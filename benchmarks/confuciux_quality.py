"""Optimality gap of the RL searches at the release's budget, against the exact optimum.

For each network x dataflow (latency under area, mul 0.5) and each algorithm
(``confuciux``, ``reinforce``, ``ppo``) at E epochs, runs every seed and prints
the gap ``found / optimum - 1`` against the grid optimum and the integer-space
optimum (P 1..128, B 1..12), mean and range over seeds, plus wall time per
search. The release's own measured gaps (spec ``confuciux.md`` section 7) are
printed beside ours as the baseline.

Usage: python benchmarks/confuciux_quality.py [--models mobilenet_v2_release resnet18_release]
       [--dataflows dla shi eye] [--algorithms confuciux reinforce ppo] [--seeds 0 1 2] [--epochs 500]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from confx.envs.problem import build_problem
from confx.pipeline.search import run_search

RELEASE_GAP_VS_INTEGER = {
    ("resnet18_release", "dla"): "+1.2 .. +1.8%",
    ("mobilenet_v2_release", "dla"): "+5.9 .. +6.6%",
}


def optimum(model: str, dataflow: str, space: str) -> float:
    problem = build_problem(model, dataflow=dataflow, space=space)
    result = run_search(problem, "exact", seed=0)
    assert result.optimal, f"exact solver did not certify {model} {dataflow} {space}"
    return result.objective_value


def gap_text(found: np.ndarray, optimum_value: float) -> str:
    """Mean and range of the gaps of found objectives to an optimum."""
    gap = found / optimum_value - 1
    return f"{np.nanmean(gap):+.2%} ({np.nanmin(gap):+.2%} .. {np.nanmax(gap):+.2%})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mobilenet_v2_release", "resnet18_release"])
    parser.add_argument("--dataflows", nargs="+", default=["dla", "shi", "eye"])
    parser.add_argument("--algorithms", nargs="+", default=["confuciux", "reinforce", "ppo"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)

    rows = []
    for model in args.models:
        for dataflow in args.dataflows:
            grid_opt, int_opt = optimum(model, dataflow, "grid"), optimum(model, dataflow, "integer")
            for algorithm in args.algorithms:
                found, times = [], []
                for seed in args.seeds:
                    problem = build_problem(model, dataflow=dataflow)
                    start = time.perf_counter()
                    result = run_search(problem, algorithm, seed=seed, epochs=args.epochs)
                    times.append(time.perf_counter() - start)
                    found.append(result.objective_value if result.feasible else np.nan)
                    print(
                        f"{model} {dataflow} {algorithm} seed {seed}: {found[-1]:,.0f} "
                        f"({found[-1] / grid_opt - 1:+.2%} vs grid) in {times[-1]:.1f} s",
                        flush=True,
                    )
                rows.append((model, dataflow, algorithm, np.asarray(found), grid_opt, int_opt, np.asarray(times)))

    print(
        "\n| network | dataflow | algorithm | gap vs grid optimum (mean, range) | gap vs integer optimum "
        "(mean, range) | release vs integer | wall time per search |"
    )
    print("|---|---|---|---|---|---|---|")
    for model, dataflow, algorithm, found, grid_opt, int_opt, times in rows:
        release = RELEASE_GAP_VS_INTEGER.get((model, dataflow), "n/a") if algorithm == "confuciux" else ""
        gaps = f"{gap_text(found, grid_opt)} | {gap_text(found, int_opt)}"
        print(f"| {model} | {dataflow} | {algorithm} | {gaps} | {release} | {times.mean():.1f} s |")


if __name__ == "__main__":
    main()

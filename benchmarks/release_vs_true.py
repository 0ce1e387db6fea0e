"""How far the release's tables are from the real networks: total MACs and the exact optimum.

For each network, the release's table (``<name>_release``: stride 1, no padding, groups or FC
layers) against the true table imported from the model definition (``<name>``): layers, total
true MACs, and the certified optimum latency of ``confx search --algorithm exact`` (dla, latency
under area, mul 0.5, the release's grid). Prints a Markdown table (the one in BENCHMARKS.md).

Usage: python benchmarks/release_vs_true.py [--models resnet18 resnet50 mobilenet_v2 resnext50_32x4d]
"""

from __future__ import annotations

import argparse
import time

from confx.envs.problem import build_problem
from confx.pipeline.search import run_search

MODELS = ("resnet18", "resnet50", "mobilenet_v2", "resnext50_32x4d")


def optimum(name: str) -> tuple[int, int, float, float]:
    """Layers, total true MACs, certified optimum latency (cycles) and solve time of one table."""
    problem = build_problem(name, dataflow="dla", objective="latency", constraint="area", mul=0.5)
    start = time.perf_counter()
    result = run_search(problem, "exact", seed=0)
    assert result.optimal, f"{name}: the exact search did not certify an optimum"
    return problem.n_layers, int(problem.layers.true_macs.sum()), result.objective_value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args()
    print("| network | layers release / true | GMACs release | GMACs true | release / true MACs "
          "| optimum latency release (cycles) | optimum latency true (cycles) | release / true latency |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        n_release, macs_release, latency_release, _ = optimum(f"{name}_release")
        n_true, macs_true, latency_true, _ = optimum(name)
        print(
            f"| {name} | {n_release} / {n_true} | {macs_release / 1e9:.3f} | {macs_true / 1e9:.3f} "
            f"| {macs_release / macs_true:.2f}x | {latency_release:,.0f} | {latency_true:,.0f} "
            f"| {latency_release / latency_true:.2f}x |"
        )


if __name__ == "__main__":
    main()

"""What the release's infinite NoC hides: exact optima on the ``edge`` preset against the release's answer.

For each network (true tables) and mapping (ConfuciuX's templates and MAESTRO's styles):

1. **release**: the exact optimum (latency under area, mul 0.5, the grid) under the release's
   flags (NoC 81,920,000 elements/cycle), as ConfX has always answered;
2. that same design evaluated on the ``edge`` preset at its 64 elements/cycle: the latency it
   really has, and the silicon it takes there (mm^2), which becomes the area budget of
3. the exact optimum on ``edge`` under that budget at fixed NoC bandwidths (16, 64, 256), and
4. with the NoC bandwidth chosen per layer from {1, 4, 16, 64, 256, 1024}.

Every solve starts from a fresh problem (empty cost memo), so its wall time includes evaluating
its option table; ``calls`` counts the unique (layer, action) cost-model evaluations. Latency
ratios are against the release's promised latency (1.); the solve time with the bandwidth per
layer is given as a ratio to the release solve of the same network and mapping, measured in
the same run. A mapping with
no valid action on some layer (e.g. ``yxp_os`` on an 11x11 layer) is reported as such.

A second table gives the edge optima under fixed budgets in mm^2 (``--caps``, default 100 mm^2 of
summed layer area): at each fixed bandwidth and with the bandwidth per layer, and how many layers
took each width.

Usage: python benchmarks/noc_optimum.py [--networks resnet50 mobilenet_v2] [--mappings dla shi ...] [--caps 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from confx.costmodel.errors import ConfXError
from confx.costmodel.presets import EDGE, UM2_PER_MM2
from confx.envs.problem import Problem, build_problem
from confx.envs.space import design_space, named_space
from confx.pipeline.search import run_search

MAPPINGS = ("dla", "shi", "eye", "kcp_ws", "xp_ws", "rs_yp", "nlr")
FIXED_BW = (16, 64, 256)
PER_LAYER_BW = (1, 4, 16, 64, 256, 1024)


def solve(problem: Problem) -> tuple[float, np.ndarray | None, float, int, float]:
    """Exact optimum: (latency, design, area used, cost-model calls, seconds), NaN when no design exists."""
    start = time.perf_counter()
    try:
        result = run_search(problem, "exact", seed=0)
    except ConfXError:
        return float("nan"), None, float("nan"), problem.cost_model_calls, time.perf_counter() - start
    assert result.optimal
    return result.objective_value, result.design, result.constraint_used, problem.cost_model_calls, result.wall_time_s


def release_on_edge(network: str, mapping: str, design: np.ndarray) -> tuple[float, float]:
    """Latency and area (um^2) of a release design on the edge preset at its own NoC width."""
    problem = build_problem(network, dataflow=mapping, space=design_space(named_space("grid"), hardware=EDGE))
    evaluation = problem.evaluate(design)
    if not evaluation.valid[0]:
        return float("nan"), float("nan")
    return float(evaluation.objective[0]), float(evaluation.used[0])


def row(network: str, mapping: str) -> list[str]:
    release = build_problem(network, dataflow=mapping, mul=0.5)
    latency, design, _, calls, release_seconds = solve(release)
    if design is None:
        return [network, mapping, "no valid action on some layer", *[""] * 8]
    real_latency, area = release_on_edge(network, mapping, design)
    cells = [network, mapping, f"{latency:,.0f}", f"{real_latency:,.0f} ({real_latency / latency:.2f}x)"]
    cells.append(f"{area / UM2_PER_MM2:,.0f}")
    total_calls, total_seconds, per_layer_seconds = calls, release_seconds, 0.0
    spaces = [design_space(named_space("grid"), hardware=EDGE, noc_bw=(bw,)) for bw in FIXED_BW]
    spaces.append(design_space(named_space("grid"), hardware=EDGE, noc_bw=PER_LAYER_BW))
    for space in spaces:
        problem = build_problem(network, dataflow=mapping, space=space, cap=area / UM2_PER_MM2)
        value, found, _, calls, seconds = solve(problem)
        total_calls, total_seconds = total_calls + calls, total_seconds + seconds
        per_layer_seconds = seconds if space.gene("noc_bw") is not None else per_layer_seconds
        if found is None:
            cells.append("none")
            continue
        note = ""
        if space.gene("noc_bw") is not None:
            widths = np.asarray(space.noc_bw_values)[found[:, space.gene("noc_bw")]]
            note = f", bw median {np.median(widths):g}"
        cells.append(f"{value:,.0f} ({value / latency:.2f}x{note})")
    cells.append(f"{total_calls:,}")
    cells.append(f"{total_seconds:.1f} s; bw per layer {per_layer_seconds / release_seconds:.1f}x the release solve")
    return cells


def cap_row(network: str, mapping: str, cap: float) -> list[str]:
    """Edge optima under a fixed budget in mm^2: each fixed bandwidth, then the bandwidth per layer."""
    cells, values, total_calls, total_seconds = [network, mapping, f"{cap:g}"], [], 0, 0.0
    spaces = [design_space(named_space("grid"), hardware=EDGE, noc_bw=(bw,)) for bw in FIXED_BW]
    spaces.append(design_space(named_space("grid"), hardware=EDGE, noc_bw=PER_LAYER_BW))
    for space in spaces:
        problem = build_problem(network, dataflow=mapping, space=space, cap=cap)
        value, found, _, calls, seconds = solve(problem)
        total_calls, total_seconds = total_calls + calls, total_seconds + seconds
        values.append(value)
        if found is None:
            cells.append("none")
        elif space.gene("noc_bw") is None:
            cells.append(f"{value:,.0f}")
        else:
            widths = np.asarray(space.noc_bw_values)[found[:, space.gene("noc_bw")]]
            counts = ", ".join(f"{bw}: {int((widths == bw).sum())}" for bw in PER_LAYER_BW if (widths == bw).any())
            fixed = np.asarray(values[:-1])
            versus = (
                f"{value / np.nanmin(fixed):.2f}x the best fixed" if np.isfinite(fixed).any() else "no fixed width fits"
            )
            cells.append(f"{value:,.0f} ({versus}; layers at {counts})")
    return [*cells, f"{total_calls:,}", f"{total_seconds:.1f} s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", nargs="+", default=["resnet50", "mobilenet_v2"])
    parser.add_argument("--mappings", nargs="+", default=list(MAPPINGS))
    parser.add_argument("--caps", nargs="+", type=float, default=[100.0], help="fixed area budgets, mm^2")
    args = parser.parse_args()
    header = ["network", "mapping", "release optimum (cycles)", "same design on edge @64", "its area (mm^2)"]
    header += [f"edge optimum @{bw}" for bw in FIXED_BW] + ["edge optimum, bw per layer", "calls", "wall time"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for network in args.networks:
        for mapping in args.mappings:
            print("| " + " | ".join(row(network, mapping)) + " |", flush=True)
    header = ["network", "mapping", "budget (mm^2)", *(f"@{bw}" for bw in FIXED_BW), "bw per layer", "calls"]
    print("\n| " + " | ".join([*header, "wall time"]) + " |")
    print("|" + "---|" * (len(header) + 1))
    for network in args.networks:
        for mapping in args.mappings:
            for cap in args.caps:
                print("| " + " | ".join(cap_row(network, mapping, cap)) + " |", flush=True)


if __name__ == "__main__":
    main()

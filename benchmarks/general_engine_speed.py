"""Evaluations per second of the general engine on MAESTRO's own mapping styles.

Usage: ``python benchmarks/general_engine_speed.py [--points 100000] [--loop-points 200]``

Runs 10^5 mixed design points (layers of the general reference set, P, NoC bandwidth,
hops x hop latency, SIMD lanes) through one batched call per style, then a per-point loop of
the same engine on a sample, in the same run, and prints both against the real MAESTRO's
~10 ms per point. One core: set OMP/OPENBLAS threads to 1 (numpy here is element-wise anyway).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from confx.costmodel.general import evaluate_mapping
from confx.costmodel.mapping import load_mapping

LAYERS = Path(__file__).parents[1] / "tests" / "data" / "maestro_general_dev_layers.csv"
MAESTRO_SECONDS_PER_POINT = 0.010


def design_points(n: int, rng: np.random.Generator, *, min_pe: int) -> dict[str, np.ndarray]:
    table = np.genfromtxt(LAYERS, delimiter=",", names=True, dtype=None, encoding=None)
    conv = table[table["T"] == 1]
    pick = rng.integers(0, len(conv), n)
    layers = np.stack([conv[c][pick] for c in "KCYXRS"] + [np.ones(n, dtype=np.int64)], axis=1).astype(np.int64)
    return {
        "layers": layers,
        "num_pe": rng.choice(np.array([min_pe, 2 * min_pe, 256, 512]), n),
        "noc_bw": rng.choice(np.array([1, 4, 16, 64, 256, 1024]), n),
        "noc_hop_latency": rng.integers(1, 4, n),
        "simd_lanes": rng.choice(np.array([1, 2, 4]), n),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--loop-points", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for style, min_pe in (("kcp_ws", 64), ("rs_yp", 11), ("xp_ws", 16)):
        dataflow = load_mapping(style).first_dataflow
        points = design_points(args.points, rng, min_pe=min_pe)
        start = time.perf_counter()
        result = evaluate_mapping(dataflow, **points)
        batch = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(args.loop_points):
            evaluate_mapping(dataflow, **{k: v[i : i + 1] for k, v in points.items()})
        loop = (time.perf_counter() - start) / args.loop_points
        rate = args.points / batch
        print(
            f"{style:8s} batch {rate:12,.0f} evals/s ({batch:.2f} s for {args.points:,},"
            f" {result.valid.mean():.0%} valid)"
            f" | per-point loop {1 / loop:8,.0f} evals/s ({rate * loop:,.0f}x slower)"
            f" | MAESTRO ~{1 / MAESTRO_SECONDS_PER_POINT:,.0f} evals/s ({rate * MAESTRO_SECONDS_PER_POINT:,.0f}x)"
        )


if __name__ == "__main__":
    main()

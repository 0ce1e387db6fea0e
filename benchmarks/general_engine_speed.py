"""Evaluations per second of the general engine on MAESTRO's own mapping styles.

Usage: ``python benchmarks/general_engine_speed.py [--points 100000] [--loop-points 200]``

Two sets of 10^5 mixed design points per style (CONV layers of the general reference set):

* ``grid``: P in {min, 2 min, 256, 512}, NoC bw in {1, 4, ..., 1024}, hop latency 1-3, SIMD
  lanes {1, 2, 4}, as a search over a layer's options draws them. Points that share a layer
  and P share the engine's structural analysis (tiles, iteration cases, traffic); only the
  delays are computed per point.
* ``distinct``: P any integer in [min, 1024], bw any integer in 1..1024, hop latency 0-3,
  SIMD lanes 1-8: almost every point is its own structure, the engine's worst case.

Each set runs as one batched call, then a per-point loop of the same engine on its first
``--loop-points`` points, in the same run; rates are printed per wall-clock and per CPU
second (the process's own time, less sensitive to other load on a shared machine), against
the real MAESTRO's ~10 ms per point. One core: ``taskset -c 0``, OMP/OPENBLAS threads 1.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from confx.costmodel.general import evaluate_mapping
from confx.costmodel.mapping import load_mapping

LAYERS = Path(__file__).parents[1] / "tests" / "data" / "maestro_general_dev_layers.csv"
MAESTRO_SECONDS_PER_POINT = 0.010


def _layers(n: int, rng: np.random.Generator) -> np.ndarray:
    table = np.genfromtxt(LAYERS, delimiter=",", names=True, dtype=None, encoding=None)
    conv = table[table["T"] == 1]
    pick = rng.integers(0, len(conv), n)
    return np.stack([conv[c][pick] for c in "KCYXRS"] + [np.ones(n, dtype=np.int64)], axis=1).astype(np.int64)


def grid_points(n: int, rng: np.random.Generator, *, min_pe: int) -> dict[str, np.ndarray]:
    return {
        "layers": _layers(n, rng),
        "num_pe": rng.choice(np.array([min_pe, 2 * min_pe, 256, 512]), n),
        "noc_bw": rng.choice(np.array([1, 4, 16, 64, 256, 1024]), n),
        "noc_hop_latency": rng.integers(1, 4, n),
        "simd_lanes": rng.choice(np.array([1, 2, 4]), n),
    }


def distinct_points(n: int, rng: np.random.Generator, *, min_pe: int) -> dict[str, np.ndarray]:
    return {
        "layers": _layers(n, rng),
        "num_pe": rng.integers(min_pe, 1025, n),
        "noc_bw": rng.integers(1, 1025, n),
        "noc_hop_latency": rng.integers(0, 4, n),
        "simd_lanes": rng.integers(1, 9, n),
    }


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--loop-points", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'style':8s} {'points':8s} | batched evals/s (wall / CPU) | per-point loop (wall / CPU) | batch vs loop"
          " | batch vs MAESTRO (CPU)")  # fmt: skip
    for style, min_pe in (("kcp_ws", 64), ("rs_yp", 11), ("xp_ws", 16)):
        dataflow = load_mapping(style).first_dataflow
        for kind, draw in (("grid", grid_points), ("distinct", distinct_points)):
            points = draw(args.points, rng, min_pe=min_pe)
            batch_wall, batch_cpu = _timed(lambda: evaluate_mapping(dataflow, **points))  # noqa: B023

            def loop() -> None:
                for i in range(args.loop_points):
                    evaluate_mapping(dataflow, **{k: v[i : i + 1] for k, v in points.items()})  # noqa: B023

            loop_wall, loop_cpu = _timed(loop)
            rate_wall, rate_cpu = args.points / batch_wall, args.points / batch_cpu
            loop_rate_wall, loop_rate_cpu = args.loop_points / loop_wall, args.loop_points / loop_cpu
            print(
                f"{style:8s} {kind:8s} | {rate_wall:10,.0f} / {rate_cpu:10,.0f} | {loop_rate_wall:6,.0f} / "
                f"{loop_rate_cpu:6,.0f} | {rate_cpu / loop_rate_cpu:6,.0f}x | "
                f"{rate_cpu * MAESTRO_SECONDS_PER_POINT:6,.0f}x"
            )


if __name__ == "__main__":
    main()

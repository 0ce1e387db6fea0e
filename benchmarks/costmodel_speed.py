"""Cost-model throughput: 10^6 mixed design points in one vectorised call, on one core.

Prints evaluations per second of the vectorised model (with and without input
checks) and the ratio against a per-point Python loop over the same formulas,
measured in the same run. Historical anchor: the real MAESTRO, called the way
ConfuciuX calls it, costs 9.2-10.0 ms per point on this kind of machine.

It also times strided layers (the 119 layers of ``tests/data/maestro_stride_dev_layers.csv``,
torchvision and synthetic, at their own strides): strided points go through MAESTRO's
general analysis (``costmodel.engine``) rather than the stride-1 closed forms, and the
ratio printed is against the stride-1 closed forms on the same layers in the same run.

Usage: python benchmarks/costmodel_speed.py [--points 1000000] [--loop-points 3000] [--strided-points 100000]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from confx.costmodel import evaluate  # noqa: E402
from confx.costmodel.evaluate import check_points, dataflow_codes, evaluate_trusted  # noqa: E402
from confx.costmodel.layers import builtin_networks, load_network  # noqa: E402

STRIDED_LAYERS = Path(__file__).parents[1] / "tests" / "data" / "maestro_stride_dev_layers.csv"

MAESTRO_MS_PER_POINT = (9.2, 10.0)


def mixed_points(n_points: int, rng: np.random.Generator):
    """Random layers from the release's 13 tables, random dataflows, any P in 1..128 and B in 1..12."""
    layers = np.concatenate([load_network(name).dims for name in builtin_networks() if name.endswith("_release")])
    dims = layers[rng.integers(0, len(layers), n_points)]
    codes = rng.integers(0, 3, n_points)
    num_pe = rng.integers(1, 129, n_points)
    ktile = rng.integers(1, 13, n_points)
    return dims, codes, num_pe, ktile


def strided_points(n_points: int, rng: np.random.Generator):
    """Random strided reference layers at their strides, random dataflows, P in 1..128, B in 1..12."""
    table = load_network(STRIDED_LAYERS)
    pick = rng.integers(0, table.n_layers, n_points)
    codes = rng.integers(0, 3, n_points)
    return table.dims[pick], codes, rng.integers(1, 129, n_points), rng.integers(1, 13, n_points), table.options(pick)


def time_strided(n_points: int, repeats: int, rng: np.random.Generator) -> None:
    """Strided points through the general engine against the same layers at stride 1."""
    dims, codes, num_pe, ktile, options = strided_points(n_points, rng)
    names = np.array(["dla", "shi", "eye"])[codes]
    share = float(((options.stride_y != 1) | (options.stride_x != 1)).mean())
    kwargs = {"stride_y": options.stride_y, "stride_x": options.stride_x}
    strided = best_of(repeats, lambda: evaluate(dims, names, num_pe, ktile, **kwargs))
    unstrided = best_of(repeats, lambda: evaluate(dims, names, num_pe, ktile))
    print(f"strided layers: {n_points:,} points on {STRIDED_LAYERS.name} ({share:.0%} with a stride)")
    print(f"  evaluate at the layers' strides:  {strided:.3f} s  -> {n_points / strided:,.0f} evaluations/s")
    print(f"  same points at stride 1:          {unstrided:.3f} s  -> {n_points / unstrided:,.0f} evaluations/s")
    print(f"  cost of the strides (same run):   {strided / unstrided:.1f}x")


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--loop-points", type=int, default=3_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--strided-points", type=int, default=100_000, help="0 skips the strided timing")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    rng = np.random.default_rng(0)
    dims, codes, num_pe, ktile = mixed_points(args.points, rng)
    names = np.array(["dla", "shi", "eye"])[codes]

    checked = best_of(args.repeats, lambda: evaluate(dims, names, num_pe, ktile))
    trusted = best_of(args.repeats, lambda: evaluate_trusted(dims, codes, num_pe, ktile))

    n_loop = min(args.loop_points, args.points)

    def loop() -> None:
        for i in range(n_loop):
            d, P, B = check_points(dims[i], num_pe[i : i + 1], ktile[i : i + 1])
            evaluate_trusted(d, dataflow_codes(codes[i : i + 1], 1), P, B)

    loop_time = best_of(1, loop) / n_loop
    vector_rate = args.points / checked
    print(f"points: {args.points:,} mixed (all 13 networks, dla/shi/eye + depthwise, P 1..128, B 1..12), one core")
    print(f"vectorised evaluate (checked input): {checked:.3f} s  -> {vector_rate:,.0f} evaluations/s")
    print(f"vectorised kernel (trusted input):   {trusted:.3f} s  -> {args.points / trusted:,.0f} evaluations/s")
    print(
        f"per-point Python loop ({n_loop:,} points): {loop_time * 1e6:.1f} us/point"
        f" -> {1 / loop_time:,.0f} evaluations/s"
    )
    print(f"speed-up of vectorised over the loop: {vector_rate * loop_time:,.0f}x")
    lo, hi = MAESTRO_MS_PER_POINT
    print(
        f"speed-up over real MAESTRO ({lo}-{hi} ms/point, historical):"
        f" {vector_rate * lo / 1e3:,.0f}x-{vector_rate * hi / 1e3:,.0f}x"
    )
    if args.strided_points:
        time_strided(args.strided_points, args.repeats, rng)


if __name__ == "__main__":
    main()

"""`confx cost` end to end against the cost-model kernel alone, on a 2-million-row Parquet file.

Writes a Parquet file of plain (stride-1) design points drawn from the release's 13 tables
(random dataflow, P in 1..128, B in 1..12), then times in the same run:

* the command in-process (``cost_file``: read, check, evaluate, write) and as a subprocess
  (``confx cost IN OUT``, interpreter start and imports included);
* the kernel alone on the same points already in memory (``evaluate`` with its input checks), in
  one call and in the command's chunks (the chunks keep the kernel's temporaries in cache),

and prints rows/s of each and the ratio command / kernel.

Usage: python benchmarks/cost_command.py [--rows 2000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from confx.costmodel import evaluate
from confx.costmodel.layers import builtin_networks, load_network
from confx.pipeline.results.cost_table import CHUNK_ROWS, cost_file


def write_points(path: Path, n_rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The design file: release layers at stride 1, dataflow names, knobs; returns its columns."""
    layers = np.concatenate([load_network(n).dims for n in builtin_networks() if n.endswith("_release")])
    dims = layers[rng.integers(0, len(layers), n_rows)]
    columns = {name: dims[:, i] for i, name in enumerate("KCYXRST")}
    columns["dataflow"] = np.array(["dla", "shi", "eye"])[rng.integers(0, 3, n_rows)]
    columns["num_pe"] = rng.integers(1, 129, n_rows)
    columns["ktile"] = rng.integers(1, 13, n_rows)
    pq.write_table(pa.table(columns), path)
    return columns


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="confx-cost-bench-") as folder:
        source, target = Path(folder) / "designs.parquet", Path(folder) / "costs.parquet"
        columns = write_points(source, args.rows, np.random.default_rng(0))
        dims = np.stack([columns[name] for name in "KCYXRST"], axis=1)

        def kernel() -> None:
            evaluate(dims, columns["dataflow"], columns["num_pe"], columns["ktile"])

        def kernel_chunked() -> None:
            for start in range(0, args.rows, CHUNK_ROWS):
                part = slice(start, start + CHUNK_ROWS)
                evaluate(dims[part], columns["dataflow"][part], columns["num_pe"][part], columns["ktile"][part])

        def command() -> None:
            cost_file(source, target)

        def subprocess_command() -> None:
            confx = [sys.executable, "-m", "confx.pipeline.cli", "cost", str(source), str(target)]
            subprocess.run(confx, check=True, capture_output=True)

        timings = {
            "kernel alone (evaluate, checked, points in memory)": best_of(args.repeats, kernel),
            "kernel alone in the command's chunks": best_of(args.repeats, kernel_chunked),
            "confx cost in-process (read, check, evaluate, write)": best_of(args.repeats, command),
            "confx cost as a subprocess (start-up and imports too)": best_of(args.repeats, subprocess_command),
        }
        print(f"rows: {args.rows:,} plain design points, Parquet {source.stat().st_size / 1e6:.1f} MB in, "
              f"{target.stat().st_size / 1e6:.1f} MB out; best of {args.repeats}")  # fmt: skip
        kernel_time = timings["kernel alone (evaluate, checked, points in memory)"]
        for label, seconds in timings.items():
            print(f"  {label:55s} {seconds:6.3f} s  {args.rows / seconds / 1e6:5.2f} M rows/s  "
                  f"(x{kernel_time / seconds:.2f} of the kernel)")  # fmt: skip


if __name__ == "__main__":
    main()

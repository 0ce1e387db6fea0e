"""A first look at a network: its whole action grid under every dataflow, in one call."""

from __future__ import annotations

import time

import numpy as np

from costmodel import DATAFLOWS, evaluate
from costmodel.layers import load_network

GRID_NUM_PE = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128)
GRID_KTILE = tuple(range(1, 13))


def run_demo(model: str) -> str:
    """Evaluate every layer x dataflow x grid point and summarise the fastest designs."""
    table = load_network(model)
    n_layers, n_pe, n_tile = table.n_layers, len(GRID_NUM_PE), len(GRID_KTILE)
    layer_idx, df_idx, pe_idx, tile_idx = np.meshgrid(
        np.arange(n_layers), np.arange(len(DATAFLOWS)), np.arange(n_pe), np.arange(n_tile), indexing="ij"
    )
    start = time.perf_counter()
    result = evaluate(
        table.dims[layer_idx.ravel()],
        df_idx.ravel(),
        np.asarray(GRID_NUM_PE)[pe_idx.ravel()],
        np.asarray(GRID_KTILE)[tile_idx.ravel()],
    )
    elapsed = time.perf_counter() - start
    runtime = np.where(result.valid, result.runtime_cycles, np.iinfo(np.int64).max)
    runtime = runtime.reshape(n_layers, len(DATAFLOWS), n_pe * n_tile)
    lines = [
        f"{table.name}: {n_layers} layers, {result.valid.size:,} design points evaluated in {elapsed * 1e3:.1f} ms",
        f"{'dataflow':8s} {'latency at 128 PEs, best tile (cycles)':>40s} {'latency at 1 PE, best tile':>28s}",
    ]
    for d, name in enumerate(DATAFLOWS):
        per_pe = runtime[:, d, :].reshape(n_layers, n_pe, n_tile).min(axis=2)
        lines.append(f"{name:8s} {int(per_pe[:, -1].sum()):40,d} {int(per_pe[:, 0].sum()):28,d}")
    return "\n".join(lines)

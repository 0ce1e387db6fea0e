"""Load ``maestro_general_dev.csv.gz`` and run every row through :mod:`costmodel.general`.

Shared by the reference tests and the benchmark: one batch per mapping file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from confx.costmodel.general import GeneralResult, evaluate_mapping
from confx.costmodel.mapping import load_mapping

DATA = Path(__file__).parent / "data" / "maestro_general_dev.csv.gz"


def load_reference() -> pd.DataFrame:
    frame = pd.read_csv(DATA, low_memory=False)
    frame["style"] = frame["mapping_file"].str.rsplit("/", n=1).str[-1].str.removesuffix(".m")
    frame["stride_n"] = pd.to_numeric(frame["stride"], errors="coerce").fillna(1).astype(np.int64)
    frame["offchip"] = pd.to_numeric(frame["offchip_bw_cstr"], errors="coerce").fillna(70000).astype(np.int64)
    return frame


def evaluate_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Our outputs for every row, indexed like ``frame``."""
    parts = []
    for style, group in frame.groupby("style"):
        dataflow = load_mapping(str(style)).first_dataflow
        knobs = {}
        if "KTileSz" in dataflow.knobs:
            knobs = {"KTileSz": group["ktile"].to_numpy().astype(np.int64)}
        result: GeneralResult = evaluate_mapping(
            dataflow,
            group[["K", "C", "Y", "X", "R", "S", "T"]].to_numpy(),
            group["num_pe"].to_numpy(),
            knobs=knobs,
            stride_y=group["stride_n"].to_numpy(),
            stride_x=group["stride_n"].to_numpy(),
            noc_bw=group["noc_bw"].to_numpy(),
            noc_hops=group["noc_hops"].to_numpy(),
            noc_hop_latency=group["noc_hop_latency"].to_numpy(),
            simd_lanes=group["num_simd_lanes"].to_numpy(),
            offchip_bw=group["offchip"].to_numpy(),
        )
        parts.append(pd.DataFrame(result.to_dict(), index=group.index))
    return pd.concat(parts).loc[frame.index]

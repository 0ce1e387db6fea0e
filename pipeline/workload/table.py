"""The imported layer table: its schema, its true MAC count and its CSV file.

A layer table is the contract with the cost model. Each row is one compute layer in MAESTRO's terms:
``K`` output channels, ``C`` input channels, ``Y, X`` input rows and columns *including* padding
(MAESTRO has no padding), ``R, S`` filter rows and columns, ``T`` the layer type (1 CONV,
2 depthwise), plus strides, groups and provenance (``name``, ``source``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from confx.costmodel.errors import ConfXError
from confx.costmodel.evaluate import CONV, DEPTHWISE

#: Columns of an imported table, in file order.
TABLE_COLUMNS = ("name", "source", "K", "C", "Y", "X", "R", "S", "T", "stride_y", "stride_x", "groups")
#: Integer columns; ``stride_y, stride_x, groups`` default to 1 when a file leaves them out.
DIM_COLUMNS = TABLE_COLUMNS[2:]
OPTIONAL_DEFAULTS = {"stride_y": 1, "stride_x": 1, "groups": 1}


@dataclass(frozen=True)
class LayerRow:
    """One compute layer as MAESTRO sees it.

    Attributes:
        name: Where the layer comes from (module path or ONNX node name).
        K: Output channels (1 for a depthwise layer).
        C: Input channels.
        Y: Input rows including padding.
        X: Input columns including padding.
        R: Filter rows.
        S: Filter columns.
        T: :data:`CONV` or :data:`DEPTHWISE`.
        stride_y: Vertical stride.
        stride_x: Horizontal stride.
        groups: Convolution groups (1 unless a grouped convolution with 1 < groups < C).
    """

    name: str
    K: int
    C: int
    Y: int
    X: int
    R: int
    S: int
    T: int = CONV
    stride_y: int = 1
    stride_x: int = 1
    groups: int = 1


def layer_frame(rows: Iterable[LayerRow], *, source: str) -> pd.DataFrame:
    """Build the table of one network from its rows, in :data:`TABLE_COLUMNS` order."""
    records = [{**asdict(row), "source": source} for row in rows]
    frame = pd.DataFrame.from_records(records, columns=list(TABLE_COLUMNS))
    return frame.astype({column: "int64" for column in DIM_COLUMNS})


def true_macs(table: pd.DataFrame) -> pd.Series:
    """Multiply-accumulates of each row, int64 shape (n_layers,).

    ``K*C*R*S*Yo*Xo/groups`` for CONV and ``C*R*S*Yo*Xo`` for depthwise rows, with
    ``Yo = (Y-R)//stride_y + 1`` and ``Xo = (X-S)//stride_x + 1``. Optional columns take their defaults,
    so that plain ``K,C,Y,X,R,S,T`` catalog tables work too.
    """
    dims = {column: table[column] if column in table else default for column, default in OPTIONAL_DEFAULTS.items()}
    out_rows = (table["Y"] - table["R"]) // dims["stride_y"] + 1
    out_cols = (table["X"] - table["S"]) // dims["stride_x"] + 1
    per_output = table["C"] * table["R"] * table["S"] * out_rows * out_cols
    conv = table["K"] * per_output // dims["groups"]
    return conv.where(table["T"] != DEPTHWISE, per_output).astype("int64")


def write_table_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV in :data:`TABLE_COLUMNS` order, creating the folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.loc[:, list(TABLE_COLUMNS)].to_csv(path, index=False)
    return path


def read_table_csv(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_table_csv`, filling optional columns with their defaults.

    Raises:
        ConfXError: The file is missing or lacks one of ``K,C,Y,X,R,S,T``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfXError(f"{path}: layer table file not found")
    frame = pd.read_csv(path, dtype={"name": str, "source": str})
    missing = [column for column in ("K", "C", "Y", "X", "R", "S", "T") if column not in frame]
    if missing:
        raise ConfXError(f"{path}: missing column(s) {','.join(missing)}; a layer table needs K,C,Y,X,R,S,T")
    defaults: dict[str, Any] = {**OPTIONAL_DEFAULTS, "name": "", "source": str(path)}
    for column, default in defaults.items():
        if column not in frame:
            frame[column] = default
    frame["name"] = frame["name"].fillna("").astype(str)
    return frame.loc[:, list(TABLE_COLUMNS)].astype({column: "int64" for column in DIM_COLUMNS})

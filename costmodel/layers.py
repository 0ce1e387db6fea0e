"""Layer tables: the built-in model catalog and user CSV files.

A layer table lists a network's layers as ``K,C,Y,X,R,S,T`` rows (T=1 CONV,
T=2 depthwise; Y and X are input sizes, stride 1, no padding). Only numpy and
the standard library are used here, so that light worker processes can load
networks without pandas or pyarrow.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from confx.costmodel.errors import LayerTableError
from confx.costmodel.evaluate import DEPTHWISE, LAYER_COLUMNS, RowNames, check_points

_CATALOG = "confx.costmodel.catalog"


@dataclass(frozen=True, eq=False)
class LayerTable:
    """A network as a table of layers.

    Attributes:
        name: Catalog name, or the CSV file's stem.
        dims: Layer dims, int64 shape (n_layers, 7) in ``K C Y X R S T`` order.
    """

    name: str
    dims: NDArray[np.int64]

    @property
    def n_layers(self) -> int:
        return int(self.dims.shape[0])

    @property
    def depthwise(self) -> NDArray[np.bool_]:
        """Mask of depthwise layers, shape (n_layers,)."""
        return self.dims[:, LAYER_COLUMNS.index("T")] == DEPTHWISE

    def column(self, name: str) -> NDArray[np.int64]:
        """One column of the table, shape (n_layers,)."""
        return self.dims[:, LAYER_COLUMNS.index(name)]


def builtin_networks() -> tuple[str, ...]:
    """Names of the networks shipped with ConfX (ConfuciuX's model catalog)."""
    files = resources.files(_CATALOG).iterdir()
    return tuple(sorted(f.name.removesuffix(".csv") for f in files if f.name.endswith(".csv")))


def load_network(name_or_path: str | Path) -> LayerTable:
    """Load a built-in network by name, or a layer-table CSV by path.

    Raises:
        LayerTableError: Unknown name, missing file, or a malformed table.
    """
    text = str(name_or_path)
    if text in builtin_networks():
        source = resources.files(_CATALOG).joinpath(f"{text}.csv")
        return parse_layer_csv(source.read_text(), name=text, source=f"built-in network {text}")
    path = Path(text)
    if path.suffix.lower() == ".csv" or path.exists():
        if not path.is_file():
            raise LayerTableError(f"{path}: layer table file not found")
        return parse_layer_csv(path.read_text(), name=path.stem, source=str(path))
    raise LayerTableError(
        f"unknown network {text!r}: give a built-in name ({', '.join(builtin_networks())}) "
        "or the path of a CSV file with columns K,C,Y,X,R,S,T"
    )


def parse_layer_csv(text: str, *, name: str, source: str) -> LayerTable:
    """Parse layer-table CSV text; extra columns are ignored.

    Args:
        text: The file's content, with a header row.
        name: Name of the resulting table.
        source: File name for error messages.

    Raises:
        LayerTableError: Empty file, missing columns, no rows, or bad values,
            all named with the file and line.
    """
    reader = csv.reader(line for line in text.splitlines() if line.strip())
    header = next(reader, None)
    if header is None:
        raise LayerTableError(f"{source}: empty file (expected a header K,C,Y,X,R,S,T and one row per layer)")
    header = [h.strip() for h in header]
    missing = [c for c in LAYER_COLUMNS if c not in header]
    if missing:
        raise LayerTableError(f"{source}: missing column(s) {','.join(missing)} (header is {','.join(header)})")
    positions = [header.index(c) for c in LAYER_COLUMNS]
    rows = []
    for line_number, row in enumerate(reader, start=2):
        if len(row) < len(header):
            raise LayerTableError(f"{source}: line {line_number} has {len(row)} fields, header has {len(header)}")
        rows.append([row[i].strip() for i in positions])
    if not rows:
        raise LayerTableError(f"{source}: no layers (the file has only a header)")
    try:
        dims, _, _ = check_points(np.array(rows), 1, 1, rows=RowNames("line", 2))
    except LayerTableError as error:
        raise LayerTableError(f"{source}: {error}") from None
    return LayerTable(name=name, dims=dims)

"""Layer tables: the built-in catalog and user CSV files.

A layer table lists a network's layers as ``K,C,Y,X,R,S,T`` rows (T=1 CONV,
T=2 depthwise; Y and X are MAESTRO's input sizes, padding included). Optional
columns ``stride_y``, ``stride_x`` and ``groups`` (each 1 when absent) describe
strided and grouped convolutions, and ``name`` and ``source`` (layer name and
where it came from) are carried through as provenance. Only numpy and the
standard library are used here, so that light worker processes can load
networks without pandas or pyarrow.

The catalog holds two kinds of table: ``catalog/true/<name>.csv``, imported from model
definitions (``python -m confx.pipeline.workload.build_catalog``), named ``<name>``; and
``catalog/release/<name>.csv``, the ConfuciuX release's 13 tables (stride 1, no padding,
groups or FC layers), named ``<name>_release`` and kept to reproduce the paper.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from confx.costmodel.errors import LayerTableError
from confx.costmodel.evaluate import (
    DEPTHWISE,
    LAYER_COLUMNS,
    LAYER_OPTION_COLUMNS,
    LayerOptions,
    RowNames,
    check_design_points,
)

_CATALOG = "confx.costmodel.catalog"


@dataclass(frozen=True, eq=False)
class LayerTable:
    """A network as a table of layers.

    Attributes:
        name: Catalog name, or the CSV file's stem.
        dims: Layer dims, int64 shape (n_layers, 7) in ``K C Y X R S T`` order.
        stride_y: Stride over the input rows, int64 shape (n_layers,); all 1 by default.
        stride_x: Stride over the input columns, int64 shape (n_layers,); all 1 by default.
        groups: Group count of grouped CONV layers, int64 shape (n_layers,); all 1 by default.
        layer_names: The ``name`` column, one string per layer ("" when absent).
        layer_sources: The ``source`` column, one string per layer ("" when absent).
    """

    name: str
    dims: NDArray[np.int64]
    # None means all ones: __post_init__ fills each in, so readers always see an array.
    stride_y: NDArray[np.int64] = None  # type: ignore[assignment]
    stride_x: NDArray[np.int64] = None  # type: ignore[assignment]
    groups: NDArray[np.int64] = None  # type: ignore[assignment]
    layer_names: tuple[str, ...] = field(default=())
    layer_sources: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        # Defaults that keep ``LayerTable(name, dims)`` meaning a plain stride-1 table.
        n = int(self.dims.shape[0])
        for column in LAYER_OPTION_COLUMNS:
            values = getattr(self, column)
            values = np.ones(n, dtype=np.int64) if values is None else np.asarray(values, dtype=np.int64)
            object.__setattr__(self, column, values)
        for column in ("layer_names", "layer_sources"):
            if not getattr(self, column):
                object.__setattr__(self, column, ("",) * n)

    @property
    def n_layers(self) -> int:
        return int(self.dims.shape[0])

    @property
    def output_rows(self) -> NDArray[np.int64]:
        """Output rows per layer, ``(Y - R) // stride_y + 1``, shape (n_layers,)."""
        return (self.column("Y") - self.column("R")) // self.stride_y + 1

    @property
    def output_columns(self) -> NDArray[np.int64]:
        """Output columns per layer, ``(X - S) // stride_x + 1``, shape (n_layers,)."""
        return (self.column("X") - self.column("S")) // self.stride_x + 1

    @property
    def true_macs(self) -> NDArray[np.int64]:
        """Multiply-accumulates per layer with the strided output size, shape (n_layers,).

        ``K*C*R*S*Yo*Xo/groups`` for CONV, ``C*R*S*Yo*Xo`` for depthwise layers (``K=1``).
        """
        per_output = self.column("C") // self.groups * self.column("R") * self.column("S")
        return self.column("K") * per_output * self.output_rows * self.output_columns

    def options(self, layer: NDArray[np.int64] | None = None) -> LayerOptions:
        """Strides and group counts of some layers (all by default), for the cost model.

        Args:
            layer: Layer indices, any shape (flattened); None for every layer in order.
        """
        index = slice(None) if layer is None else np.asarray(layer).reshape(-1)
        return LayerOptions(stride_y=self.stride_y[index], stride_x=self.stride_x[index], groups=self.groups[index])

    @property
    def depthwise(self) -> NDArray[np.bool_]:
        """Mask of depthwise layers, shape (n_layers,)."""
        return self.dims[:, LAYER_COLUMNS.index("T")] == DEPTHWISE

    def column(self, name: str) -> NDArray[np.int64]:
        """One column of the table, shape (n_layers,)."""
        return self.dims[:, LAYER_COLUMNS.index(name)]


RELEASE_SUFFIX = "_release"
"""Suffix of the ConfuciuX release's tables (``resnet18_release``): kept to reproduce the paper."""

_FOLDERS = {"release": RELEASE_SUFFIX, "true": ""}
"""Catalog sub-folders and the suffix their file stems get as network names."""


@dataclass(frozen=True)
class CatalogEntry:
    """One built-in layer table.

    Attributes:
        name: The network's catalog name (``resnet18``, ``resnet18_release``, ...).
        folder: ``release`` (ConfuciuX's tables: no strides, padding, groups or FC layers)
            or ``true`` (imported from a model definition by ``confx import``).
        file_name: The CSV file in that folder.
    """

    name: str
    folder: str
    file_name: str

    def read_text(self) -> str:
        return resources.files(_CATALOG).joinpath(self.folder, self.file_name).read_text()


def catalog() -> dict[str, CatalogEntry]:
    """Every built-in table by name, sorted: the true tables and the release's ``*_release`` tables."""
    return {entry.name: entry for entry in _catalog_entries()}


@functools.cache
def _catalog_entries() -> tuple[CatalogEntry, ...]:
    # Listed once per process: a sweep names its networks for every one of its (thousands of) trials.
    entries = []
    for folder, suffix in _FOLDERS.items():
        for file in resources.files(_CATALOG).joinpath(folder).iterdir():
            if file.name.endswith(".csv"):
                entries.append(CatalogEntry(file.name.removesuffix(".csv") + suffix, folder, file.name))
    return tuple(sorted(entries, key=lambda e: e.name))


def builtin_networks() -> tuple[str, ...]:
    """Names of the networks shipped with ConfX: true tables and the release's ``*_release`` tables."""
    return tuple(catalog())


def load_network(name_or_path: str | Path) -> LayerTable:
    """Load a built-in network by name, or a layer-table CSV by path.

    Raises:
        LayerTableError: Unknown name, missing file, or a malformed table.
    """
    text = str(name_or_path)
    entries = catalog()
    if text in entries:
        return parse_layer_csv(entries[text].read_text(), name=text, source=f"built-in network {text}")
    path = Path(text)
    if path.suffix.lower() == ".csv" or path.exists():
        if path.is_dir():
            raise LayerTableError(f"{path}: is a folder; give a layer-table CSV file")
        if not path.is_file():
            raise LayerTableError(f"{path}: layer table file not found")
        try:
            # utf-8-sig: spreadsheet exports start with a byte-order mark.
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise LayerTableError(f"{path}: not a UTF-8 text CSV file (binary content?)") from None
        except OSError as error:
            raise LayerTableError(f"{path}: cannot read: {error.strerror}") from None
        return parse_layer_csv(text, name=path.stem, source=str(path))
    raise LayerTableError(
        f"unknown network {text!r}: give a built-in name ({', '.join(entries)}) "
        "or the path of a CSV file with columns K,C,Y,X,R,S,T"
    )


def parse_layer_csv(text: str, *, name: str, source: str) -> LayerTable:
    """Parse layer-table CSV text; unknown extra columns are ignored.

    Args:
        text: The file's content, with a header row. Required columns ``K,C,Y,X,R,S,T``;
            optional ``stride_y, stride_x, groups`` (an empty cell means 1) and ``name,
            source`` (text, carried through).
        name: Name of the resulting table.
        source: File name for error messages.

    Raises:
        LayerTableError: Empty file, missing columns, no rows, or bad values,
            all named with the file and line.
    """
    if "\x00" in text:
        raise LayerTableError(f"{source}: not a text CSV file (it holds NUL bytes)")
    reader = csv.reader(line for line in text.removeprefix("\ufeff").splitlines() if line.strip())
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise LayerTableError(f"{source}: line 1: {error}") from None
    if header is None:
        raise LayerTableError(f"{source}: empty file (expected a header K,C,Y,X,R,S,T and one row per layer)")
    header = [h.strip() for h in header]
    repeated = sorted({h for h in header if header.count(h) > 1 and h})
    if repeated:
        raise LayerTableError(f"{source}: column(s) {','.join(repeated)} appear more than once in the header")
    missing = [c for c in LAYER_COLUMNS if c not in header]
    if missing:
        raise LayerTableError(f"{source}: missing column(s) {','.join(missing)} (header is {','.join(header)})")
    rows = []
    try:
        for line_number, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise LayerTableError(f"{source}: line {line_number} has {len(row)} fields, header has {len(header)}")
            rows.append({h: row[i].strip() for i, h in enumerate(header)})
    except csv.Error as error:
        raise LayerTableError(f"{source}: {error}") from None
    if not rows:
        raise LayerTableError(f"{source}: no layers (the file has only a header)")
    dims = np.array([[row[c] for c in LAYER_COLUMNS] for row in rows])
    options = {
        column: np.array([row[column] or "1" for row in rows]) if column in header else 1
        for column in LAYER_OPTION_COLUMNS
    }
    try:
        dims, _, _, checked = check_design_points(dims, 1, 1, rows=RowNames("line", 2), **options)
    except LayerTableError as error:
        raise LayerTableError(f"{source}: {error}") from None
    return LayerTable(
        name=name,
        dims=dims,
        stride_y=checked.stride_y,
        stride_x=checked.stride_x,
        groups=checked.groups,
        layer_names=tuple(row.get("name", "") for row in rows),
        layer_sources=tuple(row.get("source", "") for row in rows),
    )

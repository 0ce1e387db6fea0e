"""Export a design as MAESTRO mapping files, one per layer, as the ConfuciuX release writes them.

For each layer ConfuciuX writes a mapping file with three constants (``KTileSz`` is the
buffer action ``ktile``, ``ClusterSz`` the PE count ``num_pe``, ``CTileSz`` is always 1),
the layer's dimensions and the ``Dataflow { ... }`` block of its dataflow template. A
depthwise layer (``T = 2``) is a ``DSCONV`` layer and uses the ``dpt`` template under
every ConfuciuX template (a library style's depthwise twin, ``ds_<style>``, where it has one).
The NoC and SIMD knobs are MAESTRO flags, not part of the file. The files we write for plain
layers are byte-identical to the release's, so they can be fed to the real MAESTRO to
cross-check a design.

Two additions for real networks, where the solution table has them (columns ``stride_y``,
``stride_x``, ``groups``, each 1 when absent):

* a strided layer gets MAESTRO's ``Stride { X: sx, Y: sy }`` line after the ``Type`` line, where
  MAESTRO's parser requires it (before ``Dimensions``); unstrided layers get none, as in the release;
* a grouped layer (``groups`` g > 1) is written as one group's shape, ``K/g`` filters over ``C/g``
  channels, under a ``//`` comment saying that it runs g times on its sub-accelerator: that is how
  the cost model counts it (run time, energy and MACs g times one group's).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from confx.costmodel.errors import ConfXError, join_problems
from confx.costmodel.mapped import depthwise_mapping
from confx.costmodel.mapping import style_names
from confx.pipeline.results.tables import write_text

logger = logging.getLogger(__name__)

MAPPING_COLUMNS = ("layer_index", "K", "C", "Y", "X", "R", "S", "T", "dataflow", "num_pe", "ktile")
LAYER_TYPES = {1: "CONV", 2: "DSCONV"}
OPTION_DEFAULTS = {"stride_y": 1, "stride_x": 1, "groups": 1}
"""Optional solution columns and the value a missing column (or a null) stands for."""
Layer = Mapping[str, Any]
"""One row of a solution table (a ``pd.Series`` or a record dict)."""


def _option(layer: Layer, name: str) -> int:
    value = layer.get(name, OPTION_DEFAULTS[name])
    return OPTION_DEFAULTS[name] if pd.isna(value) else int(value)


def _written_dims(layer: Layer) -> dict[str, int]:
    """The dimensions MAESTRO is given: one group's K and C for a grouped layer."""
    groups = _option(layer, "groups")
    dims = {dim: int(layer[dim]) for dim in ("K", "C", "Y", "X", "R", "S")}
    dims["K"] //= groups
    dims["C"] //= groups
    return dims


@functools.cache
def dataflow_template(name: str) -> str:
    """The ``Dataflow { ... }`` block of one template (``dla``, ``shi``, ``eye`` or ``dpt``), as packaged."""
    return resources.files("confx.costmodel.mappings").joinpath(f"{name}.m").read_text()


def _check_solution(solution: pd.DataFrame) -> None:
    """Raise one ConfXError that lists every reason the solution table cannot be exported."""
    missing = [column for column in MAPPING_COLUMNS if column not in solution.columns]
    if missing:
        raise ConfXError(
            f"solution table: missing column(s) {missing}; a solution.parquet written by the search has them all"
        )
    problems = []
    bad_types = sorted(set(solution["T"]) - set(LAYER_TYPES))
    if bad_types:
        problems.append(f"column T has value(s) {bad_types}; use 1 (CONV) or 2 (depthwise DSCONV)")
    conv_dataflows = solution.loc[solution["T"] != 2, "dataflow"]
    bad_dataflows = sorted(set(conv_dataflows) - set(style_names()))
    if bad_dataflows:
        problems.append(
            f"column dataflow has value(s) {bad_dataflows}; use a built-in style ({', '.join(style_names())})"
        )
    for column in ("num_pe", "ktile"):
        if (solution[column] < 1).any():
            problems.append(f"column {column} has values below 1; PE counts and tile sizes are positive integers")
    for column in OPTION_DEFAULTS:
        if column in solution.columns and (solution[column].fillna(1) < 1).any():
            problems.append(f"column {column} has values below 1; strides and group counts are positive integers")
    if {"groups", "K", "C"} <= set(solution.columns):
        groups = solution["groups"].fillna(1).astype("int64")
        if ((solution["K"] % groups != 0) | (solution["C"] % groups != 0)).any():
            problems.append("column groups does not divide K and C on some rows; a group has K/groups filters")
    if problems:
        raise ConfXError("solution table: " + join_problems(problems))


def _template(layer: Layer) -> str:
    """The block a layer runs: its dataflow, or that dataflow's depthwise counterpart on a DSCONV layer."""
    dataflow = str(layer["dataflow"])
    return depthwise_mapping(dataflow) if int(layer["T"]) == 2 else dataflow


def mapping_text(layer: Layer) -> str:
    """The MAESTRO mapping file of one layer of a design.

    Args:
        layer: One row of a solution table, with ``K C Y X R S T``, ``dataflow``,
            ``num_pe``, ``ktile`` and optionally ``stride_y, stride_x, groups``.

    Returns:
        The file's text (no final newline): byte-identical to what ConfuciuX writes for a
        plain layer, with a ``Stride`` line for a strided one and one group's shape (and a
        comment) for a grouped one.
    """
    layer_type = LAYER_TYPES[int(layer["T"])]
    template = _template(layer)
    dims = _written_dims(layer)
    stride_y, stride_x, groups = (_option(layer, name) for name in OPTION_DEFAULTS)
    stride = f"Stride {{ X: {stride_x}, Y: {stride_y} }}\n" if (stride_y, stride_x) != (1, 1) else ""
    grouped = (
        f"// grouped convolution, {groups} groups: one group's shape (K {int(layer['K'])}/{groups}, "
        f"C {int(layer['C'])}/{groups}), run {groups} times on this sub-accelerator\n"
        if groups > 1
        else ""
    )
    return (
        f"Constant KTileSz {int(layer['ktile'])};\n"
        "Constant CTileSz 1;\n"
        f"Constant ClusterSz {int(layer['num_pe'])};\n"
        "Network 0 {\n"
        f"Layer {layer_type} {{\n"
        f"Type: {layer_type}\n"
        f"{stride}{grouped}"
        f"Dimensions {{ {', '.join(f'{dim}: {size}' for dim, size in dims.items())} }}\n"
        f"{dataflow_template(template)}"
        "}\n"
        "}"
    )


def mapping_file_name(layer: Layer, *, index_width: int = 3) -> str:
    """The file name of a layer's mapping, e.g. ``layer_003_dla_K64_C3_Y224_X224_R11_S11_P1_B1.m``.

    The dataflow part names the template actually used, so depthwise layers read ``dpt``; the
    dims are the ones written (one group's), followed by ``_stride2x2`` (Y x X) and ``_g32``
    for strided and grouped layers.
    """
    template = _template(layer)
    dims = "_".join(f"{dim}{size}" for dim, size in _written_dims(layer).items())
    stride_y, stride_x, groups = (_option(layer, name) for name in OPTION_DEFAULTS)
    options = (f"_stride{stride_y}x{stride_x}" if (stride_y, stride_x) != (1, 1) else "") + (
        f"_g{groups}" if groups > 1 else ""
    )
    index = f"{int(layer['layer_index']):0{index_width}d}"
    return f"layer_{index}_{template}_{dims}{options}_P{int(layer['num_pe'])}_B{int(layer['ktile'])}.m"


def mapping_files(solution: pd.DataFrame | pa.Table) -> list[tuple[str, str]]:
    """The design's MAESTRO mapping files as (file name, text), one per layer, in layer order.

    Args:
        solution: The design, one row per layer, as in ``solution.parquet``: columns
            ``layer_index``, ``K C Y X R S T``, ``dataflow`` (dla/shi/eye), ``num_pe``, ``ktile``.
            An empty table (a search that found no design) has no files.

    Raises:
        ConfXError: A missing column, an unknown dataflow or layer type, or a non-positive action.
    """
    if isinstance(solution, pa.Table):  # only the columns a mapping file reads (the costs are many more)
        wanted = [*MAPPING_COLUMNS, *OPTION_DEFAULTS]
        solution = solution.select([name for name in wanted if name in solution.column_names]).to_pandas()
    _check_solution(solution)
    if solution.empty:
        return []
    index_width = max(3, len(str(int(solution["layer_index"].max()))))
    files = []
    for record in solution.sort_values("layer_index").to_dict("records"):
        layer = {str(name): value for name, value in record.items()}
        files.append((mapping_file_name(layer, index_width=index_width), mapping_text(layer)))
    return files


def write_mapping_files(solution: pd.DataFrame | pa.Table, out_dir: Path) -> list[Path]:
    """Write one MAESTRO mapping file per layer of a design into ``out_dir`` (created if missing), atomically.

    Returns:
        The paths written, in layer order (none for an empty solution).

    Raises:
        ConfXError: As :func:`mapping_files`.
    """
    files = mapping_files(solution)
    if not files:
        logger.debug("empty solution: no MAESTRO mapping files written")
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in files:
        paths.append(write_text(out_dir / name, text))
    logger.debug("wrote %d MAESTRO mapping files to %s", len(paths), out_dir)
    return paths


def write_mapping_archive(solution: pd.DataFrame | pa.Table, path: Path, *, folder: str) -> int:
    """Write the design's mapping files into one zip archive, under ``folder/``; return how many.

    A sweep's batched exact runs use it: one file per search instead of one per layer (creating
    a file is what a cheap search's outputs cost most). Nothing is written for an empty solution.
    """
    import zipfile

    files = mapping_files(solution)
    if files:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, text in files:
                archive.writestr(f"{folder}/{name}", text)
    return len(files)

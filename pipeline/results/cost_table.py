"""`confx cost`: evaluate a table of design points with the cost model.

The command's path stays in Arrow and numpy: the input is read with pyarrow, each column
is taken as a numpy array (zero-copy for integer Parquet columns), the dataflow names are
translated through a dictionary encoding (a few distinct strings, not one per row), the
cost model runs over cache-sized chunks, and the outputs are added as Arrow arrays with
validity masks (nullable integers without pandas object columns) and written by pyarrow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from confx.costmodel import DATAFLOWS, LAYER_COLUMNS, OUTPUT_COLUMNS
from confx.costmodel.errors import ConfXError, LayerTableError, MappingError, join_problems
from confx.costmodel.evaluate import (
    LAYER_OPTION_COLUMNS,
    LayerOptions,
    RowNames,
    check_design_points,
    dataflow_codes,
    evaluate_trusted,
)
from confx.costmodel.general import REASONS
from confx.costmodel.mapped import (
    HARDWARE_COLUMNS,
    RELEASE_HARDWARE,
    ROW_CONSTANTS,
    TEMPLATES,
    check_hardware,
    evaluate_mapped_trusted,
)
from confx.costmodel.mapping import Dataflow, load_mapping, style_names
from confx.pipeline.results.tables import TableWriter, check_writable, read_arrow

logger = logging.getLogger(__name__)

DESIGN_COLUMNS = (*LAYER_COLUMNS, "dataflow", "num_pe", "ktile")
"""Input columns of a design table: a layer, its dataflow and its two knobs."""
OPTIONAL_COLUMNS = LAYER_OPTION_COLUMNS
"""Optional input columns (``stride_y, stride_x, groups``); absent or empty means 1."""

MAPPING_COLUMN = "mapping"
"""Optional input column: a built-in mapping style or a ``.m`` file per row (empty: the row's dataflow)."""
NOC_OUTPUT_COLUMNS = ("reason", "peak_bw_req", "pe_utilisation")
"""Outputs added when the table has a mapping or hardware column: why a point is invalid, the NoC
bandwidth it needs not to wait, and its average PE utilisation."""

_INTEGER_OUTPUTS = frozenset({"runtime_cycles", "l1_bytes", "l2_bytes", "num_macs", "true_macs", "peak_bw_req"})
"""Outputs written as nullable int64 (null where the point is invalid); floats hold NaN there."""
CHUNK_ROWS = 1 << 15
"""Points per cost-model call: the kernel's temporaries then stay in the CPU caches."""
MAPPED_CHUNK_ROWS = 1 << 17
"""Rows per general-engine block: large enough to amortise its per-case Python, small enough to bound memory."""
_ROWS = RowNames("data row", 1)


def _column(table: pa.Table, name: str, *, default: int | None = None) -> NDArray:
    """One input column as a numpy array; integer columns without nulls are not copied.

    Anything else (floats, strings, nulls) comes back as is, for the cost model's checks to
    name the bad rows; a null in an optional column means its default.
    """
    if name not in table.column_names:
        assert default is not None
        return np.full(table.num_rows, default, dtype=np.int64)
    column = table.column(name)
    if default is not None and column.null_count:
        column = pc.fill_null(column, default)
    if pa.types.is_integer(column.type) and column.null_count == 0:
        return column.to_numpy()
    return column.to_numpy(zero_copy_only=False)


def _dataflow_codes(table: pa.Table) -> NDArray[np.int64]:
    """Dataflow codes of every row, translating each distinct name once."""
    column = table.column("dataflow")
    if pa.types.is_integer(column.type) or column.null_count:
        return dataflow_codes(column.to_numpy(zero_copy_only=False), table.num_rows, rows=_ROWS)
    encoded = pc.dictionary_encode(column).combine_chunks()
    names = encoded.dictionary.to_numpy(zero_copy_only=False)
    try:
        codes = dataflow_codes(names, len(names))
    except LayerTableError:
        # Error path only: translate every row, so that the message names the rows at fault.
        return dataflow_codes(column.to_numpy(zero_copy_only=False), table.num_rows, rows=_ROWS)
    return codes[encoded.indices.to_numpy()]


def _check_all(designs: pa.Table, source: str) -> None:
    """Error path only: check the whole table at once, so that the message lists every problem."""
    layers = np.stack([_column(designs, name) for name in LAYER_COLUMNS], axis=1)
    options = {name: _column(designs, name, default=1) for name in OPTIONAL_COLUMNS}
    try:
        check_design_points(layers, _column(designs, "num_pe"), _column(designs, "ktile"), rows=_ROWS, **options)
    except LayerTableError as error:
        raise ConfXError(f"{source}: {error}") from None


def _cost_chunks(designs: pa.Table, *, source: str, base: Path | None = None) -> Iterator[pa.Table]:
    """The output table in chunks of :data:`CHUNK_ROWS` rows: checked, evaluated, outputs appended.

    Checks run chunk by chunk too (small temporaries); the first bad chunk triggers a check of
    the whole table, so that the error still names every bad row. A table with a mapping or a
    hardware column takes :func:`_mapped_chunks` instead.
    """
    if MAPPING_COLUMN in designs.column_names or set(HARDWARE_COLUMNS) & set(designs.column_names):
        yield from _mapped_chunks(designs, source=source, base=base or Path.cwd())
        return
    missing = [c for c in DESIGN_COLUMNS if c not in designs.column_names]
    if missing:
        raise ConfXError(f"{source}: missing column(s) {','.join(missing)}; required: {','.join(DESIGN_COLUMNS)}")
    _check_column_types(designs, source)
    if designs.num_rows == 0:  # a header-only table is a valid empty table
        yield _empty_outputs(designs)
        return
    try:
        codes = _dataflow_codes(designs)
    except LayerTableError as error:
        raise ConfXError(f"{source}: {error}") from None
    columns = {name: _column(designs, name) for name in (*LAYER_COLUMNS, "num_pe", "ktile")}
    options = {name: _column(designs, name, default=1) for name in OPTIONAL_COLUMNS}
    clashing = [c for c in OUTPUT_COLUMNS if c in designs.column_names]
    if clashing:
        logger.warning("%s: replacing input column(s) %s with the cost model's", source, ",".join(clashing))
    carried = designs.drop_columns(clashing).replace_schema_metadata(None)
    metadata = None
    for start in range(0, designs.num_rows, CHUNK_ROWS):
        part = slice(start, start + CHUNK_ROWS)
        layers = np.stack([columns[name][part] for name in LAYER_COLUMNS], axis=1)
        try:
            dims, num_pe, ktile, checked = check_design_points(
                layers,
                columns["num_pe"][part],
                columns["ktile"][part],
                stride_y=options["stride_y"][part],
                stride_x=options["stride_x"][part],
                groups=options["groups"][part],
            )
        except LayerTableError:
            _check_all(designs, source)
            raise AssertionError("a chunk failed its checks but the whole table passed them") from None
        result = evaluate_trusted(dims, codes[part], num_pe, ktile, options=checked).to_dict()
        table = carried.slice(start, CHUNK_ROWS)
        invalid = ~result["valid"]
        for name in OUTPUT_COLUMNS:
            mask = invalid if name in _INTEGER_OUTPUTS else None
            table = table.append_column(name, pa.array(result[name], mask=mask))
        metadata = metadata or _pandas_metadata(table.schema)
        yield table.replace_schema_metadata(metadata)


def _check_column_types(designs: pa.Table, source: str) -> None:
    """Numeric columns must hold numbers: bools, dates, durations and categories are not coerced."""
    problems = []
    for name in (*LAYER_COLUMNS, "num_pe", "ktile", *OPTIONAL_COLUMNS, *HARDWARE_COLUMNS):
        if name not in designs.column_names:
            continue
        kind = designs.schema.field(name).type
        if pa.types.is_boolean(kind) or pa.types.is_temporal(kind) or pa.types.is_dictionary(kind):
            problems.append(f"column {name} has type {kind}; expected integers")
    if problems:
        raise ConfXError(f"{source}: " + "; ".join(problems))


def _empty_outputs(designs: pa.Table, outputs: tuple[str, ...] = OUTPUT_COLUMNS) -> pa.Table:
    """The output of a table without rows: its columns plus the (empty) outputs."""
    table = designs.drop_columns([c for c in outputs if c in designs.column_names])
    for name in outputs:
        kind = pa.bool_() if name == "valid" else pa.int64() if name in _INTEGER_OUTPUTS else pa.float64()
        kind = pa.string() if name == "reason" else kind
        table = table.append_column(name, pa.array([], type=kind))
    return table


def _pandas_metadata(schema: pa.Schema) -> dict[bytes, bytes]:
    """Schema metadata that makes pandas read the integer outputs back as nullable ``Int64``."""
    empty = schema.empty_table().to_pandas()
    for name in _INTEGER_OUTPUTS & set(schema.names):
        empty[name] = empty[name].astype("Int64")
    metadata = pa.Schema.from_pandas(empty, preserve_index=False).metadata
    assert metadata is not None
    return metadata


# --- tables with a mapping or hardware column -----------------------------------------------------


def _mapping_names(designs: pa.Table, source: str) -> tuple[NDArray[np.int64], list[str]]:
    """Each row's mapping as a code into the distinct names: the mapping column, else the dataflow."""
    n = designs.num_rows
    names = np.full(n, "", dtype=object)
    if "dataflow" in designs.column_names:
        column = designs.column("dataflow")
        if pa.types.is_integer(column.type):  # dataflow codes, as the plain path takes them
            try:
                codes = dataflow_codes(pc.fill_null(column, -1).to_numpy(), n, rows=_ROWS)
            except LayerTableError as error:
                raise ConfXError(f"{source}: {error}") from None
            column = pa.array(np.asarray(DATAFLOWS, dtype=object)[codes], type=pa.string())
        names[:] = pc.fill_null(pc.cast(column, pa.string()), "").to_numpy(zero_copy_only=False)
    if MAPPING_COLUMN in designs.column_names:
        given = pc.fill_null(pc.cast(designs.column(MAPPING_COLUMN), pa.string()), "").to_numpy(zero_copy_only=False)
        given = np.char.strip(given.astype(str))
        names = np.where(given != "", given, names)
    names = np.char.strip(names.astype(str))
    empty = np.flatnonzero(names == "")
    if len(empty):
        shown = ", ".join(_ROWS(r) for r in empty[:5])
        raise ConfXError(
            f"{source}: column mapping: no mapping ({shown}); give a style ({', '.join(style_names())}), "
            "a .m file, or a dataflow (dla, shi, eye)"
        )
    distinct, codes = np.unique(names, return_inverse=True)
    return codes.astype(np.int64), [str(name) for name in distinct]


def _resolve_mapping(name: str, first_row: int, *, source: str, base: Path) -> str | Dataflow:
    """A template name, or the parsed block of a built-in style or a ``.m`` file (relative to the table)."""
    if name.lower() in TEMPLATES:
        return name.lower()
    if name in style_names():
        return load_mapping(name).first_dataflow
    where = f"{source}: column mapping, {_ROWS(first_row)}"
    if not name.endswith(".m"):
        raise ConfXError(
            f"{where}: unknown mapping {name!r}; use a built-in style ({', '.join(style_names())}) "
            "or a path to a .m file"
        )
    path = Path(name) if Path(name).is_absolute() else base / name
    try:
        dataflow = load_mapping(path).first_dataflow
    except MappingError as error:
        raise ConfXError(f"{where}: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfXError(f"{where}: {path}: cannot read the mapping file ({error.__class__.__name__})") from None
    missing = sorted(dataflow.knobs - set(ROW_CONSTANTS))
    if missing:
        raise ConfXError(
            f"{where}: {path} uses constant(s) {', '.join(missing)} without a value; add 'Constant NAME value;' "
            f"lines to the file ({', '.join(ROW_CONSTANTS)} come from each row)"
        )
    return dataflow


def _mapped_chunks(designs: pa.Table, *, source: str, base: Path) -> Iterator[pa.Table]:
    """:func:`_cost_chunks` for a table with a mapping or hardware column, plus the NoC outputs."""
    outputs = (*OUTPUT_COLUMNS, *NOC_OUTPUT_COLUMNS)
    required = (*LAYER_COLUMNS, "num_pe")
    missing = [c for c in required if c not in designs.column_names]
    if not ({"dataflow", MAPPING_COLUMN} & set(designs.column_names)):
        missing.append("mapping (or dataflow)")
    if missing:
        raise ConfXError(f"{source}: missing column(s) {','.join(missing)}; required: {','.join(required)},mapping")
    _check_column_types(designs, source)
    if designs.num_rows == 0:
        yield _empty_outputs(designs, outputs)
        return
    codes, names = _mapping_names(designs, source)
    firsts = [int(np.argmax(codes == code)) for code in range(len(names))]
    mappings = [_resolve_mapping(name, row, source=source, base=base) for name, row in zip(names, firsts, strict=True)]
    templates = [code for code, m in enumerate(mappings) if isinstance(m, str)]
    if "ktile" not in designs.column_names and np.isin(codes, templates).any():
        row = int(np.flatnonzero(np.isin(codes, templates))[0])
        raise ConfXError(
            f"{source}: missing column ktile, needed by the template rows ({_ROWS(row)}: {names[codes[row]]}); "
            "add ktile (ConfuciuX's KTileSz B)"
        )
    n = designs.num_rows
    layers = np.stack([_column(designs, name) for name in LAYER_COLUMNS], axis=1)
    options = {name: _column(designs, name, default=1) for name in OPTIONAL_COLUMNS}
    ktile = _column(designs, "ktile", default=1)
    try:
        dims, num_pe, ktile, checked = check_design_points(
            layers, _column(designs, "num_pe"), ktile, rows=_ROWS, **options
        )
    except LayerTableError as error:
        raise ConfXError(f"{source}: {error}") from None
    given = {name: _column(designs, name, default=value) for name, value in RELEASE_HARDWARE.items()}
    knobs, problems = check_hardware(n, _ROWS, **given)
    if problems:
        raise ConfXError(f"{source}: {join_problems(problems)}")
    clashing = [c for c in outputs if c in designs.column_names]
    if clashing:
        logger.warning("%s: replacing input column(s) %s with the cost model's", source, ",".join(clashing))
    carried = designs.drop_columns(clashing).replace_schema_metadata(None)
    metadata = None
    for begin in range(0, n, MAPPED_CHUNK_ROWS):
        block = slice(begin, begin + MAPPED_CHUNK_ROWS)
        result = _evaluate_block(
            dims[block], codes[block], mappings, num_pe[block], ktile[block],
            LayerOptions(checked.stride_y[block], checked.stride_x[block], checked.groups[block]),
            {k: v[block] for k, v in knobs.items()},
        )  # fmt: skip
        reasons = np.asarray(REASONS, dtype=object)[result["reason"]]
        for start in range(0, len(reasons), CHUNK_ROWS):
            rows = slice(start, start + CHUNK_ROWS)
            table = carried.slice(begin + start, min(CHUNK_ROWS, len(reasons) - start))
            invalid = ~result["valid"][rows]
            for name in outputs:
                if name == "reason":
                    table = table.append_column(name, pa.array(reasons[rows], type=pa.string()))
                    continue
                mask = invalid if name in _INTEGER_OUTPUTS else None
                table = table.append_column(name, pa.array(result[name][rows], mask=mask))
            metadata = metadata or _pandas_metadata(table.schema)
            yield table.replace_schema_metadata(metadata)


def _evaluate_block(
    dims: NDArray[np.int64],
    codes: NDArray[np.int64],
    mappings: list[str | Dataflow],
    num_pe: NDArray[np.int64],
    ktile: NDArray[np.int64],
    options: LayerOptions,
    knobs: dict[str, NDArray[np.int64]],
) -> dict[str, NDArray]:
    """The outputs of a block of rows, one vectorised call per mapping present in it."""
    n = len(codes)
    result: dict[str, NDArray] = {}
    for code, mapping in enumerate(mappings):
        m = codes == code
        if not m.any():
            continue
        part = evaluate_mapped_trusted(
            dims[m], mapping, num_pe[m], ktile[m], _take_options(options, m), {k: v[m] for k, v in knobs.items()}
        ).to_dict()
        for name, value in part.items():
            if name not in result:
                result[name] = np.zeros(n, dtype=value.dtype)
            result[name][m] = value
    return result


def _take_options(options: LayerOptions, m: NDArray[np.bool_]) -> LayerOptions:
    return LayerOptions(options.stride_y[m], options.stride_x[m], options.groups[m])


def cost_table(designs: pa.Table, *, source: str = "input") -> pa.Table:
    """Add the cost-model outputs to a design table.

    Args:
        designs: One row per design point with :data:`DESIGN_COLUMNS`, optionally
            :data:`OPTIONAL_COLUMNS`; other columns are carried through unchanged.
        source: Name of the table in error messages.

    Returns:
        The same rows in order, followed by the :data:`OUTPUT_COLUMNS`. Invalid points
        hold nulls in the integer outputs and NaN in the float outputs.

    Raises:
        ConfXError: Missing columns, no rows, or bad values (naming the rows).
    """
    return pa.concat_tables(_cost_chunks(designs, source=source)).combine_chunks()


def cost_frame(designs: pd.DataFrame, *, source: str = "input") -> pd.DataFrame:
    """:func:`cost_table` on a pandas frame; integer outputs come back as nullable ``Int64``."""
    table = cost_table(pa.Table.from_pandas(designs, preserve_index=False), source=source)
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


@dataclass(frozen=True)
class CostSummary:
    """What `confx cost` evaluated: rows and invalid points."""

    rows: int
    invalid: int


def cost_file(input_path: str | Path, output_path: str | Path) -> CostSummary:
    """Read a design table, evaluate it and write it with the outputs added.

    The output is written while the next chunk is evaluated (pyarrow's writer runs
    without the GIL), to a temporary file renamed into place at the end: nothing is
    written unless every row is valid input.
    """
    check_writable(output_path)
    designs = read_arrow(input_path)
    rows = invalid = 0
    with TableWriter(output_path) as writer:
        for chunk in _cost_chunks(designs, source=str(input_path), base=Path(input_path).parent):
            writer.write(chunk)
            rows += chunk.num_rows
            invalid += chunk.num_rows - int(np.count_nonzero(chunk.column("valid").to_numpy()))
    return CostSummary(rows, invalid)

"""`confx cost`: evaluate a table of design points with the cost model."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from confx.costmodel import LAYER_COLUMNS, OUTPUT_COLUMNS, evaluate
from confx.costmodel.errors import ConfXError, LayerTableError
from confx.costmodel.evaluate import RowNames
from confx.pipeline.results.tables import check_writable, read_table, write_table

logger = logging.getLogger(__name__)

DESIGN_COLUMNS = (*LAYER_COLUMNS, "dataflow", "num_pe", "ktile")
"""Input columns of a design table: a layer, its dataflow and its two knobs."""

_INTEGER_OUTPUTS = ("runtime_cycles", "l1_bytes", "l2_bytes", "num_macs")


def cost_frame(designs: pd.DataFrame, *, source: str = "input") -> pd.DataFrame:
    """Add the cost-model outputs to a design table.

    Args:
        designs: One row per design point with :data:`DESIGN_COLUMNS`; other
            columns are carried through unchanged.
        source: Name of the table in error messages.

    Returns:
        The same rows in order, followed by the :data:`OUTPUT_COLUMNS`. Invalid
        points hold nulls in every output but ``valid``.

    Raises:
        ConfXError: Missing columns, no rows, or bad values (naming the line).
    """
    missing = [c for c in DESIGN_COLUMNS if c not in designs.columns]
    if missing:
        raise ConfXError(f"{source}: missing column(s) {','.join(missing)}; required: {','.join(DESIGN_COLUMNS)}")
    _check_column_types(designs, source)
    if designs.empty:  # a header-only table is a valid empty table
        return _empty_result(designs)
    try:
        result = evaluate(
            designs[list(LAYER_COLUMNS)].to_numpy(),
            designs["dataflow"].to_numpy(),
            designs["num_pe"].to_numpy(),
            designs["ktile"].to_numpy(),
            rows=RowNames("data row", 1),
        )
    except LayerTableError as error:
        raise ConfXError(f"{source}: {error}") from None
    clashing = [c for c in OUTPUT_COLUMNS if c in designs.columns]
    if clashing:
        logger.warning("%s: replacing input column(s) %s with the cost model's", source, ",".join(clashing))
    out = designs.drop(columns=clashing).reset_index(drop=True)
    outputs = result.to_dict()
    invalid = ~result.valid
    out["valid"] = result.valid
    for name in OUTPUT_COLUMNS[1:]:
        values = outputs[name]
        if name in _INTEGER_OUTPUTS:
            out[name] = pd.array(np.where(invalid, 0, values), dtype="Int64")
            out.loc[invalid, name] = pd.NA
        else:
            out[name] = values  # NaN already marks invalid points
    return out


def _check_column_types(designs: pd.DataFrame, source: str) -> None:
    """Numeric columns must hold numbers: bools, dates, durations and categories are not coerced."""
    problems = []
    for name in (*LAYER_COLUMNS, "num_pe", "ktile"):
        dtype = designs[name].dtype
        if isinstance(dtype, pd.CategoricalDtype) or dtype.kind in "bmMSU" or pd.api.types.is_string_dtype(dtype):
            if dtype.kind == "O" and not isinstance(dtype, pd.CategoricalDtype):
                continue  # mixed text from a CSV: checked cell by cell, naming the rows
            problems.append(f"column {name} has type {dtype}; expected integers")
    if problems:
        raise ConfXError(f"{source}: " + "; ".join(problems))


def result_dtype(name: str) -> str:
    return "int64" if name == "true_macs" else "float64"


def _empty_result(designs: pd.DataFrame) -> pd.DataFrame:
    """The output of a table without rows: its columns plus the outputs, no rows."""
    out = designs.drop(columns=[c for c in OUTPUT_COLUMNS if c in designs.columns]).reset_index(drop=True)
    out["valid"] = pd.Series(dtype=bool)
    for name in OUTPUT_COLUMNS[1:]:
        out[name] = pd.Series(dtype="Int64" if name in _INTEGER_OUTPUTS else result_dtype(name))
    return out


def cost_file(input_path: str | Path, output_path: str | Path) -> pd.DataFrame:
    """Read a design table, evaluate it and write it with the outputs added.

    Nothing is written unless every row is valid input.
    """
    check_writable(output_path)
    designs = read_table(input_path)
    result = cost_frame(designs, source=str(input_path))
    write_table(result, output_path)
    return result

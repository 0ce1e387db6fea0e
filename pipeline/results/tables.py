"""Reading and writing tables (CSV or Parquet, chosen by file extension).

Writes are atomic: a table is written to a temporary file beside its target and
renamed into place, so that a failure never leaves a partial file behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from confx.costmodel.errors import ConfXError

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise ConfXError(f"{path}: unknown table format; use a .csv, .csv.gz, .parquet or .pq file")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet table.

    Raises:
        ConfXError: Unknown extension, missing file, or unreadable content.
    """
    path = Path(path)
    kind = _kind(path)
    if not path.is_file():
        raise ConfXError(f"{path}: file not found")
    try:
        if kind == "csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise ConfXError(f"{path}: empty file") from None
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise ConfXError(f"{path}: cannot read as {kind}: {error}") from None


def check_writable(path: str | Path) -> Path:
    """Check that a table can be written at path (known extension, existing folder)."""
    path = Path(path)
    _kind(path)
    if not path.parent.exists():
        raise ConfXError(f"{path}: folder {path.parent} does not exist")
    return path


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table atomically as CSV or Parquet, by extension."""
    path = check_writable(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        if _kind(path) == "csv":
            frame.to_csv(tmp_name, index=False, compression="gzip" if path.name.endswith(".gz") else None)
        else:
            frame.to_parquet(tmp_name, index=False)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise

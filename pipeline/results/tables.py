"""Reading and writing tables (CSV or Parquet, chosen by file extension).

Writes are atomic: a table is written to a temporary file beside its target and
renamed into place, so that a failure never leaves a partial file behind.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

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


def read_arrow(path: str | Path) -> pa.Table:
    """Read a CSV or Parquet table as an Arrow table, without going through pandas (the fast path).

    Raises:
        ConfXError: Unknown extension, missing file, empty file or unreadable content.
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path)
    kind = _kind(path)
    if not path.is_file():
        raise ConfXError(f"{path}: file not found")
    try:
        table = pacsv.read_csv(path) if kind == "csv" else pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        if kind == "csv" and "Empty CSV file" in str(error):
            raise ConfXError(f"{path}: empty file") from None
        raise ConfXError(f"{path}: cannot read as {kind}: {error}") from None
    # A pandas index stored as columns is not data (pandas' own reader makes it the index again).
    index = (table.schema.pandas_metadata or {}).get("index_columns", [])
    return table.drop_columns([name for name in index if isinstance(name, str)])


class TableWriter:
    """Write Arrow tables chunk by chunk to one CSV or Parquet file, atomically.

    Chunks are gathered into row groups of :attr:`ROW_GROUP_ROWS` rows and written by one
    background thread (pyarrow's writers release the GIL), so that the caller can compute the
    next chunk meanwhile. The file appears at ``path`` only when the writer closes without an
    error; otherwise the temporary file is removed.
    """

    ROW_GROUP_ROWS = 1 << 18

    def __init__(self, path: str | Path) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.path = check_writable(path)
        self.kind = _kind(self.path)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp_name)
        self._pending: list[pa.Table] = []
        self._writer: Any = None
        self._stream: Any = None
        self._thread = ThreadPoolExecutor(max_workers=1)
        self._last: Future[None] | None = None

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        try:
            if kind is None:
                self._flush()
                self._wait()
                self._close_file()
                os.replace(self._tmp, self.path)
        finally:
            self._thread.shutdown(wait=True)
            if self._writer is not None and kind is not None:
                self._close_file()
            self._tmp.unlink(missing_ok=True)

    def write(self, table: pa.Table) -> None:
        """Add rows; they are written once a row group is full (or at the end)."""
        self._pending.append(table)
        if sum(t.num_rows for t in self._pending) >= self.ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        group = pa.concat_tables(self._pending).combine_chunks()
        self._pending = []
        self._wait()  # one row group in flight at most: bounded memory, same order
        self._last = self._thread.submit(self._write_group, group)

    def _wait(self) -> None:
        if self._last is not None:
            self._last.result()
            self._last = None

    def _write_group(self, group: pa.Table) -> None:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        if self._writer is None:
            if self.kind == "parquet":
                self._writer = pq.ParquetWriter(self._tmp, group.schema)
            else:
                gzip = self.path.name.lower().endswith(".gz")
                self._stream = pa.CompressedOutputStream(str(self._tmp), "gzip") if gzip else None
                options = pacsv.WriteOptions(quoting_style="needed")
                self._writer = pacsv.CSVWriter(self._stream or str(self._tmp), group.schema, write_options=options)
        self._writer.write_table(group)

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._stream is not None:
            self._stream.close()
            self._stream = None

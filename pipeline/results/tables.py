"""Reading and writing tables (CSV or Parquet, chosen by file extension), and every output path check.

Writes are atomic: a file is written to a hidden temporary file beside its target and renamed
into place, so that a failure or a signal never leaves a partial file behind. The temporary
name carries the host and process id (``.<name>.confx-<host>-<pid>-<random>``), so a temporary
left by a killed process (SIGKILL cannot be caught) is recognised and removed by the next
write to the same place. Files are created with mode 0666 minus the umask, like any file a
shell creates, so a shared results folder stays readable to the team.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import secrets
import socket
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from confx.costmodel.errors import ConfXError

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
TEMP_MARK = ".confx-"
"""Part of every temporary file name, between the target's name and the writer's host and pid."""
STALE_AFTER_S = 24 * 3600
"""A temporary file from another host counts as abandoned after this long."""


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise ConfXError(f"{path}: unknown table format; use a .csv, .csv.gz, .parquet or .pq file")


def one_line(text: object) -> str:
    """A message squeezed onto one line (library errors often span several)."""
    return " ".join(str(text).split())


# ----------------------------------------------------------------------------- reading


def _input_kind(path: Path) -> str:
    """The format of an input table (by extension), after checking that it is an existing file."""
    kind = _kind(path)
    if path.is_dir():
        raise ConfXError(f"{path}: is a folder, not a {kind} file")
    if not path.is_file():
        raise ConfXError(f"{path}: file not found")
    return kind


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet table (a UTF-8 byte-order mark is allowed).

    Raises:
        ConfXError: Unknown extension, missing file, a folder, or unreadable content
            (truncated, compressed wrongly, binary, not UTF-8), naming the file.
    """
    path = Path(path)
    kind = _input_kind(path)
    try:
        if kind == "csv":
            # utf-8-sig: spreadsheet exports start with a byte-order mark.
            header = pd.read_csv(path, encoding="utf-8-sig", header=None, nrows=1, dtype=str).iloc[0].tolist()
            frame = pd.read_csv(path, encoding="utf-8-sig")
        else:
            import pyarrow.parquet as pq

            header = pq.read_schema(path).names
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise ConfXError(f"{path}: empty file; give a header row and one design point per row") from None
    except UnicodeDecodeError:
        raise ConfXError(f"{path}: not a UTF-8 text {kind} file (binary content?)") from None
    except (EOFError, gzip.BadGzipFile, zlib.error):
        raise ConfXError(f"{path}: truncated or corrupt compressed file; export it again") from None
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise ConfXError(f"{path}: cannot read as {kind}: {one_line(error)}") from None
    repeated = sorted({str(name) for name in header if header.count(name) > 1})
    if repeated:
        raise ConfXError(f"{path}: column(s) {', '.join(repeated)} appear more than once; keep one of each")
    return frame


# ----------------------------------------------------------------------------- output checks


def _existing_ancestor(path: Path) -> Path:
    """The nearest folder (or file) on the way up from path that exists."""
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path("/")


def check_output_folder(path: str | Path, *, what: str = "output folder") -> Path:
    """Check that a folder can be created or written at path, before any work starts.

    Raises:
        ConfXError: path is a file, lies under a file, or its nearest existing folder is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfXError(f"{path}: {what} is an existing file; give a folder path")
    existing = path if path.is_dir() else _existing_ancestor(path)
    if not existing.is_dir():
        raise ConfXError(f"{path}: {what} lies under {existing}, which is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfXError(f"{path}: {what} cannot be written (no write permission in {existing})")
    return path


def check_writable(path: str | Path) -> Path:
    """Check that a table can be written at path (known extension, not a folder, writable existing folder)."""
    path = Path(path)
    _kind(path)
    if path.is_dir():
        raise ConfXError(f"{path}: is an existing folder; give a file name such as {path / 'out.csv'}")
    parent = path.parent
    if not parent.exists():
        ancestor = _existing_ancestor(path)
        if not ancestor.is_dir():
            raise ConfXError(f"{path}: lies under {ancestor}, which is a file, not a folder")
        raise ConfXError(f"{path}: folder {parent} does not exist; create it first")
    if not parent.is_dir():
        raise ConfXError(f"{path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfXError(f"{path}: cannot write into {parent} (no write permission)")
    return path


# ----------------------------------------------------------------------------- atomic writes


def _temp_prefix(path: Path) -> str:
    return f".{path.name}{TEMP_MARK}"


def _writer_is_gone(name: str, prefix: str, modified: float) -> bool:
    """Whether the process that wrote a temporary file (named after its host and pid) has ended."""
    parts = name[len(prefix) :].split("-")
    if len(parts) < 3 or not parts[-2].isdigit():
        return False
    host, pid = "-".join(parts[:-2]), int(parts[-2])
    if host != socket.gethostname():
        return time.time() - modified > STALE_AFTER_S
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def remove_stale_temp_files(path: str | Path) -> list[Path]:
    """Remove temporary files of path left by writers that died (SIGKILL); return them."""
    path = Path(path)
    prefix = _temp_prefix(path)
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            if entry.name.startswith(prefix) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    if _writer_is_gone(entry.name, prefix, entry.stat().st_mtime):
                        os.unlink(entry.path)
                        removed.append(Path(entry.path))
    return removed


def remove_stale_temp_files_under(folder: str | Path) -> list[Path]:
    """Remove every abandoned temporary file in a folder tree (after a sweep's workers were stopped)."""
    removed = []
    for temp in Path(folder).rglob(f".*{TEMP_MARK}*"):
        target = temp.parent / temp.name[1:].split(TEMP_MARK)[0]
        removed += [p for p in remove_stale_temp_files(target) if p not in removed]
    return removed


def _create_temp(path: Path) -> Path:
    """A new, empty temporary file beside path (mode 0666 minus the umask), named so that the next
    write to path can tell a dead writer's leftovers; stale ones are removed first."""
    remove_stale_temp_files(path)
    temp = path.parent / f"{_temp_prefix(path)}{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
    os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    return temp


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside path; on success rename it onto path, on any failure remove it.

    The temporary file is created (empty) with mode 0666 minus the umask; writers may replace it.
    """
    temp = _create_temp(Path(path))
    try:
        yield temp
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Write a file atomically: ``write(temporary path)``, then rename."""
    path = Path(path)
    with atomic_path(path) as temp:
        write(temp)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file atomically (for ``summary.json``, ``trial.json``, reports)."""
    return write_atomic(path, lambda temp: temp.write_text(text, encoding="utf-8"))


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """A frame as an Arrow table without its index, column by column where every column is plain.

    Plain columns (numpy numbers and booleans, strings, objects) skip pyarrow's pandas metadata,
    which costs more than writing a search's small tables; pandas reads the result back with the
    same dtypes. Any other frame (categoricals, dates, a non-default index) goes through
    ``pa.Table.from_pandas``.
    """
    plain = isinstance(frame.index, pd.RangeIndex) and frame.columns.is_unique
    plain = plain and all(isinstance(name, str) for name in frame.columns)
    plain = plain and all(
        isinstance(kind, pd.StringDtype) or (isinstance(kind, np.dtype) and kind.kind in "biufO")
        for kind in frame.dtypes
    )
    if not plain:
        return pa.Table.from_pandas(frame, preserve_index=False)
    arrays = [
        pa.array(column.to_numpy()) if column.dtype.kind in "biuf" else pa.array(column, from_pandas=True)
        for _, column in frame.items()
    ]
    return pa.Table.from_arrays(arrays, names=list(frame.columns))


def write_table(frame: pd.DataFrame | pa.Table, path: str | Path) -> None:
    """Write a table (a data frame, or an Arrow table) atomically as CSV or Parquet, by extension."""
    import pyarrow.parquet as pq

    path = check_writable(path)
    kind = _kind(path)

    def write(temp: Path) -> None:
        if kind == "csv":
            table = frame.to_pandas() if isinstance(frame, pa.Table) else frame
            table.to_csv(temp, index=False, compression="gzip" if path.name.endswith(".gz") else None)
        else:
            pq.write_table(frame if isinstance(frame, pa.Table) else arrow_table(frame), temp)

    write_atomic(path, write)


def read_arrow(path: str | Path) -> pa.Table:
    """Read a CSV or Parquet table as an Arrow table, without going through pandas (the fast path).

    Raises:
        ConfXError: Unknown extension, missing file, empty file or unreadable content.
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path)
    kind = _input_kind(path)
    if kind == "csv" and not path.name.lower().endswith(".gz"):
        with path.open("rb") as head:
            start = head.read(4096)
        if b"\x00" in start:
            raise ConfXError(f"{path}: not a UTF-8 text {kind} file (binary content?)")
    try:
        # Arrow's CSV reader skips a UTF-8 byte-order mark (spreadsheet exports start with one).
        table = pacsv.read_csv(path) if kind == "csv" else pq.read_table(path)
    except (pa.ArrowInvalid, OSError, EOFError, zlib.error) as error:
        text = str(error)
        if kind == "csv" and "Empty CSV file" in text:
            raise ConfXError(f"{path}: empty file; give a header row and one design point per row") from None
        compressed = ("gzip", "zlib", "truncated", "compressed")
        if any(word in text.lower() for word in compressed) or isinstance(error, EOFError | zlib.error):
            raise ConfXError(f"{path}: truncated or corrupt compressed file; export it again") from None
        if "UTF8" in text or "utf-8" in text.lower():
            raise ConfXError(f"{path}: not a UTF-8 text {kind} file (binary content?)") from None
        raise ConfXError(f"{path}: cannot read as {kind}: {one_line(error)}") from None
    names = table.column_names
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfXError(f"{path}: column(s) {', '.join(repeated)} appear more than once; keep one of each")
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
        self._tmp = _create_temp(self.path)
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

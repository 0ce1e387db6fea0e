"""A folder of imported tables, so that repeated use of a source does not trace it again.

Each entry is keyed by a hash of the source string, the input shape and what the source's content
is: the bytes of an ONNX or Python file, the zoo's own code, or torchvision's version. Editing a
model file therefore invalidates its entry.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from confx.pipeline.workload import zoo
from confx.pipeline.workload.network import ImportedNetwork
from confx.pipeline.workload.sources import SourceKind, import_network, parse_source
from confx.pipeline.workload.table import read_table_csv

logger = logging.getLogger(__name__)

#: Bump when the importer's rules change, so that old entries are not reused.
_IMPORTER_VERSION = "1"


def cached_import(source: str, cache_dir: str | Path, *, input_shape: Sequence[int] | None = None) -> ImportedNetwork:
    """Import a source, reusing the table in ``cache_dir`` if this source and shape were imported before.

    The table is written as ``<source>-<key>.csv`` and its summary beside it as ``.txt``; the summary is
    written last, so an entry without it (an interrupted write) is imported again.

    Raises:
        ConfXError: See :func:`~confx.pipeline.workload.sources.import_network`.
    """
    table_path = cache_entry(source, cache_dir, input_shape=input_shape)
    summary_path = table_path.with_suffix(".txt")
    if table_path.is_file() and summary_path.is_file():
        logger.info("%s: cached table %s", source, table_path)
        return ImportedNetwork(source, read_table_csv(table_path), summary_path.read_text().strip())
    network = import_network(source, input_shape=input_shape)
    network.write_csv(table_path)
    summary_path.write_text(network.summary + "\n")
    return network


def cache_entry(source: str, cache_dir: str | Path, *, input_shape: Sequence[int] | None = None) -> Path:
    """The CSV file that holds (or will hold) the table of this source and shape in ``cache_dir``."""
    return Path(cache_dir) / f"{_slug(source)}-{cache_key(source, input_shape=input_shape)}.csv"


def cache_key(source: str, *, input_shape: Sequence[int] | None = None) -> str:
    """Hash (16 hex digits) of the source string, the input shape and the source's content."""
    digest = hashlib.sha256(f"{_IMPORTER_VERSION}\n{source}\n{tuple(input_shape or ())}\n".encode())
    parsed = parse_source(source)
    if parsed.path is not None:
        digest.update(parsed.path.read_bytes())
    elif parsed.kind is SourceKind.ZOO:
        for path in sorted(Path(zoo.__file__).parent.glob("*.py")):
            digest.update(path.read_bytes())
    else:
        try:
            digest.update(importlib.metadata.version("torchvision").encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(b"no torchvision")
    return digest.hexdigest()[:16]


def _slug(source: str) -> str:
    """A readable file-name stem for a source: its last path part, other characters as ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", source.replace("\\", "/").rsplit("/", 1)[-1])[:60]

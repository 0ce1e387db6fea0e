"""Where sweep results live: a local (or shared) folder, or an object-store URI.

A location is a path or a URI that pyarrow's filesystems understand
(``s3://bucket/prefix``, ``gs://...``, ``hdfs://...``, ``file:///...``). Trials
and the driver work in local folders and copy to and from a remote location
with these helpers, so that the rest of the code deals with local paths only.
"""

from __future__ import annotations

import hashlib
import posixpath
import shutil
import tempfile
from pathlib import Path

import pyarrow.fs as pafs


def is_remote(location: str) -> bool:
    """Whether a location is a URI (copied through pyarrow) rather than a local path."""
    return "://" in str(location)


def join(location: str, *parts: str) -> str:
    """Append path parts to a location, path or URI."""
    if is_remote(location):
        return posixpath.join(str(location).rstrip("/"), *parts)
    return str(Path(location, *parts))


def local_mirror(location: str) -> Path:
    """The local folder that stands for a location: itself, or a cache folder for a URI."""
    if not is_remote(location):
        return Path(location).absolute()
    digest = hashlib.sha1(str(location).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "confx-results" / digest


def exists(location: str) -> bool:
    if not is_remote(location):
        return Path(location).exists()
    filesystem, path = pafs.FileSystem.from_uri(location)
    return filesystem.get_file_info(path).type != pafs.FileType.NotFound


def upload(local: Path, location: str) -> None:
    """Copy a local file or folder to a remote location (a no-op when the location is local)."""
    if not is_remote(location):
        return
    filesystem, path = pafs.FileSystem.from_uri(location)
    if local.is_dir():
        filesystem.create_dir(path, recursive=True)
    else:
        filesystem.create_dir(posixpath.dirname(path), recursive=True)
    pafs.copy_files(str(local), path, destination_filesystem=filesystem)


def download(location: str, local: Path) -> None:
    """Copy a remote folder to a local one (a no-op when the location is local or missing)."""
    if not is_remote(location) or not exists(location):
        return
    filesystem, path = pafs.FileSystem.from_uri(location)
    local.mkdir(parents=True, exist_ok=True)
    pafs.copy_files(path, str(local), source_filesystem=filesystem)


def fetch_file(location: str, local: Path) -> Path:
    """Copy one file from a path or a URI to ``local`` (created or replaced); returns ``local``."""
    if not is_remote(location):
        if Path(location).resolve() != local.resolve():
            shutil.copyfile(location, local)
        return local
    filesystem, path = pafs.FileSystem.from_uri(location)
    with filesystem.open_input_stream(path) as source, local.open("wb") as target:
        shutil.copyfileobj(source, target)
    return local

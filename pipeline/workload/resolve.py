"""SOURCE strings everywhere: resolve a ``--model`` or a sweep's ``networks:`` entry to a layer table.

A SOURCE is a built-in name (``resnet18``, ``resnet18_release``), a layer-table CSV path, or a
model to import (``model.onnx``, ``model.py:build``, ``zoo:NAME``, ``torchvision:NAME``). A model is
imported once, through the importer's cache (:func:`~confx.pipeline.workload.cache.cached_import`),
and from then on only its cached CSV is used: that file is what :mod:`confx.envs` loads, what every
Ray worker of a search or sweep reads, and what is logged with the results. Nothing here imports
torch until a model really has to be traced, so built-in names and CSV files stay cheap.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from confx.costmodel.errors import ConfXError
from confx.costmodel.layers import CatalogEntry, LayerTable, builtin_networks, catalog, load_network

IMPORT_PREFIXES = ("zoo:", "torchvision:")
TABLE_SUFFIXES = (".csv",)
SOURCE_FORMS = (
    "a built-in name (confx networks), a layer-table .csv, a .onnx file, path/to/model.py:FUNCTION, "
    "zoo:NAME or torchvision:NAME"
)
NETWORKS_FOLDER = "networks"
"""Where a search or sweep keeps the layer tables of the models it imported, beside its results."""


def needs_import(source: str) -> bool:
    """Whether a SOURCE names a model to import rather than a built-in name or a layer-table CSV."""
    if source.startswith(IMPORT_PREFIXES):
        return True
    file_part = source.rpartition(":")[0] if re.search(r"\.py:[^/\\]*$", source) else source
    return file_part.lower().endswith((".onnx", ".py"))


def source_problem(source: str) -> str | None:
    """What is wrong with a SOURCE, found without importing anything (None if it may be fine).

    Catches unknown names, missing files and malformed forms; a model's own faults (no such
    function, a dilated layer, ...) only show when it is imported.
    """
    if source in builtin_networks():
        return None
    if source.startswith(IMPORT_PREFIXES):
        return None if source.partition(":")[2] else f"{source}: give a model name after the colon"
    if needs_import(source):
        file_part, _, function = source.rpartition(":") if ".py:" in source else (source, "", "")
        if file_part.lower().endswith(".py") and not function.isidentifier():
            return f"{source}: name the function that builds the model, e.g. {file_part}:build"
        return None if Path(file_part).is_file() else f"{source}: file {file_part} not found"
    if source.lower().endswith(TABLE_SUFFIXES):
        if Path(source).is_dir():
            return f"{source}: is a folder, not a layer-table file"
        return None if Path(source).is_file() else f"{source}: layer table file not found"
    return f"unknown network {source!r}: give {SOURCE_FORMS}"


def network_label(source: str) -> str:
    """A short name for a SOURCE, used in run names, tables and file names.

    Built-in names stay; files give their stem (``model.py:build`` -> ``model``, another function
    ``model.py:small`` -> ``model-small``); ``zoo:resnet18`` -> ``zoo-resnet18``, so that an imported
    network never takes a built-in table's name.
    """
    if source in builtin_networks():
        return source
    if source.startswith(IMPORT_PREFIXES):
        label = source.replace(":", "-", 1)
    elif ".py:" in source:
        file_part, _, function = source.rpartition(":")
        label = Path(file_part).stem + ("" if function == "build" else f"-{function}")
    else:
        label = Path(source).name.split(".")[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label) or "network"


@dataclass(frozen=True)
class ResolvedNetwork:
    """A SOURCE turned into a layer table that every process can load.

    Attributes:
        source: The SOURCE as given.
        label: Its short name (:func:`network_label`).
        model: What :func:`confx.costmodel.layers.load_network` and :mod:`confx.envs` load: the
            built-in name, or the absolute path of the layer-table CSV (the import cache's file for
            imported models).
        summary: The import's summary line ("" for built-in names and CSV files).
    """

    source: str
    label: str
    model: str
    summary: str = ""

    @property
    def imported(self) -> bool:
        return needs_import(self.source)

    @property
    def table_file(self) -> Path | None:
        """The layer-table CSV (None for a built-in name)."""
        return None if self.model in builtin_networks() else Path(self.model)

    def layers(self) -> LayerTable:
        """The layer table, named by the label."""
        return replace(load_network(self.model), name=self.label)


def resolve_network(source: str, cache_dir: str | Path, *, input_shape: Sequence[int] | None = None) -> ResolvedNetwork:
    """Resolve a SOURCE to a layer table, importing a model at most once into ``cache_dir``.

    Args:
        source: See the module docstring.
        cache_dir: The import cache; imported tables are written there as CSV files.
        input_shape: Input shape of an imported model (batch 1); its own default if None.

    Raises:
        ConfXError: An unknown name, a missing or malformed file, or a model that cannot be imported;
            the message names the source.
    """
    problem = source_problem(source)
    if problem is not None:
        raise ConfXError(problem)
    label = network_label(source)
    if not needs_import(source):
        model = source if source in builtin_networks() else str(Path(source).resolve())
        load_network(model)  # a malformed table fails here, naming its file and line
        return ResolvedNetwork(source, label, model)
    from confx.pipeline.workload.cache import cache_entry, cached_import

    network = cached_import(source, cache_dir, input_shape=input_shape)
    path = cache_entry(source, cache_dir, input_shape=input_shape)
    return ResolvedNetwork(source, label, str(path.resolve()), network.summary)


# --- the catalog as `confx networks` shows it ---------------------------------------------------------


@dataclass(frozen=True)
class CatalogLine:
    """One built-in table: name, layer count, true MACs and where it comes from."""

    name: str
    n_layers: int
    true_macs: int
    origin: str

    def __str__(self) -> str:
        return f"{self.name:26s} {self.n_layers:4d} layers {self.true_macs / 1e9:8.3f} GMACs  {self.origin}"


def _origin(entry: CatalogEntry, table: LayerTable) -> str:
    if entry.folder == "release":
        return "release (ConfuciuX's table: stride 1, no padding, groups or FC layers)"
    sources = sorted(set(table.layer_sources) - {""})
    return f"imported from {', '.join(sources) or 'a model definition'}"


def catalog_lines() -> list[CatalogLine]:
    """Every built-in table, sorted by name."""
    lines = []
    for name, entry in catalog().items():
        table = load_network(name)
        lines.append(CatalogLine(name, table.n_layers, int(table.true_macs.sum()), _origin(entry, table)))
    return lines


def import_to_csv(source: str, output: str | Path, *, input_shape: Sequence[int] | None = None) -> str:
    """`confx import`: import a model and write its layer table; returns the one-line summary.

    Raises:
        ConfXError: A bad source (see :func:`~confx.pipeline.workload.sources.import_network`) or an
            output that is not a ``.csv`` file in an existing folder.
    """
    output = Path(output)
    if output.suffix.lower() != ".csv":
        raise ConfXError(f"{output}: the layer table is written as CSV; give an OUTPUT ending in .csv")
    if not output.parent.is_dir():
        raise ConfXError(f"{output}: folder {output.parent} does not exist")
    from confx.pipeline.workload.sources import import_network

    network = import_network(source, input_shape=input_shape)
    network.write_csv(output)
    return f"{source}: {network.summary}; {network.total_macs / 1e9:.3f} GMACs -> {output}"

"""An imported network: its layer table and the one-line summary of what the import kept and skipped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from confx.costmodel.evaluate import DEPTHWISE
from confx.pipeline.workload.table import LayerRow, layer_frame, true_macs, write_table_csv

#: How many kinds of skipped op the summary names before it sums up the rest.
_SHOWN_KINDS = 8


@dataclass(frozen=True, eq=False)
class ImportedNetwork:
    """A network read from a model, as a layer table for the cost model.

    Attributes:
        source: The source string it was imported from.
        table: One row per compute layer, columns :data:`~confx.pipeline.workload.table.TABLE_COLUMNS`.
        summary: One line saying how many layers were imported and which ops were skipped.
    """

    source: str
    table: pd.DataFrame
    summary: str

    @property
    def n_layers(self) -> int:
        return len(self.table)

    @property
    def total_macs(self) -> int:
        """Multiply-accumulates of the whole network."""
        return int(true_macs(self.table).sum())

    def write_csv(self, path: str | Path) -> Path:
        """Write the layer table as CSV (folders are created); returns the path written."""
        return write_table_csv(self.table, path)


@dataclass
class TraceLog:
    """What an import route saw, in execution order: rows kept and op kinds skipped."""

    rows: list[LayerRow] = field(default_factory=list)
    compute: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, row: LayerRow, *, kind: str) -> None:
        """Keep a row; ``kind`` is ``"conv"`` or ``"fc"`` (a convolution row may turn out depthwise)."""
        self.rows.append(row)
        self.compute["depthwise" if row.T == DEPTHWISE else kind] += 1

    def skip(self, kind: str) -> None:
        """Count one non-compute op (pooling, activation, normalisation, element-wise, ...)."""
        self.skipped[kind] += 1

    def finish(self, source: str) -> ImportedNetwork:
        """Freeze the log into an imported network."""
        return ImportedNetwork(source, layer_frame(self.rows, source=source), self.summary_line())

    def summary_line(self) -> str:
        """E.g. ``imported 53 compute layers (20 conv, 32 depthwise, 1 fc); skipped 120 ops: 52 batch_norm, ...``."""
        kinds = ", ".join(f"{self.compute[k]} {k}" for k in ("conv", "depthwise", "fc") if self.compute[k])
        line = f"imported {len(self.rows)} compute layers ({kinds or 'none'})"
        common = self.skipped.most_common()
        shown = ", ".join(f"{count} {kind}" for kind, count in common[:_SHOWN_KINDS])
        rest = sum(count for _, count in common[_SHOWN_KINDS:])
        if rest:
            shown += f", {rest} other"
        return f"{line}; skipped {self.skipped.total()} ops" + (f": {shown}" if shown else "")

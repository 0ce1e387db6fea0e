"""Real networks in: import layer tables from PyTorch modules and ONNX files.

The entry point is :func:`import_network`, which resolves a SOURCE string (an ``.onnx`` file,
``model.py:build``, ``zoo:NAME`` or ``torchvision:NAME``) to an :class:`ImportedNetwork`;
:func:`cached_import` does the same through a folder of earlier results, and
:func:`~confx.pipeline.workload.resolve.resolve_network` turns any ``--model`` SOURCE (built-in
names and CSV files too) into a layer table.

The names below are loaded on first use, so that importing a light module of this package
(``resolve``, ``table``) does not import torch and onnx.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DEFAULT_INPUT_SHAPE": "input_shape",
    "TABLE_COLUMNS": "table",
    "ImportedNetwork": "network",
    "cache_key": "cache",
    "cached_import": "cache",
    "import_module": "from_torch",
    "import_network": "sources",
    "import_onnx": "from_onnx",
    "parse_input_shape": "input_shape",
    "read_table_csv": "table",
    "resolve_network": "resolve",
    "true_macs": "table",
    "write_table_csv": "table",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)

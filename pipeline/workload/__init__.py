"""Real networks in: import layer tables from PyTorch modules and ONNX files.

The entry point is :func:`import_network`, which resolves a SOURCE string (an ``.onnx`` file,
``model.py:build``, ``zoo:NAME`` or ``torchvision:NAME``) to an :class:`ImportedNetwork`;
:func:`cached_import` does the same through a folder of earlier results.
"""

from confx.pipeline.workload.cache import cache_key, cached_import
from confx.pipeline.workload.from_onnx import import_onnx
from confx.pipeline.workload.from_torch import import_module
from confx.pipeline.workload.input_shape import DEFAULT_INPUT_SHAPE, parse_input_shape
from confx.pipeline.workload.network import ImportedNetwork
from confx.pipeline.workload.sources import import_network
from confx.pipeline.workload.table import TABLE_COLUMNS, read_table_csv, true_macs, write_table_csv

__all__ = [
    "DEFAULT_INPUT_SHAPE",
    "TABLE_COLUMNS",
    "ImportedNetwork",
    "cache_key",
    "cached_import",
    "import_module",
    "import_network",
    "import_onnx",
    "parse_input_shape",
    "read_table_csv",
    "true_macs",
    "write_table_csv",
]

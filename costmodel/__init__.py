"""A vectorised numpy cost model that reproduces MAESTRO for ConfuciuX's dataflows."""

from confx.costmodel.errors import ConfXError, LayerTableError
from confx.costmodel.evaluate import (
    COST_MODEL_VERSION,
    DATAFLOWS,
    LAYER_COLUMNS,
    OUTPUT_COLUMNS,
    CostResult,
    evaluate,
)
from confx.costmodel.mapped import HARDWARE_COLUMNS, MappedResult, evaluate_mapped

__all__ = [
    "COST_MODEL_VERSION",
    "DATAFLOWS",
    "HARDWARE_COLUMNS",
    "LAYER_COLUMNS",
    "OUTPUT_COLUMNS",
    "ConfXError",
    "CostResult",
    "LayerTableError",
    "MappedResult",
    "evaluate",
    "evaluate_mapped",
]

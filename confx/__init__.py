"""ConfX: design-space exploration of DNN accelerators after ConfuciuX (MICRO 2020).

The public API for notebooks and scripts; everything else lives in the layers below
(``confx.costmodel`` -> ``confx.envs`` -> ``confx.pipeline``). Names are loaded on first
use, so ``import confx`` stays light and ``confx.costmodel`` alone pulls in only numpy.

Evaluate design points with the MAESTRO-exact cost model:

>>> import confx
>>> costs = confx.evaluate([64, 32, 56, 56, 3, 3, 1], "dla", num_pe=16, ktile=4)
>>> int(costs.runtime_cycles[0]), int(costs.num_macs[0])
(3452545, 53747712)

Load a network and build a problem (latency under an area budget at level 0.5):

>>> "mobilenet_v2" in confx.networks()
True
>>> problem = confx.build_problem("mobilenet_v2", dataflow="dla", objective="latency", constraint="area", mul=0.5)
>>> problem.n_layers == confx.load_network("mobilenet_v2").n_layers
True

Run searches; the exact solver certifies the optimum, and no search beats it:

>>> optimum = confx.run_search(problem, "exact", seed=0)
>>> optimum.optimal
True
>>> found = confx.run_search(confx.build_problem("mobilenet_v2"), "random", seed=0, budget=200)
>>> found.feasible and found.objective_value >= optimum.objective_value
True

A sweep's results (``trials.parquet``) come back as a frame with :func:`read_results`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from confx.costmodel import CostResult, evaluate
    from confx.costmodel.layers import LayerTable, load_network
    from confx.costmodel.layers import builtin_networks as networks
    from confx.envs.problem import Problem, build_problem
    from confx.pipeline.results.sweep_tables import read_results
    from confx.pipeline.search import run_search
    from confx.pipeline.search.base import SearchResult

_EXPORTS = {
    "evaluate": ("confx.costmodel", "evaluate"),
    "CostResult": ("confx.costmodel", "CostResult"),
    "load_network": ("confx.costmodel.layers", "load_network"),
    "networks": ("confx.costmodel.layers", "builtin_networks"),
    "LayerTable": ("confx.costmodel.layers", "LayerTable"),
    "build_problem": ("confx.envs.problem", "build_problem"),
    "Problem": ("confx.envs.problem", "Problem"),
    "run_search": ("confx.pipeline.search", "run_search"),
    "SearchResult": ("confx.pipeline.search.base", "SearchResult"),
    "read_results": ("confx.pipeline.results.sweep_tables", "read_results"),
}

__all__ = [
    "CostResult",
    "LayerTable",
    "Problem",
    "SearchResult",
    "build_problem",
    "evaluate",
    "load_network",
    "networks",
    "read_results",
    "run_search",
]
assert sorted(_EXPORTS) == __all__


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'confx' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

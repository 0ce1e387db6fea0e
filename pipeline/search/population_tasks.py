"""Evaluate a population as Ray tasks, one task per chunk of individuals.

The task path imports numpy, ray and the problem only (no torch, no RLlib), so
a fresh worker starts in well under a second. Each worker process keeps one
:class:`~envs.problem.Problem` per problem it has seen, with its own memo; a
task returns the memo cells it had to evaluate, and the driver merges them
into its own memo, so that ``cost_model_calls`` stays the count of unique
(layer, action) points evaluated anywhere.
"""

from __future__ import annotations

import numpy as np
import ray
from numpy.typing import NDArray

from confx.costmodel.layers import LayerTable
from confx.envs.problem import Evaluation, MemoCells, Problem, ProblemSpec

_WORKER_PROBLEMS: dict[tuple, Problem] = {}
"""Per worker process: problems built so far, keyed by spec and layer table."""


def _worker_problem(spec: ProblemSpec, layers: LayerTable) -> Problem:
    key = (spec, layers.name, layers.dims.tobytes())
    if key not in _WORKER_PROBLEMS:
        _WORKER_PROBLEMS[key] = Problem(spec, layers)
    return _WORKER_PROBLEMS[key]


@ray.remote
def _evaluate_chunk(spec: ProblemSpec, layers: LayerTable, designs: NDArray[np.int64]) -> tuple[Evaluation, MemoCells]:
    problem = _worker_problem(spec, layers)
    evaluation = problem.evaluate(designs)
    return evaluation, problem.design_cells(designs)


def evaluate_on_ray(
    problem: Problem, designs: NDArray[np.int64], *, n_chunks: int = 4, task_cpus: float = 0.25
) -> Evaluation:
    """Evaluate designs (N, n_layers, n_genes) in Ray tasks; same result as ``problem.evaluate``.

    Counts N whole-model evaluations on ``problem`` and merges the tasks' new
    memo cells into its memo.

    Args:
        problem: The driver's problem (counters and memo are updated).
        designs: The population.
        n_chunks: Number of tasks (at most one per design).
        task_cpus: CPUs each task reserves; inside a Tune trial they must fit
            the trial's extra placement-group bundles.
    """
    designs = np.asarray(designs, dtype=np.int64)
    chunks = np.array_split(designs, min(max(1, n_chunks), len(designs)))
    task = _evaluate_chunk.options(num_cpus=task_cpus)
    spec_ref, layers_ref = ray.put(problem.spec), ray.put(problem.layers)
    results = ray.get([task.remote(spec_ref, layers_ref, chunk) for chunk in chunks])
    for _, cells in results:
        problem.memo.merge(cells)
    problem.model_evaluations += len(designs)
    return Evaluation(*(np.concatenate([getattr(e, f) for e, _ in results]) for f in Evaluation.__dataclass_fields__))

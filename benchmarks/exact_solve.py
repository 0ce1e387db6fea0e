"""Exact-optimum solve time: the default DP against HiGHS, measured in the same run.

For MobileNet-V2 and ResNet-50 (dla, latency, area, mul 0.5) on the grid and the
integer action space, every timing starts from a fresh problem (empty cost-model
memo), so it includes evaluating the whole option table. Three solvers, all exact:

* ``dp``: the default (LP seed, Lagrangian pruning, DP over Pareto states);
* ``milp``: the same pruning, then HiGHS (``scipy.optimize.milp``) at zero gap;
* ``plain MILP`` (the baseline): one HiGHS solve over every valid (layer, option)
  binary, without dominance or Lagrangian pruning, objective and budget row
  scaled to O(1), ``mip_rel_gap=0``.

The ratio column is baseline time / DP time. Prints a markdown table.

Usage: python benchmarks/exact_solve.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

from confx.envs.problem import BUDGET_RTOL, build_problem
from confx.pipeline.search import exact
from confx.pipeline.search.settings import ExactSettings

CASES = [
    ("mobilenet_v2_release", "grid"),
    ("mobilenet_v2_release", "integer"),
    ("resnet50_release", "grid"),
    ("resnet50_release", "integer"),
]


def plain_milp(model: str, space: str) -> tuple[float, float]:
    """The baseline: option table plus one unpruned HiGHS solve. Returns (objective, seconds)."""
    start = time.perf_counter()
    problem = build_problem(model, space=space)
    table = exact.build_option_table(problem)
    layer, option = np.nonzero(table.valid.T)
    weight = table.weight[option, layer]
    term = table.term[option, layer]
    one_hot = csr_array((np.ones(len(layer)), (layer, np.arange(len(layer)))))
    budget = problem.budget * (1 + BUDGET_RTOL)
    constraints = [LinearConstraint(one_hot, 1, 1), LinearConstraint(weight[None, :] / budget, -np.inf, 1.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = milp(
            term / term.max(),
            integrality=np.ones(len(term)),
            bounds=Bounds(0, 1),
            constraints=constraints,
            options={"mip_rel_gap": 0.0, "mip_abs_gap": 0.0},
        )
    chosen = np.zeros(problem.n_layers, dtype=np.int64)
    picked = np.flatnonzero(result.x > 0.5)
    chosen[layer[picked]] = option[picked]
    evaluation = problem.evaluate(table.design(chosen))
    return float(evaluation.objective[0]), time.perf_counter() - start


def exact_run(model: str, space: str, method: str) -> tuple[float, bool, float]:
    """Fresh problem, ``exact.search`` with a method. Returns (objective, optimal, seconds)."""
    start = time.perf_counter()
    result = exact.search(build_problem(model, space=space), settings=ExactSettings(method=method))
    return result.objective_value, result.optimal, time.perf_counter() - start


def best_of(repeats: int, run: Callable[..., tuple], *args: str) -> tuple:
    """The outcome with the smallest time (its last element) out of ``repeats`` calls of ``run(*args)``."""
    return min((run(*args) for _ in range(repeats)), key=lambda outcome: outcome[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        "| network | space | options per layer | optimum (cycles) | optimal | dp (s) | milp (s) "
        "| plain MILP (s) | plain MILP / dp |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for model, space in CASES:
        dp_value, dp_optimal, dp_time = best_of(args.repeats, exact_run, model, space, "dp")
        milp_value, _, milp_time = best_of(args.repeats, exact_run, model, space, "milp")
        plain_value, plain_time = best_of(args.repeats, plain_milp, model, space)
        agree = "" if dp_value == milp_value == plain_value else f" (milp {milp_value:,.0f}, plain {plain_value:,.0f})"
        size = build_problem(model, space=space).space.size_per_layer
        print(
            f"| {model} | {space} | {size} | {dp_value:,.0f}{agree} | {dp_optimal} | {dp_time:.3f} "
            f"| {milp_time:.3f} | {plain_time:.3f} | {plain_time / dp_time:.1f}x |"
        )


if __name__ == "__main__":
    main()

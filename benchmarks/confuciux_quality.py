"""Optimality gap of the ConfuciuX searches at the release's budget, against the exact optimum.

For each network x dataflow (latency under area, mul 0.5 unless told) and each
algorithm at E epochs, runs every seed and prints the gap ``found / optimum - 1``
against the integer-space optimum (P 1..128, B 1..12; certified by the exact
solver, which only serves as the yardstick), mean and range over seeds, with
whole-model evaluations, distinct cost-model calls and wall time per search.

Algorithms: any of ``confx search``'s, plus ``release``: the faithful code with
the release's layer-order bug switched on (``release_layer_order=True``), which
stands in for the release where its own figures (spec ``confuciux.md`` section 7,
printed beside ours) were never measured. ``confuciux`` and ``release`` share one
RL stage per (network, dataflow, seed): the RL stage runs once (RLlib, the
faithful code) and each GA stage continues from a copy of the problem, so the two
differ only in their GA. ``--rl-cache DIR`` keeps each RL stage's outcome in DIR
(one ``.npz`` per network, dataflow, seed and E), so that a rerun repeats only
the GA stages; a cached run's cost-model calls are then those of the GA alone.

Usage: python benchmarks/confuciux_quality.py [--models resnet18_release mobilenet_v2_release]
       [--dataflows dla shi eye] [--algorithms confuciux release confuciux-plus] [--seeds 0 1 2]
       [--epochs 500] [--objective latency] [--constraint area] [--rl-cache DIR] [--ga-seeds N] [--all-networks]
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np

from confx.costmodel.layers import builtin_networks, load_network
from confx.envs.problem import Problem, build_problem
from confx.pipeline.search import run_search
from confx.pipeline.search.base import BestTracker, SearchResult
from confx.pipeline.search.confuciux import RLOutcome, finish_with_ga, run_rl_stage
from confx.pipeline.search.settings import ConfuciuXSettings

RELEASE_GAP_VS_INTEGER = {
    ("resnet18_release", "dla"): "+1.2 .. +1.8%",
    ("mobilenet_v2_release", "dla"): "+5.9 .. +6.6%",
}
"""The released code's own gaps (spec confuciux.md section 7: MAESTRO 4eb08d1, 3 seeds, E = 500)."""
RL_STAGE = ("confuciux", "release")


def optimum(model: str, dataflow: str, objective: str, constraint: str) -> float:
    problem = build_problem(model, dataflow=dataflow, objective=objective, constraint=constraint, space="integer")
    result = run_search(problem, "exact", seed=0)
    assert result.optimal, f"exact solver did not certify {model} {dataflow}"
    return result.objective_value


def rl_outcome(problem: Problem, seed: int, epochs: int, cache: Path | None) -> tuple[RLOutcome, float]:
    """The faithful RL stage's outcome (from the cache when there), and its wall time."""
    episodes = epochs * 2 // 3
    spec = problem.spec
    path = None
    if cache is not None:
        name = f"{spec.model}_{spec.dataflow}_{spec.objective}_{spec.constraint}_{spec.mul}_E{epochs}_s{seed}.npz"
        path = cache / name
        if path.exists():
            data = np.load(path)
            design = data["design"] if data["design"].size else None
            curve = [tuple(row) for row in data["curve"].tolist()]
            problem.model_evaluations += episodes  # as run_rl_stage counts them; its cost-model calls are not kept
            return RLOutcome(design, float(data["objective"]), float(data["used"]), episodes, curve), float(
                data["wall"]
            )
    start = time.perf_counter()
    outcome = run_rl_stage(problem, episodes=episodes, seed=seed, settings=ConfuciuXSettings().rl)
    wall = time.perf_counter() - start
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        design = outcome.design if outcome.design is not None else np.zeros((0,), dtype=np.int64)
        curve = np.asarray(outcome.curve, dtype=np.float64).reshape(-1, 3)
        np.savez(path, design=design, objective=outcome.objective, used=outcome.used, curve=curve, wall=wall)
    return outcome, wall


def confuciux_pair(
    model: str, dataflow: str, seed: int, args: argparse.Namespace
) -> dict[str, list[tuple[SearchResult, Problem, float]]]:
    """The faithful ConfuciuX and its release emulation on one shared RL stage.

    With ``--ga-seeds N`` each GA stage runs N times on the same RL outcome (GA seeds
    ``seed + 1000 k``; k = 0 is the plain search), so the two GAs are compared on more
    samples than the RL stages one can afford.
    """
    problem = build_problem(model, dataflow=dataflow, objective=args.objective, constraint=args.constraint)
    outcome, rl_wall = rl_outcome(problem, seed, args.epochs, args.rl_cache)
    generations = args.epochs - args.epochs * 2 // 3
    results: dict[str, list[tuple[SearchResult, Problem, float]]] = {}
    for name in RL_STAGE:
        if name not in args.algorithms:
            continue
        settings = ConfuciuXSettings(use_ray=False, release_layer_order=name == "release").ga
        for repeat in range(args.ga_seeds):
            copy_problem = copy.deepcopy(problem)
            start = time.perf_counter()
            result = finish_with_ga(
                BestTracker(copy_problem),
                outcome,
                seed=seed + 1000 * repeat,
                generations=generations,
                settings=settings,
            )
            results.setdefault(name, []).append((result, copy_problem, rl_wall + time.perf_counter() - start))
    return results


def gap_text(gaps: np.ndarray) -> str:
    return f"{np.nanmean(gaps):+.2%} ({np.nanmin(gaps):+.2%} .. {np.nanmax(gaps):+.2%})"


def welch_interval(first: np.ndarray, second: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Difference of the means ``first - second`` and its Welch ``level`` confidence interval."""
    from scipy import stats

    first, second = first[np.isfinite(first)], second[np.isfinite(second)]
    difference = float(first.mean() - second.mean())
    if first.var() == 0.0 and second.var() == 0.0:  # Welch's interval is undefined; the means are exact
        return difference, difference, difference
    interval = stats.ttest_ind(first, second, equal_var=False).confidence_interval(level)
    return difference, float(interval.low), float(interval.high)


def print_faithful_against_release(rows: list[tuple[str, str, str, np.ndarray]]) -> None:
    """Per case: the faithful mean minus the release emulation's, with a 95% interval and a verdict.

    The two share their RL stages, which correlates them positively: treating the searches as
    independent samples (Welch) makes the interval wider than a paired one, so "lower" and
    "higher" are conservative calls.
    """
    gaps = {(model, dataflow, name): values[:, 0] for model, dataflow, name, values in rows}
    print(
        "\n| network | dataflow | faithful mean | release emulation mean | faithful - release (95% interval) | "
        "verdict |\n|---|---|---|---|---|---|"
    )
    verdicts: dict[str, int] = {}
    for model, dataflow, name, _ in rows:
        if name != "confuciux":
            continue
        faithful, release = gaps[model, dataflow, "confuciux"], gaps[model, dataflow, "release"]
        difference, low, high = welch_interval(faithful, release)
        verdict = "lower" if high < 0 else "higher" if low > 0 else "equal within noise"
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        print(
            f"| {model} | {dataflow} | {np.nanmean(faithful):+.2%} | {np.nanmean(release):+.2%} | "
            f"{difference * 100:+.2f} pt ({low * 100:+.2f} .. {high * 100:+.2f}) | {verdict} |"
        )
    print("faithful against the release emulation: " + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18_release", "mobilenet_v2_release"])
    parser.add_argument("--all-networks", action="store_true", help="every built-in network (confx networks)")
    parser.add_argument("--dataflows", nargs="+", default=["dla", "shi", "eye"])
    parser.add_argument("--algorithms", nargs="+", default=["confuciux", "release", "confuciux-plus"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--objective", default="latency")
    parser.add_argument("--constraint", default="area")
    parser.add_argument("--rl-cache", type=Path, default=None)
    parser.add_argument("--ga-seeds", type=int, default=1, help="GA stages per RL stage (confuciux, release)")
    args = parser.parse_args()
    if any(name in args.algorithms for name in RL_STAGE):
        import torch

        torch.set_num_threads(1)
    models = (
        sorted(builtin_networks(), key=lambda name: load_network(name).n_layers) if args.all_networks else args.models
    )

    rows = []
    for model in models:
        for dataflow in args.dataflows:
            best = optimum(model, dataflow, args.objective, args.constraint)
            found: dict[str, list[tuple[float, int, int, float]]] = {name: [] for name in args.algorithms}
            for seed in args.seeds:
                runs = confuciux_pair(model, dataflow, seed, args) if set(RL_STAGE) & set(args.algorithms) else {}
                for name in args.algorithms:
                    if name not in runs:
                        problem = build_problem(
                            model, dataflow=dataflow, objective=args.objective, constraint=args.constraint
                        )
                        start = time.perf_counter()
                        result = run_search(problem, name, seed=seed, epochs=args.epochs)
                        runs[name] = [(result, problem, time.perf_counter() - start)]
                    for result, problem, wall in runs[name]:
                        value = result.objective_value if result.feasible else np.nan
                        assert not result.feasible or result.constraint_used <= problem.budget * (1 + 1e-12)
                        gap = value / best - 1 if problem.sense == "min" else 1 - value / best
                        found[name].append((gap, problem.model_evaluations, problem.cost_model_calls, wall))
                        print(
                            f"{model} {dataflow} {name} seed {result.seed}: {gap:+.2%}, {problem.model_evaluations:,} "
                            f"evaluations, {problem.cost_model_calls:,} cost-model calls, {wall:.1f} s",
                            flush=True,
                        )
            for name, values in found.items():
                rows.append((model, dataflow, name, np.asarray(values)))

    if args.rl_cache is not None:
        print("\n(RL stages read from the cache count their episodes but not their cost-model calls.)")
    print(
        f"\n{args.objective} under {args.constraint}, mul 0.5, E = {args.epochs}, seeds {args.seeds}, "
        f"{args.ga_seeds} GA stage(s) per RL stage\n\n"
        "| network | dataflow | algorithm | gap vs integer optimum (mean, range) | release's own | "
        "model evaluations | cost-model calls | wall time per search |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for model, dataflow, name, values in rows:
        release = RELEASE_GAP_VS_INTEGER.get((model, dataflow), "") if name == "release" else ""
        print(
            f"| {model} | {dataflow} | {name} | {gap_text(values[:, 0])} | {release} | {values[:, 1].mean():,.0f} | "
            f"{values[:, 2].mean():,.0f} | {values[:, 3].mean():.1f} s |"
        )
    if set(RL_STAGE) <= set(args.algorithms):
        print_faithful_against_release(rows)
    by_algorithm: dict[str, list[float]] = {}
    for _, _, name, values in rows:
        by_algorithm.setdefault(name, []).append(float(np.nanmean(values[:, 0])))
    for name, means in by_algorithm.items():
        print(f"{name}: worst mean gap {max(means):+.2%}, mean of means {np.mean(means):+.2%} over {len(means)} cases")


if __name__ == "__main__":
    main()

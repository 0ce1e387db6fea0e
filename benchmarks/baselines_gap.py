"""Optimality gap of the classic baselines at equal budgets of whole-model evaluations.

For every baseline (random, anneal, ga, bo), budget and dataflow, runs the search
with several seeds on a fresh problem (MobileNet-V2, latency, area, mul 0.5 by
default) and reports the median gap ``found / optimum - 1`` against the certified
optimum of ``pipeline.search.exact``, the median wall time per search, and each
algorithm's median gap relative to random search's at the same budget, measured
in the same run.

Usage: python benchmarks/baselines_gap.py [--seeds 5] [--budgets 500,3700]
       [--algorithms random,anneal,ga,bo] [--dataflows dla,shi,eye] [--workers 1]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

from confx.envs.problem import build_problem  # noqa: E402
from confx.pipeline.search import anneal, bayes, exact, genetic, random_search  # noqa: E402

SEARCHES = {"random": random_search.search, "anneal": anneal.search, "ga": genetic.search, "bo": bayes.search}
BASELINE = "random"


def run_one(job: tuple[str, int, str, int, str, float]) -> tuple[str, int, str, int, float, float, int]:
    """Run one search on a fresh problem: returns its key, objective, wall time and evaluations spent."""
    algorithm, budget, dataflow, seed, model, mul = job
    problem = build_problem(model, dataflow=dataflow, mul=mul)
    start = time.perf_counter()
    result = SEARCHES[algorithm](problem, budget=budget, seed=seed)
    wall_s = time.perf_counter() - start
    assert problem.model_evaluations <= budget
    return algorithm, budget, dataflow, seed, result.objective_value, wall_s, problem.model_evaluations


def optimum(model: str, dataflow: str, mul: float) -> float:
    """Certified optimum of the problem (latency, area)."""
    result = exact.search(build_problem(model, dataflow=dataflow, mul=mul), seed=0)
    assert result.optimal, result.note
    return result.objective_value


def markdown_table(rows: list[dict], dataflows: list[str]) -> str:
    """Rows of per-(algorithm, budget) summaries as a markdown table."""
    header = (
        ["algorithm", "budget"]
        + [f"gap {df}" for df in dataflows]
        + ["gap (all)", f"gap / {BASELINE}", "wall s/search", "ms/evaluation"]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = (
            [row["algorithm"], f"{row['budget']:,}"]
            + [f"{100 * row[df]:+.1f}%" for df in dataflows]
            + [f"{100 * row['all']:+.1f}%", f"{row['ratio']:.3f}", f"{row['wall_s']:.2f}", f"{row['ms_per_eval']:.3f}"]
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summarise(
    outcomes: list[tuple], optima: dict[str, float], algorithms: list[str], budgets: list[int], dataflows: list[str]
) -> list[dict]:
    """Median gaps per dataflow and overall, median wall time, and the gap ratio against random search."""
    rows = []
    for budget in budgets:
        medians = {}
        for algorithm in algorithms:
            mine = [o for o in outcomes if o[0] == algorithm and o[1] == budget]
            row = {"algorithm": algorithm, "budget": budget}
            for dataflow in dataflows:
                row[dataflow] = statistics.median(o[4] / optima[dataflow] - 1 for o in mine if o[2] == dataflow)
            row["all"] = statistics.median(o[4] / optima[o[2]] - 1 for o in mine)
            row["wall_s"] = statistics.median(o[5] for o in mine)
            row["ms_per_eval"] = 1000 * row["wall_s"] / budget
            medians[algorithm] = row["all"]
            rows.append(row)
        for row in rows[-len(algorithms) :]:
            base = medians.get(BASELINE)
            row["ratio"] = row["all"] / base if base else float("nan")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budgets", default="500,3700")
    parser.add_argument("--algorithms", default="random,anneal,ga,bo")
    parser.add_argument("--dataflows", default="dla,shi,eye")
    parser.add_argument("--model", default="mobilenet_v2_release")
    parser.add_argument("--mul", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=1, help="searches run in parallel processes")
    args = parser.parse_args()
    algorithms = args.algorithms.split(",")
    budgets = [int(b) for b in args.budgets.split(",")]
    dataflows = args.dataflows.split(",")
    unknown = set(algorithms) - set(SEARCHES)
    if unknown:
        parser.error(f"unknown algorithms {sorted(unknown)}; use {','.join(SEARCHES)}")
    if BASELINE not in algorithms:
        algorithms.insert(0, BASELINE)  # the ratio needs the baseline measured in the same run

    optima = {df: optimum(args.model, df, args.mul) for df in dataflows}
    jobs = [
        (a, b, df, s, args.model, args.mul)
        for a in algorithms
        for b in budgets
        for df in dataflows
        for s in range(args.seeds)
    ]
    jobs.sort(key=lambda job: (job[0] != "bo", -job[1]))  # longest first, for better packing
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        outcomes = []
        for outcome in pool.map(run_one, jobs):
            outcomes.append(outcome)
            print(
                f"{outcome[0]} budget={outcome[1]} {outcome[2]} seed={outcome[3]}: "
                f"gap {outcome[4] / optima[outcome[2]] - 1:+.4f} in {outcome[5]:.2f} s",
                file=sys.stderr,
                flush=True,
            )
    total_s = time.perf_counter() - start

    print(
        f"## Baselines vs exact optimum: {args.model}, latency, area, mul {args.mul}, "
        f"{args.seeds} seeds (median), {args.workers} worker(s)\n"
    )
    print("Optima: " + ", ".join(f"{df} {value:,.0f} cycles" for df, value in optima.items()) + "\n")
    print(markdown_table(summarise(outcomes, optima, algorithms, budgets, dataflows), dataflows))
    print(
        f"\n`gap / {BASELINE}`: the algorithm's overall median gap over {BASELINE} search's at the same budget, "
        f"same run. Total wall time {total_s:.0f} s."
    )


if __name__ == "__main__":
    main()

"""ConfX's numpy TPE against Optuna's own multivariate TPE sampler, at equal trials.

Both follow the same rules (first trial the all-minimum design, ``n_startup_trials``
uniform trials, then a multivariate TPE with Optuna's default gamma, weights, prior
and bandwidth), so this measures the speed of the two implementations and checks
that the numpy one is not worse: wall time per search, the ratio, and the gap of
the best design found to the certified integer-space optimum.

Usage: python benchmarks/bo_speed.py [--models alexnet_release vgg16_release resnet18_release]
       [--dataflow dla] [--trials 1000] [--seeds 0 1] [--n-startup-trials 62] [--n-ei-candidates 39]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import optuna

from confx.envs.problem import Problem, build_problem
from confx.pipeline.search import run_search
from confx.pipeline.search.bayes import trial_value
from confx.pipeline.search.random_search import gene_sizes, minimum_indices


def optuna_search(problem: Problem, trials: int, seed: int, n_startup_trials: int, n_ei_candidates: int) -> float:
    """Best feasible objective of Optuna's multivariate TPE on the index parameters (the baseline)."""
    sizes = gene_sizes(problem)
    names = [f"layer{layer}_gene{gene}" for layer in range(problem.n_layers) for gene in range(len(sizes))]
    distributions = {
        name: optuna.distributions.IntDistribution(0, int(sizes[index % len(sizes)]) - 1)
        for index, name in enumerate(names)
    }
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=n_startup_trials, multivariate=True, n_ei_candidates=n_ei_candidates
        )
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.enqueue_trial(dict(zip(names, minimum_indices(problem).ravel().tolist(), strict=True)))
    best = np.inf
    shape = (problem.n_layers, len(sizes))
    for _ in range(trials):
        trial = study.ask(distributions)
        params = trial.params
        indices = np.asarray([params[name] for name in names], dtype=np.int64).reshape(shape)
        evaluation = problem.evaluate(problem.design_from_indices(indices))
        if evaluation.feasible[0]:
            best = min(best, float(evaluation.objective[0]))
        study.tell(trial, trial_value(problem, evaluation))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["alexnet_release", "vgg16_release", "resnet18_release"])
    parser.add_argument("--dataflow", default="dla")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--n-startup-trials", type=int, default=62)
    parser.add_argument("--n-ei-candidates", type=int, default=39)
    args = parser.parse_args()
    settings = {"n_startup_trials": args.n_startup_trials, "n_ei_candidates": args.n_ei_candidates}

    print(f"{args.trials} trials, {settings}, {args.dataflow}, latency under area, mul 0.5, integer space\n")
    print("| network | seed | ConfX TPE: wall, gap | Optuna TPE: wall, gap | Optuna / ConfX wall |")
    print("|---|---|---|---|---|")
    ratios = []
    for model in args.models:
        problem = build_problem(model, dataflow=args.dataflow, space="integer")
        optimum = run_search(problem, "exact", seed=0).objective_value
        for seed in args.seeds:
            problem = build_problem(model, dataflow=args.dataflow, space="integer")
            start = time.perf_counter()
            ours = run_search(problem, "bo", seed=seed, budget=args.trials, settings=settings).objective_value
            ours_wall = time.perf_counter() - start
            problem = build_problem(model, dataflow=args.dataflow, space="integer")
            start = time.perf_counter()
            theirs = optuna_search(problem, args.trials, seed, args.n_startup_trials, args.n_ei_candidates)
            theirs_wall = time.perf_counter() - start
            ratios.append(theirs_wall / ours_wall)
            print(
                f"| {model} | {seed} | {ours_wall:.1f} s, {ours / optimum - 1:+.2%} | "
                f"{theirs_wall:.1f} s, {theirs / optimum - 1:+.2%} | {ratios[-1]:.1f}x |",
                flush=True,
            )
    print(f"\nOptuna / ConfX wall time: median {np.median(ratios):.1f}x ({min(ratios):.1f}x .. {max(ratios):.1f}x)")


if __name__ == "__main__":
    main()

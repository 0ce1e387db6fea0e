"""ConfuciuX's GA stage in-process: the rebuild-until-mutated loop, the spread seed, the layer-order emulation."""

from __future__ import annotations

import numpy as np

from confx.envs.problem import build_problem
from confx.pipeline.search.base import BestTracker
from confx.pipeline.search.ga_stage import mutate_population, run_ga_stage, spread_copies
from confx.pipeline.search.settings import GAStageSettings


def test_every_individual_gets_a_kept_mutation_when_the_budget_allows() -> None:
    problem = build_problem("resnet18", dataflow="dla", mul=0.5)
    parent = problem.uniform_design(8, 4)
    used = float(problem.evaluate(parent, count=False).used[0])
    population = mutate_population(
        problem, parent[None], np.full(20, used), 20, np.random.default_rng(0), mutation_range=0.5, tries=3
    )
    assert population.shape == (20, *parent.shape)
    assert (population != parent).any(axis=(1, 2)).mean() >= 0.9  # zero steps are kept too, as in the release
    assert (problem.evaluate(population, count=False).used <= problem.budget * (1 + 1e-12)).all()


def test_without_budget_left_the_rebuilds_stop_and_copies_remain() -> None:
    """A parent at the budget with every try an increase: at most 2 x size rebuilds, then plain copies."""
    problem = build_problem("resnet18", dataflow="dla", mul=0.0)
    parent = problem.uniform_design(1, 1)
    used = float(problem.evaluate(parent, count=False).used[0])
    population = mutate_population(
        problem, parent[None], np.full(6, used), 6, np.random.default_rng(1), mutation_range=0.5, tries=3
    )
    assert (problem.evaluate(population, count=False).used <= problem.budget * (1 + 1e-12)).all()
    # Without the release's loop: one round of tries each, so nothing gets rebuilt.
    once = mutate_population(
        problem, parent[None], np.full(6, used), 6, np.random.default_rng(1), mutation_range=0.5, tries=3, rebuild=False
    )
    assert (problem.evaluate(once, count=False).used <= problem.budget * (1 + 1e-12)).all()


def run(problem, seed_design, *, release: bool, seed: int = 0) -> BestTracker:
    tracker = BestTracker(problem)
    tracker.adopt(seed_design, problem.evaluate(seed_design, count=False))
    settings = GAStageSettings(use_ray=False, release_layer_order=release)
    run_ga_stage(
        problem, seed_design, generations=30, rng=np.random.default_rng(seed), tracker=tracker, settings=settings
    )
    return tracker


def test_release_emulation_scrambles_the_seed_and_never_reports_worse_than_it() -> None:
    problem = build_problem("mobilenet_v2", dataflow="dla", mul=0.5)
    rng = np.random.default_rng(3)
    seed_design = np.stack([rng.choice([8, 16, 32], problem.n_layers), rng.integers(1, 13, problem.n_layers)], -1)
    seed_eval = problem.evaluate(seed_design, count=False)
    assert seed_eval.feasible[0]
    for release in (False, True):
        tracker = run(problem, seed_design, release=release)
        assert tracker.best_objective <= seed_eval.objective[0]
        final = problem.evaluate(tracker.best_design, count=False)
        assert final.feasible[0] and final.objective[0] == tracker.best_objective
    faithful, release, again = (
        run(build_problem("mobilenet_v2", dataflow="dla", mul=0.5), seed_design, release=flag)
        for flag in (False, True, True)
    )
    assert faithful.curve != release.curve
    assert again.curve == release.curve


def test_spread_copies_exchange_rows_of_half_the_layers_and_keep_their_mix() -> None:
    rng = np.random.default_rng(0)
    seed = np.stack([np.arange(1, 21), np.arange(20, 0, -1) % 12 + 1], -1)
    copies = np.repeat(seed[None], 6, axis=0)
    spread_copies(copies, 0.5, rng)
    for copy in copies:
        moved = (copy != seed).any(axis=1)
        assert 2 <= moved.sum() <= 10  # at most half of the 20 layers change place
        assert sorted(map(tuple, copy)) == sorted(map(tuple, seed))  # the same rows, exchanged
    assert len({copy.tobytes() for copy in copies}) == 6
    single = seed[:1][None].copy()
    spread_copies(single, 0.5, rng)  # one layer: nothing to exchange
    assert (single == seed[:1]).all()


def test_spread_generation_keeps_the_seed_as_elite_and_counts_every_individual() -> None:
    problem = build_problem("resnet18", dataflow="dla", mul=0.5)
    seed_design = problem.uniform_design(8, 4)
    assert problem.evaluate(seed_design, count=False).feasible[0]
    tracker = BestTracker(problem)
    tracker.adopt(seed_design, problem.evaluate(seed_design, count=False))
    seen: list[int] = []
    settings = GAStageSettings(use_ray=False, seed_spread=0.5)
    run_ga_stage(
        problem,
        seed_design,
        generations=3,
        rng=np.random.default_rng(0),
        tracker=tracker,
        settings=settings,
        on_generation=lambda generation: seen.append(problem.model_evaluations),
    )
    assert seen == [20, 40, 60]  # generation 1 evaluates the spread population, as many as a mutated one
    final = problem.evaluate(tracker.best_design, count=False)
    assert final.feasible[0] and tracker.best_objective <= problem.evaluate(seed_design, count=False).objective[0]

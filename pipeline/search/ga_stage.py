"""ConfuciuX's second stage: a genetic algorithm that fine-tunes the RL stage's best design.

Faithful to the release (spec section 3) except for its layer-order bug: the
population is seeded and evaluated in the network's own layer order. Every
individual starts as the seed; each generation keeps the best ``parents``,
rebuilds the population from them, mutates it within the remaining budget,
applies self-crossover and puts the best parent back at index 0. P and B may
leave the grid: any integer within the action space's bounds.

Imports numpy, ray and the problem only, so Ray workers stay light.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from confx.envs.problem import Evaluation, Problem
from confx.pipeline.search.base import BestTracker
from confx.pipeline.search.settings import GAStageSettings


def mutate(
    problem: Problem,
    individual: NDArray[np.int64],
    used: float,
    rng: np.random.Generator,
    *,
    mutation_range: float,
    tries: int,
) -> None:
    """Mutate one design in place, keeping only changes whose extra constraint fits the budget.

    Args:
        individual: Design (n_layers, n_genes), changed in place.
        used: Its summed constraint before mutation.
    """
    low, high = problem.space.gene_bounds
    remaining = problem.budget - used
    for _ in range(tries):
        layer = int(rng.integers(problem.n_layers))
        gene = int(rng.integers(individual.shape[1]))
        old = individual[layer].copy()
        if problem.space.categorical[gene]:
            individual[layer, gene] = rng.integers(low[gene], high[gene] + 1)
        else:
            step = int(rng.uniform(-mutation_range, mutation_range) * max(1, high[gene] // 2))
            individual[layer, gene] = np.clip(old[gene] + step, low[gene], high[gene])
        rows = np.asarray([layer, layer])
        valid, _, constraint = problem.layer_terms_at(rows, np.stack([old, individual[layer]]))
        extra = constraint[1] - constraint[0]
        if not (valid[1] and extra <= remaining):  # NaN (invalid point) also reverts
            individual[layer] = old
        else:
            remaining -= extra


def self_crossover(population: NDArray[np.int64], rng: np.random.Generator, *, rate: float) -> None:
    """With probability ``rate`` per individual (not the elite), swap one gene between two layers."""
    n_layers, n_genes = population.shape[1:]
    for individual in population[1:]:
        if rng.random() < rate:
            a, b = rng.integers(n_layers, size=2)
            gene = rng.integers(n_genes)
            individual[a, gene], individual[b, gene] = individual[b, gene], individual[a, gene]


def run_ga_stage(
    problem: Problem,
    seed_design: NDArray[np.int64],
    *,
    generations: int,
    rng: np.random.Generator,
    tracker: BestTracker,
    settings: GAStageSettings = GAStageSettings(),
    evaluate: Callable[[NDArray[np.int64]], Evaluation] | None = None,
    on_generation: Callable[[int], None] | None = None,
) -> None:
    """Fine-tune a feasible seed design for ``generations`` generations.

    Results go to ``tracker`` (best design and curve); the seed must already
    have been observed by it, so the stage never returns a worse design.

    Args:
        evaluate: Population evaluator; default: Ray tasks or in-process per settings.
        on_generation: Called with the generation number after each generation.
    """
    if evaluate is None:
        evaluate = _ray_evaluator(problem, settings) if settings.use_ray else problem.evaluate
    mutation_range = problem.spec.mul if settings.mutation_range is None else settings.mutation_range
    n_parents = min(settings.parents, settings.population)
    population = np.repeat(np.asarray(seed_design, dtype=np.int64)[None], settings.population, axis=0)
    seed_eval = problem.evaluate(population[:1], count=False)
    fitness = np.full(settings.population, problem.fitness(seed_eval)[0])
    used = np.full(settings.population, seed_eval.used[0])
    for generation in range(1, generations + 1):
        order = np.argsort(fitness, kind="stable")[:n_parents]
        parents, parent_used = population[order].copy(), used[order]
        population = parents[np.arange(settings.population) % n_parents].copy()
        for i, individual in enumerate(population):
            mutate(
                problem,
                individual,
                parent_used[i % n_parents],
                rng,
                mutation_range=mutation_range,
                tries=settings.mutation_tries,
            )
        self_crossover(population, rng, rate=settings.crossover_rate)
        population[0] = parents[0]
        evaluation = evaluate(population)
        tracker.observe(population, evaluation)
        fitness, used = problem.fitness(evaluation), evaluation.used
        if on_generation is not None:
            on_generation(generation)


def _ray_evaluator(problem: Problem, settings: GAStageSettings) -> Callable[[NDArray[np.int64]], Evaluation]:
    from confx.pipeline.search.population_tasks import evaluate_on_ray

    return lambda designs: evaluate_on_ray(problem, designs, n_chunks=settings.n_chunks, task_cpus=settings.task_cpus)

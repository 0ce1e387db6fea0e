"""ConfuciuX's second stage: a genetic algorithm that fine-tunes the RL stage's best design.

Faithful to the release (spec section 3) except for its layer-order bug: the
population is seeded and evaluated in the network's own layer order. The first
generation is the seed (kept as the elite) and copies of it in which half of the
layers exchange their (P, B) rows (``seed_spread``), evaluated as they are: the
release's bug seeds a fully scrambled copy instead, which adds the same kind of
diversity but loses the seed (measured in BENCHMARKS.md). Each later generation
keeps the best ``parents``, rebuilds the population from them, mutates it within
the remaining budget, applies self-crossover and puts the best parent back at
index 0. As in the release, an individual none of whose mutation tries fit the
budget is rebuilt from its parent and mutated again (at most ``2 x population``
rebuilds per generation). P and B may leave the grid: any integer within the
action space's bounds.

``release_layer_order`` reproduces the release's bug instead, for comparison
with its figures: the seed is the RL best scrambled by a random layer
permutation (the release evaluates its RL best against the last episode's
shuffled layer table), every individual starts with the RL best's fitness and
used constraint, and individual i's mutation budget is that of the i-th best
individual of the previous generation rather than its parent's.

Imports numpy, ray and the problem only, so Ray workers stay light.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from confx.envs.problem import Evaluation, Problem
from confx.pipeline.search.base import BestTracker
from confx.pipeline.search.settings import GAStageSettings


def mutate_members(
    problem: Problem,
    population: NDArray[np.int64],
    members: NDArray[np.int64],
    remaining: NDArray[np.float64],
    rng: np.random.Generator,
    *,
    mutation_range: float,
    tries: int,
) -> NDArray[np.bool_]:
    """Mutate some individuals in place, keeping only changes whose extra constraint fits their budget.

    The members take their tries in lockstep: each round draws one (layer, gene, step) per member
    and looks every old and new layer point up in one batched cost-model call, so a generation
    pays the cost model's per-call overhead ``tries`` times instead of once per try.

    Args:
        population: Designs (size, n_layers, n_genes), changed in place.
        members: Indices of the individuals to mutate, distinct.
        remaining: Budget each member may still spend, shape (len(members),).

    Returns:
        Per member, whether at least one try was kept (a zero step counts, as in the release).
    """
    low, high = (np.asarray(bound, dtype=np.int64) for bound in problem.space.gene_bounds)
    categorical = np.asarray(problem.space.categorical, dtype=bool)
    n, rows = len(members), np.arange(len(members))
    remaining = np.array(remaining, dtype=np.float64)
    kept = np.zeros(n, dtype=bool)
    for _ in range(tries):
        layer = rng.integers(problem.n_layers, size=n)
        gene = rng.integers(population.shape[2], size=n)
        step = (rng.uniform(-mutation_range, mutation_range, size=n) * np.maximum(1, high[gene] // 2)).astype(np.int64)
        drawn = rng.integers(low[gene], high[gene] + 1)
        old = population[members, layer]
        new = old.copy()
        moved = np.clip(old[rows, gene] + step, low[gene], high[gene])
        new[rows, gene] = np.where(categorical[gene], drawn, moved)
        valid, _, constraint = problem.layer_terms_at(np.concatenate([layer, layer]), np.concatenate([old, new]))
        extra = constraint[n:] - constraint[:n]
        fits = valid[n:] & (extra <= remaining)  # NaN (invalid point) also reverts
        population[members[fits], layer[fits]] = new[fits]
        remaining[fits] -= extra[fits]
        kept |= fits
    return kept


def mutate_population(
    problem: Problem,
    parents: NDArray[np.int64],
    budgets_used: NDArray[np.float64],
    size: int,
    rng: np.random.Generator,
    *,
    mutation_range: float,
    tries: int,
    rebuild: bool = True,
) -> NDArray[np.int64]:
    """A new population of ``size``: individual i from parent ``i mod len(parents)``, mutated.

    With ``rebuild`` (the release's loop), an individual whose tries all failed is rebuilt
    from its parent and mutated again, until every individual has a kept mutation or
    ``2 x size`` (re)builds were made; the rest stay plain copies of their parents. Without
    it every individual gets one round of tries. The release rebuilds one individual at a
    time; here every individual still waiting is rebuilt in the same round (when the cap
    binds, the lowest indices go first), which keeps the loop's bound and batches its lookups.

    Args:
        parents: Parent designs (n_parents, n_layers, n_genes), best first.
        budgets_used: The constraint each individual's mutations start from, shape (size,).
    """
    population = parents[np.arange(size) % len(parents)].copy()
    waiting, builds = np.arange(size), 2 * size if rebuild else size
    while len(waiting) and builds > 0:
        waiting = waiting[:builds]
        builds -= len(waiting)
        population[waiting] = parents[waiting % len(parents)]
        kept = mutate_members(
            problem,
            population,
            waiting,
            problem.budget - budgets_used[waiting],
            rng,
            mutation_range=mutation_range,
            tries=tries,
        )
        waiting = waiting[~kept] if rebuild else waiting[:0]
    return population


def spread_copies(copies: NDArray[np.int64], fraction: float, rng: np.random.Generator) -> None:
    """In each copy, exchange the (P, B) rows of a random ``fraction`` of the layers among themselves.

    Why: a population of identical copies explores only the seed's neighbourhood. Moving
    the seed's own per-layer resources between layers keeps their mix (and roughly the
    budget) but starts the GA from other regions; the release gets this by accident from
    its layer-order bug, which scrambles every layer and drops the seed itself.
    """
    n_layers = copies.shape[1]
    if n_layers < 2:
        return
    k = min(n_layers, max(2, int(fraction * n_layers)))
    for copy in copies:
        rows = rng.choice(n_layers, size=k, replace=False)
        copy[rows] = copy[rng.permutation(rows)]


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
    seed_design = np.asarray(seed_design, dtype=np.int64)
    seed_eval = problem.evaluate(seed_design[None], count=False)
    if settings.release_layer_order:
        seed_design = seed_design[rng.permutation(problem.n_layers)]
    population = np.repeat(seed_design[None], settings.population, axis=0)
    fitness = np.full(settings.population, problem.fitness(seed_eval)[0])
    used = np.full(settings.population, seed_eval.used[0])
    spread = settings.seed_spread > 0 and not settings.release_layer_order
    for generation in range(1, generations + 1):
        if generation == 1 and spread:
            # Generation 1 is the seed (the elite) and its spread copies instead of mutants.
            spread_copies(population[1:], settings.seed_spread, rng)
        else:
            population = _next_generation(problem, population, fitness, used, rng, settings, mutation_range, n_parents)
        evaluation = evaluate(population)
        tracker.observe(population, evaluation)
        fitness, used = problem.fitness(evaluation), evaluation.used
        if on_generation is not None:
            on_generation(generation)


def _next_generation(
    problem: Problem,
    population: NDArray[np.int64],
    fitness: NDArray[np.float64],
    used: NDArray[np.float64],
    rng: np.random.Generator,
    settings: GAStageSettings,
    mutation_range: float,
    n_parents: int,
) -> NDArray[np.int64]:
    """Keep the best ``n_parents``, rebuild and mutate the population from them, self-cross, restore the elite."""
    ranked = np.argsort(fitness, kind="stable")
    order = ranked[:n_parents]
    parents = population[order].copy()
    # The release reads individual i's budget from the i-th best of the last generation.
    start_used = used[ranked] if settings.release_layer_order else used[order][np.arange(len(fitness)) % n_parents]
    population = mutate_population(
        problem,
        parents,
        start_used,
        settings.population,
        rng,
        mutation_range=mutation_range,
        tries=settings.mutation_tries,
        rebuild=settings.rebuild_unmutated,
    )
    self_crossover(population, rng, rate=settings.crossover_rate)
    population[0] = parents[0]
    return population


def _ray_evaluator(problem: Problem, settings: GAStageSettings) -> Callable[[NDArray[np.int64]], Evaluation]:
    from confx.pipeline.search.population_tasks import evaluate_on_ray

    return lambda designs: evaluate_on_ray(problem, designs, n_chunks=settings.n_chunks, task_cpus=settings.task_cpus)

"""ConfuciuX+: a policy-gradient stage, then evolution with budget-moving mutations.

A variant of ConfuciuX (not the paper's algorithm; the faithful one is
:mod:`pipeline.search.confuciux`) that keeps its two stages and its budget of
whole-model evaluations, and changes what each stage does:

1. **Policy learning.** A factorised softmax policy (one categorical per layer
   and gene over the action grid, plain numpy) samples batches of whole designs;
   each batch is one REINFORCE update with centred-rank advantages (the batch
   is the baseline). Over-budget designs rank below every feasible one, by their
   overshoot. The policy keeps no state between layers, so it needs no LSTM.
2. **Evolution.** A (mu + lambda) population seeded with the best distinct
   designs the policy sampled (not one design copied). A child takes PEs from one
   layer and gives them to another (a budget-moving mutation: area and power are
   affine in P, so the total stays close to the budget the parent used), moves
   one K-tile, or spends the parent's unused budget on one layer. Receivers are
   drawn by their share of the parent's objective (the layers worth speeding
   up), donors uniformly. P may leave the grid (any integer within the bounds),
   as in the release's GA. Each generation also spends some of its children on
   exchange steps (summed objectives only): a parent's every layer is probed down
   and up at once, each by its own random step, and the two probes' per-layer
   terms tell, for all layers from two evaluations, what each move costs and
   frees; a greedy exchange then moves budget from the layers that lose least per
   unit to those that gain most, and is scored as a third evaluation. This is a
   local search on sampled moves, not an enumeration of any layer's options. A
   probe mostly moves a layer to a value the search already paid for, and only to
   such values once the layer has its share of distinct points (see
   :func:`point_cap`), so that the variant makes fewer distinct cost-model calls
   than the faithful search.

Every design it scores is one whole-model evaluation through the problem, so
cost-model calls are counted like every other search's. No layer's options are
ever enumerated, and the exact solver is not used.

Budget: with ``epochs`` E it makes exactly as many whole-model evaluations as
the faithful ConfuciuX at the release's population of 20: ``2E/3 + 20 * (E - 2E/3)``
(3,673 at E = 500). The policy stage gets ``policy_fraction`` of them.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

from confx.envs.problem import GENE_KTILE, GENE_NUM_PE, MAXIMISED, Problem
from confx.pipeline.search.base import BestTracker, Progress, SearchResult
from confx.pipeline.search.settings import DEFAULT_EPOCHS, ConfuciuXPlusSettings, GAStageSettings

logger = logging.getLogger(__name__)


def evaluation_budget(epochs: int) -> int:
    """Whole-model evaluations of the faithful ConfuciuX at E epochs and the release's population."""
    rl_episodes = epochs * 2 // 3
    return rl_episodes + (epochs - rl_episodes) * GAStageSettings().population


def layer_advantages(problem: Problem, designs: NDArray[np.int64], multiplier: float) -> NDArray[np.float64]:
    """Per-layer advantages of a batch: each layer's reward z-normalised over the batch.

    A layer's reward is its signed objective term (the release's per-step reward) minus
    ``multiplier`` times the area or power it uses; an invalid point gets the batch's
    worst reward of that layer, one standard deviation lower.

    Args:
        designs: The batch (N, n_layers, n_genes), already evaluated (no new cost-model calls).

    Returns:
        Advantages, shape (N, n_layers).
    """
    valid, term, constraint = problem.layer_terms(designs)
    signed = term if problem.objective in MAXIMISED else -term
    reward = np.where(valid, signed - multiplier * constraint, np.nan)
    spread = np.nanstd(reward, axis=0) if valid.any() else np.zeros(problem.n_layers)
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    worst = np.where(valid.any(axis=0), np.nanmin(np.where(valid, reward, np.inf), axis=0), 0.0)
    reward = np.where(valid, reward, (worst - spread)[None])
    return (reward - reward.mean(axis=0)) / (reward.std(axis=0) + 1e-12)


class FactorisedPolicy:
    """Independent softmax distributions per layer and gene over the action grid."""

    def __init__(self, problem: Problem, temperature: float) -> None:
        self.problem = problem
        self.temperature = temperature
        self.logits = [np.zeros((problem.n_layers, size)) for size in problem.space.gene_sizes]

    def probabilities(self) -> list[NDArray[np.float64]]:
        probs = []
        for logits in self.logits:
            scaled = logits / self.temperature
            weights = np.exp(scaled - scaled.max(axis=1, keepdims=True))
            probs.append(weights / weights.sum(axis=1, keepdims=True))
        return probs

    def sample(self, count: int, rng: np.random.Generator) -> NDArray[np.int64]:
        """Grid indices of ``count`` designs, shape (count, n_layers, n_genes)."""
        indices = []
        for probs in self.probabilities():
            cumulative = probs.cumsum(axis=1)
            draws = rng.random((count, probs.shape[0], 1))
            indices.append(np.minimum((draws > cumulative[None]).sum(axis=2), probs.shape[1] - 1))
        return np.stack(indices, axis=-1).astype(np.int64)

    def update(self, indices: NDArray[np.int64], advantages: NDArray[np.float64], lr: float) -> None:
        """One REINFORCE step: ``lr * mean_i A_il * grad log pi(a_il)`` for every layer l and gene.

        Args:
            indices: Sampled grid indices (N, n_layers, n_genes).
            advantages: Per-layer advantages (N, n_layers).
        """
        for gene, (logits, probs) in enumerate(zip(self.logits, self.probabilities(), strict=True)):
            chosen = np.zeros((len(indices), *logits.shape))
            np.put_along_axis(chosen, indices[:, :, gene, None], 1.0, axis=2)
            gradient = (advantages[:, :, None] * (chosen - probs[None])).mean(axis=0) / self.temperature
            logits += lr * gradient


def run_policy_stage(
    problem: Problem,
    tracker: BestTracker,
    *,
    evaluations: int,
    settings: ConfuciuXPlusSettings,
    rng: np.random.Generator,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Learn the factorised policy for ``evaluations`` sampled designs; return them, their fitness and used budget.

    The constraint enters each layer's reward through a multiplier (a Lagrangian
    relaxation of the budget) that rises while the batches overshoot the budget on
    average and falls while they leave it unused (dual ascent in log space).
    """
    policy = FactorisedPolicy(problem, settings.temperature)
    designs, fitness, used_all = [], [], []
    multiplier = None
    while evaluations > 0:
        count = min(settings.episodes_per_update, evaluations)
        indices = policy.sample(count, rng)
        batch = problem.design_from_indices(indices)
        evaluation = problem.evaluate(batch)
        tracker.observe(batch, evaluation)
        used = evaluation.used[np.isfinite(evaluation.used)]
        if multiplier is None:
            # Start where a unit of budget is worth the batch's mean objective per unit of budget.
            objective = evaluation.objective[np.isfinite(evaluation.objective)]
            multiplier = float(np.mean(np.abs(objective)) / problem.budget) if len(objective) else 0.0
        elif len(used):
            multiplier *= float(np.exp(settings.multiplier_rate * (np.mean(used) / problem.budget - 1.0)))
        policy.update(indices, layer_advantages(problem, batch, multiplier), settings.lr)
        designs.append(batch)
        fitness.append(problem.fitness(evaluation))
        used_all.append(evaluation.used)
        evaluations -= count
    return np.concatenate(designs), np.concatenate(fitness), np.concatenate(used_all)


def distinct_best(
    designs: NDArray[np.int64], fitness: NDArray[np.float64], used: NDArray[np.float64], count: int
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """The ``count`` best distinct designs by fitness (lower is better), then by less budget used."""
    chosen, seen = [], set()
    for i in np.lexsort((np.nan_to_num(used, nan=np.inf), fitness)):
        key = designs[i].tobytes()
        if key not in seen:
            seen.add(key)
            chosen.append(i)
        if len(chosen) == count:
            break
    index = np.asarray(chosen, dtype=np.int64)
    return designs[index], fitness[index], used[index]


def transfer_weights(problem: Problem, design: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Who should receive PEs and who should give them, from the parent's own per-layer outputs.

    A layer's objective term per PE estimates what one more PE is worth to it (a
    layer's run time falls roughly as 1/P); receivers are drawn by that worth,
    donors by its inverse, each mixed half and half with a uniform draw. Uses only
    the parent's evaluation (no new cost-model calls).

    Returns:
        Receiver and donor probabilities, each shape (n_layers,).
    """
    valid, term, _ = problem.layer_terms(design)
    term = np.where(valid, np.abs(term), 0.0)
    if problem.objective in MAXIMISED:
        term = np.where(term > 0, 1.0 / np.maximum(term, 1e-300), 0.0)
    worth = term / design[:, GENE_NUM_PE]
    uniform = np.full(problem.n_layers, 1.0 / problem.n_layers)
    if not np.isfinite(worth).all() or worth.sum() <= 0 or (worth <= 0).any():
        return uniform, uniform
    return 0.5 * worth / worth.sum() + 0.5 * uniform, 0.5 * (1 / worth) / (1 / worth).sum() + 0.5 * uniform


def step_size(rng: np.random.Generator, limit: int) -> int:
    """A step in 1..limit, log-uniform: small steps (plateau edges) as likely as large ones."""
    return int(min(limit, max(1, np.floor(np.exp(rng.uniform(0.0, np.log(limit + 1)))))))


def mutate_child(
    problem: Problem,
    parent: NDArray[np.int64],
    parent_used: float,
    weights: tuple[NDArray[np.float64], NDArray[np.float64]],
    rng: np.random.Generator,
    settings: ConfuciuXPlusSettings,
) -> NDArray[np.int64]:
    """One child of a parent: a K-tile step, a shrink, a grow into unused budget, or a PE transfer.

    A shrink frees budget where a layer's run time is flat in P (it wins on the
    tie-break by used budget); a grow spends what the parent leaves unused; a
    transfer moves PEs from a donor to a receiver, keeping the total near the
    parent's.
    """
    child = parent.copy()
    (low_pe, low_tile), (high_pe, high_tile) = problem.space.gene_bounds[0][:2], problem.space.gene_bounds[1][:2]
    n_layers = problem.n_layers
    receivers, donors = weights
    draw = rng.random()
    if draw < settings.ktile_rate:
        layer = int(rng.choice(n_layers, p=receivers))
        step = int(rng.integers(1, settings.max_ktile_step + 1)) * (1 if rng.random() < 0.5 else -1)
        child[layer, GENE_KTILE] = np.clip(child[layer, GENE_KTILE] + step, low_tile, high_tile)
        return child
    draw -= settings.ktile_rate
    if draw < settings.shrink_rate:
        donor = int(rng.choice(n_layers, p=donors))
        room = int(child[donor, GENE_NUM_PE] - low_pe)
        if room >= 1:
            child[donor, GENE_NUM_PE] -= step_size(rng, max(1, min(room, int(settings.max_move * room) or 1)))
        return child
    draw -= settings.shrink_rate
    receiver = int(rng.choice(n_layers, p=receivers))
    spare = problem.budget - parent_used
    if draw < settings.grow_rate and spare > 0:
        share = spare / max(problem.budget, 1e-300)
        room = int(high_pe - child[receiver, GENE_NUM_PE])
        if room >= 1:
            limit = max(1, min(room, int(share * n_layers * child[receiver, GENE_NUM_PE])))
            child[receiver, GENE_NUM_PE] += step_size(rng, limit)
        return child
    donor = int(rng.choice(n_layers, p=donors))
    room = int(min(child[donor, GENE_NUM_PE] - low_pe, high_pe - child[receiver, GENE_NUM_PE]))
    if donor == receiver or room < 1:
        return child
    amount = step_size(rng, max(1, min(room, int(np.ceil(settings.max_move * child[donor, GENE_NUM_PE])))))
    child[donor, GENE_NUM_PE] -= amount
    child[receiver, GENE_NUM_PE] += amount
    return child


def probe_steps(
    problem: Problem, parent: NDArray[np.int64], gene: int, rng: np.random.Generator, settings: ConfuciuXPlusSettings
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """A downward and an upward probe of every layer at once, each layer by its own random step.

    Steps are log-uniform (see :func:`step_size`): down by up to ``max_move`` of the
    layer's PEs and up by as much in log scale (at 0.5: halving to doubling), or by up to
    ``max_ktile_step`` K-tiles; or, with probability ``probe_bound_rate``, up to the
    bound (a run time that steps in P may gain only there; later down probes then walk
    it back down to the step's edge for free). With probability ``probe_known_rate`` a
    layer instead moves to a value within that reach the search has already evaluated
    (when there is one): such a move costs no cost-model call. A layer at a bound keeps
    its value.
    """
    low, high = problem.space.gene_bounds[0][gene], problem.space.gene_bounds[1][gene]
    grow = settings.max_move / (1.0 - settings.max_move) if settings.max_move < 1 else float(high)
    known = problem.known_values(parent, gene)
    spent = (
        problem.known_points_per_layer() >= point_cap(problem.n_layers, settings) if settings.points_per_layer else None
    )
    down, up = parent.copy(), parent.copy()
    for layer, value in enumerate(parent[:, gene]):
        rate = 1.0 if spent is not None and spent[layer] else settings.probe_known_rate
        shrink_limit, grow_limit = (
            (settings.max_ktile_step, settings.max_ktile_step)
            if gene == GENE_KTILE
            else (max(1, int(settings.max_move * value)), max(1, int(grow * value)))
        )
        if value > low:
            reach = min(shrink_limit, int(value - low))
            down[layer, gene] = known_move(known[layer], value - reach, value - 1, rng, rate)
            if down[layer, gene] == 0:
                down[layer, gene] = value - step_size(rng, reach) if rate < 1 else value
        if value < high:
            if rng.random() < settings.probe_bound_rate and (rate < 1 or known[layer, high - 1]):
                up[layer, gene] = high
                continue
            reach = min(grow_limit, int(high - value))
            up[layer, gene] = known_move(known[layer], value + 1, value + reach, rng, rate)
            if up[layer, gene] == 0:
                up[layer, gene] = value + step_size(rng, reach) if rate < 1 else value
    return down, up


def point_cap(n_layers: int, settings: ConfuciuXPlusSettings) -> float:
    """Distinct points per layer after which probes reuse known values only: ``points_per_layer``
    plus an equal share of ``min_points`` (small networks get more per layer)."""
    return settings.points_per_layer + settings.min_points / n_layers


def known_move(known: NDArray[np.bool_], lowest: int, highest: int, rng: np.random.Generator, rate: float) -> int:
    """With probability ``rate``, a value in ``lowest..highest`` marked known (``known[v - 1]``); else 0."""
    if rate <= 0 or rng.random() >= rate:
        return 0
    values = np.flatnonzero(known[lowest - 1 : highest]) + lowest
    return int(rng.choice(values)) if len(values) else 0


def merge_moves(
    problem: Problem, parent: NDArray[np.int64], parent_used: float, down: NDArray[np.int64], up: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Take each layer's value from the parent, its down probe or its up probe: a greedy exchange.

    The objective and the budget are sums over layers, so each probe tells, for every
    layer at once, what its move costs and what it frees. Moves that lose nothing are
    taken; then upward moves, best gain per unit of budget first, are paid for by the
    spare budget and by downward moves whose loss per unit freed is lower than the gain
    per unit spent, when their losses together are below the gain (so the merged design
    is never worse than the parent). Uses only the two probes' evaluations.
    """
    (valid_x, term_x, used_x), (valid_d, term_d, used_d), (valid_u, term_u, used_u) = (
        problem.layer_terms(design) for design in (parent, down, up)
    )
    moved_d = (down != parent).any(axis=1) & valid_d & valid_x
    moved_u = (up != parent).any(axis=1) & valid_u & valid_x
    loss, freed = term_d - term_x, used_x - used_d
    gain, cost = term_x - term_u, used_u - used_x
    choice = np.zeros(problem.n_layers, dtype=np.int64)  # 0 parent, 1 down, 2 up
    free_down = moved_d & (loss <= 0) & (freed >= 0) & ((loss < 0) | (freed > 0))
    free_up = moved_u & ~free_down & (gain >= 0) & (cost <= 0) & ((gain > 0) | (cost < 0))
    choice[free_down], choice[free_up] = 1, 2
    spare = problem.budget - parent_used + freed[free_down].sum() - cost[free_up].sum()
    ups = np.flatnonzero(moved_u & (choice == 0) & (gain > 0) & (cost > 0))
    ups = ups[np.argsort(-gain[ups] / cost[ups], kind="stable")]
    candidates = np.flatnonzero(moved_d & (choice == 0) & (loss > 0) & (freed > 0))
    downs = [int(i) for i in candidates[np.argsort(loss[candidates] / freed[candidates], kind="stable")]]
    for layer in ups:
        if choice[layer] != 0:
            continue
        rate, funding = gain[layer] / cost[layer], []
        while spare < cost[layer] and downs:
            donor = downs[0]
            if loss[donor] / freed[donor] >= rate:
                break
            downs.pop(0)
            if donor != layer and choice[donor] == 0:
                funding.append(donor)
                spare += freed[donor]
        if spare >= cost[layer] and gain[layer] > loss[funding].sum():
            choice[layer], spare = 2, spare - cost[layer]
            choice[funding] = 1
        else:  # not affordable, or its donors would lose more than it gains: give them back
            spare -= freed[funding].sum()
            downs = funding + downs
    return np.where((choice == 1)[:, None], down, np.where((choice == 2)[:, None], up, parent))


def exchange_step(
    problem: Problem,
    tracker: BestTracker,
    parent: NDArray[np.int64],
    parent_used: float,
    rng: np.random.Generator,
    settings: ConfuciuXPlusSettings,
) -> NDArray[np.int64]:
    """Probe every layer down and up (two evaluations), then score the merged exchange (a third).

    Returns:
        The designs scored, shape (3, n_layers, n_genes): the two probes and the merged design.
    """
    gene = GENE_KTILE if rng.random() < settings.ktile_rate else GENE_NUM_PE
    down, up = probe_steps(problem, parent, gene, rng, settings)
    probes = np.stack([down, up])
    tracker.observe(probes, problem.evaluate(probes))
    merged = merge_moves(problem, parent, parent_used, down, up)
    tracker.observe(merged[None], problem.evaluate(merged[None]))
    return np.concatenate([probes, merged[None]])


def run_evolution_stage(
    problem: Problem,
    tracker: BestTracker,
    parents: NDArray[np.int64],
    *,
    evaluations: int,
    settings: ConfuciuXPlusSettings,
    rng: np.random.Generator,
    progress: Progress | None = None,
) -> None:
    """(mu + lambda) evolution from feasible parents until ``evaluations`` children were scored."""
    evaluation = problem.evaluate(parents, count=False)
    fitness, used = problem.fitness(evaluation), evaluation.used
    generation = 0
    exchanges = settings.exchanges if problem.objective not in MAXIMISED else 0
    while evaluations > 0:
        scored = []
        for i in range(min(exchanges, evaluations // 3)):
            parent = i % len(parents)  # the best parent first
            scored.append(exchange_step(problem, tracker, parents[parent], float(used[parent]), rng, settings))
            evaluations -= 3
        count = min(settings.children - 3 * len(scored), evaluations)
        if count > 0:
            picks = rng.integers(len(parents), size=count)
            weights = [transfer_weights(problem, parent) for parent in parents]
            mutated = np.stack(
                [mutate_child(problem, parents[i], float(used[i]), weights[i], rng, settings) for i in picks]
            )
            tracker.observe(mutated, problem.evaluate(mutated))
            scored.append(mutated)
            evaluations -= count
        children = np.concatenate(scored)
        child_eval = problem.evaluate(children, count=False)
        pool = np.concatenate([parents, children])
        pool_fitness = np.concatenate([fitness, problem.fitness(child_eval)])
        pool_used = np.concatenate([used, child_eval.used])
        parents, fitness, used = distinct_best(pool, pool_fitness, pool_used, settings.parents)
        keep = np.isfinite(fitness)
        parents, fitness, used = parents[keep], fitness[keep], used[keep]
        generation += 1
        if progress and generation % 20 == 0:
            progress(
                {
                    "message": f"evolution generation {generation}: best {tracker.best_objective:.6g}, "
                    f"{problem.model_evaluations:,} model evaluations",
                    "stage": "evolution",
                    "best_objective": tracker.best_objective,
                    "model_evaluations": problem.model_evaluations,
                    "cost_model_calls": problem.cost_model_calls,
                }
            )
        if not len(parents):
            return


def search(
    problem: Problem,
    *,
    seed: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    settings: ConfuciuXPlusSettings = ConfuciuXPlusSettings(),
    progress: Progress | None = None,
) -> SearchResult:
    """ConfuciuX+ with the faithful ConfuciuX's evaluation budget at E epochs.

    Args:
        epochs: The release's E; fixes the whole-model evaluation budget (:func:`evaluation_budget`).
        settings: The knobs of both stages.
    """
    rng = np.random.default_rng(seed)
    tracker = BestTracker(problem)
    total = evaluation_budget(epochs)
    policy_evaluations = max(1, int(total * settings.policy_fraction))
    designs, fitness, used = run_policy_stage(
        problem, tracker, evaluations=policy_evaluations, settings=settings, rng=rng
    )
    parents, parent_fitness, _ = distinct_best(designs, fitness, used, settings.parents)
    parents = parents[np.isfinite(parent_fitness)]
    if not len(parents):
        return tracker.result("confuciux-plus", seed, note="the policy stage found no design within the budget")
    if progress:
        progress(
            {
                "message": f"policy stage: best {tracker.best_objective:.6g} after {policy_evaluations:,} designs",
                "stage": "policy",
                "best_objective": tracker.best_objective,
                "model_evaluations": problem.model_evaluations,
                "cost_model_calls": problem.cost_model_calls,
            }
        )
    run_evolution_stage(
        problem,
        tracker,
        parents,
        evaluations=total - policy_evaluations,
        settings=settings,
        rng=rng,
        progress=progress,
    )
    return tracker.result("confuciux-plus", seed)

"""The classic baselines (random, anneal, ga, bo): budgets, feasibility, seeds, and no beating the optimum."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from confx.costmodel.errors import ConfXError
from confx.envs.problem import Problem, build_problem
from confx.envs.space import ActionSpace
from confx.pipeline.search import anneal, bayes, exact, genetic, random_search
from confx.pipeline.search.base import SearchResult
from confx.pipeline.search.settings import RandomSettings, make_settings

SEARCHES = {"random": random_search.search, "anneal": anneal.search, "ga": genetic.search, "bo": bayes.search}
TINY_LAYERS = "K,C,Y,X,R,S,T\n16,8,10,10,3,3,1\n1,16,12,12,3,3,2\n24,16,6,6,1,1,1\n"
TINY_SPACE = ActionSpace(num_pe=(1, 2, 4, 8), ktile=(1, 2, 3), name="tiny")


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.csv"
    path.write_text(TINY_LAYERS)
    return path


def brute_force_optimum(problem: Problem) -> float:
    """Best objective over every design of the problem's action space, by enumeration."""
    sizes = random_search.gene_sizes(problem)
    per_layer = np.asarray(list(itertools.product(*(range(s) for s in sizes))), dtype=np.int64)
    choices = itertools.product(range(len(per_layer)), repeat=problem.n_layers)
    indices = np.stack([per_layer[list(choice)] for choice in choices])
    evaluation = problem.evaluate(problem.design_from_indices(indices))
    best = np.min(problem.fitness(evaluation))
    assert np.isfinite(best)
    return float(best if problem.sense == "min" else -best)


def check_reported_design(problem: Problem, result: SearchResult) -> None:
    """The reported design is feasible and re-evaluates to the reported objective and constraint."""
    assert result.feasible and result.design is not None
    evaluation = problem.evaluate(result.design)
    assert evaluation.feasible[0]
    assert evaluation.objective[0] == result.objective_value
    assert evaluation.used[0] == result.constraint_used <= problem.budget * (1 + 1e-12)


@pytest.mark.parametrize("name", SEARCHES)
@pytest.mark.parametrize("budget", [0, 1, 7, 123])
def test_budget_is_spent_and_never_exceeded(name: str, budget: int) -> None:
    problem = build_problem("resnet18_release")
    result = SEARCHES[name](problem, budget=budget, seed=3)
    assert problem.model_evaluations == budget
    assert all(count <= budget for count, _, _ in result.curve)
    if budget == 0:
        assert not result.feasible and result.design is None
    elif name != "random":
        assert result.feasible  # the all-minimum design is among the evaluated ones


@pytest.mark.parametrize("name", SEARCHES)
def test_reported_design_reevaluates_to_reported_objective(name: str) -> None:
    result = SEARCHES[name](build_problem("resnet18_release"), budget=60 if name == "bo" else 150, seed=0)
    check_reported_design(build_problem("resnet18_release"), result)
    best_so_far = [value for _, _, value in result.curve]
    assert best_so_far == sorted(best_so_far, reverse=True)
    assert best_so_far[-1] == result.objective_value


@pytest.mark.parametrize("name", SEARCHES)
def test_same_seed_same_result_and_other_seed_differs(name: str) -> None:
    budget = 40 if name == "bo" else 120  # TPE's cost grows with the trials
    first, again, other = (
        SEARCHES[name](build_problem("resnet18_release"), budget=budget, seed=seed) for seed in (5, 5, 6)
    )
    np.testing.assert_array_equal(first.design, again.design)
    assert first.curve == again.curve
    assert first.objective_value == again.objective_value
    assert first.curve != other.curve or not np.array_equal(first.design, other.design)


@pytest.mark.parametrize("name", SEARCHES)
@pytest.mark.parametrize("objective", ["latency", "energy", "thrpt_ave", "thrpt_btnk"])
def test_never_beats_the_brute_force_optimum(name: str, objective: str, tiny_csv: Path) -> None:
    optimum = brute_force_optimum(build_problem(str(tiny_csv), objective=objective, space=TINY_SPACE))
    problem = build_problem(str(tiny_csv), objective=objective, space=TINY_SPACE)
    result = SEARCHES[name](problem, budget=200, seed=1)
    check_reported_design(problem, result)
    if problem.sense == "min":
        assert result.objective_value >= optimum * (1 - 1e-12)
    else:
        assert result.objective_value <= optimum * (1 + 1e-12)


@pytest.mark.parametrize("name", SEARCHES)
@pytest.mark.parametrize("mul", [0.0, 0.3])
def test_dataflow_choice_stays_in_space_and_below_optimum(name: str, mul: float, tiny_csv: Path) -> None:
    space = TINY_SPACE.with_dataflow_choice(True)
    optimum = brute_force_optimum(build_problem(str(tiny_csv), mul=mul, space=space))
    problem = build_problem(str(tiny_csv), mul=mul, space=space)
    result = SEARCHES[name](problem, budget=150, seed=2)
    assert problem.model_evaluations == 150
    if result.feasible:
        check_reported_design(problem, result)
        assert set(result.design[:, 2]) <= {0, 1, 2}
        assert result.objective_value >= optimum * (1 - 1e-12)


def test_anneal_walks_out_of_an_infeasible_start(tiny_csv: Path) -> None:
    """With per-layer dataflows and mul 0 the all-minimum 'shi' design overshoots the 'dla' corner budget."""
    space = TINY_SPACE.with_dataflow_choice(True)
    problem = build_problem(str(tiny_csv), dataflow="shi", mul=0.0, space=space)
    start = problem.evaluate(problem.design_from_indices(random_search.minimum_indices(problem)))
    assert start.valid[0] and not start.feasible[0]
    result = anneal.search(problem, budget=150, seed=0)
    check_reported_design(problem, result)


@pytest.mark.parametrize("name", ["random", "anneal", "ga"])
def test_never_beats_the_exact_optimum_on_mobilenet(name: str) -> None:
    certified = exact.search(build_problem("mobilenet_v2_release"), seed=0)
    assert certified.optimal
    problem = build_problem("mobilenet_v2_release")
    result = SEARCHES[name](problem, budget=600, seed=0)
    check_reported_design(problem, result)
    assert result.objective_value >= certified.objective_value * (1 - 1e-12)


def test_bo_never_beats_the_exact_optimum_on_mobilenet() -> None:
    certified = exact.search(build_problem("mobilenet_v2_release"), seed=0)
    problem = build_problem("mobilenet_v2_release")
    result = bayes.search(problem, budget=40, seed=0)
    check_reported_design(problem, result)
    assert result.objective_value >= certified.objective_value * (1 - 1e-12)


def test_random_batch_size_does_not_change_the_result() -> None:
    results = [
        random_search.search(
            build_problem("resnet18_release"), budget=77, seed=4, settings=RandomSettings(batch_size=size)
        )
        for size in (1, 10, 500)
    ]
    for result in results[1:]:
        np.testing.assert_array_equal(result.design, results[0].design)
        assert [row[0::2] for row in result.curve] == [row[0::2] for row in results[0].curve]


def test_ga_keeps_the_elite_without_reevaluating_it() -> None:
    """Generations after the first evaluate population_size - 1 children each: 50 + 3 * 49 = 197."""
    problem = build_problem("resnet18_release")
    result = genetic.search(problem, budget=197, seed=0)
    assert problem.model_evaluations == 197
    assert result.note.startswith("4 generations")


def test_bo_trial_value_orders_feasible_before_infeasible() -> None:
    problem = build_problem("resnet18_release")
    cheap = problem.evaluate(problem.uniform_design(1, 1))
    large = problem.evaluate(problem.uniform_design(128, 12))
    mid = problem.evaluate(problem.uniform_design(128, 1))
    assert cheap.feasible[0] and not large.feasible[0] and not mid.feasible[0]
    feasible_value = bayes.trial_value(problem, cheap)
    assert feasible_value == cheap.objective[0]
    assert np.isfinite(bayes.trial_value(problem, large))
    assert feasible_value < bayes.trial_value(problem, mid) <= bayes.trial_value(problem, large)


def test_tpe_kernel_rows_are_truncated_distributions_peaked_at_their_centre() -> None:
    table = np.exp(bayes.log_kernel_table(12, sigma=1.5))
    np.testing.assert_allclose(table.sum(axis=1), 1.0)
    assert (table.argmax(axis=1) == np.arange(12)).all()
    # Truncation keeps the mass on the grid: an edge kernel puts more on its centre than a middle one.
    assert table[0, 0] > table[6, 6]
    prior = np.exp(bayes.log_prior_row(12))
    np.testing.assert_allclose(prior.sum(), 1.0)
    np.testing.assert_allclose(prior, prior[::-1])


def test_tpe_samples_near_the_good_trials_and_proposes_from_them() -> None:
    sizes = np.asarray([128, 12])
    good = np.asarray([[100, 2], [102, 3], [98, 2]])
    estimator = bayes.build_estimator(good, sizes)
    draws = bayes.sample(estimator, np.random.default_rng(0), 2000)
    assert ((draws >= 0) & (draws < sizes)).all()
    assert np.median(draws[:, 0]) > 80  # most draws come from the trials' kernels, a few from the prior
    rng = np.random.default_rng(1)
    history = np.concatenate([good, rng.integers(0, [40, 12], size=(30, 2))])
    values = np.concatenate([np.zeros(3), np.ones(30)])  # the three trials near P index 100 are the best
    proposals = np.asarray([bayes.propose(history, values, sizes, rng, 24) for _ in range(20)])
    assert np.median(proposals[:, 0]) > 60


def test_tpe_density_is_optunas_multivariate_parzen_estimator() -> None:
    """The numpy estimator follows Optuna's rules: its log density equals Optuna's own (a private class)."""
    import optuna
    from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator, _ParzenEstimatorParameters
    from optuna.samplers._tpe.sampler import default_weights

    rng = np.random.default_rng(0)
    sizes = np.asarray([128, 12] * 5)
    space = {f"p{i}": optuna.distributions.IntDistribution(0, int(size) - 1) for i, size in enumerate(sizes)}
    rules = _ParzenEstimatorParameters(
        prior_weight=1.0,
        consider_magic_clip=True,
        consider_endpoints=False,
        weights=default_weights,
        multivariate=True,
        categorical_distance_func={},
    )
    points = rng.integers(0, sizes, size=(40, len(sizes)))
    for count in (0, 3, 60):
        observed = rng.integers(0, sizes, size=(count, len(sizes)))
        theirs = _ParzenEstimator({f"p{i}": observed[:, i].astype(float) for i in range(len(sizes))}, space, rules)
        expected = theirs.log_pdf({f"p{i}": points[:, i].astype(float) for i in range(len(sizes))})
        np.testing.assert_allclose(bayes.log_pdf(bayes.build_estimator(observed, sizes), points), expected, atol=1e-9)


def test_bo_is_reproducible_and_follows_its_seed() -> None:
    runs = [bayes.search(build_problem("resnet18_release"), budget=60, seed=seed) for seed in (3, 3, 4)]
    np.testing.assert_array_equal(runs[0].design, runs[1].design)
    assert runs[0].curve == runs[1].curve
    assert runs[0].curve != runs[2].curve


def test_anneal_schedule_cools_geometrically() -> None:
    schedule = anneal.temperature_schedule(5, initial=1e-2, final=1e-6)
    np.testing.assert_allclose(schedule, [1e-2, 1e-3, 1e-4, 1e-5, 1e-6])
    assert len(anneal.temperature_schedule(0, initial=1.0, final=0.1)) == 0


def test_anneal_neighbour_moves_one_gene_within_range() -> None:
    rng = np.random.default_rng(0)
    sizes = np.array([12, 12])
    indices = np.zeros((5, 2), dtype=np.int64)
    for _ in range(200):
        moved = anneal.neighbour(indices, sizes, rng, max_step=2)
        changed = np.argwhere(moved != indices)
        assert len(changed) == 1
        assert 1 <= abs(int(moved[tuple(changed[0])]) - int(indices[tuple(changed[0])])) <= 2
        assert (moved >= 0).all() and (moved < sizes).all()
        indices = moved


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("random", {"batch_size": 0}),
        ("anneal", {"max_step": 0}),
        ("anneal", {"initial_temperature": 0.0}),
        ("ga", {"n_parents": 60}),
        ("ga", {"mutation_rate": 1.5}),
        ("bo", {"n_startup_trials": -1}),
    ],
)
def test_bad_settings_raise_confx_error(name: str, settings: dict) -> None:
    with pytest.raises(ConfXError, match=name):
        SEARCHES[name](build_problem("resnet18_release"), budget=10, seed=0, settings=make_settings(name, settings))


@pytest.mark.parametrize("name", SEARCHES)
@pytest.mark.parametrize("budget", [-1, 2.5, True])
def test_bad_budget_raises_confx_error(name: str, budget) -> None:
    with pytest.raises(ConfXError, match="budget"):
        SEARCHES[name](build_problem("resnet18_release"), budget=budget, seed=0)

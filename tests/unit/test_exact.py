"""The exact solver against full enumeration, the known optima, and the Pareto sweep."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from confx.costmodel.errors import ConfXError
from confx.envs.problem import CONSTRAINTS, OBJECTIVES, Problem, build_problem
from confx.envs.space import ActionSpace
from confx.pipeline.results.schema import PARETO_SCHEMA
from confx.pipeline.search import exact
from confx.pipeline.search.pareto import pareto_front, plot_front, write_pareto

SMALL_LAYERS = "K,C,Y,X,R,S,T\n16,8,12,12,3,3,1\n1,16,10,10,3,3,2\n32,16,8,8,1,1,1\n"
SMALL_SPACE = ActionSpace(num_pe=(1, 2, 4, 8), ktile=(1, 2, 3), name="small")


def brute_force(problem: Problem) -> tuple[float, float] | None:
    """Best (objective, used) over every design of the space, or None if no design is feasible."""
    genes = [problem.space.num_pe, problem.space.ktile]
    if problem.space.choose_dataflow:
        genes.append(tuple(range(problem.space.n_dataflows)))
    actions = np.asarray(list(itertools.product(*genes)), dtype=np.int64)
    choices = np.asarray(list(itertools.product(range(len(actions)), repeat=problem.n_layers)))
    evaluation = problem.evaluate(actions[choices])
    fitness = problem.fitness(evaluation)
    best = int(np.argmin(fitness))
    if not np.isfinite(fitness[best]):
        return None
    return float(evaluation.objective[best]), float(evaluation.used[best])


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("layers") / "small.csv"
    path.write_text(SMALL_LAYERS)
    return str(path)


@pytest.mark.parametrize("method", exact.METHODS)
@pytest.mark.parametrize("mul", [0.0, 0.3, 0.7, 1.0])
@pytest.mark.parametrize("constraint", CONSTRAINTS)
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_exact_equals_brute_force(small_csv: str, objective: str, constraint: str, mul: float, method: str) -> None:
    def fresh() -> Problem:
        return build_problem(small_csv, objective=objective, constraint=constraint, mul=mul, space=SMALL_SPACE)

    expected = brute_force(fresh())
    if expected is None:
        with pytest.raises(ConfXError, match="below the cheapest design"):
            exact.search(fresh())
        return
    result = exact.search(fresh())
    assert result.optimal and result.feasible and result.algorithm == "exact"
    assert result.objective_value == pytest.approx(expected[0], rel=1e-9)


@pytest.mark.parametrize("objective", ["latency", "EAP", "thrpt_ave", "thrpt_btnk"])
def test_exact_equals_brute_force_with_dataflow_choice(small_csv: str, objective: str) -> None:
    space = ActionSpace(num_pe=(1, 4, 16), ktile=(1, 3), choose_dataflow=True, name="small-df")
    two_layers = small_csv.replace("small.csv", "two.csv")
    with open(two_layers, "w") as handle:
        handle.write("\n".join(SMALL_LAYERS.splitlines()[:3]) + "\n")

    def fresh() -> Problem:
        return build_problem(two_layers, objective=objective, mul=0.4, space=space)

    expected = brute_force(fresh())
    result = exact.search(fresh())
    assert expected is not None and result.optimal
    assert result.objective_value == pytest.approx(expected[0], rel=1e-9)
    assert result.design is not None and result.design.shape == (2, 3)


@pytest.fixture(scope="module")
def edge_csv(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A shi layer whose smallest PE count (12 in X=13, S=3) is invalid (costmodel spec 6.2).

    The budget range still counts that corner (charged its PEs), so at mul 0 the budget is
    below the cheapest valid design, which needs 16 PEs.
    """
    path = tmp_path_factory.mktemp("layers") / "edge.csv"
    path.write_text("K,C,Y,X,R,S,T\n256,64,13,13,3,3,1\n")
    return str(path)


EDGE_SPACE = ActionSpace(num_pe=(12, 16), ktile=(4,), name="edge")


def test_budget_below_cheapest_design_is_a_user_error(edge_csv: str) -> None:
    problem = build_problem(edge_csv, dataflow="shi", mul=0.0, space=EDGE_SPACE)
    assert brute_force(problem) is None
    with pytest.raises(ConfXError, match=r"budget .* is below the cheapest design"):
        exact.search(build_problem(edge_csv, dataflow="shi", mul=0.0, space=EDGE_SPACE))


@pytest.mark.parametrize(
    ("model", "space", "optimum"),
    [
        ("resnet18_release", "grid", 176_356_884),
        ("resnet18_release", "integer", 176_135_160),
        ("mobilenet_v2_release", "grid", 20_513_969),
        ("mobilenet_v2_release", "integer", 20_390_993),
    ],
)
def test_known_latency_optima(model: str, space: str, optimum: int) -> None:
    """ConfuciuX's latency/area/mul 0.5/dla optima (spec section 7), certified by the solver."""
    problem = build_problem(model, space=space)
    result = exact.search(problem)
    assert result.optimal
    assert result.objective_value == optimum
    assert result.constraint_used <= problem.budget


def test_result_bookkeeping_and_determinism(small_csv: str) -> None:
    problem = build_problem(small_csv, mul=0.5, space=SMALL_SPACE)
    result = exact.search(problem, seed=3)
    again = exact.search(build_problem(small_csv, mul=0.5, space=SMALL_SPACE), seed=3)
    assert result.seed == 3 and np.array_equal(result.design, again.design)
    assert problem.cost_model_calls >= SMALL_SPACE.size_per_layer * problem.n_layers
    assert result.curve[-1] == (problem.model_evaluations, problem.cost_model_calls, result.objective_value)
    evaluation = problem.evaluate(result.design)
    assert evaluation.feasible[0] and evaluation.objective[0] == result.objective_value


def test_pareto_options_keeps_only_undominated_options() -> None:
    weight = np.array([1.0, 1.0, 2.0, 3.0, 3.0, 4.0])
    term = np.array([5.0, 4.0, 4.0, 2.0, 2.0, 3.0])
    kept = exact.pareto_options(weight, term)
    assert sorted(kept.tolist()) in ([1, 3], [1, 4])


def test_pareto_front_matches_exact_search_per_budget(small_csv: str, tmp_path) -> None:
    muls = [0.2, 0.5, 1.0]
    frame = pareto_front(small_csv, muls=muls, objectives=("latency", "thrpt_btnk"), space=SMALL_SPACE)
    assert list(frame.columns) == PARETO_SCHEMA.names
    assert len(frame) == 2 * len(muls) and frame["optimal"].all()
    for row in frame.itertuples():
        problem = build_problem(small_csv, objective=row.objective, mul=row.mul, space=SMALL_SPACE)
        assert row.budget == problem.budget
        assert row.objective_value == exact.search(problem).objective_value
    latency = frame[frame["objective"] == "latency"].sort_values("budget")["objective_value"]
    assert latency.is_monotonic_decreasing  # more budget never hurts a minimised objective
    parquet_path, png_path = write_pareto(frame, tmp_path / "out")
    assert pq.read_schema(parquet_path).equals(PARETO_SCHEMA)
    pd.testing.assert_frame_equal(pd.read_parquet(parquet_path), frame)
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pareto_front_records_budgets_below_the_cheapest_design(edge_csv: str, tmp_path) -> None:
    frame = pareto_front(edge_csv, muls=[0.0, 1.0], dataflows=("shi",), space=EDGE_SPACE)
    assert np.isnan(frame.loc[0, "objective_value"]) and not frame.loc[0, "optimal"]
    assert frame.loc[1, "optimal"] and np.isfinite(frame.loc[1, "objective_value"])
    plot_front(frame, tmp_path / "front.png")
    assert (tmp_path / "front.png").stat().st_size > 0


def test_pareto_front_rejects_empty_budget_list(small_csv: str) -> None:
    with pytest.raises(ConfXError, match="at least one budget level"):
        pareto_front(small_csv, muls=[])

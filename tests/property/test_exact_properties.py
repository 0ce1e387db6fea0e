"""Random small problems: the exact solver equals full enumeration, and no design beats it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from confx.costmodel.errors import ConfXError
from confx.costmodel.layers import LayerTable
from confx.envs.problem import CONSTRAINTS, OBJECTIVES, Problem, ProblemSpec
from confx.envs.space import ActionSpace
from confx.pipeline.search import exact
from confx.pipeline.search.settings import ExactSettings

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def layer_tables(draw: st.DrawFn, *, max_layers: int) -> LayerTable:
    """Random CONV and depthwise layers, small enough for enumeration."""
    rows = []
    for _ in range(draw(st.integers(1, max_layers))):
        R = draw(st.sampled_from([1, 3, 5]))
        S = draw(st.sampled_from([1, 3, 5]))
        Y = draw(st.integers(R, 20))
        X = draw(st.integers(S, 20))
        depthwise = draw(st.booleans())
        C = draw(st.integers(1, 48))
        K = 1 if depthwise else draw(st.integers(1, 64))
        rows.append([K, C, Y, X, R, S, 2 if depthwise else 1])
    return LayerTable("random", np.asarray(rows, dtype=np.int64))


@st.composite
def action_spaces(draw: st.DrawFn, *, max_size: int) -> ActionSpace:
    """A random sorted subset of PE counts and K-tile sizes, at most ``max_size`` actions."""
    num_pe = draw(st.lists(st.integers(1, 32), min_size=1, max_size=4, unique=True))
    ktile = draw(st.lists(st.integers(1, 8), min_size=1, max_size=max(1, max_size // len(num_pe)), unique=True))
    return ActionSpace(tuple(sorted(num_pe)), tuple(sorted(ktile)), name="random")


def problem_of(layers: LayerTable, space: ActionSpace, objective: str, constraint: str, mul: float) -> Problem:
    spec = ProblemSpec("random", "dla", objective, constraint, mul, space)
    return Problem(spec, layers=layers)


def brute_force_best(problem: Problem) -> float | None:
    """Best fitness (lower is better) over every design, or None if none is feasible."""
    actions = np.asarray(list(itertools.product(problem.space.num_pe, problem.space.ktile)), dtype=np.int64)
    choices = np.asarray(list(itertools.product(range(len(actions)), repeat=problem.n_layers)))
    fitness = problem.fitness(problem.evaluate(actions[choices]))
    best = float(fitness.min())
    return best if np.isfinite(best) else None


@SETTINGS
@given(
    layers=layer_tables(max_layers=3),
    space=action_spaces(max_size=12),
    objective=st.sampled_from(OBJECTIVES),
    constraint=st.sampled_from(CONSTRAINTS),
    mul=st.floats(0.0, 1.0),
    method=st.sampled_from(exact.METHODS),
)
def test_exact_equals_enumeration(
    layers: LayerTable, space: ActionSpace, objective: str, constraint: str, mul: float, method: str
) -> None:
    try:
        expected = brute_force_best(problem_of(layers, space, objective, constraint, mul))
    except ConfXError:  # a layer with no valid action at all
        expected = None
    event("no feasible design" if expected is None else "feasible")
    if expected is None:
        with pytest.raises(ConfXError):
            exact.search(problem_of(layers, space, objective, constraint, mul), settings=ExactSettings(method=method))
        return
    problem = problem_of(layers, space, objective, constraint, mul)
    result = exact.search(problem, settings=ExactSettings(method=method))
    assert result.optimal and result.design is not None
    found = float(problem.fitness(problem.evaluate(result.design))[0])
    assert found == pytest.approx(expected, rel=1e-9, abs=1e-12)


@SETTINGS
@given(
    layers=layer_tables(max_layers=8),
    objective=st.sampled_from(OBJECTIVES),
    constraint=st.sampled_from(CONSTRAINTS),
    mul=st.floats(0.05, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_random_design_beats_the_optimum(
    layers: LayerTable, objective: str, constraint: str, mul: float, seed: int
) -> None:
    space = ActionSpace((1, 2, 4, 8, 16, 32), (1, 2, 3, 4, 6, 8), name="medium")
    problem = problem_of(layers, space, objective, constraint, mul)
    try:
        result = exact.search(problem)
    except ConfXError:
        return  # no design fits the budget (or a layer has no valid action)
    assert result.optimal
    optimum = float(problem.fitness(problem.evaluate(result.design))[0])
    rng = np.random.default_rng(seed)
    designs = np.stack(
        [rng.choice(space.num_pe, size=(500, problem.n_layers)), rng.choice(space.ktile, size=(500, problem.n_layers))],
        axis=-1,
    )
    fitness = problem.fitness(problem.evaluate(designs))
    assert fitness.min() >= optimum - 1e-12 * abs(optimum)

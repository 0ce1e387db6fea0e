"""Random small problems with NoC bandwidth (and SIMD lanes, and the mapping) as per-layer decisions:
the exact solver equals full enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from confx.costmodel.errors import ConfXError
from confx.costmodel.layers import LayerTable
from confx.costmodel.presets import EDGE, RELEASE
from confx.envs.problem import CONSTRAINTS, OBJECTIVES, Problem, ProblemSpec
from confx.envs.space import ActionSpace, design_space
from confx.pipeline.search import exact
from confx.pipeline.search.settings import ExactSettings
from tests.property.test_exact_properties import layer_tables

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAPPINGS = ("dla", "shi", "eye", "xp_ws", "nlr", "rs_yp")
"""Templates and library styles that run on every small layer (no 64-PE cluster)."""


@st.composite
def noc_spaces(draw: st.DrawFn) -> ActionSpace:
    """At most 24 actions a layer: a few P, B, NoC widths (two or more: a gene), maybe SIMD lanes and mappings."""
    num_pe = tuple(sorted(draw(st.lists(st.integers(1, 32), min_size=1, max_size=3, unique=True))))
    ktile = tuple(sorted(draw(st.lists(st.integers(1, 6), min_size=1, max_size=2, unique=True))))
    noc_bw = tuple(
        sorted(draw(st.lists(st.sampled_from([1, 4, 16, 64, 256, 1024]), min_size=2, max_size=3, unique=True)))
    )
    simd = tuple(sorted(draw(st.lists(st.sampled_from([1, 2, 4]), min_size=1, max_size=2, unique=True))))
    mappings = tuple(draw(st.lists(st.sampled_from(MAPPINGS), min_size=1, max_size=2, unique=True)))
    if len(num_pe) * len(ktile) * len(noc_bw) * len(simd) * len(mappings) > 24:
        simd, mappings = simd[:1], mappings[:1]
    base = ActionSpace(num_pe, ktile, name="random")
    hardware = draw(st.sampled_from([EDGE, RELEASE]))
    return design_space(
        base, hardware=hardware, noc_bw=noc_bw, simd_lanes=simd, dataflows=mappings if len(mappings) > 1 else ()
    )


def brute_force_best(problem: Problem) -> float | None:
    """Best fitness over every design of the space (every gene's every value on every layer)."""
    actions = np.asarray(list(itertools.product(*problem.space.gene_values)), dtype=np.int64)
    choices = np.asarray(list(itertools.product(range(len(actions)), repeat=problem.n_layers)))
    fitness = problem.fitness(problem.evaluate(actions[choices]))
    best = float(fitness.min())
    return best if np.isfinite(best) else None


@SETTINGS
@given(
    layers=layer_tables(max_layers=3),
    space=noc_spaces(),
    dataflow=st.sampled_from(MAPPINGS),
    objective=st.sampled_from(OBJECTIVES),
    constraint=st.sampled_from(CONSTRAINTS),
    mul=st.floats(0.0, 1.0),
    method=st.sampled_from(exact.METHODS),
)
def test_exact_equals_enumeration_with_noc_genes(
    layers: LayerTable, space: ActionSpace, dataflow: str, objective: str, constraint: str, mul: float, method: str
) -> None:
    assert space.gene("noc_bw") is not None
    spec = ProblemSpec("random", dataflow, objective, constraint, mul, space)
    try:
        expected = brute_force_best(Problem(spec, layers=layers))
    except ConfXError:
        expected = None
    event("no feasible design" if expected is None else "feasible")
    problem = Problem(spec, layers=layers)
    if expected is None:
        with pytest.raises(ConfXError):
            exact.search(problem, settings=ExactSettings(method=method))
        return
    result = exact.search(problem, settings=ExactSettings(method=method))
    assert result.optimal and result.design is not None
    evaluation = problem.evaluate(result.design)
    assert evaluation.feasible[0]
    assert float(problem.fitness(evaluation)[0]) == pytest.approx(expected, rel=1e-9, abs=1e-12)

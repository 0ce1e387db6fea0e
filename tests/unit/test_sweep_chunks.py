"""Packing a sweep's searches into Tune trials, and the per-group problem every search of a chunk copies."""

from __future__ import annotations

import numpy as np

from confx.envs.problem import build_problem
from confx.pipeline.search import run_search
from confx.pipeline.sweep.batch import GroupProblem
from confx.pipeline.sweep.chunks import pack_trials
from confx.pipeline.sweep.config import SweepConfig
from confx.pipeline.sweep.plan import plan_trials


def _config(**changes: object) -> SweepConfig:
    data = {
        "name": "chunks",
        "networks": ["alexnet_release", "resnet18_release"],
        "dataflows": ["dla", "shi", "eye"],
        "muls": [0.2, 0.5],
        "seeds": [0, 1],
        "algorithms": [{"name": "exact"}, {"name": "random", "budget": 100}, {"name": "confuciux", "epochs": 12}],
    }
    return SweepConfig.model_validate(data | changes)


def test_rl_searches_run_alone_and_cheap_ones_together_by_group() -> None:
    trials = plan_trials(_config())
    chunks = pack_trials(trials, slots=2)
    keys = [key for chunk in chunks for key in chunk.trial_keys]
    assert sorted(keys) == sorted(t.key for t in trials), "every search in exactly one chunk"
    by_key = {t.key: t for t in trials}
    alone = [c for c in chunks if c.expensive]
    assert sorted(c.trial_keys[0] for c in alone) == sorted(t.key for t in trials if t.algorithm == "confuciux")
    assert all(len(c.trial_keys) == 1 for c in alone)
    cheap = [c for c in chunks if not c.expensive]
    assert 1 <= len(cheap) < 12, "cheap searches share Tune trials"
    for chunk in cheap:
        groups = [by_key[key].group for key in chunk.trial_keys]
        assert groups == sorted(groups, key=groups.index), "a group's searches sit together"
        firsts = {g: by_key[key].algorithm for key, g in reversed(list(zip(chunk.trial_keys, groups, strict=True)))}
        assert set(firsts.values()) == {"exact"}, "the exact trial comes first in its group"
    assert pack_trials(trials, slots=2) == chunks, "the packing is deterministic"


def test_many_groups_make_enough_chunks_for_every_slot() -> None:
    config = _config(muls=[round(0.05 * i, 2) for i in range(1, 20)], algorithms=[{"name": "exact"}])
    chunks = pack_trials(plan_trials(config), slots=2, target_s=0.2)
    assert len(chunks) >= 4 and max(len(c.trial_keys) for c in chunks) <= 10


def test_a_copy_of_the_group_problem_searches_as_a_problem_built_anew() -> None:
    template = build_problem("resnet18", dataflow="shi", objective="energy", constraint="power", mul=0.3)
    group = GroupProblem.of(template)
    space = template.space  # the shared memo holds every point of the space before any search
    assert template.memo.known.sum() >= template.n_layers * len(space.num_pe) * len(space.ktile)
    for algorithm in ("random", "anneal", "ga", "exact"):
        fresh = build_problem("resnet18", dataflow="shi", objective="energy", constraint="power", mul=0.3)
        copied = group.fresh()
        assert copied.cost_model_calls == fresh.cost_model_calls and copied.budget == fresh.budget
        expected = run_search(fresh, algorithm, seed=3, budget=60)
        got = run_search(copied, algorithm, seed=3, budget=60)
        assert got.objective_value == expected.objective_value and np.array_equal(got.design, expected.design)
        assert [row[:2] for row in got.curve] == [row[:2] for row in expected.curve]
        assert (copied.cost_model_calls, copied.model_evaluations) == (fresh.cost_model_calls, fresh.model_evaluations)


def test_solution_tables_read_from_the_groups_memo_equal_ones_from_the_cost_model() -> None:
    import pandas as pd

    from confx.pipeline.results.search_outputs import solution_frame

    template = build_problem("alexnet_release", dataflow="eye", objective="latency", constraint="area", mul=0.4)
    group = GroupProblem.of(template)
    plain = build_problem("alexnet_release", dataflow="eye", objective="latency", constraint="area", mul=0.4)
    for name in ("random", "anneal", "exact"):
        searched = group.fresh()
        design = run_search(searched, name, seed=1, budget=40).design
        calls = searched.cost_model_calls
        assert searched.known_layer_costs(design)[0].all()
        pd.testing.assert_frame_equal(solution_frame(searched, design), solution_frame(plain, design))
        assert searched.cost_model_calls == calls  # a report reads the memo, it does not search
    off_grid = plain.uniform_design(7, 5)
    assert not plain.known_layer_costs(off_grid)[0].any()  # unknown points go to the cost model
    assert len(solution_frame(plain, off_grid)) == plain.n_layers

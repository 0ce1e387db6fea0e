"""Strided and grouped layers: the production model against the independent oracle.

Why. The strided reference file covers 119 real and synthetic layers. MAESTRO's stride
rewriting (``ApplyOuterStride``) produces edge tiles with zero or negative output extents on
layers whose ``(Y - R) mod stride`` is awkward, and those cases decide run time and MAC count.
``tests.oracle.maestro_engine`` applies the stride the way MAESTRO does, one point at a time in
plain Python; here it first reproduces a fixed sample of the binary's strided outputs, then
checks the production model (vectorised engine) on random strided and grouped layers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confx.costmodel import engine, evaluate
from tests.oracle.maestro_engine import analyse
from tests.unit.test_costmodel_stride import DATA, TRAFFIC

EXACT = ["runtime_cycles", "num_macs", "l1_bytes", "l2_bytes"]


def test_oracle_reproduces_strided_maestro_sample() -> None:
    frame = pd.read_csv(DATA / "maestro_stride_dev.csv.gz")
    sample = frame[frame["stride_line"] == 1].sample(400, random_state=20261201)
    columns = {name: name for name in EXACT} | TRAFFIC
    mismatches = []
    for row in sample.itertuples(index=False):
        df = "dla" if row.template == "dpt" else row.template
        point = (row.K, row.C, row.Y, row.X, row.R, row.S, row.T, df, row.num_pe, row.ktile)
        got = analyse(*point, stride_y=row.stride_y, stride_x=row.stride_x)
        if not row.valid:
            continue
        for name, column in columns.items():
            if got[name] != getattr(row, column):
                mismatches.append((point, name, got[name], getattr(row, column)))
        if not np.isclose(got["energy_nj"], row.energy_nj, rtol=1e-5, atol=0):
            mismatches.append((point, "energy_nj", got["energy_nj"], row.energy_nj))
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:5]}"


@st.composite
def strided_points(draw: st.DrawFn) -> tuple:
    """Random strided layers, biased toward small sizes where edge tiles and remainders bite."""
    R, S = draw(st.sampled_from([1, 2, 3, 4, 5, 7])), draw(st.sampled_from([1, 2, 3, 4, 5, 7]))
    stride_y, stride_x = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    Y = draw(st.one_of(st.integers(R, 2 * R + 6), st.integers(R, 70)))
    X = draw(st.one_of(st.integers(S, 2 * S + 6), st.integers(S, 70)))
    K = draw(st.one_of(st.integers(1, 16), st.integers(1, 200)))
    C = draw(st.one_of(st.integers(1, 20), st.integers(1, 200)))
    T = draw(st.sampled_from([1, 2]))
    df = draw(st.sampled_from(["dla", "shi", "eye"]))
    P = draw(st.one_of(st.integers(1, 16), st.integers(1, 128)))
    B = draw(st.integers(1, 12))
    return K, C, Y, X, R, S, T, df, P, B, stride_y, stride_x


def _check_against_oracle(result, index: int, oracle: dict, groups: int = 1) -> None:
    """A valid production point equals the oracle (times ``groups``); an invalid one is flagged."""
    meaningful = oracle["valid"] and oracle["runtime_cycles"] > 0 and oracle["num_macs"] > 0
    if not meaningful:
        assert not result.valid[index]
        return
    if not oracle["energy_nj"] > 0:  # negative egress of skipped cases can outweigh the rest
        assert not result.valid[index]
        return
    assert result.valid[index]
    for name in EXACT:
        scale = groups if name in ("runtime_cycles", "num_macs") else 1
        assert getattr(result, name)[index] == scale * oracle[name], name
    assert result.energy_nj[index] == pytest.approx(groups * oracle["energy_nj"], rel=1e-9)


@settings(max_examples=250, deadline=None)
@given(point=strided_points())
def test_production_matches_oracle_on_random_strided_layers(point: tuple) -> None:
    K, C, Y, X, R, S, T, df, P, B, stride_y, stride_x = point
    oracle = analyse(K, C, Y, X, R, S, T, df, P, B, stride_y=stride_y, stride_x=stride_x)
    result = evaluate([K, C, Y, X, R, S, T], df, P, B, stride_y=stride_y, stride_x=stride_x)
    _check_against_oracle(result, 0, oracle)
    if result.valid[0] and (stride_y > 1 or stride_x > 1):
        template = "dpt" if T == 2 else df
        counts = engine.analyse(template, *(np.array([v]) for v in (K, C, Y, X, R, S, P, B, stride_y, stride_x)))
        for name in TRAFFIC:
            assert getattr(counts, name)[0] == oracle[name], name


@settings(max_examples=100, deadline=None)
@given(
    point=strided_points(),
    groups=st.sampled_from([2, 3, 4, 8]),
    per_group_k=st.integers(1, 24),
    per_group_c=st.integers(1, 24),
)
def test_grouped_layer_is_groups_times_one_group_of_the_oracle(
    point: tuple, groups: int, per_group_k: int, per_group_c: int
) -> None:
    _, _, Y, X, R, S, _, df, P, B, stride_y, stride_x = point
    K, C = groups * per_group_k, groups * per_group_c
    oracle = analyse(per_group_k, per_group_c, Y, X, R, S, 1, df, P, B, stride_y=stride_y, stride_x=stride_x)
    result = evaluate([K, C, Y, X, R, S, 1], df, P, B, stride_y=stride_y, stride_x=stride_x, groups=groups)
    _check_against_oracle(result, 0, oracle, groups)
    if result.valid[0]:
        rows, columns = (Y - R) // stride_y + 1, (X - S) // stride_x + 1
        assert result.true_macs[0] == K * per_group_c * R * S * rows * columns


@settings(max_examples=60, deadline=None)
@given(points=st.lists(strided_points(), min_size=1, max_size=20))
def test_strided_batch_equals_one_point_at_a_time(points: list) -> None:
    layers = np.array([p[:7] for p in points])
    columns = list(zip(*points, strict=True))
    batch = evaluate(layers, list(columns[7]), columns[8], columns[9], stride_y=columns[10], stride_x=columns[11])
    for i, p in enumerate(points):
        single = evaluate(list(p[:7]), p[7], p[8], p[9], stride_y=p[10], stride_x=p[11])
        for name in ("valid", *EXACT, "energy_nj", "true_macs"):
            np.testing.assert_array_equal(getattr(batch, name)[i], getattr(single, name)[0], err_msg=name)

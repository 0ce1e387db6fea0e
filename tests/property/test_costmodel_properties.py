"""Invariants of the cost model over random layers and knobs (Hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from confx.costmodel import OUTPUT_COLUMNS, evaluate

dims = st.integers(1, 300)
filters = st.sampled_from([1, 2, 3, 5, 7, 11])
dataflow = st.sampled_from(["dla", "shi", "eye"])


@st.composite
def layers(draw, *, depthwise: bool | None = None):
    R, S = draw(filters), draw(filters)
    Y, X = draw(st.integers(R, 120)), draw(st.integers(S, 120))
    T = draw(st.sampled_from([1, 2])) if depthwise is None else (2 if depthwise else 1)
    K = 1 if T == 2 else draw(dims)
    return [K, draw(dims), Y, X, R, S, T]


@settings(max_examples=200, deadline=None)
@given(layer=layers(depthwise=False), ktile=st.integers(1, 12), num_pe=st.integers(1, 127))
def test_dla_runtime_never_increases_with_more_pes(layer, ktile, num_pe):
    result = evaluate(np.array([layer, layer]), "dla", [num_pe, num_pe + 1], ktile)
    assert result.valid.all()
    assert result.runtime_cycles[1] <= result.runtime_cycles[0]


@settings(max_examples=200, deadline=None)
@given(layer=layers(), df=dataflow, ktile=st.integers(1, 12), num_pe=st.integers(1, 127))
def test_area_grows_with_pes(layer, df, ktile, num_pe):
    result = evaluate(np.array([layer, layer]), df, [num_pe, num_pe + 1], ktile)
    if result.valid.all():
        assert result.area[1] > result.area[0]
        assert result.power[1] > result.power[0]


@settings(max_examples=300, deadline=None)
@given(layer=layers(), df=dataflow, ktile=st.integers(1, 12), num_pe=st.integers(1, 128))
def test_invalid_exactly_on_the_spec_rule(layer, df, ktile, num_pe):
    K, C, Y, X, R, S, T = layer
    P = num_pe
    if T == 2 or df == "dla":
        expected_invalid = False
    elif df == "shi":
        expected_invalid = (R > 1 and Y < 2 * R - 1) or (P <= X < P + S - 1)
    else:
        expected_invalid = (P <= Y < P + R - 1) or (S > 1 and X < 2 * S - 1)
    result = evaluate(layer, df, num_pe, ktile)
    assert bool(result.valid[0]) == (not expected_invalid)
    if result.valid[0]:
        assert result.runtime_cycles[0] > 0 and result.num_macs[0] > 0 and result.energy_nj[0] > 0


@settings(max_examples=50, deadline=None)
@given(points=st.lists(st.tuples(layers(), dataflow, st.integers(1, 128), st.integers(1, 12)), min_size=1, max_size=30))
def test_batch_equals_one_point_at_a_time(points):
    batch = evaluate(
        np.array([p[0] for p in points]), [p[1] for p in points], [p[2] for p in points], [p[3] for p in points]
    )
    for i, (layer, df, P, B) in enumerate(points):
        single = evaluate(layer, df, P, B)
        for name in OUTPUT_COLUMNS:
            np.testing.assert_array_equal(getattr(batch, name)[i], getattr(single, name)[0])


@settings(max_examples=100, deadline=None)
@given(layer=layers(depthwise=False), df=dataflow, ktile=st.integers(1, 12), num_pe=st.integers(1, 128))
def test_mac_count_is_at_least_the_true_count(layer, df, ktile, num_pe):
    """MAESTRO over-counts MACs for shi/eye partial row groups, never under-counts CONV."""
    K, C, Y, X, R, S, _ = layer
    result = evaluate(layer, df, num_pe, ktile)
    if result.valid[0]:
        true_macs = K * C * R * S * (Y - R + 1) * (X - S + 1)
        assert result.num_macs[0] >= true_macs
        if df == "dla":
            assert result.num_macs[0] == true_macs

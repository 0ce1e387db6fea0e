"""The cost model against the real MAESTRO: the reference file and the spec's vectors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from confx.costmodel import dataflows, evaluate

EXACT = ["runtime_cycles", "num_macs", "l1_bytes", "l2_bytes"]
APPROX = ["energy_nj", "area", "power", "throughput"]


def _evaluate_frame(frame: pd.DataFrame):
    return evaluate(frame[list("KCYXRST")].to_numpy(), frame["dataflow"].to_numpy(), frame["num_pe"], frame["ktile"])


def test_valid_flag_agrees_on_every_reference_row(maestro_reference):
    result = _evaluate_frame(maestro_reference)
    expected = maestro_reference["valid"].astype(bool).to_numpy()
    assert expected.sum() < len(expected), "the reference must contain invalid points"
    np.testing.assert_array_equal(result.valid, expected)


@pytest.mark.parametrize("column", EXACT)
def test_integer_outputs_are_exact_on_valid_rows(maestro_reference, column):
    result = _evaluate_frame(maestro_reference)
    valid = maestro_reference["valid"].astype(bool).to_numpy()
    np.testing.assert_array_equal(getattr(result, column)[valid], maestro_reference[column].to_numpy()[valid])


@pytest.mark.parametrize("column", APPROX)
def test_float_outputs_agree_to_printed_precision(maestro_reference, column):
    result = _evaluate_frame(maestro_reference)
    valid = maestro_reference["valid"].astype(bool).to_numpy()
    np.testing.assert_allclose(getattr(result, column)[valid], maestro_reference[column].to_numpy()[valid], rtol=1e-5)


def test_internal_traffic_counts_match_maestro(maestro_reference):
    """The L2 read/write counts behind the energy are exact too, per template."""
    frame = maestro_reference[maestro_reference["valid"] == 1]
    dims = {c: frame[c].to_numpy(np.int64) for c in "KCYXRST"}
    P, B = frame["num_pe"].to_numpy(np.int64), frame["ktile"].to_numpy(np.int64)
    for name, kernel in (("dla", dataflows.dla), ("shi", dataflows.shi), ("eye", dataflows.eye)):
        m = (frame["dataflow"].to_numpy() == name) & (dims["T"] == 1)
        counts = kernel(*(dims[c][m] for c in "KCYXRS"), P[m], B[m])
        np.testing.assert_array_equal(counts.l2_read_input, frame["m_input_l2_read"].to_numpy()[m])
        np.testing.assert_array_equal(counts.l2_read_weight, frame["m_filter_l2_read"].to_numpy()[m])
        np.testing.assert_array_equal(counts.l2_write_output, frame["m_output_l2_write"].to_numpy()[m])


# Spec section 7.5: MAESTRO binary outputs, most on layers absent from the reference file.
# df, K,C,Y,X,R,S, P, B, runtime, MACs, throughput, energy, area, power, L1, L2, L2rd_in, L2rd_wt, L2wr_out
SPEC_VECTORS = [
    ("dla", 64, 32, 56, 56, 3, 3, 16, 4, 3452545, 53747712, 15.5676, 22057.1, 2.1972e12, 1.72679e7, 162, 1448, 4642704, 18432, 373248),
    ("dla", 100, 40, 30, 30, 3, 3, 12, 7, 3010561, 28224000, 9.375, 9604.34, 1.70814e12, 1.34244e7, 270, 1742, 1812888, 45360, 313600),
    ("dla", 5, 3, 17, 23, 5, 3, 24, 8, 20749, 61425, 2.96038, 31.9867, 3.17533e12, 2.49551e7, 510, 550, 4485, 225, 1365),
    ("dla", 256, 128, 14, 14, 1, 1, 128, 12, 56057, 6422528, 114.571, 2958, 1.5891e13, 1.24888e8, 50, 3352, 549248, 33792, 50176),
    ("dla", 96, 24, 56, 56, 1, 1, 48, 1, 602113, 7225344, 12, 32547.4, 6.10971e12, 4.80164e7, 6, 98, 7223064, 2304, 301056),
    ("shi", 64, 32, 56, 56, 3, 3, 16, 4, 4018177, 53747712, 13.3761, 45770.8, 2.1972e12, 1.72679e7, 162, 636, 3316410, 1286208, 5971968),
    ("shi", 100, 40, 30, 30, 3, 3, 12, 7, 3193201, 30240000, 9.47012, 24815.5, 1.70814e12, 1.34244e7, 270, 770, 1259020, 1106595, 3360000),
    ("shi", 5, 3, 17, 23, 5, 3, 24, 8, 2935, 80325, 27.368, 39.1262, 3.17533e12, 2.49551e7, 510, 1614, 1863, 525, 5355),
    ("shi", 256, 128, 14, 14, 1, 1, 128, 12, 512513, 6422528, 12.5314, 32109.4, 1.5891e13, 1.24888e8, 50, 388, 551642, 469656, 6422528),
    ("eye", 64, 32, 56, 56, 3, 3, 16, 4, 1363969, 55738368, 40.8648, 35747.1, 2.1972e12, 1.72679e7, 162, 636, 2021184, 18432, 6193152),
    ("eye", 100, 40, 30, 30, 3, 3, 12, 7, 1152001, 30240000, 26.25, 18135.6, 1.70814e12, 1.34244e7, 270, 770, 767200, 37800, 3360000),
    ("eye", 20, 8, 20, 20, 7, 7, 3, 2, 236001, 2195200, 9.30166, 544.694, 6.07751e11, 4.77634e6, 490, 514, 63576, 7840, 44800),
    ("eye", 256, 128, 14, 14, 1, 1, 128, 12, 512513, 6422528, 12.5314, 30084, 1.5891e13, 1.24888e8, 50, 388, 514304, 33792, 6422528),
    ("dpt", 1, 32, 56, 56, 3, 3, 16, 4, 104977, 839808, 7.99992, 3434.36, 2.1972e12, 1.72679e7, 216, 1208, 290304, 288, 81648),
    ("dpt", 1, 144, 56, 56, 3, 3, 12, 5, 393661, 3647916, 9.26664, 15202.2, 1.70814e12, 1.34244e7, 270, 2280, 1261008, 1251, 405324),
    ("dpt", 1, 100, 20, 20, 3, 3, 6, 8, 58321, 291600, 4.99991, 1292.97, 9.74548e11, 7.65902e6, 432, 1824, 112320, 936, 32400),
    ("dpt", 1, 100, 20, 20, 3, 3, 8, 3, 37909, 282852, 7.46134, 1239.72, 1.21908e12, 9.58079e6, 162, 912, 104760, 873, 31428),
    ("dpt", 1, 960, 7, 7, 3, 3, 128, 12, 2701, 216000, 79.9704, 1184.34, 1.5891e13, 1.24888e8, 648, 36456, 100800, 8640, 23700),
]  # fmt: skip


@pytest.mark.parametrize("vector", SPEC_VECTORS, ids=lambda v: f"{v[0]}-{v[1]}x{v[2]}x{v[3]}x{v[4]}-P{v[7]}-B{v[8]}")
def test_spec_reference_vectors(vector):
    df, K, C, Y, X, R, S, P, B, runtime, macs, thr, energy, area, power, l1, l2, rd_in, rd_wt, wr_out = vector
    T = 2 if df == "dpt" else 1
    result = evaluate([K, C, Y, X, R, S, T], "dla" if df == "dpt" else df, P, B)
    assert result.valid[0]
    assert (result.runtime_cycles[0], result.num_macs[0], result.l1_bytes[0], result.l2_bytes[0]) == (
        runtime,
        macs,
        l1,
        l2,
    )
    got = (result.throughput[0], result.energy_nj[0], result.area[0], result.power[0])
    assert got == pytest.approx((thr, energy, area, power), rel=1e-5)
    if df == "dpt":
        counts = dataflows.dpt(*(np.array([v]) for v in (C, Y, X, R, S, P, B)))
    else:
        kernel = getattr(dataflows, df)
        counts = kernel(*(np.array([v]) for v in (K, C, Y, X, R, S, P, B)))
    assert (counts.l2_read_input[0], counts.l2_read_weight[0], counts.l2_write_output[0]) == (rd_in, rd_wt, wr_out)


@pytest.mark.parametrize("df", ["shi", "eye"])
def test_degenerate_points_are_invalid_not_garbage(df):
    """Spec 7.5: K=256,C=64,13x13,3x3 at P=12 is where MAESTRO prints runtime 0."""
    result = evaluate([256, 64, 13, 13, 3, 3, 1], df, 12, 4)
    assert not result.valid[0]
    assert result.runtime_cycles[0] == 0 and result.num_macs[0] == 0
    assert np.isnan(result.energy_nj[0]) and np.isnan(result.throughput[0])


def test_worked_example_dla_energy_terms():
    """Spec 7.1: the five L2 terms sum to 5,153,168 accesses, 22,057.1 nJ."""
    counts = dataflows.dla(*(np.array([v]) for v in (64, 32, 56, 56, 3, 3, 16, 4)))
    total = counts.l2_read_input[0] + 100_352 + counts.l2_read_weight[0] + 18_432 + counts.l2_write_output[0]
    assert total == 5_153_168
    assert evaluate([64, 32, 56, 56, 3, 3, 1], "dla", 16, 4).energy_nj[0] == pytest.approx(22057.1, rel=1e-5)

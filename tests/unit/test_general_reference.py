"""The general engine against the real MAESTRO on ``maestro_general_dev.csv.gz`` (18,712 rows).

Why. The file holds MAESTRO 4eb08d1's outputs for ConfuciuX's templates and MAESTRO's own
mapping styles under realistic NoC bandwidths, hops x hop latency, SIMD lanes and off-chip
bandwidth, including the points where the binary crashes (SIGFPE), rejects the mapping or
prints run time 0. Every row goes through :func:`costmodel.general.evaluate_mapping`.

Known gaps, pinned so that a change shows: ``rs`` (Resnet50_rs.m, which maps S spatially and
temporally in one cluster) is off in run time on 52 valid rows, and ``eye`` on 7 rows of one
layer at P=3; everything else is exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from confx.costmodel.general import REASONS
from tests.general_reference import evaluate_rows, load_reference

EXACT = ["runtime_cycles", "num_macs", "l1_bytes", "l2_bytes"]
CLOSE = ["energy_nj", "area", "power", "throughput"]
KNOWN_RUNTIME_GAPS = {"rs": 52, "eye": 7}


@pytest.fixture(scope="module")
def rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    reference = load_reference()
    return reference, evaluate_rows(reference)


def test_every_style_and_variant_is_covered(rows: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, _ = rows
    assert reference["style"].nunique() == 20
    assert reference["variant"].nunique() >= 17


def test_valid_flag_agrees_on_every_row(rows: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, ours = rows
    expected = reference["valid"].astype(bool).to_numpy()
    assert (ours["valid"].to_numpy() == expected).all()
    # Reasons line up with MAESTRO's failure kinds.
    reason = ours["reason"].map(dict(enumerate(REASONS)))
    crash = reference["err"].eq("no csv rc=-8").to_numpy()
    rejected = reference["err"].eq("no csv rc=255").to_numpy()
    assert reason[crash].isin(["cluster_exceeds_pes", "maestro_crash"]).all()
    assert reason[rejected].eq("rejected_by_parser").all()
    assert reason[~expected & ~crash & ~rejected].eq("runtime_zero").all()


@pytest.mark.parametrize("column", EXACT + CLOSE)
def test_outputs_on_valid_rows(rows: tuple[pd.DataFrame, pd.DataFrame], column: str) -> None:
    reference, ours = rows
    valid = reference["valid"].astype(bool).to_numpy()
    expected, got = reference[column].to_numpy()[valid], ours[column].to_numpy()[valid]
    if column in EXACT:
        same = got == expected
    else:
        same = np.isclose(got, expected, rtol=1e-5, atol=0)
    styles = reference["style"].to_numpy()[valid]
    wrong = pd.Series(styles[~same]).value_counts().to_dict()
    if column in ("num_macs", "l2_bytes", "energy_nj"):
        assert wrong == {}
    else:
        assert set(wrong) <= set(KNOWN_RUNTIME_GAPS), wrong
        for style, count in wrong.items():
            assert count <= KNOWN_RUNTIME_GAPS[style], (style, count)
    exact_styles = set(styles) - set(KNOWN_RUNTIME_GAPS)
    assert len(exact_styles) >= 14


def test_peak_bandwidth_and_utilisation(rows: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, ours = rows
    valid = reference["valid"].astype(bool).to_numpy() & ~reference["style"].isin(KNOWN_RUNTIME_GAPS).to_numpy()
    assert (ours["peak_bw_req"].to_numpy()[valid] == reference["m_peak_bw_req"].to_numpy()[valid]).all()
    utilised = reference["m_avg_number_of_utilized_pes"].to_numpy()[valid]
    assert np.allclose(ours["avg_active_pes"].to_numpy()[valid], utilised, rtol=1e-5)

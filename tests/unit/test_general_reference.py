"""The general engine against the real MAESTRO on ``maestro_general_dev.csv.gz`` (18,712 rows).

Why. The file holds MAESTRO 4eb08d1's outputs for ConfuciuX's templates and MAESTRO's own
mapping styles under realistic NoC bandwidths, hops x hop latency, SIMD lanes and off-chip
bandwidth, including the points where the binary crashes (SIGFPE), rejects the mapping or
prints run time 0. Every row goes through :func:`costmodel.general.evaluate_mapping`.

Every valid row is exact, including the two mappings that exercise MAESTRO's per-dimension
bookkeeping: ``rs`` (Resnet50_rs.m maps S spatially and temporally in one cluster: the state
and tile tables of a dim are its last map's) and ``eye`` (two SpatialMaps in the inner level: a
tensor's spatial state is that of its own spatially mapped dims).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from confx.costmodel.general import REASONS, evaluate_mapping
from confx.costmodel.mapping import load_mapping
from tests.general_reference import evaluate_rows, load_reference

EXACT = ["runtime_cycles", "num_macs", "l1_bytes", "l2_bytes"]
CLOSE = ["energy_nj", "area", "power", "throughput"]


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
    assert wrong == {}
    assert len(set(styles)) == 18  # ds_rs and rs_vgg crash on every layer they accept


def test_peak_bandwidth_and_utilisation(rows: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, ours = rows
    valid = reference["valid"].astype(bool).to_numpy()
    assert (ours["peak_bw_req"].to_numpy()[valid] == reference["m_peak_bw_req"].to_numpy()[valid]).all()
    utilised = reference["m_avg_number_of_utilized_pes"].to_numpy()[valid]
    assert np.allclose(ours["avg_active_pes"].to_numpy()[valid], utilised, rtol=1e-5)


@pytest.mark.parametrize("style", ["rs", "ds_rs"])
def test_row_stationary_crashes_follow_from_maestro_logic_off_the_file(style: str) -> None:
    """MAESTRO's side probes (maestro_general.md): Resnet50_rs.m crashed on R=2 and ran on R=4.

    The rule is derived, not listed: a top-level case with partial sums whose sub-clusters never
    compute makes MAESTRO divide by a zero computation delay; that happens unless R mod 3 = 1.
    """
    depthwise = style.startswith("ds_")
    dataflow = load_mapping(style).first_dataflow
    layers = [[1 if depthwise else 16, 8, 30, 30, r, r, 2 if depthwise else 1] for r in range(1, 12)]
    result = evaluate_mapping(dataflow, layers, 64, noc_bw=16)
    crashed = [r for r in range(1, 12) if REASONS[result.reason[r - 1]] == "maestro_crash"]
    assert crashed == [r for r in range(1, 12) if r % 3 != 1]
    assert result.valid[[0, 3, 6, 9]].all()

"""`confx cost` and :func:`costmodel.evaluate_mapped` with a mapping column and hardware columns.

Why. Architects bring MAESTRO's own styles or their own ``.m`` files and a NoC they can afford;
the table must give MAESTRO's numbers for those (checked here against the real binary's outputs
in ``maestro_general_dev.csv.gz``), and a table without those columns must give exactly what it
gave before (the closed forms).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from confx.costmodel import OUTPUT_COLUMNS, ConfXError, evaluate, evaluate_mapped
from confx.costmodel.general import REASONS
from confx.pipeline.results.cost_table import NOC_OUTPUT_COLUMNS, cost_file
from tests.general_reference import load_reference

EXAMPLES = Path(__file__).parents[1] / "data" / "mapping_examples"


def test_templates_at_the_release_flags_are_the_closed_forms(maestro_reference: pd.DataFrame) -> None:
    sample = maestro_reference.sample(2000, random_state=1)
    layers = sample[["K", "C", "Y", "X", "R", "S", "T"]].to_numpy()
    for dataflow, group in sample.groupby("dataflow"):
        rows = sample.index.isin(group.index)
        ours = evaluate_mapped(layers[rows], str(dataflow), group["num_pe"].to_numpy(), group["ktile"].to_numpy())
        release = evaluate(layers[rows], str(dataflow), group["num_pe"].to_numpy(), group["ktile"].to_numpy())
        for name, value in release.to_dict().items():
            np.testing.assert_array_equal(getattr(ours, name), value, err_msg=name)
        assert (ours.reason[~ours.valid] == REASONS.index("runtime_zero")).all()
        assert (ours.peak_bw_req[ours.valid] >= 0).all()


def test_the_searches_path_skips_the_general_engine_where_the_closed_forms_apply(
    maestro_reference: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search memo's path gives the closed forms' numbers without paying for MAESTRO's general analysis."""
    from confx.costmodel import general, mapped
    from confx.costmodel.evaluate import LayerOptions

    sample = maestro_reference.sample(500, random_state=2)
    layers = sample[["K", "C", "Y", "X", "R", "S", "T"]].to_numpy()
    ones = np.ones(len(sample), dtype=np.int64)

    def not_called(*args: object, **kwargs: object) -> None:
        raise AssertionError("the general engine ran on points the closed forms cover")

    monkeypatch.setattr(general, "evaluate_trusted", not_called)
    for dataflow in ("dla", "shi", "eye"):
        num_pe, ktile = sample["num_pe"].to_numpy(), sample["ktile"].to_numpy()
        ours = mapped.evaluate_points(
            layers, LayerOptions(ones, ones, ones), dataflow, num_pe, ktile,
            noc_bw=ones * general.NOC_BANDWIDTH, simd_lanes=ones * general.SIMD_LANES,
            noc_latency=general.NOC_HOPS * general.NOC_HOP_LATENCY, offchip_bw=general.OFFCHIP_BANDWIDTH,
        )  # fmt: skip
        for name, value in evaluate(layers, dataflow, num_pe, ktile).to_dict().items():
            np.testing.assert_array_equal(getattr(ours, name), value, err_msg=f"{dataflow} {name}")


@pytest.fixture(scope="module")
def general_rows() -> pd.DataFrame:
    reference = load_reference()
    keep = reference["ok"].astype(bool) | reference["err"].isin(["no csv rc=-8", "no csv rc=255"])
    return reference[keep]


def test_confx_cost_reproduces_maestro_on_styles_and_knobs(tmp_path: Path, general_rows: pd.DataFrame) -> None:
    """Every style and knob variant of the general reference set, through the command's own path."""
    ref = general_rows
    table = pd.DataFrame(
        {
            "K": ref["K"], "C": ref["C"], "Y": ref["Y"], "X": ref["X"], "R": ref["R"], "S": ref["S"], "T": ref["T"],
            "mapping": ref["style"], "num_pe": ref["num_pe"], "ktile": ref["ktile"].fillna(1).astype(np.int64),
            "stride_y": ref["stride_n"], "stride_x": ref["stride_n"], "noc_bw": ref["noc_bw"],
            "noc_hops": ref["noc_hops"], "noc_hop_latency": ref["noc_hop_latency"],
            "simd_lanes": ref["num_simd_lanes"], "offchip_bw": ref["offchip"],
        }
    )  # fmt: skip
    # ConfuciuX's depthwise rows name their dataflow; the template table sends them to dpt.
    table.loc[ref["style"].eq("dpt").to_numpy(), "mapping"] = "dla"
    source, target = tmp_path / "designs.parquet", tmp_path / "costs.parquet"
    table.to_parquet(source)
    summary = cost_file(source, target)
    out = pd.read_parquet(target)
    assert summary.rows == len(ref) and list(out.columns) == [*table.columns, *OUTPUT_COLUMNS, *NOC_OUTPUT_COLUMNS]
    valid = ref["valid"].astype(bool).to_numpy()
    np.testing.assert_array_equal(out["valid"].to_numpy(), valid)
    assert set(ref["style"]) >= {"kcp_ws", "rs_yp", "xp_ws", "ds_kcp_ws", "dla", "shi", "eye", "dpt"}
    assert ref["variant"].nunique() >= 17
    for name in ("runtime_cycles", "num_macs", "l1_bytes", "l2_bytes"):
        np.testing.assert_array_equal(out[name].to_numpy()[valid].astype(np.int64), ref[name].to_numpy()[valid])
    for name in ("energy_nj", "area", "power", "throughput"):
        np.testing.assert_allclose(out[name].to_numpy()[valid], ref[name].to_numpy()[valid], rtol=1e-5)
    np.testing.assert_array_equal(out["peak_bw_req"].to_numpy()[valid], ref["m_peak_bw_req"].to_numpy()[valid])
    utilised = ref["m_avg_number_of_utilized_pes"].to_numpy()[valid] / ref["num_pe"].to_numpy()[valid]
    np.testing.assert_allclose(out["pe_utilisation"].to_numpy()[valid], utilised, rtol=1e-5)
    crashed = ref["err"].eq("no csv rc=-8").to_numpy()
    assert out["reason"][crashed].isin(["cluster_exceeds_pes", "maestro_crash"]).all()
    assert out["reason"][ref["err"].eq("no csv rc=255").to_numpy()].eq("rejected_by_parser").all()
    assert out["runtime_cycles"][~valid].isna().all()


def test_a_table_without_the_new_columns_gives_what_it_gave(tmp_path: Path, maestro_reference: pd.DataFrame) -> None:
    sample = maestro_reference.sample(300, random_state=2)[
        ["K", "C", "Y", "X", "R", "S", "T", "dataflow", "num_pe", "ktile"]
    ]
    plain, flagged = tmp_path / "plain.csv", tmp_path / "flagged.csv"
    sample.to_csv(plain, index=False)
    sample.assign(noc_bw=81_920_000, simd_lanes=1).to_csv(flagged, index=False)
    cost_file(plain, tmp_path / "a.csv")
    cost_file(flagged, tmp_path / "b.csv")
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    assert list(a.columns) == [*sample.columns, *OUTPUT_COLUMNS]
    pd.testing.assert_frame_equal(a, b[a.columns])


def test_a_mapping_file_is_read_relative_to_the_table(tmp_path: Path) -> None:
    (tmp_path / "maps").mkdir()
    shutil.copy(EXAMPLES / "kcp_ws__K64_C3_Y224_X224_R11_S11.m", tmp_path / "maps" / "mine.m")
    rows = (
        "K,C,Y,X,R,S,T,num_pe,mapping,noc_bw\n128,64,28,28,3,3,1,64,maps/mine.m,16\n128,64,28,28,3,3,1,64,kcp_ws,16\n"
    )
    (tmp_path / "d.csv").write_text(rows)
    cost_file(tmp_path / "d.csv", tmp_path / "o.csv")
    out = pd.read_csv(tmp_path / "o.csv")
    assert out["valid"].all() and out["runtime_cycles"].nunique() == 1
    assert (out["reason"] == "valid").all() and (out["peak_bw_req"] > 0).all()


def test_the_readme_example_gives_what_the_readme_shows(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("$ cat designs.csv\n", 1)[1].split("$ confx cost", 1)[0]
    shown = readme.split("tr -d '\"'\n", 1)[1].split("```", 1)[0]
    (tmp_path / "designs.csv").write_text(block)
    cost_file(tmp_path / "designs.csv", tmp_path / "costs.csv")
    out = pd.read_csv(tmp_path / "costs.csv", keep_default_na=False)
    columns = ["noc_bw", "valid", "runtime_cycles", "reason", "peak_bw_req", "pe_utilisation"]
    lines = [",".join(str(v).lower() if isinstance(v, bool) else str(v) for v in row) for row in out[columns].values]
    assert "\n".join([",".join(columns), *lines]).strip() == shown.strip()


def test_bad_hardware_values_name_the_column_and_rows() -> None:
    layer = [128, 64, 28, 28, 3, 3, 1]
    with pytest.raises(ConfXError, match=r"column noc_bw: must be an integer >= 1.*row 1 \(-4\)"):
        evaluate_mapped([layer, layer], "kcp_ws", 64, noc_bw=[16, -4])
    with pytest.raises(ConfXError, match="column simd_lanes: not an integer"):
        evaluate_mapped([layer], "kcp_ws", 64, simd_lanes=1.5)
    with pytest.raises(ConfXError, match="no such mapping file or built-in style"):
        evaluate_mapped([layer], "tpu_ws", 64)
    ok = evaluate_mapped([layer, layer], "kcp_ws", 64, noc_bw=[16, 16], noc_hop_latency=[0, 1])
    assert ok.valid.all() and ok.runtime_cycles[0] <= ok.runtime_cycles[1]

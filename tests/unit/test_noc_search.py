"""Searches on a mapping and a physical NoC: spaces with NoC bandwidth and SIMD lanes as genes, every
baseline within budget and seeded, outputs in mm^2, and the release's defaults untouched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from confx.costmodel import general, mapped
from confx.costmodel.errors import ConfXError
from confx.costmodel.layers import LayerTable
from confx.costmodel.presets import EDGE, RELEASE, UM2_PER_MM2, hardware_preset
from confx.envs.confuciux_env import ConfuciuXEnv
from confx.envs.problem import Problem, ProblemSpec, build_problem
from confx.envs.space import ActionSpace, design_space, named_space
from confx.pipeline.results.maestro_export import dataflow_template, mapping_text
from confx.pipeline.results.search_outputs import solution_frame, summary_dict, write_search
from confx.pipeline.search import run_search
from confx.pipeline.sweep.config import load_sweep_config
from confx.pipeline.sweep.plan import plan_trials

ROOT = Path(__file__).resolve().parents[2]
NOC_BW = (1, 16, 256, 1024)
LAYERS = LayerTable(
    "tiny", np.asarray([[16, 8, 10, 10, 3, 3, 1], [1, 16, 12, 12, 3, 3, 2], [24, 16, 6, 6, 1, 1, 1]], dtype=np.int64)
)
NOC_SPACE = design_space(ActionSpace((1, 4, 16), (1, 4), name="tiny"), hardware=EDGE, noc_bw=NOC_BW, simd_lanes=(1, 2))
BASELINES = ("random", "anneal", "ga", "bo")


def noc_problem(mul: float = 0.2, **options) -> Problem:
    return Problem(ProblemSpec("tiny", options.pop("dataflow", "dla"), mul=mul, space=NOC_SPACE, **options), LAYERS)


def test_release_space_has_only_the_releases_genes() -> None:
    space = named_space("grid")
    assert space.gene_names == ("num_pe", "ktile") and space.hardware == RELEASE and not space.physical
    assert space.noc_bw_values == (general.NOC_BANDWIDTH,) and space.simd_lane_values == (1,)
    assert named_space("grid", choose_dataflow=True).gene_sizes == (12, 12, 3)
    # One value of a knob fixes it: no gene, the preset changed.
    fixed = design_space(space, hardware=EDGE, noc_bw=(32,))
    assert fixed.gene_names == ("num_pe", "ktile") and fixed.hardware.noc_bw == 32 and fixed.physical


def test_noc_space_genes_and_bounds() -> None:
    assert NOC_SPACE.gene_names == ("num_pe", "ktile", "noc_bw", "simd_lanes")
    assert NOC_SPACE.gene_sizes == (3, 2, 4, 2)
    assert NOC_SPACE.gene_bounds == ((1, 1, 0, 0), (16, 4, 3, 1))
    assert NOC_SPACE.categorical == (False, False, True, True)
    chooser = design_space(NOC_SPACE, dataflows=("dla", "xp_ws", "rs_yp"))
    assert chooser.gene_names == ("num_pe", "ktile", "dataflow", "noc_bw", "simd_lanes")


def test_memo_matches_the_general_engine_and_area_has_the_noc_term() -> None:
    problem = noc_problem()
    design = problem.uniform_design(4, 4, noc=2, simd=1)  # bw 256, 2 lanes
    valid, metrics = problem.layer_costs(design)
    direct = mapped.evaluate_points(
        LAYERS.dims, LAYERS.options(), "dla", np.full(3, 4), np.full(3, 4),
        noc_bw=np.full(3, 256), simd_lanes=np.full(3, 2), noc_latency=2, offchip_bw=50,
    )  # fmt: skip
    np.testing.assert_array_equal(valid, direct.valid)
    np.testing.assert_array_equal(metrics["runtime_cycles"], direct.runtime_cycles)
    expected = general.area(
        np.full(3, 4), direct.l1_bytes, direct.l2_bytes, noc_bw=np.full(3, 256), simd_lanes=np.full(3, 2)
    )
    np.testing.assert_allclose(metrics["area"], expected, rtol=1e-12)
    # A wider NoC never slows a layer and always costs area.
    _, narrow = problem.layer_costs(problem.uniform_design(4, 4, noc=0, simd=1))
    assert (narrow["runtime_cycles"] >= metrics["runtime_cycles"]).all() and (narrow["area"] < metrics["area"]).all()


def test_corner_range_spans_the_noc_widths() -> None:
    problem = noc_problem()
    low, high = problem.constraint_range
    smallest = noc_problem().evaluate(noc_problem().uniform_design(1, 1, noc=0, simd=0)).used[0]
    largest = noc_problem().evaluate(noc_problem().uniform_design(16, 4, noc=3, simd=1)).used[0]
    assert low == pytest.approx(smallest) and high == pytest.approx(largest)


def test_cap_is_a_budget_in_mm2_on_a_physical_space() -> None:
    problem = noc_problem(cap=3.5)
    assert problem.space.physical and problem.budget == pytest.approx(3.5 * UM2_PER_MM2)
    result = run_search(problem, "exact", seed=0)
    assert result.optimal and result.constraint_used <= problem.budget * (1 + 1e-12)
    with pytest.raises(ConfXError, match="cap"):
        noc_problem(cap=-1.0)


@pytest.mark.parametrize("name", BASELINES)
def test_baselines_on_a_noc_space_are_seeded_and_within_budget(name: str) -> None:
    outcomes = []
    for _ in range(2):
        problem = noc_problem()
        result = run_search(problem, name, seed=4, budget=60)
        assert problem.model_evaluations == 60
        assert result.feasible and result.constraint_used <= problem.budget * (1 + 1e-12)
        low, high = NOC_SPACE.gene_bounds
        assert (result.design >= np.asarray(low)).all() and (result.design <= np.asarray(high)).all()
        outcomes.append((result.design.tolist(), result.objective_value, result.curve))
    assert outcomes[0] == outcomes[1]
    optimum = run_search(noc_problem(), "exact", seed=0)
    assert optimum.optimal and outcomes[0][1] >= optimum.objective_value * (1 - 1e-12)


def test_env_heads_and_observation_follow_the_space() -> None:
    env = ConfuciuXEnv({"problem": noc_problem()})
    assert list(env.action_space.nvec) == list(NOC_SPACE.gene_sizes)
    assert env.observation_space.shape == (7 + 1 + 4 + 1,)
    observation, _ = env.reset(seed=0)
    assert env.observation_space.contains(observation)
    done, info = False, {}
    while not done:
        observation, _, done, _, info = env.step(np.zeros(4, dtype=np.int64))
    assert info["success"] and info["design"].shape == (3, 4)


def test_mapping_choice_uses_library_styles_and_their_depthwise_twins() -> None:
    space = design_space(NOC_SPACE, dataflows=("dla", "xp_ws"))
    problem = Problem(ProblemSpec("tiny", "dla", mul=0.5, space=space), LAYERS)
    result = run_search(problem, "exact", seed=0)
    frame = solution_frame(problem, result.design)
    assert set(frame["dataflow"]) <= {"dla", "xp_ws"}
    assert {"noc_bw", "simd_lanes", "area_mm2"} <= set(frame.columns)
    assert set(frame["noc_bw"]) <= set(NOC_BW) and frame["valid"].all()
    assert frame["runtime_cycles"].sum() == pytest.approx(result.objective_value)
    assert mapped.depthwise_mapping("xp_ws") == "ds_xp_ws" and mapped.depthwise_mapping("dla") == "dpt"
    assert mapped.depthwise_mapping("rs_yp") == "dpt"
    row = frame.iloc[1].copy()
    row["dataflow"] = "xp_ws"
    assert "Layer DSCONV" in mapping_text(row) and dataflow_template("ds_xp_ws") in mapping_text(row)


def test_outputs_report_mm2(tmp_path: Path) -> None:
    problem = noc_problem(cap=4.0)
    result = run_search(problem, "exact", seed=0)
    summary = summary_dict(problem, result)
    assert summary["constraint_unit"] == "mm^2" and summary["hardware"] == "edge" and summary["noc_bw"] == list(NOC_BW)
    assert summary["budget_reported"] == pytest.approx(4.0)
    assert summary["constraint_used_reported"] == pytest.approx(result.constraint_used / UM2_PER_MM2)
    out = write_search(problem, result, tmp_path / "out")
    frame = pd.read_parquet(out / "solution.parquet")
    assert frame["area_mm2"].sum() == pytest.approx(summary["constraint_used_reported"])
    assert json.loads((out / "summary.json").read_text())["physical"] is True


def test_release_problem_is_unchanged_by_the_general_path() -> None:
    release = build_problem("resnet18", dataflow="shi", mul=0.3)
    assert release.mappings == ("shi",) and release.memo.table.shape[-2:-1] == (1,)
    summary_units = summary_dict(release, run_search(release, "exact", seed=0))
    assert summary_units["constraint_unit"] == "um^2" and summary_units["physical"] is False


def test_unknown_mapping_or_preset_is_one_error() -> None:
    with pytest.raises(ConfXError, match="dataflow 'tpu' is unknown"):
        build_problem("resnet18", dataflow="tpu")
    with pytest.raises(ConfXError, match="unknown hardware preset"):
        hardware_preset("datacenter")


def test_noc_sweep_config_plans_trials_on_the_edge_preset() -> None:
    config = load_sweep_config(ROOT / "conf" / "noc.yaml")
    space = config.action_space()
    assert space.hardware == EDGE and space.gene("noc_bw") == 2 and space.physical
    trials = plan_trials(config)
    assert {t.hardware for t in trials} == {"edge"} and trials[0].action_space() == space
    assert trials[0].key != type(trials[0])(**{**trials[0].to_record(), "hardware": "release", "noc_bw": ()}).key
    for name in ("default.yaml", "paper.yaml", "nightly.yaml", "smoke.yaml"):
        paper = load_sweep_config(ROOT / "conf" / name)
        assert (
            paper.hardware == "release" and not paper.noc_bw and paper.action_space().gene_names == ("num_pe", "ktile")
        )


def test_build_problem_takes_a_preset_and_knobs_directly() -> None:
    problem = build_problem("alexnet", hardware="edge", noc_bw=(16, 64), mappings=("dla", "xp_ws"), cap=200.0)
    assert problem.space.gene_names == ("num_pe", "ktile", "dataflow", "noc_bw")
    assert problem.space.hardware.noc_hops == EDGE.noc_hops and problem.mappings == ("dla", "xp_ws")
    assert problem.budget == pytest.approx(200.0 * UM2_PER_MM2)


def test_cli_search_and_pareto_on_the_edge_preset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from confx.pipeline.cli import main

    argv = ["search", "--model", "alexnet", "--hardware", "edge", "--noc-bw", "16,64,256", "--cap", "150",
            "--algorithm", "exact", "--out", str(tmp_path / "s")]  # fmt: skip
    assert main(argv) == 0
    assert "of 150 mm^2" in capsys.readouterr().out
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["optimal"] and summary["constraint_used_reported"] <= 150 * (1 + 1e-12)
    argv = ["pareto", "--model", "alexnet", "--dataflows", "xp_ws", "--hardware", "edge", "--noc-bw", "16,64",
            "--muls", "0.1", "0.5", "--out", str(tmp_path / "p")]  # fmt: skip
    assert main(argv) == 0
    front = pd.read_parquet(tmp_path / "p" / "pareto.parquet")
    assert front["optimal"].all() and (front["dataflow"] == "xp_ws").all()
    assert main(["search", "--model", "alexnet", "--hardware", "tpu", "--algorithm", "exact", "--out", "x"]) == 2
    assert "--hardware" in capsys.readouterr().err

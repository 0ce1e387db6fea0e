"""SOURCE strings and the catalog: `confx networks`, `confx import`, sweep validation, stride through the outputs."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from confx.costmodel.errors import ConfXError
from confx.costmodel.layers import load_network
from confx.envs.problem import Problem, ProblemSpec
from confx.pipeline.results.cost_table import cost_frame
from confx.pipeline.results.maestro_export import mapping_file_name, mapping_text
from confx.pipeline.results.search_outputs import solution_frame
from confx.pipeline.sweep.config import SweepConfig
from confx.pipeline.workload.resolve import catalog_lines, network_label, resolve_network, source_problem

ROOT = Path(__file__).parents[2]
TINY = ROOT / "tests" / "data" / "tiny_net.py"
MAESTRO_EXAMPLES = Path("/work/shared/reference/maestro_mappings/examples")
CONFX = [sys.executable, "-m", "confx.pipeline.cli"]


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CONFX, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


# --- catalog ------------------------------------------------------------------------------------------------


def test_networks_lists_every_table_with_layers_macs_and_source() -> None:
    lines = {line.name: line for line in catalog_lines()}
    assert lines["resnet18"].n_layers == 21 and lines["resnet18"].origin == "imported from zoo:resnet18"
    assert lines["resnet18_release"].n_layers == 20 and lines["resnet18_release"].origin.startswith("release")
    assert round(lines["resnext50_32x4d"].true_macs / 1e9, 3) == 4.230  # torchvision's published 4.23 GMACs
    assert lines["resnext50_32x4d_release"].true_macs > 3 * lines["resnext50_32x4d"].true_macs  # dense 3x3s
    done = _run("networks")
    assert done.returncode == 0 and len(done.stdout.splitlines()) == len(lines)
    assert "imported from zoo:mobilenet_v2" in done.stdout


def test_the_wheel_carries_both_catalog_folders() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for folder in ("release", "true"):
        package = f"confx.costmodel.catalog.{folder}"
        assert package in setuptools["packages"] and setuptools["package-data"][package] == ["*.csv"]
        assert len(list((ROOT / "costmodel" / "catalog" / folder).glob("*.csv"))) in (13, 17)


# --- SOURCE strings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "label"),
    [("resnet18_release", "resnet18_release"), ("zoo:resnet18", "zoo-resnet18"), ("a/tiny_net.py:build", "tiny_net"),
     ("a/m.py:small", "m-small"), ("x/model.onnx", "model"), ("t/net.csv", "net")],
)  # fmt: skip
def test_labels_are_short_and_never_a_builtin_name(source: str, label: str) -> None:
    assert network_label(source) == label


@pytest.mark.parametrize(
    ("source", "message"),
    [("lenet5", "unknown network 'lenet5'"), ("missing.csv", "not found"), ("missing.onnx", "not found"),
     ("missing.py:build", "not found"), (f"{TINY}", "name the function"), ("zoo:", "give a model name")],
)  # fmt: skip
def test_sources_are_checked_without_importing(source: str, message: str) -> None:
    assert message in (source_problem(source) or "")
    with pytest.raises(ConfXError, match=message):
        resolve_network(source, "unused")


def test_sweep_configs_accept_source_strings_and_name_bad_ones() -> None:
    good = [f"{TINY}:build", "zoo:resnet18", "resnet18", "resnet18_release"]
    config = SweepConfig(name="s", networks=good, algorithms=[{"name": "exact"}])
    assert config.networks == good
    with pytest.raises(ValueError, match="nope.onnx: file nope.onnx not found"):
        SweepConfig(name="s", networks=["nope.onnx"], algorithms=[{"name": "exact"}])


def test_a_model_is_imported_once_into_the_cache(tmp_path: Path) -> None:
    first = resolve_network(f"{TINY}:build", tmp_path, input_shape=(1, 3, 32, 32))
    again = resolve_network(f"{TINY}:build", tmp_path, input_shape=(1, 3, 32, 32))
    assert first == again and first.imported and Path(first.model).parent == tmp_path
    layers = first.layers()
    assert layers.name == "tiny_net" and layers.stride_y.tolist() == [2, 1, 1, 1] and layers.groups.tolist()[1] == 4


def test_import_command_writes_the_table_with_one_line(tmp_path: Path) -> None:
    done = _run("import", f"{TINY}:build", str(tmp_path / "tiny.csv"), "--input-shape", "1,3,32,32")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 and "imported 4 compute layers" in done.stdout
    assert load_network(tmp_path / "tiny.csv").n_layers == 4


@pytest.mark.parametrize(
    ("body", "source", "message"),
    [(None, "missing.py:build", "not found"), ("x = 1\n", "model.py:build", "no function 'build'"),
     ("from torch import nn\ndef build():\n    return nn.Conv2d(3, 4, 3, dilation=2)\n", "model.py:build", "dilation"),
     ("hello", "notes.txt", "not a model"), (None, "model.py:build --input-shape 2,3,8,8", "batch must be 1")],
)  # fmt: skip
def test_import_command_bad_sources_exit_2_with_one_line(tmp_path: Path, body: str | None, source: str,
                                                         message: str) -> None:  # fmt: skip
    if body is not None:
        (tmp_path / source.split(":")[0]).write_text(body)
    source, *shape = source.split(" ")
    done = _run("import", source, str(tmp_path / "out.csv"), *shape, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.csv").exists()


# --- stride and groups through the outputs ------------------------------------------------------------------


def test_cost_reads_stride_and_groups_and_reports_true_macs() -> None:
    designs = pd.DataFrame(
        {"K": [64, 256, 64], "C": [3, 256, 3], "Y": [230, 58, 230], "X": [230, 58, 230], "R": [7, 3, 7],
         "S": [7, 3, 7], "T": [1, 1, 1], "dataflow": ["dla", "dla", "dla"], "num_pe": [4, 4, 4], "ktile": [2, 2, 2],
         "stride_y": [2, 1, None], "stride_x": [2, 1, None], "groups": [1, 32, None]}
    )  # fmt: skip
    out = cost_frame(designs)
    assert out["true_macs"].dtype == "Int64"
    assert out["true_macs"].tolist() == [64 * 3 * 49 * 112 * 112, 256 * 8 * 9 * 56 * 56, 64 * 3 * 49 * 224 * 224]
    assert out.loc[2, "num_macs"] == out.loc[2, "true_macs"]  # an empty option is 1


def test_solution_table_evaluates_each_layer_at_its_options() -> None:
    layers = load_network("resnext50_32x4d")
    problem = Problem(ProblemSpec("resnext50_32x4d"), layers)
    design = problem.uniform_design(8, 4)
    frame = solution_frame(problem, design)
    assert {"layer_name", "stride_y", "stride_x", "groups", "true_macs"} <= set(frame.columns)
    np.testing.assert_array_equal(frame["true_macs"], layers.true_macs)
    np.testing.assert_array_equal(frame["groups"], layers.groups)
    valid, metrics = problem.layer_costs(design)
    np.testing.assert_array_equal(frame["runtime_cycles"], metrics["runtime_cycles"])


def _layer(**changes: object) -> pd.Series:
    base = {"layer_index": 3, "K": 64, "C": 3, "Y": 224, "X": 224, "R": 11, "S": 11, "T": 1, "dataflow": "dla",
            "num_pe": 1, "ktile": 1}  # fmt: skip
    return pd.Series({**base, **changes})


def test_mapping_of_a_strided_layer_has_the_stride_line_where_maestro_expects_it() -> None:
    text = mapping_text(_layer(stride_y=2, stride_x=2))
    lines = text.splitlines()
    assert lines[5:8] == [
        "Type: CONV",
        "Stride { X: 2, Y: 2 }",
        "Dimensions { K: 64, C: 3, Y: 224, X: 224, R: 11, S: 11 }",
    ]
    assert mapping_text(_layer(stride_y=1, stride_x=1)) == mapping_text(_layer())  # no line at stride 1
    assert mapping_file_name(_layer(stride_y=2, stride_x=2)).endswith("_R11_S11_stride2x2_P1_B1.m")
    for example in MAESTRO_EXAMPLES.glob("*stride2.m") if MAESTRO_EXAMPLES.is_dir() else []:
        reference = example.read_text().splitlines()
        at = reference.index("Stride { X: 2, Y: 2 }")
        assert reference[at - 1].startswith("Type:") and reference[at + 1].startswith("Dimensions")


def test_mapping_of_a_grouped_layer_is_one_group_run_g_times() -> None:
    text = mapping_text(_layer(K=256, C=256, Y=58, X=58, R=3, S=3, groups=32))
    assert "Dimensions { K: 8, C: 8, Y: 58, X: 58, R: 3, S: 3 }" in text
    [comment] = [line for line in text.splitlines() if line.startswith("//")]
    assert "32 groups" in comment and "run 32 times" in comment

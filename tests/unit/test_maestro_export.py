"""MAESTRO mapping export: the files match the ConfuciuX release's, one per layer."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pytest

from confx.costmodel.errors import ConfXError
from confx.pipeline.results.maestro_export import mapping_text, write_mapping_archive, write_mapping_files

EXAMPLES = Path(__file__).parents[1] / "data" / "mapping_examples"
ALEXNET_CONV1 = {"K": 64, "C": 3, "Y": 224, "X": 224, "R": 11, "S": 11, "T": 1}
MOBILENET_DEPTHWISE = {"K": 1, "C": 48, "Y": 112, "X": 112, "R": 3, "S": 3, "T": 2}


def solution(*layers: tuple[dict[str, int], str, int, int]) -> pd.DataFrame:
    """A solution table from (dims, dataflow, num_pe, ktile) per layer."""
    rows = [
        {"layer_index": index, **dims, "dataflow": dataflow, "num_pe": num_pe, "ktile": ktile, "valid": True}
        for index, (dims, dataflow, num_pe, ktile) in enumerate(layers)
    ]
    return pd.DataFrame(rows)


def squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize(
    ("dims", "dataflow", "example"),
    [
        (ALEXNET_CONV1, "dla", "dla__K64_C3_Y224_X224_R11_S11_P1_B1.m"),
        (ALEXNET_CONV1, "shi", "shi__K64_C3_Y224_X224_R11_S11_P1_B1.m"),
        (ALEXNET_CONV1, "eye", "eye__K64_C3_Y224_X224_R11_S11_P1_B1.m"),
        # A depthwise layer uses the dpt template whatever the design's dataflow.
        (MOBILENET_DEPTHWISE, "shi", "dpt__K1_C48_Y112_X112_R3_S3_P1_B1.m"),
    ],
)
def test_mapping_matches_confuciux_example(tmp_path: Path, dims: dict[str, int], dataflow: str, example: str) -> None:
    [path] = write_mapping_files(solution((dims, dataflow, 1, 1)), tmp_path)
    expected = (EXAMPLES / example).read_text()
    assert squash(path.read_text()) == squash(expected)
    assert path.read_text() == expected  # in fact byte-identical


def test_one_file_per_layer_in_layer_order(tmp_path: Path) -> None:
    design = solution((ALEXNET_CONV1, "dla", 64, 12), (MOBILENET_DEPTHWISE, "eye", 8, 3), (ALEXNET_CONV1, "eye", 4, 2))
    paths = write_mapping_files(design.iloc[::-1], tmp_path / "maestro")
    assert [path.name for path in paths] == [
        "layer_000_dla_K64_C3_Y224_X224_R11_S11_P64_B12.m",
        "layer_001_dpt_K1_C48_Y112_X112_R3_S3_P8_B3.m",
        "layer_002_eye_K64_C3_Y224_X224_R11_S11_P4_B2.m",
    ]
    first = paths[0].read_text()
    assert first.startswith("Constant KTileSz 12;\nConstant CTileSz 1;\nConstant ClusterSz 64;\n")
    assert "Layer DSCONV {\nType: DSCONV\n" in paths[1].read_text()


def test_mapping_text_of_a_row() -> None:
    row = solution((ALEXNET_CONV1, "eye", 16, 5)).iloc[0]
    text = mapping_text(row)
    assert "Dimensions { K: 64, C: 3, Y: 224, X: 224, R: 11, S: 11 }" in text
    assert "SpatialMap(ClusterSz,ClusterSz) Y';" in text


def test_empty_solution_writes_nothing(tmp_path: Path) -> None:
    assert write_mapping_files(solution((ALEXNET_CONV1, "dla", 1, 1)).iloc[0:0], tmp_path / "none") == []
    assert not (tmp_path / "none").exists()


def test_bad_solution_names_every_problem(tmp_path: Path) -> None:
    design = solution((ALEXNET_CONV1, "tpu", 0, 1), ({**ALEXNET_CONV1, "T": 3}, "dla", 1, 1))
    with pytest.raises(ConfXError, match=r"T has value\(s\) \[3\].*dataflow has value\(s\) \['tpu'\].*num_pe"):
        write_mapping_files(design, tmp_path)
    with pytest.raises(ConfXError, match="missing column"):
        write_mapping_files(design.drop(columns=["ktile"]), tmp_path)


def test_the_archive_holds_the_same_files_under_its_folder(tmp_path: Path) -> None:
    design = solution((ALEXNET_CONV1, "dla", 64, 12), (MOBILENET_DEPTHWISE, "eye", 8, 3))
    files = write_mapping_files(design, tmp_path / "maestro")
    assert write_mapping_archive(design, tmp_path / "maestro.zip", folder="maestro") == 2
    with zipfile.ZipFile(tmp_path / "maestro.zip") as archive:
        assert archive.namelist() == [f"maestro/{path.name}" for path in files]
        assert [archive.read(f"maestro/{path.name}").decode() for path in files] == [p.read_text() for p in files]
    assert write_mapping_archive(design.iloc[0:0], tmp_path / "none.zip", folder="maestro") == 0
    assert not (tmp_path / "none.zip").exists()

"""Bad input to the cost model and layer tables gives one clear error naming the problem."""

from __future__ import annotations

import numpy as np
import pytest

from confx.costmodel import LayerTableError, evaluate
from confx.costmodel.layers import builtin_networks, load_network, parse_layer_csv

GOOD = [64, 32, 56, 56, 3, 3, 1]


@pytest.mark.parametrize(
    ("layer", "dataflow", "num_pe", "ktile", "expected"),
    [
        ([64, 32, 56, 56, 3, 3, 3], "dla", 4, 4, "column T"),
        ([64, 0, 56, 56, 3, 3, 1], "dla", 4, 4, "column C"),
        ([64, 32, 2, 56, 3, 3, 1], "dla", 4, 4, "column R: filter rows R exceed input rows Y"),
        ([64, 32, 56, 2, 3, 3, 1], "dla", 4, 4, "column S"),
        ([64.5, 32, 56, 56, 3, 3, 1], "dla", 4, 4, "column K: not an integer"),
        (GOOD, "tpu", 4, 4, "unknown dataflow"),
        (GOOD, "dla", 0, 4, "column num_pe"),
        (GOOD, "dla", 4, -1, "column ktile"),
    ],
)
def test_bad_points_raise_naming_column(layer, dataflow, num_pe, ktile, expected):
    with pytest.raises(LayerTableError, match=expected):
        evaluate(layer, dataflow, num_pe, ktile)


def test_errors_name_the_offending_row_and_report_all_problems():
    layers = np.array([GOOD, GOOD, [64, 32, 56, 56, 3, 3, 5]])
    with pytest.raises(LayerTableError) as info:
        evaluate(layers, "dla", [1, 0, 1], 1)
    message = str(info.value)
    assert "row 2 (5)" in message and "column num_pe" in message and "row 1 (0)" in message


def test_any_positive_integer_knobs_are_accepted():
    result = evaluate(np.tile(GOOD, (3, 1)), "eye", [7, 100, 1000], [13, 1, 50])
    assert result.valid.all() and (result.runtime_cycles > 0).all()


def test_catalog_has_the_releases_thirteen_tables_and_the_true_ones():
    names = builtin_networks()
    release = [n for n in names if n.endswith("_release")]
    assert len(release) == 13 and "mobilenet_v2_release" in names and "resnet18_release" in names
    true = set(names) - set(release)
    assert {"resnet18", "mobilenet_v2", "resnext50_32x4d", "efficientnet_b0", "convnext_tiny"} <= true
    assert {n.removesuffix("_release") for n in release} - {"example"} <= true
    table = load_network("mobilenet_v2_release")
    assert table.n_layers == 52 and table.depthwise.sum() == 17
    assert table.dims.dtype == np.int64


def test_user_csv_loads_with_extra_columns(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("name,K,C,Y,X,R,S,T\nconv1,8,3,10,10,3,3,1\ndw,1,8,8,8,3,3,2\n")
    table = load_network(path)
    assert table.name == "tiny" and table.n_layers == 2
    np.testing.assert_array_equal(table.column("C"), [3, 8])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty file"),
        ("K,C,Y,X\n1,2,3,4\n", r"missing column\(s\) R,S,T"),
        ("K,C,Y,X,R,S,T\n", "no layers"),
        ("K,C,Y,X,R,S,T\n8,3,10,10,3,3,1\n8,three,10,10,3,3,1\n", "line 3: 'three'"),
        ("K,C,Y,X,R,S,T\n8,3,10,10,11,3,1\n", "line 2"),
    ],
)
def test_malformed_layer_tables(text, expected):
    with pytest.raises(LayerTableError, match=expected):
        parse_layer_csv(text, name="x", source="bad.csv")


def test_unknown_network_lists_the_catalog():
    with pytest.raises(LayerTableError, match="mobilenet_v2_release"):
        load_network("lenet")

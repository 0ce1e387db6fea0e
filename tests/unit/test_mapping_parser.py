"""MAESTRO's dataflow language: every built-in style loads, malformed text fails on one line.

Why. Users bring their own ``.m`` files; a mapping MAESTRO's parser (4eb08d1) rejects must be a
clear error at load that names the file, the line and the directive, not a wrong answer later.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from confx.costmodel.errors import ConfXError, MappingError
from confx.costmodel.mapping import Cluster, Map, check_layer, load_mapping, parse_mapping, style_names

EXAMPLES = sorted((Path(__file__).parents[1] / "data" / "mapping_examples").glob("*.m"))
STYLES = (
    "ckp_ws ds_kcp_ws ds_nlr ds_rs ds_xp_ws ds_yxp_os kcp_ws nlr rs rs_unet rs_vgg rs_yp xp_ws ykp_os yxp_os "
    "yxp_os_1x1 dla shi eye dpt"
).split()

LAYER = (
    "Network 0 {{\nLayer CONV {{\nType: CONV\n"
    "Dimensions {{ K: 64, C: 3, R: 3, S: 3, Y: 56, X: 56 }}\nDataflow {{\n{body}\n}}\n}}\n}}\n"
)


def test_every_builtin_style_loads() -> None:
    assert set(STYLES) <= set(style_names())
    for style in STYLES:
        dataflow = load_mapping(style).first_dataflow
        assert dataflow.directives, style
        assert all(isinstance(d, Map | Cluster) for d in dataflow.directives)


def test_kcp_ws_levels() -> None:
    dataflow = load_mapping("kcp_ws").first_dataflow
    assert [len(level) for level in dataflow.levels] == [6, 5]
    top = dataflow.levels[0][0]
    assert (top.spatial, top.dim, str(top.size), str(top.offset)) == (True, "K", "1", "1")
    assert str(dataflow.clusters[0]) == "Cluster(64,P)"
    assert load_mapping("dla").first_dataflow.knobs == {"KTileSz", "ClusterSz"}


@pytest.mark.parametrize("path", [p for p in EXAMPLES if not p.name.startswith("ykp_os")], ids=lambda p: p.name)
def test_every_example_file_loads(path: Path) -> None:
    mapping = load_mapping(path)
    (layer,) = mapping.layers
    assert layer.layer_type in ("CONV", "DSCONV")
    assert set(layer.dims) == {"K", "C", "R", "S", "Y", "X"}
    if "stride2" in path.name:
        assert layer.stride == {"X": 2, "Y": 2}


def test_ykp_os_example_is_rejected_like_maestro() -> None:
    # MAESTRO: "Tile size of R(11) should be equal to tile offset of R(7)" (rc=255).
    (path,) = [p for p in EXAMPLES if p.name.startswith("ykp_os")]
    with pytest.raises(MappingError, match=r"ykp_os__.*\.m:14: 'TemporalMap\(Sz\(R\),7\) R'"):
        load_mapping(path)


@pytest.mark.parametrize(
    ("body", "line", "directive", "problem"),
    [
        ("SpatialMap(1,1) K;\nTemporalPam(1,1) C;", 7, "TemporalPam(1,1) C", "unknown directive"),
        ("SpatialMap(1,1) K;\nTemporalMap(Sz(N),1) C;", 7, "TemporalMap(Sz(N),1) C", "names no layer dimension"),
        ("SpatialMap(1,1) K;\nTemporalMap(0,1) C;", 7, "TemporalMap(0,1) C", "positive"),
        ("SpatialMap(1,0) K;", 6, "SpatialMap(1,0) K", "positive"),
        ("SpatialMap(1,1) Q;", 6, "SpatialMap(1,1) Q", "not a dimension"),
        ("SpatialMap(1,1) K;\nTemporalMap(3,1) R;", 7, "TemporalMap(3,1) R", "must equal its tile offset"),
        ("SpatialMap(1,1) K;\nTemporalMap(1,1) S;", 7, "TemporalMap(1,1) S", "must equal the layer's S"),
        ("SpatialMap(1,1) K;\nCluster(0, P);", 7, "Cluster(0, P)", "positive"),
        ("SpatialMap(1,1) K;\nCluster(4, Q);", 7, "Cluster(4, Q)", "cluster type"),
        ("SpatialMap(1 1) K;", 6, "SpatialMap(1 1) K", "malformed SpatialMap"),
    ],
)
def test_malformed_mapping_names_file_line_directive(body: str, line: int, directive: str, problem: str) -> None:
    with pytest.raises(MappingError) as info:
        parse_mapping(LAYER.format(body=body), source="bad.m")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"bad.m:{line}: {directive!r}: ")
    assert problem in message
    assert isinstance(info.value, ConfXError)


def test_missing_sz_dimension_in_a_file() -> None:
    text = (
        "Network 0 {\nLayer L {\nType: CONV\nDimensions { K: 4, C: 3, Y: 8, X: 8, S: 3 }\n"
        "Dataflow {\nTemporalMap(Sz(R),Sz(R)) Y;\n}\n}\n}\n"
    )
    with pytest.raises(MappingError, match=r"^m\.m:6: 'TemporalMap\(Sz\(R\),Sz\(R\)\) Y': .*Dimensions have no R"):
        parse_mapping(text, source="m.m")


def test_stride_must_precede_dimensions() -> None:
    text = (
        "Network 0 {\nLayer L {\nType: CONV\nDimensions { K: 4, C: 3, R: 3, S: 3, Y: 8, X: 8 }\n"
        "Stride { X: 2, Y: 2 }\nDataflow {\nSpatialMap(1,1) K;\n}\n}\n}\n"
    )
    with pytest.raises(MappingError, match=r"^m\.m:5: 'Stride': .*before Dimensions"):
        parse_mapping(text, source="m.m")


def test_cluster_larger_than_pe_count() -> None:
    dataflow = load_mapping("kcp_ws").first_dataflow
    dims = {"K": 64, "C": 64, "R": 3, "S": 3, "Y": 56, "X": 56}
    check_layer(dataflow, dims, num_pe=64)
    with pytest.raises(MappingError, match=r"kcp_ws\.m:8: 'Cluster\(64,P\)': .*exceed the 16 PEs"):
        check_layer(dataflow, dims, num_pe=16)


def test_bare_block_and_bare_directives() -> None:
    block = parse_mapping("Dataflow {\n  SpatialMap(Sz(R),1) Y;\n  TemporalMap(Sz(S),Sz(S)) S;\n}\n", source="b.m")
    bare = parse_mapping("SpatialMap(Sz(R),1) Y;\nTemporalMap(Sz(S),Sz(S)) S;\n", source="b.m")
    assert [str(d) for d in block.first_dataflow.directives] == [str(d) for d in bare.first_dataflow.directives]
    assert str(block.first_dataflow.directives[0]) == "SpatialMap(Sz(R),1) Y"


def test_constants_are_substituted_and_comments_ignored() -> None:
    text = "Constant KTileSz 4; // tile\nConstant ClusterSz 16;\n" + LAYER.format(
        body="SpatialMap(KTileSz,KTileSz) K; // K over clusters\n"
        "TemporalMap(ClusterSz,ClusterSz) C;\nCluster(ClusterSz, P);\nSpatialMap(1,1) C;"
    )
    dataflow = parse_mapping(text).first_dataflow
    assert dataflow.knobs == frozenset()
    assert dataflow.directives[0].size.value == 4
    assert dataflow.clusters[0].size.value == 16


def test_unknown_style_is_a_clear_error() -> None:
    with pytest.raises(MappingError, match="no such mapping file or built-in style"):
        load_mapping("no_such_style")

"""Importing real networks: torch's own MAC count, ONNX equals PyTorch, and one-line errors for bad sources."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from confx.costmodel.errors import ConfXError
from confx.pipeline.workload import (
    TABLE_COLUMNS,
    cached_import,
    import_module,
    import_network,
    import_onnx,
    parse_input_shape,
    read_table_csv,
    true_macs,
)
from confx.pipeline.workload.build_catalog import CATALOG
from confx.pipeline.workload.table import DIM_COLUMNS
from confx.pipeline.workload.zoo import ZOO, build_zoo_model

SMALL = (1, 3, 64, 64)
CATALOG_DIR = Path(__file__).parents[2] / "costmodel" / "catalog" / "true"
aten = torch.ops.aten


def _small_shape(name: str) -> tuple[int, ...]:
    return (1, 3, 96, 96) if name == "inception_v3" else SMALL  # Inception-v3 needs at least 75x75


def torch_macs(module: nn.Module, shape: tuple[int, ...]) -> int:
    """Torch's own count: convolution and matrix-multiply FLOPs / 2."""
    device = next(module.parameters()).device
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module.eval()(torch.zeros(shape, device=device))
    counted = {aten.convolution, aten.mm, aten.addmm, aten.bmm, aten.baddbmm}
    flops = sum(count for op, count in counter.get_flop_counts()["Global"].items() if op in counted)
    return flops // 2


def export_onnx(module: nn.Module, path: Path, shape: tuple[int, ...], **options: object) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module.eval(), (torch.zeros(shape),), str(path), dynamo=False, **options)
    return path


def cpu_zoo_model(name: str) -> nn.Module:
    """A zoo network with real (uninitialised) CPU tensors, for export; skips the cost of weight init."""
    return build_zoo_model(name).to_empty(device="cpu")


# --- the PyTorch route counts what torch counts --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_true_macs_equal_torch_flop_counter(name: str) -> None:
    model = build_zoo_model(name)
    shape = _small_shape(name)
    network = import_module(model, input_shape=shape, source=f"zoo:{name}")
    assert network.total_macs == torch_macs(model, shape)


@pytest.mark.parametrize(
    ("source", "gmacs"),
    [("zoo:resnet18", 1.814), ("zoo:resnet50", 4.089), ("zoo:mobilenet_v2", 0.301), ("zoo:inception_v3", 5.713)],
)
def test_known_mac_counts_at_native_size(source: str, gmacs: float) -> None:
    assert import_network(source).total_macs / 1e9 == pytest.approx(gmacs, abs=1e-3)


def test_table_rows_follow_maestro_conventions() -> None:
    table = import_network("zoo:mobilenet_v2", input_shape=SMALL).table
    assert tuple(table.columns) == TABLE_COLUMNS
    dims = table[list(DIM_COLUMNS)].to_numpy().tolist()
    # 3x3 stride-2 stem with padding 1: Y and X include the padding.
    assert dims[0] == [32, 3, 66, 66, 3, 3, 1, 2, 2, 1]
    assert dims[1] == [1, 32, 34, 34, 3, 3, 2, 1, 1, 1]  # depthwise: K=1, C=channels, groups=1
    assert dims[-1] == [1000, 1280, 1, 1, 1, 1, 1, 1, 1, 1]  # the classifier after global pooling
    assert table["source"].eq("zoo:mobilenet_v2").all()


def test_grouped_and_positionwise_linear_rows() -> None:
    resnext = import_network("zoo:resnext50_32x4d", input_shape=SMALL).table
    assert set(resnext["groups"]) == {1, 32}
    convnext = import_network("zoo:convnext_tiny", input_shape=SMALL).table
    fc1 = convnext.loc[convnext["name"] == "2.0.fc1", list(DIM_COLUMNS)].to_numpy().tolist()
    assert fc1 == [[384, 96, 16, 16, 1, 1, 1, 1, 1, 1]]  # a Linear on every position of the 16x16 map


def test_inception_keeps_factorised_kernels() -> None:
    table = import_network("zoo:inception_v3", input_shape=(1, 3, 96, 96)).table
    kernels = set(zip(table["R"], table["S"], strict=True))
    assert {(1, 7), (7, 1), (1, 3), (3, 1)} <= kernels
    row = table[(table["R"] == 1) & (table["S"] == 7)].iloc[0]
    assert row["X"] - row["Y"] == 6  # padding (0, 3) widens only the columns


def test_true_macs_formula() -> None:
    table = pd.DataFrame(
        {"K": [8, 1, 8], "C": [4, 4, 4], "Y": [10, 10, 10], "X": [10, 10, 10], "R": [3, 3, 3], "S": [3, 3, 3],
         "T": [1, 2, 1], "stride_y": [1, 2, 1], "stride_x": [1, 2, 1], "groups": [1, 1, 2]}
    )  # fmt: skip
    assert list(true_macs(table)) == [8 * 4 * 9 * 64, 4 * 9 * 16, 8 * 4 * 9 * 64 // 2]
    assert list(true_macs(table.drop(columns=["stride_y", "stride_x", "groups"]))) == [8 * 4 * 9 * 64, 4 * 9 * 64,
                                                                                         8 * 4 * 9 * 64]  # fmt: skip


def test_summary_counts_layers_and_skipped_ops() -> None:
    summary = import_network("zoo:resnet18", input_shape=SMALL).summary
    assert summary.startswith("imported 21 compute layers (20 conv, 1 fc); skipped ")
    assert "20 batch_norm" in summary and "17 relu" in summary


# --- the ONNX route gives the same table ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape"),
    [("resnet18", SMALL), ("mobilenet_v2", SMALL), ("shufflenet_v2_x1_0", SMALL), ("convnext_tiny", (1, 3, 32, 32)),
     ("inception_v3", (1, 3, 80, 80))],
)  # fmt: skip
def test_onnx_route_equals_torch_route(name: str, shape: tuple[int, ...], tmp_path: Path) -> None:
    model = cpu_zoo_model(name)
    from_torch = import_module(model, input_shape=shape)
    from_onnx = import_onnx(export_onnx(model, tmp_path / f"{name}.onnx", shape))
    pd.testing.assert_frame_equal(from_onnx.table[list(DIM_COLUMNS)], from_torch.table[list(DIM_COLUMNS)])


def test_onnx_dynamic_sizes_need_an_input_shape(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
    path = export_onnx(model, tmp_path / "dynamic.onnx", (1, 3, 16, 16), input_names=["image"],
                       dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}})  # fmt: skip
    with pytest.raises(ConfXError, match=r"dynamic\.onnx: input 'image' has dynamic sizes .*--input-shape"):
        import_network(str(path))
    table = import_network(str(path), input_shape=(1, 3, 20, 20)).table
    assert (table["Y"].item(), table["X"].item()) == (22, 22)


# --- bad sources give one line naming what is at fault -------------------------------------------------------


def _model_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "model.py"
    path.write_text("import torch\nfrom torch import nn\n\n" + body)
    return path


def test_model_file_source(tmp_path: Path) -> None:
    body = "def build():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))\n"
    path = _model_file(tmp_path, body)
    network = import_network(f"{path}:build", input_shape=(1, 3, 8, 8))
    assert network.n_layers == 2 and network.total_macs == 4 * 3 * 9 * 36 + 144 * 2


@pytest.mark.parametrize(
    ("body", "function", "message"),
    [
        ("def build():\n    return nn.Conv2d(3, 4, 3, dilation=2)\n", "build", r"layer 'Conv2d': dilation \(2, 2\)"),
        ("def build():\n    return nn.ConvTranspose2d(3, 4, 3)\n", "build", "transposed convolution"),
        ("def build():\n    return nn.Conv2d(4, 8, 3, groups=4)\n", "build", "channel multiplier 2"),
        ("def build():\n    return nn.Conv3d(3, 4, 3)\n", "build", "3-D convolution"),
        ("def build():\n    return 5\n", "build", r"build\(\) returned type int, not a torch.nn.Module"),
        ("def build():\n    return nn.Conv2d(3, 4, 3)\n", "make", r"no function 'make'.*the file has: build"),
        ("this is not python\n", "build", "model.py: cannot import it"),
    ],
)
def test_bad_model_files(tmp_path: Path, body: str, function: str, message: str) -> None:
    path = _model_file(tmp_path, body)
    shape = (1, 3, 8, 8, 8) if "Conv3d" in body else (1, 4, 8, 8) if "groups" in body else (1, 3, 8, 8)
    with pytest.raises(ConfXError, match=message) as error:
        import_network(f"{path}:{function}", input_shape=shape)
    assert "\n" not in str(error.value)


def test_dilated_onnx_convolution_names_the_node(tmp_path: Path) -> None:
    path = export_onnx(nn.Sequential(nn.Conv2d(3, 4, 3, dilation=2)), tmp_path / "dilated.onnx", (1, 3, 16, 16))
    with pytest.raises(ConfXError, match=r"dilated\.onnx: layer '/0/Conv': dilation \(2, 2\)"):
        import_network(str(path))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.onnx", None, "missing.onnx not found"),
        ("missing.py:build", None, "missing.py not found"),
        ("garbage.onnx", b"\x08\xff\xff\xff not a protobuf", "not a readable ONNX model"),
        ("notes.txt", b"hello", "notes.txt: this file is not a model"),
        ("model.py", b"", r"name the function .*model\.py:build"),
    ],
)
def test_bad_sources(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(ConfXError, match=message):
        import_network(str(tmp_path / name))


def test_unknown_zoo_and_torchvision_sources() -> None:
    with pytest.raises(ConfXError, match="zoo:nope: no such network.*resnet18"):
        import_network("zoo:nope")
    try:
        import torchvision  # noqa: F401
    except Exception:
        with pytest.raises(ConfXError, match="torchvision:resnet18: torchvision is not importable here.*zoo:resnet18"):
            import_network("torchvision:resnet18")


@pytest.mark.parametrize(
    ("text", "message"),
    [("1,3,a,4", "give integers"), ("2,3,64,64", "batch must be 1.*use 1,3,64,64"), ("1", "at least 2"),
     ("1,3,0,4", "positive")],
)  # fmt: skip
def test_bad_input_shapes(text: str, message: str) -> None:
    with pytest.raises(ConfXError, match=message):
        parse_input_shape(text)
    assert parse_input_shape("1,3,64,64") == SMALL


def test_model_failing_on_the_input_shape() -> None:
    with pytest.raises(ConfXError, match="zoo:resnet18: the model fails on a zero input of shape 1,1,64,64"):
        import_network("zoo:resnet18", input_shape=(1, 1, 64, 64))


# --- cache and catalog ---------------------------------------------------------------------------------------


def test_cache_reuses_tables_until_the_file_changes(tmp_path: Path) -> None:
    path = _model_file(tmp_path, "def build():\n    return nn.Conv2d(3, 4, 3)\n")
    source, cache = f"{path}:build", tmp_path / "cache"
    first = cached_import(source, cache, input_shape=(1, 3, 8, 8))
    entry = next(cache.glob("*.csv"))
    entry.write_text(entry.read_text().replace(",4,3,", ",5,3,"))  # only a cache hit can see this edit
    assert cached_import(source, cache, input_shape=(1, 3, 8, 8)).table["K"].item() == 5
    assert cached_import(source, cache, input_shape=(1, 3, 9, 9)).table["K"].item() == 4
    path.write_text(path.read_text().replace("Conv2d(3, 4, 3)", "Conv2d(3, 6, 3)"))
    assert cached_import(source, cache, input_shape=(1, 3, 8, 8)).table["K"].item() == 6
    assert first.summary == "imported 1 compute layers (1 conv); skipped 0 ops"


def test_committed_catalog_matches_the_zoo(tmp_path: Path) -> None:
    assert sorted(p.stem for p in CATALOG_DIR.glob("*.csv")) == sorted(CATALOG)
    committed = read_table_csv(CATALOG_DIR / "resnet18.csv")
    pd.testing.assert_frame_equal(committed, import_network("zoo:resnet18").table)
    written = import_network("zoo:resnet18").write_csv(tmp_path / "resnet18.csv")
    assert written.read_text() == (CATALOG_DIR / "resnet18.csv").read_text()


def test_fused_attention_is_two_batched_products() -> None:
    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(16, 48)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q, k, v = self.qkv(x).view(1, 10, 3, 2, 8).permute(2, 0, 3, 1, 4)  # 2 heads of 8, 10 tokens
            return nn.functional.scaled_dot_product_attention(q, k, v)

    table = import_module(Attention(), input_shape=(1, 10, 16)).table
    assert table[list(DIM_COLUMNS[:6])].to_numpy().tolist() == [
        [48, 16, 1, 10, 1, 1],  # qkv on each of the 10 tokens
        [10, 8, 2, 10, 1, 1],  # q @ k^T per head
        [8, 10, 2, 10, 1, 1],  # weights @ v per head
    ]

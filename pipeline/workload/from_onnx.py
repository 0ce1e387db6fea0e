"""The ONNX route: read an ``.onnx`` file, infer its shapes and turn Conv/Gemm/MatMul nodes into rows.

The rows follow the same rules as the PyTorch route (:mod:`confx.pipeline.workload.lower`), so a module
exported with ``torch.onnx.export`` gives the same table as the module traced directly.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import onnx

from confx.costmodel.errors import ConfXError
from confx.pipeline.workload.input_shape import check_input_shape
from confx.pipeline.workload.lower import conv_row, matmul_row
from confx.pipeline.workload.network import ImportedNetwork, TraceLog
from confx.pipeline.workload.onnx_shapes import Shapes, infer_static_shapes
from confx.pipeline.workload.table import LayerRow

logger = logging.getLogger(__name__)

#: Nodes that only move, reshape or describe data: not worth a line in the summary.
_BOOKKEEPING = {
    "Cast", "Constant", "ConstantOfShape", "Expand", "Flatten", "Gather", "Identity", "Reshape", "Shape",
    "Slice", "Split", "Squeeze", "Transpose", "Unsqueeze",
}  # fmt: skip
_KINDS = {
    "BatchNormalization": "batch_norm", "LayerNormalization": "layer_norm", "GlobalAveragePool": "avg_pool",
    "AveragePool": "avg_pool", "MaxPool": "max_pool", "Concat": "cat", "HardSigmoid": "hardsigmoid",
    "HardSwish": "hardswish", "ReduceMean": "mean",
}  # fmt: skip


def import_onnx(
    path: str | Path, *, input_shape: Sequence[int] | None = None, source: str | None = None
) -> ImportedNetwork:
    """Read an ONNX file and return its compute layers as a layer table.

    Args:
        path: The ``.onnx`` file.
        input_shape: Shape of the graph's one input, batch 1; needed when the file leaves spatial sizes
            dynamic. A dynamic batch alone is taken as 1.
        source: The source string for the table's ``source`` column; the path by default.

    Raises:
        ConfXError: Missing or unreadable file, dynamic sizes without an input shape, shapes that
            inference cannot find, or a layer MAESTRO cannot express.
    """
    path = Path(path)
    where = source or str(path)
    model = _load(path)
    _fix_inputs(model, where, input_shape)
    model, shapes = infer_static_shapes(model, where=where)
    log = TraceLog()
    for node in model.graph.node:
        if node.op_type in ("Conv", "ConvTranspose"):
            log.add(_conv(node, shapes, where), kind="conv")
        elif node.op_type in ("Gemm", "MatMul"):
            log.add(_matmul(node, shapes, where), kind="fc")
        elif node.op_type not in _BOOKKEEPING:
            log.skip(_KINDS.get(node.op_type) or re.sub(r"(?<!^)(?=[A-Z])", "_", node.op_type).lower())
    network = log.finish(where)
    logger.debug("%s: %s", where, network.summary)
    return network


def _load(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise ConfXError(f"{path}: ONNX file not found")
    try:
        return onnx.load(str(path))
    except Exception as error:  # protobuf raises its own DecodeError, and others for truncated files
        raise ConfXError(f"{path}: not a readable ONNX model ({type(error).__name__}); export it again") from error


def _fix_inputs(model: onnx.ModelProto, where: str, input_shape: Sequence[int] | None) -> None:
    """Give the graph input static sizes: ``input_shape`` if given, else batch 1 with the file's sizes."""
    graph = model.graph
    weights = {tensor.name for tensor in graph.initializer}
    inputs = [value for value in graph.input if value.name not in weights]
    if input_shape is not None:
        shape = check_input_shape(input_shape)
        if len(inputs) != 1 or len(inputs[0].type.tensor_type.shape.dim) != len(shape):
            ranks = [len(value.type.tensor_type.shape.dim) for value in inputs]
            raise ConfXError(
                f"{where}: --input-shape has {len(shape)} dims but the graph's inputs have ranks {ranks}; "
                "give one shape matching its single input"
            )
        for dim, size in zip(inputs[0].type.tensor_type.shape.dim, shape, strict=True):
            dim.dim_value = size
        return
    for value in inputs:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1
        dynamic = [dim.dim_param or "?" for dim in dims if not dim.HasField("dim_value")]
        if dynamic:
            sizes = ",".join(str(dim.dim_value) if dim.HasField("dim_value") else dim.dim_param or "?" for dim in dims)
            raise ConfXError(
                f"{where}: input {value.name!r} has dynamic sizes ({sizes}); give --input-shape, e.g. 1,3,224,224"
            )


def _shape(node: onnx.NodeProto, tensor: str, shapes: Shapes, where: str) -> tuple[int, ...]:
    shape = shapes.get(tensor)
    if shape is None or any(size is None for size in shape):
        raise ConfXError(
            f"{where}: layer {node.name or node.output[0]!r}: the shape of {tensor!r} is unknown after shape "
            "inference; give --input-shape or export the model with static sizes"
        )
    return shape  # type: ignore[return-value]


def _conv(node: onnx.NodeProto, shapes: Shapes, where: str) -> LayerRow:
    x, weight = (_shape(node, tensor, shapes, where) for tensor in node.input[:2])
    attrs = {attr.name: onnx.helper.get_attribute_value(attr) for attr in node.attribute}
    spatial = len(x) - 2
    kernel = tuple(attrs.get("kernel_shape", weight[2:]))
    stride = tuple(attrs.get("strides", (1,) * spatial))
    dilation = tuple(attrs.get("dilations", (1,) * spatial))
    pads = tuple(attrs.get("pads", (0,) * (2 * spatial)))
    auto_pad = attrs.get("auto_pad", b"NOTSET").decode()
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        # Total padding that makes the output ceil(size / stride); SAME_UPPER puts the odd one at the end.
        totals = [
            max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            for size, k, s, d in zip(x[2:], kernel, stride, dilation, strict=True)
        ]
        small, large = tuple(t // 2 for t in totals), tuple(t - t // 2 for t in totals)
        pads = (*small, *large) if auto_pad == "SAME_UPPER" else (*large, *small)
    elif auto_pad == "VALID":
        pads = (0,) * (2 * spatial)
    groups = attrs.get("group", 1)
    transposed = node.op_type == "ConvTranspose"
    return conv_row(
        node.name or node.output[0], where=where, in_channels=x[1], in_size=x[2:],
        out_channels=weight[1] * groups if transposed else weight[0], kernel=kernel, stride=stride,
        pads_begin=pads[:spatial], pads_end=pads[spatial:], dilation=dilation, groups=groups, transposed=transposed,
    )  # fmt: skip


def _matmul(node: onnx.NodeProto, shapes: Shapes, where: str) -> LayerRow:
    a, b = (_shape(node, tensor, shapes, where) for tensor in node.input[:2])
    name = node.name or node.output[0]
    if node.op_type == "Gemm":
        attrs = {attr.name: onnx.helper.get_attribute_value(attr) for attr in node.attribute}
        rows, inner = (a[1], a[0]) if attrs.get("transA", 0) else a
        out_features = b[0] if attrs.get("transB", 0) else b[1]
        return matmul_row(name, positions=(rows,), in_features=inner, out_features=out_features)
    out = _shape(node, node.output[0], shapes, where)
    # A matrix-vector product (1-D second operand) has no feature dim in its output.
    positions, out_features = (out[:-1], b[-1]) if len(b) > 1 else (out, 1)
    return matmul_row(name, positions=positions, in_features=a[-1], out_features=out_features)

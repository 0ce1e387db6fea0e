"""Static tensor shapes of an ONNX graph: shape inference plus folding of its shape arithmetic.

Exporters often compute slice bounds and reshape targets at run time (``Shape -> Gather -> Div ->
Slice`` for ``torch.chunk``), which ONNX's shape inference cannot see through. Such arithmetic only
touches a few integers once the input shape is fixed, so it is evaluated here with ONNX's reference
evaluator and replaced by constants, and inference runs again.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference
from onnx.reference import ReferenceEvaluator

from confx.costmodel.errors import ConfXError

Shapes = dict[str, tuple[int | None, ...]]
#: Ops cheap enough to evaluate on constants: shape arithmetic, never a layer's compute.
_FOLDABLE = {
    "Add", "Cast", "Concat", "Constant", "ConstantOfShape", "Div", "Equal", "Expand", "Gather", "Mul", "Range",
    "Reshape", "Slice", "Squeeze", "Sub", "Unsqueeze", "Where",
}  # fmt: skip
#: Largest tensor (elements) treated as shape arithmetic; weights are far bigger.
_SMALL = 64
_MAX_ROUNDS = 4


def infer_static_shapes(model: onnx.ModelProto, *, where: str) -> tuple[onnx.ModelProto, Shapes]:
    """Infer every tensor's shape, folding shape arithmetic until nothing more folds.

    Returns:
        The model with inferred shapes (and folded constants), and the shape of each named tensor
        (initializers included); sizes inference could not find are None.

    Raises:
        ConfXError: ONNX shape inference rejects the graph.
    """
    for _ in range(_MAX_ROUNDS):
        try:
            model = shape_inference.infer_shapes(model, data_prop=True)
        except (shape_inference.InferenceError, onnx.checker.ValidationError) as error:
            first_line = str(error).strip().splitlines()[0]
            raise ConfXError(f"{where}: ONNX shape inference failed ({first_line}); check the input shape") from error
        shapes = _known_shapes(model.graph)
        opsets = {entry.domain: entry.version for entry in model.opset_import}
        if not _fold_shape_arithmetic(model.graph, shapes, opsets):
            break
    return model, shapes


def _known_shapes(graph: onnx.GraphProto) -> Shapes:
    shapes: Shapes = {tensor.name: tuple(tensor.dims) for tensor in graph.initializer}
    for value in (*graph.input, *graph.value_info, *graph.output):
        if value.type.HasField("tensor_type") and value.type.tensor_type.HasField("shape"):
            dims = value.type.tensor_type.shape.dim
            shapes[value.name] = tuple(dim.dim_value if dim.HasField("dim_value") else None for dim in dims)
    return shapes


def _fold_shape_arithmetic(graph: onnx.GraphProto, shapes: Shapes, opsets: dict[str, int]) -> bool:
    """Replace nodes computing small constants by initializers; returns whether any node was folded."""
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer if math.prod(t.dims) <= _SMALL}
    folded = []
    for node in graph.node:
        outputs = _evaluate(node, values, shapes, opsets)
        if outputs is not None and all(out.size <= _SMALL for out in outputs):
            values.update(zip(node.output, outputs, strict=True))
            folded.append(node)
    for node in folded:
        graph.node.remove(node)
        graph.initializer.extend(numpy_helper.from_array(np.asarray(values[name]), name) for name in node.output)
    return bool(folded)


def _evaluate(
    node: onnx.NodeProto, values: dict[str, np.ndarray], shapes: Shapes, opsets: dict[str, int]
) -> list[np.ndarray] | None:
    """Outputs of a node whose inputs are all known small constants (or a Shape of a known shape), else None."""
    if node.op_type == "Shape":
        shape = shapes.get(node.input[0])
        if shape is None or None in shape:
            return None
        attrs = {attr.name: onnx.helper.get_attribute_value(attr) for attr in node.attribute}
        return [np.array(shape[attrs.get("start", 0) : attrs.get("end", len(shape))], dtype=np.int64)]
    inputs = [name for name in node.input if name]
    if node.op_type not in _FOLDABLE or node.domain not in ("", "ai.onnx") or any(n not in values for n in inputs):
        return None
    try:
        return list(ReferenceEvaluator(node, opsets=opsets).run(None, {name: values[name] for name in inputs}))
    except Exception:  # an op the reference evaluator cannot run on these inputs simply stays unfolded
        return None

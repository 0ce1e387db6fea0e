"""MAESTRO's rules for turning one convolution or matrix product into a layer row.

Both import routes (PyTorch and ONNX) describe each compute op by its shapes and attributes and call
these functions, so that the two routes apply the same rules and raise the same errors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from confx.costmodel.errors import ConfXError
from confx.costmodel.evaluate import CONV, DEPTHWISE
from confx.pipeline.workload.table import LayerRow


def conv_row(
    name: str,
    *,
    where: str,
    in_channels: int,
    in_size: Sequence[int],
    out_channels: int,
    kernel: Sequence[int],
    stride: Sequence[int],
    pads_begin: Sequence[int],
    pads_end: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    transposed: bool = False,
) -> LayerRow:
    """Describe a convolution as one row; 1-D convolutions become rows of height 1.

    Padding goes into the input size (``Y = H + pad_top + pad_bottom``) because MAESTRO has no padding;
    asymmetric padding is therefore expressible and gives the same output size.

    Args:
        name: Layer name, quoted in errors.
        where: The model or file being imported, quoted in errors.
        in_channels: Input channels C.
        in_size: Input spatial size without padding, (H, W) or (L,).
        out_channels: Output channels K.
        kernel: Filter size, (R, S) or (S,).
        stride: Strides per spatial dim.
        pads_begin: Padding before the data per spatial dim.
        pads_end: Padding after the data per spatial dim.
        dilation: Dilation per spatial dim.
        groups: Convolution groups.
        transposed: Whether this is a transposed convolution.

    Raises:
        ConfXError: The convolution is transposed, 3-D or more, dilated, or depthwise with a channel
            multiplier: MAESTRO's CONV and depthwise layers express none of these.
    """
    at = f"{where}: layer {name!r}"
    if transposed:
        raise ConfXError(f"{at}: transposed convolution is not expressible in MAESTRO; remove or replace the layer")
    if len(kernel) not in (1, 2):
        raise ConfXError(f"{at}: {len(kernel)}-D convolution is not expressible in MAESTRO; use 1-D or 2-D layers")
    if any(d != 1 for d in dilation):
        raise ConfXError(
            f"{at}: dilation {tuple(dilation)} is not expressible in MAESTRO; use an undilated convolution"
        )
    lead = (1,) * (2 - len(kernel))
    rows, cols = (*lead, *kernel)
    stride_y, stride_x = (*lead, *stride)
    height, width = (*lead, *(size + b + e for size, b, e in zip(in_size, pads_begin, pads_end, strict=True)))
    if groups > 1 and groups == in_channels:
        if out_channels != in_channels:
            raise ConfXError(
                f"{at}: depthwise convolution with channel multiplier {out_channels // in_channels} is not "
                "expressible in MAESTRO; use one output channel per input channel"
            )
        return LayerRow(name, 1, in_channels, height, width, rows, cols, DEPTHWISE, stride_y, stride_x, 1)
    return LayerRow(name, out_channels, in_channels, height, width, rows, cols, CONV, stride_y, stride_x, groups)


def matmul_row(name: str, *, positions: Sequence[int], in_features: int, out_features: int) -> LayerRow:
    """Describe a matrix product as a 1x1 convolution over the positions it is applied to.

    ``positions`` is the product's output shape without its last (feature) dim, batch included:
    ``(1,)`` after global pooling gives ``Y = X = 1``; ``(1, H, W)`` for a Linear on every position of a
    feature map gives ``Y = H, X = W``; ``(heads, L)`` for a batched product gives ``Y = heads, X = L``.
    """
    height = math.prod(positions[:-1])
    width = positions[-1] if positions else 1
    return LayerRow(name, out_features, in_features, height, width, 1, 1, CONV)

"""The input shape a model is traced or shape-inferred with."""

from __future__ import annotations

import operator
from collections.abc import Sequence

from confx.costmodel.errors import ConfXError

#: ImageNet-sized single image, NCHW.
DEFAULT_INPUT_SHAPE = (1, 3, 224, 224)


def parse_input_shape(text: str) -> tuple[int, ...]:
    """Parse ``"1,3,224,224"`` (``x`` also separates) into a checked shape.

    Raises:
        ConfXError: Not a list of positive integers with batch 1.
    """
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(part) for part in parts)
    except ValueError:
        raise ConfXError(f"--input-shape {text!r}: give integers separated by commas, e.g. 1,3,224,224") from None
    return check_input_shape(shape)


def check_input_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """Check that a shape is a batch of one with positive sizes; returns it as a tuple of ints.

    Batch 1 is required because a layer table has no batch dim: a batch of N would multiply every
    convolution's work by N without a column saying so.

    Raises:
        ConfXError: Fewer than 2 dims, a size below 1, or a batch other than 1.
    """
    text = ",".join(str(size) for size in shape)
    try:
        shape = tuple(operator.index(size) for size in shape)
    except TypeError:
        shape = ()
    if len(shape) < 2 or any(size < 1 for size in shape):
        raise ConfXError(f"--input-shape {text!r}: give at least 2 positive integers (batch, channels, ...)")
    if shape[0] != 1:
        fixed = "1," + text.split(",", 1)[1]
        raise ConfXError(f"--input-shape {text!r}: batch must be 1 (a layer table has no batch dim); use {fixed}")
    return shape

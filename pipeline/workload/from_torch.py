"""The PyTorch route: trace a module on a zero input and record every compute layer.

The trace intercepts ATen ops (a ``TorchDispatchMode``), the level at which
``torch.utils.flop_counter.FlopCounterMode`` counts, so that the table's MACs agree with torch's own
count exactly: ``aten.convolution`` for every convolution, ``aten.mm/addmm/bmm/baddbmm`` for every
matrix product (Linear layers, ``torch.matmul``), and the fused attention ops as their two products
(where torch's counter knows them; it misses the CPU kernel, which is counted here all the same).
Module names come from forward pre-hooks.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from confx.costmodel.errors import ConfXError
from confx.pipeline.workload.input_shape import DEFAULT_INPUT_SHAPE, check_input_shape
from confx.pipeline.workload.lower import conv_row, matmul_row
from confx.pipeline.workload.network import ImportedNetwork, TraceLog

logger = logging.getLogger(__name__)

aten = torch.ops.aten
_MATMULS = {aten.mm: (0, 1), aten.addmm: (1, 2), aten.bmm: (0, 1), aten.baddbmm: (1, 2)}
#: Ops that move or allocate data without computing: not worth a line in the summary.
_BOOKKEEPING = {
    "_to_copy", "_unsafe_view", "alias", "clone", "contiguous", "copy", "detach", "empty", "empty_like",
    "full", "lift_fresh", "lift_fresh_copy", "new_empty", "new_zeros", "ones", "scalar_tensor", "zeros",
    "zeros_like", "_local_scalar_dense",
}  # fmt: skip


def import_module(
    module: torch.nn.Module, *, input_shape: Sequence[int] = DEFAULT_INPUT_SHAPE, source: str = "module"
) -> ImportedNetwork:
    """Trace a module on a zero input and return its compute layers as a layer table.

    The module runs once in eval mode without gradients (its training flags are restored after), on
    the device and dtype of its first parameter, so a module built on the ``meta`` device traces
    without allocating weights.

    Args:
        module: The network.
        input_shape: Shape of the zero input, batch 1 (e.g. ``(1, 3, 224, 224)``).
        source: The source string, written in the table's ``source`` column and quoted in errors.

    Raises:
        ConfXError: A bad input shape, a model that fails on it, or a layer MAESTRO cannot express.
    """
    shape = check_input_shape(input_shape)
    first = next(module.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    log = TraceLog()
    modes = {m: m.training for m in module.modules()}
    stack: list[tuple[str, torch.nn.Module, tuple[int, ...] | None]] = []
    handles = _name_hooks(module, stack)
    try:
        module.eval()
        with torch.no_grad(), _ComputeRecorder(log, stack, where=source):
            module(torch.zeros(shape, device=device, dtype=dtype))
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfXError(
            f"{source}: the model fails on a zero input of shape {','.join(map(str, shape))} ({first_line}); "
            "give the input shape it expects"
        ) from error
    finally:
        for handle in handles:
            handle.remove()
        for m, training in modes.items():
            m.train(training)
    network = log.finish(source)
    logger.debug("%s: %s", source, network.summary)
    return network


def _name_hooks(
    module: torch.nn.Module, stack: list[tuple[str, torch.nn.Module, tuple[int, ...] | None]]
) -> list[torch.utils.hooks.RemovableHandle]:
    """Keep ``stack`` holding the running modules, innermost last, with the shape of their first input."""
    handles = []
    for name, child in module.named_modules():
        label = name or type(module).__name__

        def enter(m: torch.nn.Module, args: tuple[Any, ...], label: str = label) -> None:
            first = args[0] if args else None
            stack.append((label, m, tuple(first.shape) if isinstance(first, torch.Tensor) else None))

        def leave(m: torch.nn.Module, args: tuple[Any, ...], output: Any) -> None:
            stack.pop()

        handles += [child.register_forward_pre_hook(enter), child.register_forward_hook(leave)]
    return handles


class _ComputeRecorder(TorchDispatchMode):
    """Turns each compute op into a row of ``log`` and counts the rest by kind."""

    def __init__(self, log: TraceLog, stack: list[tuple[str, torch.nn.Module, tuple[int, ...] | None]], *, where: str):
        super().__init__()
        self.log, self.stack, self.where = log, stack, where
        self.seen: Counter[str] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        packet = func.overloadpacket
        if packet is aten.convolution:
            self._convolution(*args)
        elif packet in _MATMULS:
            a, b = (args[i] for i in _MATMULS[packet])
            self._matmul(a.shape, b.shape[-1])
        elif _is_fused_attention(packet.__name__):
            self._attention(*args[:3])
        elif packet in flop_registry:
            at = f"{self.where}: layer {self._name()!r}"
            raise ConfXError(f"{at}: op {packet.__name__} is not a convolution or matrix product; remove it")
        elif not func.is_view and packet.__name__ not in _BOOKKEEPING:
            self.log.skip(_kind(packet.__name__))
        return func(*args, **(kwargs or {}))

    def _name(self) -> str:
        """Innermost module's name, with ``#2``, ``#3``... when one module computes more than once."""
        label = self.stack[-1][0] if self.stack else "<root>"
        self.seen[label] += 1
        return label if self.seen[label] == 1 else f"{label}#{self.seen[label]}"

    def _convolution(self, x: torch.Tensor, weight: torch.Tensor, bias: Any, stride: Sequence[int],
                     padding: Sequence[int], dilation: Sequence[int], transposed: bool, output_padding: Any,
                     groups: int) -> None:  # fmt: skip
        name = self._name()
        if x.shape[0] != 1:
            at = f"{self.where}: layer {name!r}"
            raise ConfXError(f"{at}: runs on a batch of {x.shape[0]}; a layer table needs batch 1, reshape the input")
        row = conv_row(
            name, where=self.where, in_channels=x.shape[1], in_size=x.shape[2:], out_channels=weight.shape[0],
            kernel=weight.shape[2:], stride=stride, pads_begin=padding, pads_end=padding, dilation=dilation,
            groups=groups, transposed=transposed,
        )  # fmt: skip
        self.log.add(row, kind="conv")

    def _matmul(self, a_shape: Sequence[int], out_features: int) -> None:
        """A product of ``a`` (..., M, in_features) with a (..., in_features, out_features) matrix."""
        positions = tuple(a_shape[:-1])
        if self.stack and isinstance(self.stack[-1][1], torch.nn.Linear):
            # A Linear on (1, H, W, C) reaches ATen flattened to (H*W, C): take the positions from its input.
            module_input = self.stack[-1][2]
            if module_input is not None and _prod(module_input[:-1]) == _prod(positions):
                positions = module_input[:-1]
        self.log.add(matmul_row(self._name(), positions=positions, in_features=a_shape[-1],
                                out_features=out_features), kind="fc")  # fmt: skip

    def _attention(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> None:
        """Fused attention: ``query @ key^T`` then ``weights @ value``, two batched products."""
        self._matmul(query.shape, key.shape[-2])
        self._matmul((*query.shape[:-1], key.shape[-2]), value.shape[-1])


def _is_fused_attention(op_name: str) -> bool:
    """Forward fused-attention kernels, including ``_scaled_dot_product_flash_attention_for_cpu``.

    That CPU kernel is missing from ``FlopCounterMode``'s registry (torch undercounts it); it is imported
    as its two products all the same, rather than skipped as a non-compute op.
    """
    return "scaled_dot_product" in op_name and "attention" in op_name and "backward" not in op_name


def _prod(sizes: Sequence[int]) -> int:
    result = 1
    for size in sizes:
        result *= size
    return result


def _kind(op_name: str) -> str:
    """Family of an ATen op for the summary: ``_native_batch_norm_legit_no_training`` -> ``batch_norm``."""
    name = op_name.strip("_").removeprefix("native_")
    name = re.sub(r"_legit(_no_training)?|_with_indices", "", name)
    return re.sub(r"\dd$", "", name)

"""Building blocks shared by the zoo's networks.

Only layer shapes matter here (the zoo feeds the cost model, not training), so normalisation and
activation choices follow the papers but their hyper-parameters are left at torch's defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

Activation = Callable[[], nn.Module] | None


def conv_norm_act(
    c_in: int,
    c_out: int,
    kernel: int | tuple[int, int] = 1,
    stride: int = 1,
    *,
    groups: int = 1,
    padding: int | tuple[int, int] | None = None,
    act: Activation = nn.ReLU,
) -> nn.Sequential:
    """Convolution (no bias), batch norm and an optional activation; "same" padding by default."""
    kernel_size = (kernel, kernel) if isinstance(kernel, int) else kernel
    pad = ((kernel_size[0] - 1) // 2, (kernel_size[1] - 1) // 2) if padding is None else padding
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel_size, stride, pad, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never more than 10% below it (MobileNet rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class SqueezeExcite(nn.Module):
    """Channel gating from the globally pooled feature map (two 1x1 convolutions on a 1x1 map)."""

    def __init__(
        self,
        channels: int,
        squeeze: int,
        *,
        act: Callable[[], nn.Module] = nn.ReLU,
        gate: Callable[[], nn.Module] = nn.Sigmoid,
    ) -> None:
        super().__init__()
        self.fc1, self.act = nn.Conv2d(channels, squeeze, 1), act()
        self.fc2, self.gate = nn.Conv2d(squeeze, channels, 1), gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gate(self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True)))))
        return x * scale


class InvertedResidual(nn.Module):
    """MobileNet-V2 style block: 1x1 expand, depthwise k x k, optional squeeze-excite, 1x1 project.

    The expansion is left out when ``expanded == c_in`` (the first block of MobileNet-V2/V3 and
    EfficientNet); the skip connection is used when the block keeps its shape.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int,
        expanded: int,
        *,
        act: Activation = nn.ReLU6,
        squeeze: int = 0,
        se_act: Callable[[], nn.Module] = nn.ReLU,
        gate: Callable[[], nn.Module] = nn.Sigmoid,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [] if expanded == c_in else [conv_norm_act(c_in, expanded, act=act)]
        layers.append(conv_norm_act(expanded, expanded, kernel, stride, groups=expanded, act=act))
        if squeeze:
            layers.append(SqueezeExcite(expanded, squeeze, act=se_act, gate=gate))
        layers.append(conv_norm_act(expanded, c_out, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.residual else out


class Classifier(nn.Sequential):
    """Global average pooling, then fully-connected layers (``widths``: input, hidden..., classes)."""

    def __init__(self, widths: Sequence[int], *, act: Activation = nn.ReLU, dropout: float = 0.0):
        layers: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            if i > 0 and act is not None:
                layers.append(act())
            layers += [nn.Dropout(dropout), nn.Linear(c_in, c_out)]
        super().__init__(*layers)

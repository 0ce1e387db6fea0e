"""Residual networks: ResNet-18/50, ResNeXt-50 (32x4d), Wide-ResNet-50-2 and RegNetX-400MF.

All share one residual block; they differ in block depth, widths and groups. Strides sit on the
3x3 convolution (ResNet v1.5, as in torchvision and RegNet).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from confx.pipeline.workload.zoo.blocks import Classifier, conv_norm_act


class ResidualBlock(nn.Module):
    """Basic (two 3x3) or bottleneck (1x1, grouped 3x3, 1x1) block with a projected shortcut if needed."""

    def __init__(self, c_in: int, width: int, c_out: int, stride: int, *, bottleneck: bool, groups: int = 1):
        super().__init__()
        if bottleneck:
            self.body = nn.Sequential(
                conv_norm_act(c_in, width),
                conv_norm_act(width, width, 3, stride, groups=groups),
                conv_norm_act(width, c_out, act=None),
            )
        else:
            self.body = nn.Sequential(conv_norm_act(c_in, width, 3, stride), conv_norm_act(width, c_out, 3, act=None))
        project = stride != 1 or c_in != c_out
        self.shortcut = conv_norm_act(c_in, c_out, 1, stride, act=None) if project else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def residual_network(
    stem: nn.Module,
    c_stem: int,
    stages: Sequence[tuple[int, int, int]],
    *,
    bottleneck: bool,
    groups: Sequence[int],
    strides: Sequence[int],
) -> nn.Sequential:
    """Stem, stages of ``(depth, width, c_out)`` residual blocks (first block strided), classifier."""
    layers: list[nn.Module] = [stem]
    c_in = c_stem
    for (depth, width, c_out), group, stride in zip(stages, groups, strides, strict=True):
        blocks = [
            ResidualBlock(c_in if i == 0 else c_out, width, c_out, stride if i == 0 else 1, bottleneck=bottleneck,
                          groups=group)
            for i in range(depth)
        ]  # fmt: skip
        layers.append(nn.Sequential(*blocks))
        c_in = c_out
    layers.append(Classifier((c_in, 1000)))
    return nn.Sequential(*layers)


def _resnet(depths: Sequence[int], *, bottleneck: bool, groups: int = 1, width_per_group: int = 64) -> nn.Sequential:
    stem = nn.Sequential(conv_norm_act(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1))
    expansion = 4 if bottleneck else 1
    stages = [
        (depth, planes * width_per_group // 64 * groups, planes * expansion)
        for depth, planes in zip(depths, (64, 128, 256, 512), strict=True)
    ]
    return residual_network(stem, 64, stages, bottleneck=bottleneck, groups=[groups] * 4, strides=(1, 2, 2, 2))


def resnet18() -> nn.Module:
    """ResNet-18 (He et al. 2016): basic blocks, depths 2-2-2-2; 1.82 GMACs at 224x224."""
    return _resnet((2, 2, 2, 2), bottleneck=False)


def resnet50() -> nn.Module:
    """ResNet-50: bottleneck blocks, depths 3-4-6-3; 4.09 GMACs at 224x224."""
    return _resnet((3, 4, 6, 3), bottleneck=True)


def resnext50_32x4d() -> nn.Module:
    """ResNeXt-50 32x4d (Xie et al. 2017): 32 groups of width 4 in the 3x3 convolutions."""
    return _resnet((3, 4, 6, 3), bottleneck=True, groups=32, width_per_group=4)


def wide_resnet50_2() -> nn.Module:
    """Wide-ResNet-50-2 (Zagoruyko and Komodakis 2016): ResNet-50 with twice as wide 3x3 convolutions."""
    return _resnet((3, 4, 6, 3), bottleneck=True, width_per_group=128)


def regnet_x_400mf() -> nn.Module:
    """RegNetX-400MF (Radosavovic et al. 2020): depths 1-2-7-12, widths 32-64-160-400, group width 16; 0.41 GMACs.

    The widths come from the paper's quantised linear rule (w_0=24, w_a=24.48, w_m=2.54, depth 22),
    giving 24-64-152-392, made multiples of the group width as torchvision does (up to the nearest
    multiple, never 10% below; the paper's code rounds 392 to 384 instead). Bottleneck ratio 1.
    """
    depths, widths = (1, 2, 7, 12), (32, 64, 160, 400)
    stages = [(depth, width, width) for depth, width in zip(depths, widths, strict=True)]
    groups = [width // 16 for width in widths]
    return residual_network(conv_norm_act(3, 32, 3, 2), 32, stages, bottleneck=True, groups=groups,
                            strides=(2, 2, 2, 2))  # fmt: skip

"""DenseNet-121 (Huang et al. 2017): each layer's output is concatenated to all the layers before it."""

from __future__ import annotations

import torch
from torch import nn

from confx.pipeline.workload.zoo.blocks import Classifier


def _norm_act_conv(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    """DenseNet's pre-activation order: batch norm, ReLU, then the convolution."""
    convolution = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False)
    return nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(), convolution)


class DenseLayer(nn.Module):
    """1x1 bottleneck to 4 x growth channels, 3x3 to ``growth`` new channels, appended to the input."""

    def __init__(self, c_in: int, growth: int):
        super().__init__()
        self.body = nn.Sequential(_norm_act_conv(c_in, 4 * growth, 1), _norm_act_conv(4 * growth, growth, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], 1)


def densenet121() -> nn.Module:
    """DenseNet-121: growth 32, dense blocks of 6-12-24-16 layers, halving transitions; 2.83 GMACs."""
    growth, channels = 32, 64
    layers: list[nn.Module] = [nn.Conv2d(3, channels, 7, 2, 3, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
                               nn.MaxPool2d(3, 2, 1)]  # fmt: skip
    for i, depth in enumerate((6, 12, 24, 16)):
        for _ in range(depth):
            layers.append(DenseLayer(channels, growth))
            channels += growth
        if i < 3:
            layers += [_norm_act_conv(channels, channels // 2, 1), nn.AvgPool2d(2, 2)]
            channels //= 2
    return nn.Sequential(*layers, nn.BatchNorm2d(channels), nn.ReLU(), Classifier((channels, 1000)))

"""ShuffleNet-V2 1.0x (Ma et al. 2018): channel split, depthwise 3x3 and channel shuffle."""

from __future__ import annotations

import torch
from torch import nn

from confx.pipeline.workload.zoo.blocks import Classifier, conv_norm_act


class ShuffleBlock(nn.Module):
    """A stride-1 block transforms half the channels; a stride-2 block transforms two copies of all of them."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        half = c_out // 2
        self.stride = stride
        if stride > 1:
            self.left = nn.Sequential(conv_norm_act(c_in, c_in, 3, stride, groups=c_in, act=None),
                                      conv_norm_act(c_in, half))  # fmt: skip
        c_right = c_in if stride > 1 else half
        self.right = nn.Sequential(
            conv_norm_act(c_right, half),
            conv_norm_act(half, half, 3, stride, groups=half, act=None),
            conv_norm_act(half, half),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            out = torch.cat([self.left(x), self.right(x)], 1)
        else:
            keep, change = x.chunk(2, dim=1)
            out = torch.cat([keep, self.right(change)], 1)
        n, c, h, w = out.shape
        return out.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)


def shufflenet_v2_x1_0() -> nn.Module:
    """ShuffleNet-V2 1.0x: stages of 4-8-4 blocks with 116-232-464 channels; 0.15 GMACs."""
    layers: list[nn.Module] = [conv_norm_act(3, 24, 3, 2), nn.MaxPool2d(3, 2, 1)]
    c_in = 24
    for repeats, c_out in ((4, 116), (8, 232), (4, 464)):
        layers += [ShuffleBlock(c_in if i == 0 else c_out, c_out, 2 if i == 0 else 1) for i in range(repeats)]
        c_in = c_out
    return nn.Sequential(*layers, conv_norm_act(c_in, 1024), Classifier((1024, 1000)))

"""ConvNeXt-T (Liu et al. 2022): depthwise 7x7 convolutions and Linear layers on every position."""

from __future__ import annotations

import torch
from torch import nn


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of an NCHW feature map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7, then layer norm and a 4x MLP applied per position (channels-last), scaled, plus skip."""

    def __init__(self, dim: int):
        super().__init__()
        self.depthwise = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.fc1, self.act, self.fc2 = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
        self.layer_scale = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.depthwise(x).permute(0, 2, 3, 1))
        y = self.fc2(self.act(self.fc1(y))) * self.layer_scale
        return x + y.permute(0, 3, 1, 2)


def convnext_tiny() -> nn.Module:
    """ConvNeXt-T: patchify 4x4 stem, stages 96-192-384-768 of depths 3-3-9-3; 4.46 GMACs at 224x224."""
    dims, depths = (96, 192, 384, 768), (3, 3, 9, 3)
    layers: list[nn.Module] = [nn.Conv2d(3, dims[0], 4, 4), LayerNorm2d(dims[0])]
    for i, (dim, depth) in enumerate(zip(dims, depths, strict=True)):
        if i > 0:
            layers += [LayerNorm2d(dims[i - 1]), nn.Conv2d(dims[i - 1], dim, 2, 2)]
        layers.append(nn.Sequential(*(ConvNeXtBlock(dim) for _ in range(depth))))
    layers += [nn.AdaptiveAvgPool2d(1), LayerNorm2d(dims[-1]), nn.Flatten(), nn.Linear(dims[-1], 1000)]
    return nn.Sequential(*layers)

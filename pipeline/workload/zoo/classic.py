"""Plain convolutional networks: AlexNet, VGG-16 and SqueezeNet 1.0 (torchvision's variants)."""

from __future__ import annotations

import torch
from torch import nn


def _fully_connected(widths: tuple[int, ...]) -> list[nn.Module]:
    """Flatten, then Linear layers with ReLU and dropout between them."""
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers += [nn.Dropout(0.5), nn.Linear(c_in, c_out)] + ([nn.ReLU()] if i < len(widths) - 2 else [])
    return layers


def alexnet() -> nn.Module:
    """AlexNet (Krizhevsky et al. 2012), single-tower as in torchvision; 0.71 GMACs at 224x224."""
    convs = [(64, 11, 4, 2), (192, 5, 1, 2), (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1)]
    layers: list[nn.Module] = []
    c_in = 3
    for i, (c_out, kernel, stride, pad) in enumerate(convs):
        layers += [nn.Conv2d(c_in, c_out, kernel, stride, pad), nn.ReLU()]
        if i in (0, 1, 4):
            layers.append(nn.MaxPool2d(3, 2))
        c_in = c_out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(6), *_fully_connected((256 * 36, 4096, 4096, 1000)))


def vgg16() -> nn.Module:
    """VGG-16 (Simonyan and Zisserman 2015), configuration D without batch norm; 15.5 GMACs."""
    layers: list[nn.Module] = []
    c_in = 3
    for c_out, repeats in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(repeats):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
            c_in = c_out
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(7), *_fully_connected((512 * 49, 4096, 4096, 1000)))


class Fire(nn.Module):
    """SqueezeNet's module: 1x1 squeeze, then 1x1 and 3x3 expansions concatenated."""

    def __init__(self, c_in: int, squeeze: int, expand: int):
        super().__init__()
        self.squeeze = nn.Conv2d(c_in, squeeze, 1)
        self.expand1x1, self.expand3x3 = nn.Conv2d(squeeze, expand, 1), nn.Conv2d(squeeze, expand, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.squeeze(x))
        return torch.cat([torch.relu(self.expand1x1(x)), torch.relu(self.expand3x3(x))], 1)


def squeezenet1_0() -> nn.Module:
    """SqueezeNet 1.0 (Iandola et al. 2016): eight Fire modules, a 1x1 convolution as classifier; 0.82 GMACs."""

    def pool() -> nn.Module:
        return nn.MaxPool2d(3, 2, ceil_mode=True)

    return nn.Sequential(
        nn.Conv2d(3, 96, 7, 2), nn.ReLU(), pool(),
        Fire(96, 16, 64), Fire(128, 16, 64), Fire(128, 32, 128), pool(),
        Fire(256, 32, 128), Fire(256, 48, 192), Fire(384, 48, 192), Fire(384, 64, 256), pool(),
        Fire(512, 64, 256),
        nn.Dropout(0.5), nn.Conv2d(512, 1000, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )  # fmt: skip

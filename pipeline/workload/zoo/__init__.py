"""Our own plain-torch definitions of well-known networks, with their true layer shapes.

Written from the papers' layer tables (and torchvision's variants where they differ), so that real
networks can be imported without torchvision or downloaded weights. Weights are never trained:
:func:`build_zoo_model` builds on the ``meta`` device by default, so that no memory is spent on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from confx.costmodel.errors import ConfXError
from confx.pipeline.workload.input_shape import DEFAULT_INPUT_SHAPE
from confx.pipeline.workload.zoo.classic import alexnet, squeezenet1_0, vgg16
from confx.pipeline.workload.zoo.convnext import convnext_tiny
from confx.pipeline.workload.zoo.densenet import densenet121
from confx.pipeline.workload.zoo.inception import googlenet, inception_v3
from confx.pipeline.workload.zoo.mobile import efficientnet_b0, mnasnet1_0, mobilenet_v2, mobilenet_v3_large
from confx.pipeline.workload.zoo.resnet import regnet_x_400mf, resnet18, resnet50, resnext50_32x4d, wide_resnet50_2
from confx.pipeline.workload.zoo.shufflenet import shufflenet_v2_x1_0


@dataclass(frozen=True)
class ZooModel:
    """A network of the zoo: how to build it and the input size it was designed for."""

    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...] = DEFAULT_INPUT_SHAPE


#: The zoo, by torchvision's names.
ZOO: dict[str, ZooModel] = {
    build.__name__: ZooModel(build)
    for build in (
        alexnet, convnext_tiny, densenet121, efficientnet_b0, googlenet, mnasnet1_0, mobilenet_v2,
        mobilenet_v3_large, regnet_x_400mf, resnet18, resnet50, resnext50_32x4d, shufflenet_v2_x1_0,
        squeezenet1_0, vgg16, wide_resnet50_2,
    )
} | {"inception_v3": ZooModel(inception_v3, (1, 3, 299, 299))}  # fmt: skip


def zoo_model(name: str) -> ZooModel:
    """Look a network up by name.

    Raises:
        ConfXError: The zoo has no network of that name.
    """
    if name not in ZOO:
        raise ConfXError(f"zoo:{name}: no such network in the zoo; choose one of {', '.join(sorted(ZOO))}")
    return ZOO[name]


def build_zoo_model(name: str, *, device: str | torch.device = "meta") -> nn.Module:
    """Build a zoo network, by default on the ``meta`` device (shapes only, no weight memory)."""
    with torch.device(device):
        return zoo_model(name).build()

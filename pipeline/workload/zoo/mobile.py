"""Inverted-residual networks: MobileNet-V2, MobileNet-V3-Large, EfficientNet-B0 and MnasNet 1.0.

Each is a stem, a list of inverted-residual stages and a head; the stage tables are the papers'
(and torchvision's) settings.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from confx.pipeline.workload.zoo.blocks import Activation, Classifier, InvertedResidual, conv_norm_act, make_divisible


def _stages(
    c_in: int, settings: Sequence[tuple[int, int, int, int, int]], **block_options: object
) -> tuple[list[nn.Module], int]:
    """Blocks for ``(expand_ratio, kernel, c_out, repeats, stride)`` stages; returns them and the last width."""
    blocks: list[nn.Module] = []
    for expand, kernel, c_out, repeats, stride in settings:
        for i in range(repeats):
            blocks.append(InvertedResidual(c_in, c_out, kernel, stride if i == 0 else 1, c_in * expand,
                                           **block_options))  # type: ignore[arg-type]  # fmt: skip
            c_in = c_out
    return blocks, c_in


def mobilenet_v2() -> nn.Module:
    """MobileNet-V2 (Sandler et al. 2018), width 1.0; 0.30 GMACs at 224x224."""
    settings = [(1, 3, 16, 1, 1), (6, 3, 24, 2, 2), (6, 3, 32, 3, 2), (6, 3, 64, 4, 2), (6, 3, 96, 3, 1),
                (6, 3, 160, 3, 2), (6, 3, 320, 1, 1)]  # fmt: skip
    blocks, c_last = _stages(32, settings)
    return nn.Sequential(conv_norm_act(3, 32, 3, 2, act=nn.ReLU6), *blocks, conv_norm_act(c_last, 1280, act=nn.ReLU6),
                         Classifier((1280, 1000), dropout=0.2))  # fmt: skip


def mobilenet_v3_large() -> nn.Module:
    """MobileNet-V3-Large (Howard et al. 2019): hard-swish, squeeze-excite on some blocks; 0.22 GMACs."""
    # (kernel, expanded, c_out, squeeze-excite, hard-swish, stride)
    settings = [
        (3, 16, 16, False, False, 1), (3, 64, 24, False, False, 2), (3, 72, 24, False, False, 1),
        (5, 72, 40, True, False, 2), (5, 120, 40, True, False, 1), (5, 120, 40, True, False, 1),
        (3, 240, 80, False, True, 2), (3, 200, 80, False, True, 1), (3, 184, 80, False, True, 1),
        (3, 184, 80, False, True, 1), (3, 480, 112, True, True, 1), (3, 672, 112, True, True, 1),
        (5, 672, 160, True, True, 2), (5, 960, 160, True, True, 1), (5, 960, 160, True, True, 1),
    ]  # fmt: skip
    blocks, c_in = [], 16
    for kernel, expanded, c_out, se, hard_swish, stride in settings:
        act: Activation = nn.Hardswish if hard_swish else nn.ReLU
        squeeze = make_divisible(expanded // 4) if se else 0
        blocks.append(InvertedResidual(c_in, c_out, kernel, stride, expanded, act=act, squeeze=squeeze,
                                       gate=nn.Hardsigmoid))  # fmt: skip
        c_in = c_out
    return nn.Sequential(conv_norm_act(3, 16, 3, 2, act=nn.Hardswish), *blocks,
                         conv_norm_act(c_in, 960, act=nn.Hardswish),
                         Classifier((960, 1280, 1000), act=nn.Hardswish, dropout=0.2))  # fmt: skip


def efficientnet_b0() -> nn.Module:
    """EfficientNet-B0 (Tan and Le 2019): SiLU, squeeze-excite to a quarter of each block's input; 0.39 GMACs."""
    settings = [(1, 3, 16, 1, 1), (6, 3, 24, 2, 2), (6, 5, 40, 2, 2), (6, 3, 80, 3, 2), (6, 5, 112, 3, 1),
                (6, 5, 192, 4, 2), (6, 3, 320, 1, 1)]  # fmt: skip
    blocks, c_in = [], 32
    for expand, kernel, c_out, repeats, stride in settings:
        for i in range(repeats):
            blocks.append(InvertedResidual(c_in, c_out, kernel, stride if i == 0 else 1, c_in * expand, act=nn.SiLU,
                                           squeeze=max(1, c_in // 4), se_act=nn.SiLU))  # fmt: skip
            c_in = c_out
    return nn.Sequential(conv_norm_act(3, 32, 3, 2, act=nn.SiLU), *blocks, conv_norm_act(c_in, 1280, act=nn.SiLU),
                         Classifier((1280, 1000), dropout=0.2))  # fmt: skip


def mnasnet1_0() -> nn.Module:
    """MnasNet-A1 without squeeze-excite as in torchvision's ``mnasnet1_0`` (Tan et al. 2019); 0.31 GMACs."""
    settings = [(3, 3, 24, 3, 2), (3, 5, 40, 3, 2), (6, 5, 80, 3, 2), (6, 3, 96, 2, 1), (6, 5, 192, 4, 2),
                (6, 3, 320, 1, 1)]  # fmt: skip
    blocks, c_last = _stages(16, settings, act=nn.ReLU)
    # The stem ends in a separable convolution: depthwise 3x3 and a 1x1 projection to 16 channels.
    stem = [conv_norm_act(3, 32, 3, 2), InvertedResidual(32, 16, 3, 1, 32, act=nn.ReLU)]
    return nn.Sequential(*stem, *blocks, conv_norm_act(c_last, 1280), Classifier((1280, 1000), dropout=0.2))

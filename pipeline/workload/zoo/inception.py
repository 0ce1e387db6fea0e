"""Multi-branch networks: Inception-v3 (with its 1x7/7x1 and 1x3/3x1 factorised kernels) and GoogLeNet."""

from __future__ import annotations

import torch
from torch import nn

from confx.pipeline.workload.zoo.blocks import Classifier, conv_norm_act

conv = conv_norm_act


class Concat(nn.Module):
    """Run branches on the same input and concatenate their channels."""

    def __init__(self, *branches: nn.Module):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], 1)


def _pool_branch(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(nn.AvgPool2d(3, 1, 1), conv(c_in, c_out))


def _split_3x3(c_in: int) -> nn.Module:
    """Inception-v3's factorised 3x3: 1x3 and 3x1 side by side, 384 channels each."""
    return Concat(conv(c_in, 384, (1, 3)), conv(c_in, 384, (3, 1)))


def _inception_a(c_in: int, pool_features: int) -> nn.Module:
    return Concat(
        conv(c_in, 64),
        nn.Sequential(conv(c_in, 48), conv(48, 64, 5)),
        nn.Sequential(conv(c_in, 64), conv(64, 96, 3), conv(96, 96, 3)),
        _pool_branch(c_in, pool_features),
    )


def _inception_b(c_in: int) -> nn.Module:
    return Concat(
        conv(c_in, 384, 3, 2, padding=0),
        nn.Sequential(conv(c_in, 64), conv(64, 96, 3), conv(96, 96, 3, 2, padding=0)),
        nn.MaxPool2d(3, 2),
    )


def _inception_c(c_in: int, c7: int) -> nn.Module:
    return Concat(
        conv(c_in, 192),
        nn.Sequential(conv(c_in, c7), conv(c7, c7, (1, 7)), conv(c7, 192, (7, 1))),
        nn.Sequential(conv(c_in, c7), conv(c7, c7, (7, 1)), conv(c7, c7, (1, 7)), conv(c7, c7, (7, 1)),
                      conv(c7, 192, (1, 7))),
        _pool_branch(c_in, 192),
    )  # fmt: skip


def _inception_d(c_in: int) -> nn.Module:
    return Concat(
        nn.Sequential(conv(c_in, 192), conv(192, 320, 3, 2, padding=0)),
        nn.Sequential(conv(c_in, 192), conv(192, 192, (1, 7)), conv(192, 192, (7, 1)),
                      conv(192, 192, 3, 2, padding=0)),
        nn.MaxPool2d(3, 2),
    )  # fmt: skip


def _inception_e(c_in: int) -> nn.Module:
    return Concat(
        conv(c_in, 320),
        nn.Sequential(conv(c_in, 384), _split_3x3(384)),
        nn.Sequential(conv(c_in, 448), conv(448, 384, 3), _split_3x3(384)),
        _pool_branch(c_in, 192),
    )


def inception_v3() -> nn.Module:
    """Inception-v3 (Szegedy et al. 2016) without the auxiliary head; 5.71 GMACs at its native 299x299."""
    stem = [conv(3, 32, 3, 2, padding=0), conv(32, 32, 3, padding=0), conv(32, 64, 3), nn.MaxPool2d(3, 2),
            conv(64, 80), conv(80, 192, 3, padding=0), nn.MaxPool2d(3, 2)]  # fmt: skip
    blocks = [
        _inception_a(192, 32), _inception_a(256, 64), _inception_a(288, 64), _inception_b(288),
        _inception_c(768, 128), _inception_c(768, 160), _inception_c(768, 160), _inception_c(768, 192),
        _inception_d(768), _inception_e(1280), _inception_e(2048),
    ]  # fmt: skip
    return nn.Sequential(*stem, *blocks, Classifier((2048, 1000), dropout=0.5))


def _googlenet_block(c_in: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int, pool: int) -> nn.Module:
    # torchvision's GoogLeNet (and ConfuciuX's catalog) uses 3x3 where the paper's "5x5" branch has 5x5.
    return Concat(
        conv(c_in, c1),
        nn.Sequential(conv(c_in, c3_reduce), conv(c3_reduce, c3, 3)),
        nn.Sequential(conv(c_in, c5_reduce), conv(c5_reduce, c5, 3)),
        nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), conv(c_in, pool)),
    )


def googlenet() -> nn.Module:
    """GoogLeNet (Szegedy et al. 2015) as in torchvision, without auxiliary heads; 1.50 GMACs."""

    def pool(kernel: int = 3) -> nn.Module:
        return nn.MaxPool2d(kernel, 2, ceil_mode=True)

    settings = [
        (192, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64), None,
        (480, 192, 96, 208, 16, 48, 64), (512, 160, 112, 224, 24, 64, 64), (512, 128, 128, 256, 24, 64, 64),
        (512, 112, 144, 288, 32, 64, 64), (528, 256, 160, 320, 32, 128, 128), 2,
        (832, 256, 160, 320, 32, 128, 128), (832, 384, 192, 384, 48, 128, 128),
    ]  # fmt: skip
    blocks = [pool() if s is None else pool(s) if isinstance(s, int) else _googlenet_block(*s) for s in settings]
    stem = [conv(3, 64, 7, 2), pool(), conv(64, 64), conv(64, 192, 3), pool()]
    return nn.Sequential(*stem, *blocks, Classifier((1024, 1000), dropout=0.2))

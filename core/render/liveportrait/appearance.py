"""F, the appearance feature extractor: a 256² RGB crop → a 3-D feature volume
f_s [B, 32, 16, 64, 64] that the warping module moves (facts §2)."""

from __future__ import annotations

import torch
from torch import nn

from core.render.liveportrait.layers import ConvNormAct2d, DownBlock2d, ResBlock3d

CHANNELS_3D = 32
DEPTH = 16


class AppearanceFeatureExtractor(nn.Module):
    """Conv + two down blocks (64 → 128 → 256 channels, 256² → 64²), a 1×1 lift to 512
    channels read as 32 × depth 16, then six 3-D residual blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.first = ConvNormAct2d(3, 64)
        self.down_blocks = nn.ModuleList([DownBlock2d(64, 128), DownBlock2d(128, 256)])
        self.second = nn.Conv2d(256, CHANNELS_3D * DEPTH, 1)
        self.resblocks_3d = nn.Sequential()
        for i in range(6):
            self.resblocks_3d.add_module(f"3dr{i}", ResBlock3d(CHANNELS_3D))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image: [B, 3, 256, 256] RGB in [0, 1]."""
        x = self.first(image)
        for block in self.down_blocks:
            x = block(x)
        x = self.second(x)
        b, _, h, w = x.shape
        return self.resblocks_3d(x.view(b, CHANNELS_3D, DEPTH, h, w))

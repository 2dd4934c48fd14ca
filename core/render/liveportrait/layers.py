"""Building blocks shared by the LivePortrait networks (facts §2).

Attribute names are part of the checkpoint format: each block registers its layers under
the names the official state dicts use (``conv``, ``norm``, ``conv1`` …) and in the same
order, so ``state_dict()`` lists the manifest's keys in the manifest's order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvNormAct2d(nn.Module):
    """3×3 conv, BatchNorm, then ReLU (or LeakyReLU 0.01): the same-size 2-D block."""

    def __init__(self, cin: int, cout: int, leaky: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm = nn.BatchNorm2d(cout)
        self.leaky = leaky

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x))
        return F.leaky_relu(x, 0.01) if self.leaky else F.relu(x)


class DownBlock2d(ConvNormAct2d):
    """3×3 conv, BatchNorm, ReLU, then 2×2 average pooling (half the size)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(super().forward(x), 2)


class ResBlock3d(nn.Module):
    """Pre-activation 3-D residual block: x + conv2(relu(bn2(conv1(relu(bn1(x))))))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        # registration order = the checkpoint's key order: conv1, conv2, norm1, norm2
        self.conv1 = nn.Conv3d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv3d(channels, channels, 3, padding=1)
        self.norm1 = nn.BatchNorm3d(channels)
        self.norm2 = nn.BatchNorm3d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(F.relu(self.norm1(x)))
        y = self.conv2(F.relu(self.norm2(y)))
        return x + y


class ConvNormRelu3d(nn.Module):
    """3×3×3 conv, BatchNorm, ReLU; ``down`` pools (1,2,2) after, ``up`` doubles h and w
    (nearest) before: the hourglass's blocks."""

    def __init__(self, cin: int, cout: int, resample: str | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, 3, padding=1)
        self.norm = nn.BatchNorm3d(cout)
        self.resample = resample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "up":
            x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0))
        x = F.relu(self.norm(self.conv(x)))
        if self.resample == "down":
            x = F.avg_pool3d(x, (1, 2, 2))
        return x

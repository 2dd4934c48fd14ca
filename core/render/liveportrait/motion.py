"""M, the motion extractor: a ConvNeXt-V2 tiny backbone with seven linear heads giving
the implicit keypoints, the head pose logits, the translation, the expression and the
scale of a 256² crop (facts §2, ConvNeXt-V2 paper for the blocks)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NUM_KP = 21
POSE_BINS = 66
DEPTHS = (3, 3, 9, 3)
WIDTHS = (96, 192, 384, 768)
LN_EPS = 1e-6
#: head name → output size, in the checkpoint's order
HEADS = {"kp": 3 * NUM_KP, "scale": 1, "pitch": POSE_BINS, "yaw": POSE_BINS,
         "roll": POSE_BINS, "t": 3, "exp": 3 * NUM_KP}
#: the order of the output dict
OUTPUTS = ("pitch", "yaw", "roll", "t", "exp", "scale", "kp")


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channels of a [B, C, H, W] map."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + LN_EPS)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class GlobalResponseNorm(nn.Module):
    """GRN on channels-last maps: each channel's L2 energy over the image, relative to the
    mean energy over channels, rescales it (ConvNeXt-V2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, channels))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        energy = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        rel = energy / (energy.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * rel) + self.beta + x


class ConvNeXtBlock(nn.Module):
    """Depthwise 7×7, LayerNorm, 4× linear, GELU, GRN, linear back, plus the input."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.grn = GlobalResponseNorm(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.grn(F.gelu(self.pwconv1(self.norm(y)))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtV2Keypoints(nn.Module):
    """The backbone and the heads (the official ``detector``)."""

    def __init__(self) -> None:
        super().__init__()
        stem = nn.Sequential(nn.Conv2d(3, WIDTHS[0], 4, stride=4),
                             ChannelsFirstLayerNorm(WIDTHS[0]))
        downs = [nn.Sequential(ChannelsFirstLayerNorm(WIDTHS[i]),
                               nn.Conv2d(WIDTHS[i], WIDTHS[i + 1], 2, stride=2))
                 for i in range(3)]
        self.downsample_layers = nn.ModuleList([stem, *downs])
        self.stages = nn.ModuleList(
            nn.Sequential(*(ConvNeXtBlock(w) for _ in range(d)))
            for d, w in zip(DEPTHS, WIDTHS, strict=True)
        )
        self.norm = nn.LayerNorm(WIDTHS[-1], eps=LN_EPS)
        for name, size in HEADS.items():
            self.add_module(f"fc_{name}", nn.Linear(WIDTHS[-1], size))

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = image
        for down, stage in zip(self.downsample_layers, self.stages, strict=True):
            x = stage(down(x))
        x = self.norm(x.mean((-2, -1)))
        return {name: getattr(self, f"fc_{name}")(x) for name in OUTPUTS}


class MotionExtractor(nn.Module):
    """M: the official file's keys all start with ``detector.``."""

    def __init__(self) -> None:
        super().__init__()
        self.detector = ConvNeXtV2Keypoints()

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """image: [B, 3, 256, 256] RGB in [0, 1] → raw heads: pitch, yaw, roll [B, 66]
        logits; t [B, 3]; exp, kp [B, 63]; scale [B, 1]."""
        return self.detector(image)

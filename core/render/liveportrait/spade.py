"""G, the SPADE decoder: the warped 256-channel feature at 64² → a 512² RGB image
(facts §2; Park et al., "Semantic Image Synthesis with Spatially-Adaptive Normalization").

The feature itself is the "segmentation map" that modulates every normalisation. The
residual blocks' convolutions carry spectral norm in the checkpoint (``weight_orig``,
``weight_u``, ``weight_v``); at inference the weight is ``weight_orig / σ`` with
σ = u · (W v), no power iteration.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_CHANNELS = 256
HIDDEN = 128


class SpectralConv2d(nn.Module):
    """A conv whose weight is stored as (weight_orig, u, v) and divided by σ = u·(W v)."""

    def __init__(self, cin: int, cout: int, kernel: int, bias: bool = True) -> None:
        super().__init__()
        # registration order = the checkpoint's: bias, weight_orig, then the buffers
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.weight_orig = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
        nn.init.kaiming_uniform_(self.weight_orig, a=5 ** 0.5)
        self.register_buffer("weight_u", F.normalize(torch.randn(cout), dim=0))
        self.register_buffer("weight_v", F.normalize(torch.randn(cin * kernel * kernel), dim=0))
        self.padding = kernel // 2

    def weight(self) -> torch.Tensor:
        w = self.weight_orig
        with torch.autocast(w.device.type, enabled=False):  # σ in the weights' precision
            sigma = torch.dot(self.weight_u, torch.mv(w.reshape(w.shape[0], -1), self.weight_v))
            return w / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)


class SPADE(nn.Module):
    """Parameter-free instance norm, modulated per pixel by convs of the feature map:
    norm(x)·(1 + γ) + β."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Conv2d(FEATURE_CHANNELS, HIDDEN, 3, padding=1),
                                        nn.ReLU())
        self.mlp_gamma = nn.Conv2d(HIDDEN, channels, 3, padding=1)
        self.mlp_beta = nn.Conv2d(HIDDEN, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        normalized = F.instance_norm(x, eps=1e-5)
        feature = F.interpolate(feature, size=x.shape[2:], mode="nearest")
        hidden = self.mlp_shared(feature)
        return normalized * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)


class SPADEResBlock(nn.Module):
    """x' = shortcut(x) + conv_1(lrelu(norm_1(conv_0(lrelu(norm_0(x)))))); the shortcut
    is conv_s(norm_s(x)) when the width changes."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        middle = min(cin, cout)
        self.learned_shortcut = cin != cout
        self.conv_0 = SpectralConv2d(cin, middle, 3)
        self.conv_1 = SpectralConv2d(middle, cout, 3)
        if self.learned_shortcut:
            self.conv_s = SpectralConv2d(cin, cout, 1, bias=False)
        self.norm_0 = SPADE(cin)
        self.norm_1 = SPADE(middle)
        if self.learned_shortcut:
            self.norm_s = SPADE(cin)

    def forward(self, x: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        skip = self.conv_s(self.norm_s(x, feature)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, feature), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, feature), 0.2))
        return skip + dx


class SPADEDecoder(nn.Module):
    """G: conv to 512, six SPADE blocks at 64², up ×2 to 256 channels, up ×2 to 64, then a
    conv to 12 channels, pixel shuffle ×2 and a sigmoid: [B, 3, 512, 512] in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        width = 2 * FEATURE_CHANNELS
        self.fc = nn.Conv2d(FEATURE_CHANNELS, width, 3, padding=1)
        for i in range(6):
            self.add_module(f"G_middle_{i}", SPADEResBlock(width, width))
        self.up_0 = SPADEResBlock(width, FEATURE_CHANNELS)
        self.up_1 = SPADEResBlock(FEATURE_CHANNELS, 64)
        self.conv_img = nn.Sequential(nn.Conv2d(64, 3 * 4, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        x = self.fc(feature)
        for i in range(6):
            x = getattr(self, f"G_middle_{i}")(x, feature)
        x = self.up_0(F.interpolate(x, scale_factor=2.0), feature)
        x = self.up_1(F.interpolate(x, scale_factor=2.0), feature)
        return torch.sigmoid(self.conv_img(F.leaky_relu(x, 0.2)))

"""W, the warping module with its dense motion network (facts §2, after the
first-order-motion / face-vid2vid 3-D formulation).

From the source and driving keypoints it builds 22 candidate motions of the feature
volume (the identity, and one translation per keypoint), lets a 3-D hourglass choose
between them per voxel (a softmax mask), warps the appearance features with the blended
deformation, and predicts an occlusion map that dims what the source cannot show.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.render.liveportrait.layers import ConvNormAct2d, ConvNormRelu3d

NUM_KP = 21
KP_VARIANCE = 0.01
COMPRESS = 4
FEATURE_CHANNELS = 32
DEPTH = 16


def coordinate_grid(d: int, h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """[d, h, w, 3] voxel centres in [-1, 1] (2·i/(n−1) − 1), channels (x, y, z)."""

    def axis(n: int) -> torch.Tensor:
        return 2 * (torch.arange(n, device=device, dtype=dtype) / (n - 1)) - 1

    z, y, x = torch.meshgrid(axis(d), axis(h), axis(w), indexing="ij")
    return torch.stack([x, y, z], dim=-1)


def keypoint_heatmaps(kp: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Gaussians exp(−½‖g − k‖² / 0.01) of every keypoint: [B, K, d, h, w]."""
    diff = grid[None, None] - kp[:, :, None, None, None, :]
    return torch.exp(-0.5 * (diff * diff).sum(-1) / KP_VARIANCE)


class Hourglass3d(nn.Module):
    """Five down and five up 3-D blocks with skips, then a 3×3×3 conv over input + output
    (in_channels + block_expansion channels out)."""

    def __init__(self, cin: int, expansion: int = 32, blocks: int = 5, cmax: int = 1024) -> None:
        super().__init__()
        widths = [min(cmax, expansion * 2 ** (i + 1)) for i in range(blocks)]
        self.encoder = nn.Module()
        self.encoder.down_blocks = nn.ModuleList(
            ConvNormRelu3d(cin if i == 0 else widths[i - 1], widths[i], "down")
            for i in range(blocks)
        )
        self.decoder = nn.Module()
        ups = []
        for i in reversed(range(blocks)):
            fan_in = widths[i] * (1 if i == blocks - 1 else 2)
            fan_out = widths[i - 1] if i > 0 else expansion
            ups.append(ConvNormRelu3d(fan_in, fan_out, "up"))
        self.decoder.up_blocks = nn.ModuleList(ups)
        self.out_channels = expansion + cin
        self.decoder.conv = nn.Conv3d(self.out_channels, self.out_channels, 3, padding=1)
        self.decoder.norm = nn.BatchNorm3d(self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [x]
        for block in self.encoder.down_blocks:
            skips.append(block(skips[-1]))
        out = skips.pop()
        for block in self.decoder.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return F.relu(self.decoder.norm(self.decoder.conv(out)))


class DenseMotionNetwork(nn.Module):
    """Keypoints → per-voxel deformation [B, d, h, w, 3] and occlusion map [B, 1, h, w]."""

    def __init__(self) -> None:
        super().__init__()
        n = NUM_KP + 1
        self.hourglass = Hourglass3d(n * (COMPRESS + 1))
        self.mask = nn.Conv3d(self.hourglass.out_channels, n, 7, padding=3)
        self.compress = nn.Conv3d(FEATURE_CHANNELS, COMPRESS, 1)
        self.norm = nn.BatchNorm3d(COMPRESS)
        self.occlusion = nn.Conv2d(self.hourglass.out_channels * DEPTH, 1, 7, padding=3)

    def forward(self, feature: torch.Tensor, kp_driving: torch.Tensor,
                kp_source: torch.Tensor) -> dict[str, torch.Tensor]:
        b, _, d, h, w = feature.shape
        feature = F.relu(self.norm(self.compress(feature)))
        c = feature.shape[1]
        grid = coordinate_grid(d, h, w, feature.device, feature.dtype)
        # motion k maps a driving voxel to where it comes from in the source: the identity
        # for the background, else a translation by (source − driving) keypoint k
        shift = grid[None, None] - kp_driving[:, :, None, None, None, :]
        motions = shift + kp_source[:, :, None, None, None, :]
        motions = torch.cat([grid[None, None].expand(b, 1, d, h, w, 3), motions], dim=1)
        n = motions.shape[1]
        moved = F.grid_sample(
            feature[:, None].expand(b, n, c, d, h, w).reshape(b * n, c, d, h, w),
            motions.reshape(b * n, d, h, w, 3), align_corners=False,
        ).view(b, n, c, d, h, w)
        heat = keypoint_heatmaps(kp_driving, grid) - keypoint_heatmaps(kp_source, grid)
        heat = torch.cat([heat.new_zeros(b, 1, d, h, w), heat], dim=1)
        x = torch.cat([heat[:, :, None], moved], dim=2).view(b, -1, d, h, w)
        prediction = self.hourglass(x)
        mask = F.softmax(self.mask(prediction), dim=1)
        deformation = (motions.permute(0, 1, 5, 2, 3, 4) * mask[:, :, None]).sum(dim=1)
        occlusion = torch.sigmoid(self.occlusion(prediction.reshape(b, -1, h, w)))
        return {"mask": mask, "deformation": deformation.permute(0, 2, 3, 4, 1),
                "occlusion_map": occlusion}


class WarpingModule(nn.Module):
    """W: warp f_s by the dense motion, fold depth into channels (512), two 2-D convs to
    256 channels, times the occlusion map."""

    def __init__(self) -> None:
        super().__init__()
        self.dense_motion_network = DenseMotionNetwork()
        self.third = ConvNormAct2d(FEATURE_CHANNELS * DEPTH, 256, leaky=True)
        self.fourth = nn.Conv2d(256, 256, 1)

    def forward(self, feature_3d: torch.Tensor, kp_driving: torch.Tensor,
                kp_source: torch.Tensor) -> dict[str, torch.Tensor]:
        """feature_3d [B, 32, 16, 64, 64]; keypoints [B, 21, 3] → occlusion_map,
        deformation, out [B, 256, 64, 64] (and the dense motion's mask)."""
        dense = self.dense_motion_network(feature_3d, kp_driving, kp_source)
        warped = F.grid_sample(feature_3d, dense["deformation"], align_corners=False)
        b, c, d, h, w = warped.shape
        out = self.fourth(self.third(warped.view(b, c * d, h, w)))
        return {"occlusion_map": dense["occlusion_map"], "deformation": dense["deformation"],
                "out": out * dense["occlusion_map"], "mask": dense["mask"]}

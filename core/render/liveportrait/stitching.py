"""S, the stitching and retargeting MLPs (facts §5).

Stitching nudges the driving keypoints so that the pasted-back crop meets the frame around
it (shoulders and neck stay put); the lip and eye MLPs move the keypoints to a wanted lip
or eye opening ratio.
"""

from __future__ import annotations

import torch
from torch import nn

NUM_KP = 21
#: file sub-dict → (input size, hidden sizes, output size)
SIZES = {
    "retarget_shoulder": (126, (128, 128, 64), 65),
    "retarget_mouth": (65, (128, 128, 64), 63),
    "retarget_eye": (66, (256, 256, 128, 128, 64), 63),
}


class RetargetingMLP(nn.Module):
    """Linear layers with ReLU between them (keys mlp.0, mlp.2, …)."""

    def __init__(self, size_in: int, hidden: tuple[int, ...], size_out: int) -> None:
        super().__init__()
        sizes = (size_in, *hidden, size_out)
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.mlp = nn.Sequential(*layers[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class StitchingRetargeting(nn.Module):
    """The three MLPs of ``stitching_retargeting_module.pth``, by their file names."""

    def __init__(self) -> None:
        super().__init__()
        for name, (a, hidden, b) in SIZES.items():
            self.add_module(name, RetargetingMLP(a, hidden, b))

    def stitch_delta(self, x_s: torch.Tensor, x_d: torch.Tensor) -> torch.Tensor:
        """The stitching MLP on [x_s, x_d] (126): Δ of 65 (63 keypoint offsets, tx, ty)."""
        b = x_s.shape[0]
        return self.retarget_shoulder(torch.cat([x_s.view(b, -1), x_d.view(b, -1)], dim=1))

    def stitch(self, x_s: torch.Tensor, x_d: torch.Tensor) -> torch.Tensor:
        """x_d moved by the stitching Δ: per-keypoint offsets, plus a shared (tx, ty)."""
        b = x_s.shape[0]
        delta = self.stitch_delta(x_s, x_d)
        out = x_d + delta[:, : 3 * NUM_KP].reshape(b, NUM_KP, 3)
        shift = torch.zeros_like(out)
        shift[..., :2] = delta[:, None, 3 * NUM_KP: 3 * NUM_KP + 2]
        return out + shift

    def lip_delta(self, x_s: torch.Tensor, lip_ratio: torch.Tensor) -> torch.Tensor:
        """Δ [B, 21, 3] that gives the lips the wanted ratio; ratio = [c_s_lip, c_d_lip]."""
        b = x_s.shape[0]
        x = torch.cat([x_s.view(b, -1), lip_ratio.view(b, -1)], dim=1)
        return self.retarget_mouth(x).view(b, NUM_KP, 3)

    def eye_delta(self, x_s: torch.Tensor, eye_ratio: torch.Tensor) -> torch.Tensor:
        """Δ [B, 21, 3] for the eyes; ratio = [c_s_left, c_s_right, c_d_left]."""
        b = x_s.shape[0]
        x = torch.cat([x_s.view(b, -1), eye_ratio.view(b, -1)], dim=1)
        return self.retarget_eye(x).view(b, NUM_KP, 3)

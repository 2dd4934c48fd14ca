"""The adapter's losses on keypoints, with weights the user can set.

- ``l1``: L1 between the adapter's ΔE and the tracked ΔE on the lip points, tracked frames
  only, the lip contour (what a viewer reads, and what M-LDM measures) weighted up by
  ``lips`` against the jaw and chin;
- ``vel``: L1 between their frame-to-frame differences, so the lips do not jitter where the
  per-frame error is small but its sign flips;
- ``silent``: |ΔE| for silent input (ControlTalk §3.3's dual training): a pause or a
  zero-energy dub must give the closed neutral S(E), whatever the reference face is.

ControlTalk trains with a perceptual loss on rendered frames plus a Wav2Lip-style sync
loss; the stabilised-sync paper replaces the latter with a stabilised one. Both need a
renderer in the loop or a pretrained audio-visual sync expert, neither of which we have
yet; a keypoint-space sync expert is the next step (``LossWeights.sync`` is reserved).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class LossWeights:
    """λ of each term of the total loss."""

    l1: float = 1.0
    vel: float = 1.0
    silent: float = 0.5
    sync: float = 0.0  # reserved: the sync expert is not built yet
    lips: float = 2.0  # extra weight of the lip-contour points in l1, vel and validation

    def to_json(self) -> dict:
        return asdict(self)


def _point_mean(err: torch.Tensor, point_weight: torch.Tensor | None) -> torch.Tensor:
    """Mean over the last two axes (points, xyz), points weighted (weights of mean 1)."""
    per_point = err.mean(dim=-1)
    if point_weight is None:
        return per_point.mean(dim=-1)
    return (per_point * point_weight).mean(dim=-1)


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
              point_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean |pred − target| over points and axes of the frames where ``mask`` (B,) is set."""
    per = _point_mean((pred - target).abs(), point_weight)
    return (per * mask).sum() / mask.sum().clamp_min(1.0)


def velocity_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, seq: int,
                point_weight: torch.Tensor | None = None) -> torch.Tensor:
    """L1 of frame-to-frame changes inside each sequence of ``seq`` frames."""
    p = pred.view(-1, seq, *pred.shape[1:])
    t = target.view(-1, seq, *target.shape[1:])
    m = mask.view(-1, seq)
    dp, dt = p[:, 1:] - p[:, :-1], t[:, 1:] - t[:, :-1]
    both = m[:, 1:] * m[:, :-1]
    per = _point_mean((dp - dt).abs(), point_weight)
    return (per * both).sum() / both.sum().clamp_min(1.0)


def silent_l1(pred_silent: torch.Tensor) -> torch.Tensor:
    """Mean |ΔE| on silent input: anything but zero opens a mouth that should stay shut."""
    return pred_silent.abs().mean()


def total_loss(terms: dict[str, torch.Tensor], weights: LossWeights) -> torch.Tensor:
    """Σ λ_k · term_k over the terms present."""
    out = torch.zeros((), device=next(iter(terms.values())).device)
    for name, value in terms.items():
        out = out + getattr(weights, name) * value
    return out

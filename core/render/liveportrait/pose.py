"""Head pose and implicit keypoints from the motion extractor's raw heads (facts §4).

x = s · (x_c · Rᵀ + exp) + (tx, ty, 0) with R = Rz(roll) · Ry(yaw) · Rx(pitch). The
functions return Rᵀ as the official code does, so keypoints (row vectors) are multiplied
on the right.
"""

from __future__ import annotations

import math

import torch

from core.render.liveportrait.motion import NUM_KP, POSE_BINS

DEGREES_PER_BIN = 3.0
DEGREES_OFFSET = 97.5


def pose_degrees(logits: torch.Tensor) -> torch.Tensor:
    """[B, 66] logits → [B, 1] degrees: the expected bin of the softmax, ×3 − 97.5."""
    bins = torch.arange(POSE_BINS, dtype=logits.dtype, device=logits.device)
    p = torch.softmax(logits, dim=1)
    return ((p * bins).sum(dim=1) * DEGREES_PER_BIN - DEGREES_OFFSET)[:, None]


def rotation_transposed(pitch: torch.Tensor, yaw: torch.Tensor,
                        roll: torch.Tensor) -> torch.Tensor:
    """Rᵀ [B, 3, 3] for angles in degrees ([B] or [B, 1])."""
    x, y, z = (a.reshape(-1) / 180 * math.pi for a in (pitch, yaw, roll))
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rx = torch.stack([one, zero, zero,
                      zero, torch.cos(x), -torch.sin(x),
                      zero, torch.sin(x), torch.cos(x)], dim=1).view(-1, 3, 3)
    ry = torch.stack([torch.cos(y), zero, torch.sin(y),
                      zero, one, zero,
                      -torch.sin(y), zero, torch.cos(y)], dim=1).view(-1, 3, 3)
    rz = torch.stack([torch.cos(z), -torch.sin(z), zero,
                      torch.sin(z), torch.cos(z), zero,
                      zero, zero, one], dim=1).view(-1, 3, 3)
    return (rz @ ry @ rx).transpose(1, 2)


def keypoint_info(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The motion extractor's heads made usable: angles in degrees [B, 1]; kp and exp as
    [B, 21, 3]; t [B, 3] and scale [B, 1] as they are."""
    b = raw["kp"].shape[0]
    return {
        "pitch": pose_degrees(raw["pitch"]), "yaw": pose_degrees(raw["yaw"]),
        "roll": pose_degrees(raw["roll"]), "t": raw["t"], "scale": raw["scale"],
        "exp": raw["exp"].reshape(b, NUM_KP, 3), "kp": raw["kp"].reshape(b, NUM_KP, 3),
    }


def transform_keypoints(kp: torch.Tensor, rot_t: torch.Tensor, exp: torch.Tensor,
                        scale: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x = s · (kp · Rᵀ + exp) + (tx, ty, 0): [B, 21, 3]. tz is never used."""
    x = (kp @ rot_t + exp) * scale[:, :, None]
    shift = torch.zeros_like(x)
    shift[..., :2] = t[:, None, :2]
    return x + shift


def implicit_keypoints(info: dict[str, torch.Tensor]) -> torch.Tensor:
    """x_s of a keypoint_info dict."""
    rot_t = rotation_transposed(info["pitch"], info["yaw"], info["roll"])
    return transform_keypoints(info["kp"], rot_t, info["exp"], info["scale"], info["t"])

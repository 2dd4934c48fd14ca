"""The five LivePortrait networks on one device, frozen, with the calls the renderer and
the keypoint backend make (facts §4-§6)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch

from core.render.liveportrait.appearance import AppearanceFeatureExtractor
from core.render.liveportrait.motion import MotionExtractor
from core.render.liveportrait.pose import implicit_keypoints, keypoint_info
from core.render.liveportrait.spade import SPADEDecoder
from core.render.liveportrait.stitching import StitchingRetargeting
from core.render.liveportrait.warping import WarpingModule
from core.render.liveportrait.weights import load_networks


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The device asked for, else CUDA when present, else the CPU."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


class LivePortrait:
    """F, M, W, G and S in eval mode. ``half`` runs the convolutions under CUDA fp16
    autocast (the official default on a GPU); outputs are always float32."""

    def __init__(self, device: str | torch.device | None = None, half: bool | None = None
                 ) -> None:
        self.device = pick_device(device)
        self.half = (self.device.type == "cuda") if half is None else bool(half)
        if self.half and self.device.type != "cuda":
            raise ValueError("fp16 autocast needs a CUDA device")
        self.appearance = AppearanceFeatureExtractor()
        self.motion = MotionExtractor()
        self.warping = WarpingModule()
        self.decoder = SPADEDecoder()
        self.stitching = StitchingRetargeting()
        self.paths: dict[str, Path] = {}

    @property
    def networks(self) -> dict[str, torch.nn.Module]:
        """By checkpoint name."""
        return {"appearance_feature_extractor": self.appearance,
                "motion_extractor": self.motion, "warping_module": self.warping,
                "spade_generator": self.decoder, "stitching_retargeting_module": self.stitching}

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device | None = None,
             half: bool | None = None) -> LivePortrait:
        """The networks with the official weights under ``folder`` (see weights.py)."""
        lp = cls(device, half)
        lp.paths = load_networks(folder, lp.networks)
        for net in lp.networks.values():
            net.to(lp.device).eval().requires_grad_(False)
        return lp

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.float16) if self.half else nullcontext()

    def _in(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, torch.float32)

    @torch.inference_mode()
    def features(self, image: torch.Tensor) -> torch.Tensor:
        """f_s [B, 32, 16, 64, 64] of crops [B, 3, 256, 256] in [0, 1]."""
        with self._autocast():
            return self.appearance(self._in(image)).float()

    @torch.inference_mode()
    def motion_raw(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """The motion extractor's raw heads (float32)."""
        with self._autocast():
            return {k: v.float() for k, v in self.motion(self._in(image)).items()}

    @torch.inference_mode()
    def keypoints(self, image: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(keypoint_info, x_s) of crops: pose in degrees, kp/exp [B, 21, 3], and x_s."""
        info = keypoint_info(self.motion_raw(image))
        return info, implicit_keypoints(info)

    @torch.inference_mode()
    def warp(self, f_s: torch.Tensor, x_s: torch.Tensor, x_d: torch.Tensor
             ) -> dict[str, torch.Tensor]:
        """The warping module: out [B, 256, 64, 64], deformation, occlusion_map, mask."""
        with self._autocast():
            out = self.warping(self._in(f_s), kp_driving=self._in(x_d),
                               kp_source=self._in(x_s))
        return {k: v.float() for k, v in out.items()}

    @torch.inference_mode()
    def decode(self, feature: torch.Tensor) -> torch.Tensor:
        """The SPADE decoder: [B, 3, 512, 512] in [0, 1]."""
        with self._autocast():
            return self.decoder(self._in(feature)).float()

    @torch.inference_mode()
    def stitch(self, x_s: torch.Tensor, x_d: torch.Tensor) -> torch.Tensor:
        """x_d stitched to x_s (the MLPs are tiny: always float32)."""
        return self.stitching.stitch(self._in(x_s), self._in(x_d))

    @torch.inference_mode()
    def render(self, f_s: torch.Tensor, x_s: torch.Tensor, x_d: torch.Tensor,
               stitch: bool = True) -> torch.Tensor:
        """Stitch, warp and decode a batch: [B, 3, 512, 512] in [0, 1]."""
        if stitch:
            x_d = self.stitch(x_s, x_d)
        return self.decode(self.warp(f_s, x_s, x_d)["out"])

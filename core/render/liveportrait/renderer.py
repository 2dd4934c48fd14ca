"""The ``liveportrait`` renderer: the official networks draw the face, then it is pasted
back into the frame (facts §3-§6).

Per output frame: crop the source frame around its tracked landmarks; the appearance
features f_s and the source keypoints x_s of that crop (cached, LRU, since a portrait or a
held frame repeats); driving keypoints x_d = x_s + the landmark edit carried onto the
implicit keypoints (transfer.py); stitching, warping, decoding to 512²; paste-back
through a feathered mask. On CUDA the convolutions run under fp16 autocast and export
renders batches of frames; on the CPU a frame takes seconds, so it serves export only and
the preview stays on the warp renderer.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.keypoints.regions import RegionSet
from core.paths import weights_dir
from core.render.liveportrait.crop import Crop, crop_for, cut, feather_mask, paste_back
from core.render.liveportrait.model import LivePortrait, pick_device
from core.render.liveportrait.transfer import transfer_offsets
from core.render.liveportrait.weights import WeightsError, checkpoint_paths
from core.render.mesh import MeshTopology, build_topology
from core.render.registry import RendererUnavailable
from core.render.warp import resize_for

CUDA_BATCH = 8


def default_weights() -> Path:
    """Where ``studio weights fetch`` puts the official files."""
    return weights_dir() / "LivePortrait"


@lru_cache(maxsize=1)
def _networks(folder: str, device: str, half: bool) -> LivePortrait:
    return LivePortrait.load(folder, device=device, half=half)


def shared_networks(weights: str | Path | None = None, device: str | None = None,
                    half: bool | None = None) -> LivePortrait:
    """The networks for a weights folder, loaded once per process (they are read-only).
    Raises RendererUnavailable naming the file when the weights are missing or wrong."""
    folder = Path(weights) if weights is not None else default_weights()
    dev = pick_device(device)
    use_half = (dev.type == "cuda") if half is None else bool(half)
    try:
        checkpoint_paths(folder)  # a quick, clear error before reading 500 MB
        return _networks(str(folder.resolve()), str(dev), use_half)
    except WeightsError as exc:
        hint = "" if weights is not None else \
            " (no --weights folder given, so the default one was tried)"
        raise RendererUnavailable(exc.path, exc.problem + hint) from exc


class LivePortraitRenderer:
    """Draws frames with LivePortrait; keeps the networks and a small cache of sources."""

    name = "liveportrait"

    def __init__(self, regions: RegionSet, weights: str | Path | None = None, *,
                 device: str | None = None, half: bool | None = None,
                 networks: LivePortrait | None = None, cache_size: int = 16) -> None:
        self.regions = regions
        self.lp = networks if networks is not None else shared_networks(weights, device, half)
        on_gpu = self.lp.device.type == "cuda"
        self.preview = on_gpu
        self.batch_size = CUDA_BATCH if on_gpu else 1
        self.cache_size = cache_size
        self._sources: OrderedDict[bytes, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._lock = threading.Lock()
        self._topology: MeshTopology | None = None

    def topology(self, reference: np.ndarray) -> MeshTopology:
        """The clip's warp mesh (built once): it carries the edit onto the keypoints."""
        if self._topology is None:
            self._topology = build_topology(self.regions, reference)
        return self._topology

    def __copy__(self) -> LivePortraitRenderer:
        """A twin for another thread: same networks, its own source cache."""
        other = object.__new__(LivePortraitRenderer)
        other.__dict__.update(self.__dict__)
        other._sources = OrderedDict()
        other._lock = threading.Lock()
        return other

    # -- the source side, cached -----------------------------------------------------------

    def _key(self, frame: np.ndarray, crop: Crop) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        h.update(np.ascontiguousarray(frame).data)
        h.update(np.round(crop.matrix, 4).tobytes())
        return h.digest()

    def source(self, frame: np.ndarray, crop: Crop) -> tuple[torch.Tensor, torch.Tensor]:
        """(f_s [1, 32, 16, 64, 64], x_s [1, 21, 3]) of the frame's crop, from the LRU."""
        key = self._key(frame, crop)
        with self._lock:
            hit = self._sources.get(key)
            if hit is not None:
                self._sources.move_to_end(key)
                return hit
        image = torch.from_numpy(cut(frame, crop)).permute(2, 0, 1)[None].float() / 255
        f_s = self.lp.features(image)
        _, x_s = self.lp.keypoints(image)
        with self._lock:
            self._sources[key] = (f_s, x_s)
            while len(self._sources) > self.cache_size:
                self._sources.popitem(last=False)
        return f_s, x_s

    # -- drawing ------------------------------------------------------------------------

    def render(self, frame: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray, *,
               out_size: tuple[int, int] | None = None, mouth: Any = None) -> np.ndarray:
        """One frame (``mouth`` is ignored: the decoder draws the inner mouth itself)."""
        return self.render_batch([(frame, src_pts, dst_pts, mouth)], out_size=out_size)[0]

    def render_batch(self, items: list[tuple[np.ndarray, np.ndarray, np.ndarray, Any]], *,
                     out_size: tuple[int, int] | None = None) -> list[np.ndarray]:
        """Frames (frame, src_pts, dst_pts, mouth) drawn in one network call per batch."""
        outs: list[np.ndarray | None] = [None] * len(items)
        todo = []
        for i, (frame, src, dst, *_) in enumerate(items):
            frame = np.asarray(frame)
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"frame must be (H, W, 3) uint8, got {frame.dtype} "
                                 f"{frame.shape}")
            src = np.asarray(src, np.float64)
            dst = np.asarray(dst, np.float64)
            if not (np.isfinite(src).all() and np.isfinite(dst).all()):
                outs[i] = np.array(frame, copy=True)  # no face here: nothing to move
                continue
            try:
                crop = crop_for(src, self.regions)
            except ValueError:
                outs[i] = np.array(frame, copy=True)
                continue
            f_s, x_s = self.source(frame, crop)
            offset = transfer_offsets(x_s[0].cpu().numpy(), src, dst, crop,
                                      self.topology(src))
            x_d = x_s + torch.from_numpy(offset).to(x_s.device)[None]
            todo.append((i, frame, crop, f_s, x_s, x_d))
        for a in range(0, len(todo), self.batch_size):
            chunk = todo[a:a + self.batch_size]
            images = self.lp.render(torch.cat([c[3] for c in chunk]),
                                    torch.cat([c[4] for c in chunk]),
                                    torch.cat([c[5] for c in chunk]))
            images = (images.clamp(0, 1) * 255).round().to(torch.uint8)
            images = images.permute(0, 2, 3, 1).cpu().numpy()
            for (i, frame, crop, *_), image in zip(chunk, images, strict=True):
                outs[i] = paste_back(frame, image, crop, feather_mask(crop.size))
        if out_size is not None:
            outs = [o if tuple(out_size) == (o.shape[1], o.shape[0]) else resize_for(o, out_size)
                    for o in outs]
        return outs  # type: ignore[return-value]

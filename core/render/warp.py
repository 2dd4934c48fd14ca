"""The `warp` renderer: a piecewise-affine backward warp of the source frame (no weights).

For every output pixel near the moving part of the face we find the edited-mesh triangle it
falls in, map it through that triangle's affine to the source mesh, and sample the source
there bilinearly (OpenCV's ``remap`` on the CPU, ``grid_sample`` on a GPU). Triangle ids are
rasterised with OpenCV into an index image over the bounding box of the triangles that move,
so the per-pixel work is one gather and one multiply-add; pixels of triangles that do not
move, and every pixel outside the anchor ring, are copied from the source untouched
(bit-identical).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.keypoints.regions import RegionSet, load_regions
from core.render.mesh import (
    DEFAULT_MARGIN,
    MeshTopology,
    build_topology,
    hull_mask,
    mesh_vertices,
    polygon_mask,
    unfold,
)
from core.render.mouth import MouthFill, apply_mouth_fill

MOVE_EPS = 1e-3  # pixels: a vertex closer than this to its source position has not moved
_SHIFT = 4  # sub-pixel bits for OpenCV's rasteriser
_PAD = 2  # pixels of context around the sampled source box (bilinear needs one)


def scale_points(
    points: np.ndarray, size_from: tuple[int, int], size_to: tuple[int, int]
) -> np.ndarray:
    """Points in continuous pixels of a (w, h) frame, moved to a frame resized to (w', h')."""
    p = np.asarray(points, np.float64)[:, :2]
    return p * (np.asarray(size_to, np.float64) / np.asarray(size_from, np.float64))


def resize_for(frame: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """The frame at (w, h): area-averaged when shrinking (no aliasing), linear when growing."""
    w, h = int(out_size[0]), int(out_size[1])
    if w < 1 or h < 1:
        raise ValueError(f"out_size must be positive, got {out_size}")
    shrink = w * h < frame.shape[0] * frame.shape[1]
    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def triangle_affines(dst_tris: np.ndarray, src_tris: np.ndarray) -> np.ndarray:
    """(A, 3, 2) matrices Mᵀ with [x, y, 1] @ Mᵀ = source position, per edited triangle.

    Closed form (2x2 inverse per triangle): batched ``solve`` costs more than the rest of
    the grid on small triangles.
    """
    d0, s0 = dst_tris[:, 0], src_tris[:, 0]
    e1, e2 = dst_tris[:, 1] - d0, dst_tris[:, 2] - d0
    f1, f2 = src_tris[:, 1] - s0, src_tris[:, 2] - s0
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    inv = 1.0 / np.where(np.abs(det) < 1e-12, 1e-12, det)
    # inverse of [[e1x, e2x], [e1y, e2y]]
    i00, i01 = e2[:, 1] * inv, -e2[:, 0] * inv
    i10, i11 = -e1[:, 1] * inv, e1[:, 0] * inv
    # L = [f1 f2] @ inverse; its transpose's rows are the x and y coefficients.
    mt = np.empty((len(d0), 3, 2))
    mt[:, 0] = f1 * i00[:, None] + f2 * i10[:, None]
    mt[:, 1] = f1 * i01[:, None] + f2 * i11[:, None]
    mt[:, 2] = s0 - d0[:, :1] * mt[:, 0] - d0[:, 1:] * mt[:, 1]
    return mt


class WarpRenderer:
    """Draws edited frames of one clip; keeps the clip's mesh topology and torch device.

    ``render`` takes the source frame with its tracked 2-D points (K_t) and the edited
    points (K'_t), both (N, 2|3) in continuous pixels of that frame.
    """

    name = "warp"
    preview = True  # fast enough for the live preview everywhere
    batch_size = 1

    def __init__(
        self,
        regions: RegionSet | None = None,
        *,
        device: str | torch.device | None = None,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        self.regions = regions if regions is not None else load_regions("mediapipe")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.margin = margin
        self._topology: MeshTopology | None = None
        # the last preview-size source frame: a slider drag redraws one frame many times
        self._resized: tuple[np.ndarray, tuple[int, int], np.ndarray] | None = None

    def topology(self, reference: np.ndarray) -> MeshTopology:
        """The clip's mesh, built once from the first points it sees."""
        if self._topology is None:
            self._topology = build_topology(self.regions, reference)
        return self._topology

    def hull(self, src_pts: np.ndarray, dst_pts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """(H, W) bool: the only pixels ``render`` may change for these points."""
        src = np.asarray(src_pts, np.float64)[:, :2]
        dst = np.asarray(dst_pts, np.float64)[:, :2]
        if not (np.isfinite(src).all() and np.isfinite(dst).all()):
            return np.zeros(shape, bool)
        topo = self.topology(src)
        vs, _ = mesh_vertices(topo, src, dst, self.margin)
        return hull_mask(vs, topo, shape)

    def render(
        self,
        frame: np.ndarray,
        src_pts: np.ndarray,
        dst_pts: np.ndarray,
        *,
        out_size: tuple[int, int] | None = None,
        mouth: MouthFill | None = None,
    ) -> np.ndarray:
        """The frame with its face moved from ``src_pts`` to ``dst_pts``: (H, W, 3) uint8 RGB.

        ``out_size`` (w, h) renders a preview: the frame and points are resized first, then
        warped, so the cost follows the preview's size. ``mouth`` fills the inner mouth where
        the edit opens it wider than the source.
        """
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame must be (H, W, 3) uint8, got {frame.dtype} {frame.shape}")
        src = np.asarray(src_pts, np.float64)[:, :2]
        dst = np.asarray(dst_pts, np.float64)[:, :2]
        if out_size is not None and tuple(out_size) != (frame.shape[1], frame.shape[0]):
            size = (frame.shape[1], frame.shape[0])
            src = scale_points(src, size, out_size)
            dst = scale_points(dst, size, out_size)
            frame = self._resize(frame, tuple(out_size))
        out = np.array(frame, copy=True, order="C")
        if not (np.isfinite(src).all() and np.isfinite(dst).all()):
            return out  # no face in this frame: nothing to move
        topo = self.topology(src)
        vs, vd = mesh_vertices(topo, src, dst, self.margin)
        vd = unfold(topo, vs, vd)
        self._warp_into(out, frame, vs, vd, topo)
        if mouth is not None:
            apply_mouth_fill(out, frame, src, dst, mouth, self.regions)
        return out

    def _resize(self, frame: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        """``resize_for``, remembered for the last frame (source frames are read-only and
        shared by the media cache, so the same array means the same picture)."""
        last = self._resized
        if last is not None and last[0] is frame and last[1] == out_size:
            return last[2]
        small = resize_for(frame, out_size)
        self._resized = (frame, out_size, small)
        return small

    def _warp_into(
        self,
        out: np.ndarray,
        frame: np.ndarray,
        vs: np.ndarray,
        vd: np.ndarray,
        topo: MeshTopology,
    ) -> None:
        h_img, w_img = frame.shape[:2]
        moved = np.abs(vd - vs).max(axis=1) > MOVE_EPS
        tris = topo.triangles[moved[topo.triangles].any(axis=1)]
        if len(tris) == 0:
            return
        d_tri, s_tri = vd[tris], vs[tris]
        e1, e2 = d_tri[:, 1] - d_tri[:, 0], d_tri[:, 2] - d_tri[:, 0]
        area = np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]) / 2
        keep = area > 1e-6  # a triangle squashed flat covers no pixel centre
        d_tri, s_tri, area = d_tri[keep], s_tri[keep], area[keep]
        if len(d_tri) == 0:
            return

        # Output box: pixels whose centres the moving triangles can cover.
        lo, hi = d_tri.reshape(-1, 2).min(axis=0), d_tri.reshape(-1, 2).max(axis=0)
        x0, y0 = max(0, int(np.floor(lo[0])) - 1), max(0, int(np.floor(lo[1])) - 1)
        x1, y1 = min(w_img, int(np.ceil(hi[0])) + 1), min(h_img, int(np.ceil(hi[1])) + 1)
        if x1 <= x0 or y1 <= y0:
            return
        # Source box: where those pixels can sample from.
        slo, shi = s_tri.reshape(-1, 2).min(axis=0), s_tri.reshape(-1, 2).max(axis=0)
        sx0, sy0 = max(0, int(np.floor(slo[0])) - _PAD), max(0, int(np.floor(slo[1])) - _PAD)
        sx1 = min(w_img, int(np.ceil(shi[0])) + _PAD)
        sy1 = min(h_img, int(np.ceil(shi[1])) + _PAD)
        if sx1 <= sx0 or sy1 <= sy0:
            return

        # Triangle ids (1-based, 0 = not moving). Small triangles first so that pixels on a
        # shared edge end up with the larger neighbour; both affines agree on the edge.
        ids = np.zeros((y1 - y0, x1 - x0), np.int32)
        fixed = np.round((d_tri - 0.5 - (x0, y0)) * (1 << _SHIFT)).astype(np.int32)
        for k in np.argsort(area, kind="stable"):
            cv2.fillConvexPoly(ids, fixed[k], int(k) + 1, cv2.LINE_8, _SHIFT)
        ring = vs[topo.ring]
        ids[~polygon_mask(ring, ids.shape, origin=(x0, y0))] = 0

        # Affines with the source box as origin; row 0 is the identity (never sampled).
        mt = triangle_affines(d_tri, s_tri - (sx0, sy0))
        ident = np.array([[[1.0, 0.0], [0.0, 1.0], [x0 - sx0, y0 - sy0]]])
        mt = np.concatenate([ident, mt])
        # Pixel centres are relative to the output box: shift the constant term so that
        # [u + 0.5, v + 0.5, 1] with u, v box-relative gives source-box coordinates.
        mt[1:, 2] += mt[1:, 0] * x0 + mt[1:, 1] * y0
        self._sample(out, frame, ids, mt, (x0, y0, x1, y1), (sx0, sy0, sx1, sy1))

    def _sample(
        self,
        out: np.ndarray,
        frame: np.ndarray,
        ids: np.ndarray,
        mt: np.ndarray,
        box: tuple[int, int, int, int],
        sbox: tuple[int, int, int, int],
    ) -> None:
        if self.device.type == "cpu":
            _sample_cpu(out, frame, ids, mt, box, sbox)
            return
        x0, y0, x1, y1 = box
        sx0, sy0, sx1, sy1 = sbox
        dev = self.device
        sw, sh = sx1 - sx0, sy1 - sy0
        # Fold the normalisation to [-1, 1] (align_corners=False: -1 is the box's left edge)
        # into the affines, so the grid is one gather and one multiply-add per pixel; on a
        # GPU the grid is one upload.
        coef = mt * np.array([2.0 / sw, 2.0 / sh])
        coef[:, 2] -= 1.0
        gx, gy = _affine_maps(coef, ids)
        grid = np.stack([gx, gy], axis=-1)[None]
        src = frame[sy0:sy1, sx0:sx1].transpose(2, 0, 1)[None].astype(np.float32)
        with torch.inference_mode():
            warped = F.grid_sample(
                torch.from_numpy(src).to(dev),
                torch.from_numpy(grid).to(dev),
                mode="bilinear",
                padding_mode="border",
                align_corners=False,
            )
            warped = warped.round_().clamp_(0, 255).to(torch.uint8)[0].cpu().numpy()
        region = out[y0:y1, x0:x1]
        mask = ids > 0
        region[mask] = warped.transpose(1, 2, 0)[mask]


def _affine_maps(coef: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of ``ids``' box, its triangle's affine (``coef`` rows, (3, 2) each) at the
    pixel centre: the x and y maps, float32. One gather per coefficient column: a gather of
    whole 6-float rows costs twice as much."""
    c = np.ascontiguousarray(coef.reshape(-1, 6).T, dtype=np.float32)
    h, w = ids.shape
    u = np.arange(w, dtype=np.float32) + 0.5
    v = (np.arange(h, dtype=np.float32) + 0.5)[:, None]
    mx = np.take(c[0], ids) * u
    mx += np.take(c[2], ids) * v
    mx += np.take(c[4], ids)
    my = np.take(c[1], ids) * u
    my += np.take(c[3], ids) * v
    my += np.take(c[5], ids)
    return mx, my


def _sample_cpu(
    out: np.ndarray,
    frame: np.ndarray,
    ids: np.ndarray,
    mt: np.ndarray,
    box: tuple[int, int, int, int],
    sbox: tuple[int, int, int, int],
) -> None:
    """The CPU's bilinear sampling: OpenCV's remap, on the uint8 pixels directly.

    Row 0 of ``mt`` (pixels that do not move) maps every pixel onto its own source pixel
    exactly, so remap copies those bit for bit and the box is written whole, with no mask.
    """
    x0, y0, x1, y1 = box
    sx0, sy0, sx1, sy1 = sbox
    coef = np.array(mt, np.float64)
    coef[:, 2] -= 0.5  # remap puts pixel centres at whole numbers
    mx, my = _affine_maps(coef, ids)
    src = np.ascontiguousarray(frame[sy0:sy1, sx0:sx1])
    out[y0:y1, x0:x1] = cv2.remap(src, mx, my, cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)

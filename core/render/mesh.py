"""The warp mesh: face points, filled holes and a static anchor ring around the face.

The tracker's triangles leave the eyes and the inner mouth open and stop at the face oval.
The warp needs a mesh with no holes (an opening mouth must show *something*) and a band
outside the face whose outer ring never moves, so the background stays where it was and
every pixel outside the ring is the source pixel.

Vertex layout of a mesh built here: the tracker's ``n_face`` points first, then one anchor
per face-oval point (``ring`` holds those vertex indices in oval order).
Coordinates are continuous pixels: pixel (i, j) covers [i, i+1) x [j, j+1), its centre is
(i + 0.5, j + 0.5). MediaPipe's normalised points times the frame size are in this unit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

from core.keypoints.regions import RegionSet

DEFAULT_MARGIN = 0.2  # anchor ring distance outside the face oval, as a fraction of face size


@dataclass(frozen=True)
class MeshTopology:
    """Which vertices form triangles; fixed for a clip, positions come per frame."""

    n_face: int
    oval: np.ndarray  # (R,) face-point indices of the face oval, in ring order
    triangles: np.ndarray  # (T, 3) int32 over n_face + R vertices
    hole_triangles: np.ndarray  # (T,) bool: triangle fills an eye or the inner mouth

    @property
    def n_vertices(self) -> int:
        return self.n_face + len(self.oval)

    @property
    def ring(self) -> np.ndarray:
        """Vertex indices of the anchors, in the oval's order."""
        return np.arange(self.n_face, self.n_vertices)


def boundary_loops(triangles: np.ndarray) -> list[list[int]]:
    """Closed loops of the edges used by exactly one triangle (the mesh's borders)."""
    count: dict[tuple[int, int], int] = defaultdict(int)
    for a, b, c in np.asarray(triangles):
        for u, v in ((a, b), (b, c), (c, a)):
            count[(min(u, v), max(u, v))] += 1
    nbrs: dict[int, list[int]] = defaultdict(list)
    for (u, v), n in count.items():
        if n == 1:
            nbrs[int(u)].append(int(v))
            nbrs[int(v)].append(int(u))
    loops, seen = [], set()
    for start in sorted(nbrs):
        if start in seen:
            continue
        loop, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [n for n in nbrs[cur] if n != prev and (n not in seen or n == start)]
            if not nxt or nxt[0] == start:
                break
            prev, cur = cur, nxt[0]
            loop.append(cur)
            seen.add(cur)
        loops.append(loop)
    return loops


def zipper(loop: list[int], corner_a: int, corner_b: int) -> np.ndarray:
    """Triangulate a slit-like hole as a strip between its two sides.

    The sides run from ``corner_a`` to ``corner_b`` either way round the loop; the strip
    keeps working when the hole closes to a line (its triangles then have no area).
    """
    n = len(loop)
    ia, ib = loop.index(corner_a), loop.index(corner_b)
    side1 = [loop[(ia + k) % n] for k in range((ib - ia) % n + 1)]
    side2 = [loop[(ia - k) % n] for k in range((ia - ib) % n + 1)]
    tris, i, j = [], 0, 0
    l1, l2 = len(side1) - 1, len(side2) - 1
    while i < l1 or j < l2:
        if j >= l2 or (i < l1 and (i + 1) / l1 <= (j + 1) / l2):
            tris.append((side1[i], side2[j], side1[i + 1]))
            i += 1
        else:
            tris.append((side1[i], side2[j], side2[j + 1]))
            j += 1
    tris = [t for t in tris if len(set(t)) == 3]
    return np.asarray(tris, dtype=np.int32).reshape(-1, 3)


def build_topology(regions: RegionSet, reference: np.ndarray) -> MeshTopology:
    """Tracker triangles + hole strips + the band between the face oval and the anchors.

    ``reference`` is any frame's 2-D points: a hole's corners are its two points farthest
    apart (eyes and mouth are always wider than tall); the inner mouth uses the region's
    own ring order (corners at its first and middle entries).
    """
    ref = np.asarray(reference, dtype=np.float64)[:, :2]
    oval = [int(i) for i in regions["face_oval"]]
    inner = [int(i) for i in regions["lips_inner"]]
    tris = np.asarray(regions.triangles, dtype=np.int32).reshape(-1, 3)
    if len(tris) == 0:
        tris = delaunay_inside(ref, np.asarray(oval))
    # Triangles spanning the mouth opening would tie the lips together: the strip replaces them.
    tris = tris[~np.isin(tris, inner).all(axis=1)]
    holes = []
    for loop in boundary_loops(tris):
        if set(loop) <= set(oval):
            continue
        if set(loop) == set(inner):
            a, b = inner[0], inner[len(inner) // 2]
        else:
            p = ref[loop]
            d = np.linalg.norm(p[:, None] - p[None], axis=-1)
            ka, kb = np.unravel_index(np.argmax(d), d.shape)
            a, b = loop[ka], loop[kb]
        holes.append(zipper(loop, a, b))
    hole_tris = np.concatenate(holes) if holes else np.zeros((0, 3), np.int32)
    n_face = regions.n_points
    r = len(oval)
    band = []
    for k in range(r):
        o0, o1 = oval[k], oval[(k + 1) % r]
        a0, a1 = n_face + k, n_face + (k + 1) % r
        band += [(o0, o1, a1), (o0, a1, a0)]
    all_tris = np.concatenate([tris, hole_tris, np.asarray(band, np.int32)])
    is_hole = np.zeros(len(all_tris), bool)
    is_hole[len(tris) : len(tris) + len(hole_tris)] = True
    return MeshTopology(
        n_face=n_face,
        oval=np.asarray(oval, dtype=np.int64),
        triangles=all_tris.astype(np.int32),
        hole_triangles=is_hole,
    )


def delaunay_inside(points: np.ndarray, oval: np.ndarray) -> np.ndarray:
    """Delaunay triangles of ``points`` whose centres lie inside the oval polygon.

    For trackers that ship no triangulation (the 68-point layout).
    """
    p = np.asarray(points, np.float64)[:, :2]
    lo, hi = p.min(axis=0) - 1, p.max(axis=0) + 1
    sub = cv2.Subdiv2D((int(lo[0]), int(lo[1]), int(hi[0] - lo[0]) + 2, int(hi[1] - lo[1]) + 2))
    for x, y in p:
        sub.insert((float(x), float(y)))
    tri = sub.getTriangleList().reshape(-1, 3, 2)
    idx = np.argmin(np.linalg.norm(tri[:, :, None] - p[None, None], axis=-1), axis=-1)
    ok = np.isclose(tri, p[idx], atol=1e-3).all(axis=(1, 2))
    idx = idx[ok]
    centres = p[idx].mean(axis=1)
    poly = p[oval].astype(np.float32)
    inside = [cv2.pointPolygonTest(poly, (float(x), float(y)), False) > 0 for x, y in centres]
    return idx[np.asarray(inside, bool)].astype(np.int32)


def face_size(points: np.ndarray, oval: np.ndarray) -> float:
    """Mean of the face oval's width and height, in pixels."""
    p = points[oval, :2]
    w, h = p.max(axis=0) - p.min(axis=0)
    return float(w + h) / 2


def anchor_ring(
    src: np.ndarray, dst: np.ndarray, oval: np.ndarray, margin: float = DEFAULT_MARGIN
) -> np.ndarray:
    """(R, 2) anchors pushed out from the oval's centre, outside both the source and edit.

    Each anchor sits on the ray through its source oval point, ``margin`` face sizes beyond
    the farther of that point and the edited one, so the band between oval and ring never
    folds over and the ring itself stays still.
    """
    s = np.asarray(src, np.float64)[oval, :2]
    d = np.asarray(dst, np.float64)[oval, :2]
    centre = s.mean(axis=0)
    ray = s - centre
    r_src = np.linalg.norm(ray, axis=1)
    u = ray / np.maximum(r_src, 1e-9)[:, None]
    r_dst = np.einsum("ij,ij->i", d - centre, u)
    sideways = np.abs(np.cross(u, d - s))
    gap = margin * face_size(np.asarray(src, np.float64), oval)
    radius = np.maximum(r_src, r_dst) + gap + sideways
    return centre + u * radius[:, None]


def mesh_vertices(
    topology: MeshTopology, src: np.ndarray, dst: np.ndarray, margin: float = DEFAULT_MARGIN
) -> tuple[np.ndarray, np.ndarray]:
    """Source and edited vertex positions (V, 2): the face points plus the shared ring."""
    src = np.asarray(src, np.float64)[:, :2]
    dst = np.asarray(dst, np.float64)[:, :2]
    if len(src) != topology.n_face or len(dst) != topology.n_face:
        raise ValueError(f"expected {topology.n_face} points, got {len(src)} and {len(dst)}")
    ring = anchor_ring(src, dst, topology.oval, margin)
    return np.concatenate([src, ring]), np.concatenate([dst, ring])


def signed_areas(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(T,) twice each triangle's signed area: its sign says which way round it turns."""
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def unfold(topology: MeshTopology, vs: np.ndarray, vd: np.ndarray, *, rounds: int = 24
           ) -> np.ndarray:
    """The edited vertices ``vd`` (V, 2) with the folds the edit made taken out.

    A triangle that the edit turns over (its edited area has the other sign from its
    source one) overlaps its neighbours: the warp then draws one of the two layers, and the
    seam between them shows as dark, stair-stepped specks beside the mouth. The edit moves
    the lip's thin rolls (a pixel or two apart at the corners) by different amounts, which
    is enough. Each such triangle's vertices are given the mean of their three moves, so
    it moves as a whole and keeps its source's turn; a few rounds settle the neighbours
    this disturbs. The inner-mouth strip may close flat (lips meeting) and is left alone.
    """
    vs = np.asarray(vs, np.float64)
    out = np.array(vd, np.float64, copy=True)
    tris = topology.triangles[~topology.hole_triangles]
    tris = tris[(tris < topology.n_face).all(axis=1)]  # the band never folds (anchor_ring)
    turn = np.sign(signed_areas(vs, tris))
    tris, turn = tris[turn != 0], turn[turn != 0]
    for _ in range(rounds):
        bad = np.sign(signed_areas(out, tris)) != turn
        if not bad.any():
            break
        t = tris[bad]
        move = out[t] - vs[t]  # (B, 3, 2)
        mean = np.repeat(move.mean(axis=1), 3, axis=0)
        total = np.zeros_like(out)
        count = np.zeros(len(out))
        np.add.at(total, t.ravel(), mean)
        np.add.at(count, t.ravel(), 1.0)
        hit = count > 0
        out[hit] = vs[hit] + total[hit] / count[hit, None]
    return out


def polygon_mask(
    polygon: np.ndarray, shape: tuple[int, int], origin: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Boolean (H, W) mask of the pixels whose centres a polygon covers (edges included).

    ``polygon`` is in continuous pixels; ``origin`` (x, y) is the mask's top-left pixel.
    """
    mask = np.zeros(shape, np.uint8)
    pts = np.round((np.asarray(polygon, np.float64)[:, :2] - 0.5 - origin) * 16).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def hull_mask(vertices: np.ndarray, topology: MeshTopology, shape: tuple[int, int]) -> np.ndarray:
    """Where the warp may change pixels: inside the anchor ring (the face's dilated hull).

    Every pixel outside is the source pixel, bit for bit.
    """
    return polygon_mask(vertices[topology.ring], shape)

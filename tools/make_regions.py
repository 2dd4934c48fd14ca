"""Regenerate resources/regions/*.json, the facial region index sets of each tracker.

Named sets come from MediaPipe's own FaceMesh connection lists. Sets that MediaPipe does not
name (rigid, cheeks, jaw) are chosen by position on an upright frontal face tracked from a
clip, so the JSON holds indices only, never media. Run once by hand:

    python tools/make_regions.py /path/to/frontal_clip.mp4
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "resources" / "regions"


def _ring(edges) -> list[int]:
    """Order the points of a closed contour given as an edge set."""
    adj: dict[int, list[int]] = {}
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    start = min(adj)
    ring, prev = [start], None
    while True:
        nxt = [n for n in adj[ring[-1]] if n != prev]
        if not nxt or nxt[0] == start:
            break
        prev = ring[-1]
        ring.append(nxt[0])
    return ring


def mediapipe_regions(clip: str) -> dict:
    import mediapipe.python.solutions.face_mesh_connections as c

    from core.media import open_media
    from core.tracking.mediapipe_tracker import MediaPipeTracker

    src = open_media(clip)
    session = MediaPipeTracker().open_session(static=False, max_faces=1)
    shapes = []
    for _, frame in src.frames():
        faces = session.detect(frame)
        if faces:
            shapes.append(faces[0].points)
    session.close()
    p = np.median(np.stack(shapes), axis=0)
    # upright frame: x along the eye line, y down the face, z into the screen
    x = p[263] - p[33]
    x /= np.linalg.norm(x)
    y = p[152] - p[10]
    y -= x * (x @ y)
    y /= np.linalg.norm(y)
    q = (p - p[1]) @ np.stack([x, y, np.cross(x, y)]).T
    q /= np.linalg.norm(p[263] - p[33])

    lips = {i for e in c.FACEMESH_LIPS for i in e}
    outer = [
        61,
        146,
        91,
        181,
        84,
        17,
        314,
        405,
        321,
        375,
        291,
        409,
        270,
        269,
        267,
        0,
        37,
        39,
        40,
        185,
    ]
    inner = [
        78,
        95,
        88,
        178,
        87,
        14,
        317,
        402,
        318,
        324,
        308,
        415,
        310,
        311,
        312,
        13,
        82,
        81,
        80,
        191,
    ]
    assert set(outer) | set(inner) == lips
    oval = _ring(c.FACEMESH_FACE_OVAL)
    left_eye = sorted(
        {i for e in c.FACEMESH_LEFT_EYE for i in e} | {i for e in c.FACEMESH_LEFT_IRIS for i in e}
    )
    right_eye = sorted(
        {i for e in c.FACEMESH_RIGHT_EYE for i in e} | {i for e in c.FACEMESH_RIGHT_IRIS for i in e}
    )
    left_brow = sorted({i for e in c.FACEMESH_LEFT_EYEBROW for i in e})
    right_brow = sorted({i for e in c.FACEMESH_RIGHT_EYEBROW for i in e})
    nose = sorted({i for e in c.FACEMESH_NOSE for i in e})
    n = len(p)
    brow_top = q[left_brow + right_brow, 1].min()
    eye_bottom = q[left_eye + right_eye, 1].max()
    mouth_y = q[[61, 291], 1].mean()
    chin_lip = q[17, 1]
    nose_half = np.abs(q[nose, 0]).max()
    oval_half = np.abs(q[oval, 0])

    forehead = [i for i in range(468) if q[i, 1] < brow_top - 0.05]
    temples = [21, 251, 162, 389, 71, 301, 127, 356]
    bridge = [168, 6, 197, 195, 5]
    rigid = sorted(set(forehead) | set(temples) | set(bridge))

    taken = (
        set(outer)
        | set(inner)
        | set(left_eye)
        | set(right_eye)
        | set(left_brow)
        | set(right_brow)
        | set(nose)
    )
    jaw = sorted(
        {i for i in range(468) if q[i, 1] > chin_lip + 0.02}
        | {i for i in oval if q[i, 1] > mouth_y - 0.1}
    )
    cheeks = sorted(
        i
        for i in range(468)
        if i not in taken
        and i not in jaw
        and eye_bottom + 0.03 < q[i, 1] < mouth_y + 0.05
        and nose_half + 0.02 < abs(q[i, 0]) < 0.95 * oval_half.max()
    )
    mouth = sorted(set(outer) | set(inner) | set(jaw))
    tris = _triangles(c.FACEMESH_TESSELATION)
    return {
        "tracker": "mediapipe",
        "points": n,
        "note": "Index sets into MediaPipe FaceMesh's 478 points (refine_landmarks). "
        "Made by tools/make_regions.py.",
        "regions": {
            "lips_outer": outer,
            "lips_inner": inner,
            "jaw": jaw,
            "left_eye": left_eye,
            "right_eye": right_eye,
            "left_brow": left_brow,
            "right_brow": right_brow,
            "nose": nose,
            "cheeks": cheeks,
            "face_oval": oval,
            "rigid": rigid,
            "mouth": mouth,
        },
        "landmarks": {
            "upper_lip_inner": 13,
            "lower_lip_inner": 14,
            "mouth_left": 291,
            "mouth_right": 61,
            "eye_right_outer": 33,
            "eye_left_outer": 263,
            "forehead": 10,
            "chin": 152,
            "nose_tip": 1,
        },
        "triangles": tris,
    }


def _triangles(edges) -> list[list[int]]:
    """Triangles of the face mesh: the 3-cliques of its tesselation edge set."""
    adj: dict[int, set[int]] = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    tris = set()
    for a, nbrs in adj.items():
        for b in nbrs:
            if b <= a:
                continue
            for c_ in nbrs & adj[b]:
                if c_ > b:
                    tris.add((a, b, c_))
    return [list(t) for t in sorted(tris)]


def ibug68_regions() -> dict:
    r = lambda a, b: list(range(a, b))  # noqa: E731
    return {
        "tracker": "face_alignment",
        "points": 68,
        "note": "Index sets into the iBUG 300-W 68-point layout used by face-alignment.",
        "regions": {
            "lips_outer": r(48, 60),
            "lips_inner": r(60, 68),
            "jaw": r(3, 14),
            "left_eye": r(42, 48),
            "right_eye": r(36, 42),
            "left_brow": r(22, 27),
            "right_brow": r(17, 22),
            "nose": r(27, 36),
            "cheeks": [1, 2, 3, 13, 14, 15, 31, 35],
            "face_oval": r(0, 17) + r(17, 27)[::-1],
            "rigid": [0, 1, 15, 16, 27, 28, 29, 30, 39, 42],
            "mouth": r(48, 68) + r(3, 14),
        },
        "landmarks": {
            "upper_lip_inner": 62,
            "lower_lip_inner": 66,
            "mouth_left": 54,
            "mouth_right": 48,
            "eye_right_outer": 36,
            "eye_left_outer": 45,
            "forehead": 27,
            "chin": 8,
            "nose_tip": 30,
        },
        "triangles": [],
    }


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    mp = mediapipe_regions(sys.argv[1])
    (OUT / "mediapipe.json").write_text(json.dumps(mp, indent=1))
    (OUT / "face_alignment.json").write_text(json.dumps(ibug68_regions(), indent=1))
    for k, v in mp["regions"].items():
        print(k, len(v))
    print("triangles", len(mp["triangles"]))

"""The viseme library: one mouth shape per viseme class, in the speaker's canonical space.

Learned from the speaker's own footage when the source is a video with speech: the
source's own audio is aligned, and the canonical-space deformation of the lower face is
averaged at the centre of every phone of each class. Classes seen too rarely fall back to
the default library shipped in resources/, which was learned the same way from several
speakers, normalised to a unit mouth width and is rescaled to the target's mouth here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from core.align import Alignment
from core.keypoints.regions import RegionSet
from core.motion.coarticulation import ANTICIPATION
from core.motion.mouth import close_lips, lower_face_weight, mouth_width
from core.motion.visemes import CLOSURES, VISEME_CLASSES, viseme_of

MIN_EXAMPLES = 3  # fewer phones than this and a class's average is mostly noise


@dataclass
class VisemeLibrary:
    """Mouth target per viseme class (N, 3) in canonical units, and where each came from.

    ``origin`` is "speaker" or "default" per class; ``counts`` how many phones of the
    speaker's own footage each learned class averages.
    """

    targets: dict[str, np.ndarray]
    origin: dict[str, str]
    counts: dict[str, int] = field(default_factory=dict)

    def coverage(self) -> dict[str, Any]:
        """What the user reads: which classes come from their speaker and how many phones."""
        spoken = [c for c in VISEME_CLASSES if c != "sil"]
        learned = [c for c in spoken if self.origin.get(c) == "speaker"]
        return {
            "learned": learned,
            "default": [c for c in spoken if c not in learned],
            "share": round(len(learned) / len(spoken), 3),
            "counts": {c: int(self.counts.get(c, 0)) for c in spoken},
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "targets": {c: np.round(t, 6).tolist() for c, t in self.targets.items()},
            "origin": dict(self.origin),
            "counts": {c: int(n) for c, n in self.counts.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VisemeLibrary:
        return cls(
            targets={c: np.asarray(t, np.float32) for c, t in data["targets"].items()},
            origin={str(c): str(o) for c, o in data["origin"].items()},
            counts={str(c): int(n) for c, n in data.get("counts", {}).items()},
        )


def phone_examples(
    alignment: Alignment, fps: float, frame_count: int, lead: float = ANTICIPATION
) -> dict[str, np.ndarray]:
    """Frame index of each phone's visible centre, grouped by viseme class."""
    out: dict[str, list[int]] = {}
    for p in alignment.phones:
        cls = viseme_of(p.label)
        if cls == "sil":
            continue
        f = int(round(((p.start + p.end) / 2 - lead) * fps))
        if 0 <= f < frame_count:
            out.setdefault(cls, []).append(f)
    return {c: np.asarray(v, np.int64) for c, v in out.items()}


def class_means(
    expression: np.ndarray, validity: np.ndarray, examples: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Mean expression of each class over its tracked (not interpolated) example frames."""
    ok = np.asarray(validity) == 1
    means, counts = {}, {}
    for cls, frames in examples.items():
        frames = frames[ok[frames]]
        counts[cls] = len(frames)
        if len(frames):
            means[cls] = np.asarray(expression[frames], np.float64).mean(axis=0)
    return means, counts


def learn_library(
    expression: np.ndarray,
    validity: np.ndarray,
    alignment: Alignment,
    fps: float,
    canonical: np.ndarray,
    regions: RegionSet,
    default: VisemeLibrary | None = None,
    min_examples: int = MIN_EXAMPLES,
) -> VisemeLibrary:
    """The speaker's library from their footage, completed from ``default`` where thin."""
    weight = lower_face_weight(canonical, regions)[:, None]
    means, counts = class_means(
        expression, validity, phone_examples(alignment, fps, len(expression))
    )
    targets: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    for cls in VISEME_CLASSES:
        if cls == "sil":
            targets[cls] = np.zeros_like(canonical, dtype=np.float32)
            origin[cls] = "neutral"
        elif counts.get(cls, 0) >= min_examples:
            targets[cls] = (means[cls] * weight).astype(np.float32)
            origin[cls] = "speaker"
        elif default is not None and cls in default.targets:
            targets[cls] = default.targets[cls]
            origin[cls] = "default"
        else:
            targets[cls] = np.zeros_like(canonical, dtype=np.float32)
            origin[cls] = "missing"
    for cls in CLOSURES:
        targets[cls] = close_lips(targets[cls], canonical, regions)
    return VisemeLibrary(targets, origin, counts)


def default_library(canonical: np.ndarray, regions: RegionSet) -> VisemeLibrary | None:
    """The shipped library rescaled to this identity's mouth; None if none ships for it.

    A layout with no library of its own but a point table to MediaPipe's (the 68-point
    face-alignment layout) takes the MediaPipe library at the same places of the face.
    """
    ref = resources.files("resources").joinpath("visemes", f"{regions.tracker}.json")
    pick = None
    if not ref.is_file() and regions.from_mediapipe is not None:
        ref = resources.files("resources").joinpath("visemes", "mediapipe.json")
        pick = regions.from_mediapipe
    if not ref.is_file():
        return None
    data = json.loads(ref.read_text(encoding="utf-8"))
    if pick is not None:
        data["targets"] = {c: np.asarray(t)[pick] for c, t in data["targets"].items()}
    scale = mouth_width(canonical, regions)
    weight = lower_face_weight(canonical, regions)[:, None]
    targets, origin = {}, {}
    for cls in VISEME_CLASSES:
        if cls in data["targets"]:
            targets[cls] = (np.asarray(data["targets"][cls], np.float32) * scale * weight)
            origin[cls] = "default" if cls != "sil" else "neutral"
    for cls in CLOSURES:
        if cls in targets:
            targets[cls] = close_lips(targets[cls], canonical, regions)
    return VisemeLibrary(targets, origin, {})

"""Did a fine-tune help? The trained adapter against the driver it corrects, held out.

The adapter is a cross-validated ensemble: each fold's nets never saw that fold's block of
the clip. So the honest measure of a run is, on every fold's held-out block, that fold's
nets (what the adapter adds there) against the base driver alone (the lip model, or the
visemes for an old adapter: what the project drives with until the user keeps the new
one), both compared with the speaker's tracked lips. Two figures, as in
``bench/train_quality.py``:

- opening correlation: Pearson correlation of the inner-lip opening with the tracked one;
- lip distance: mean 2-D distance of the lip-contour points to the tracked ones, in % of
  the inter-ocular distance (outer eye corners) of the clip's neutral face.

Nothing here imports Qt; the window only shows the :class:`Gain` and asks keep or discard.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.keypoints.regions import RegionSet

if TYPE_CHECKING:
    import torch

#: a change of the correlation smaller than this, or of the distance smaller than this many
#: % of the inter-ocular distance, is noise on seconds of footage: it counts as no change
CORR_TOLERANCE = 0.01
DIST_TOLERANCE = 0.05


@dataclass(frozen=True)
class Gain:
    """The held-out figures of the base driver and of the adapter on it."""

    base: str  # the driver the adapter corrects
    frames: int  # held-out tracked frames measured
    corr_base: float
    corr_adapter: float
    dist_base: float  # % inter-ocular
    dist_adapter: float

    @property
    def corr_gain(self) -> float:
        return self.corr_adapter - self.corr_base

    @property
    def dist_gain(self) -> float:
        """How much closer the adapter's lips are (positive: better)."""
        return self.dist_base - self.dist_adapter

    @property
    def verdict(self) -> str:
        """"helped" (one figure better beyond the noise, the other no worse beyond it),
        "worse" (the reverse), "mixed" (one better, one worse) or "no change"."""
        c = 0 if abs(self.corr_gain) <= CORR_TOLERANCE else int(np.sign(self.corr_gain))
        d = 0 if abs(self.dist_gain) <= DIST_TOLERANCE else int(np.sign(self.dist_gain))
        better, worse = c > 0 or d > 0, c < 0 or d < 0
        if better and worse:
            return "mixed"
        return "helped" if better else "worse" if worse else "no change"

    @property
    def helped(self) -> bool:
        return self.verdict == "helped"

    def summary(self) -> str:
        """One line for a person: both figures, before → after, and the verdict."""
        return (f"on {self.frames} held-out frames, against the {self.base} driver: opening "
                f"correlation {self.corr_base:.3f} → {self.corr_adapter:.3f} "
                f"({self.corr_gain:+.3f}), lip distance {self.dist_base:.2f} → "
                f"{self.dist_adapter:.2f} % of the eye distance ({-self.dist_gain:+.2f}): "
                f"{self.verdict}")

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v)
                for k, v in asdict(self).items()} | {"verdict": self.verdict}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Gain:
        return cls(str(d["base"]), int(d["frames"]), float(d["corr_base"]),
                   float(d["corr_adapter"]), float(d["dist_base"]), float(d["dist_adapter"]))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two series; 0 when either is flat (a still mouth follows nothing)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or a.std() < 1e-12 or b.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def lip_figures(pred: np.ndarray, truth: np.ndarray, points: np.ndarray, regions: RegionSet,
                eye_distance: np.ndarray) -> tuple[float, float]:
    """(opening correlation, lip distance in % of ``eye_distance``) of ΔE predictions
    (T, P, 3) on the keypoints ``points`` (P,) against the tracked ΔE (the neutral face
    cancels: both are offsets from it). ``eye_distance`` is per frame (T,)."""
    pts = np.asarray(points).tolist()
    lm = regions.landmarks
    up, low = pts.index(lm["upper_lip_inner"]), pts.index(lm["lower_lip_inner"])
    lips = [pts.index(int(i)) for i in regions.lips if int(i) in pts]
    p, t = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    corr = pearson(p[:, low, 1] - p[:, up, 1], t[:, low, 1] - t[:, up, 1])
    dist = np.linalg.norm(p[:, lips, :2] - t[:, lips, :2], axis=-1).mean(axis=1)
    return corr, float((dist / np.asarray(eye_distance, np.float64)).mean() * 100)


def heldout_gain(folds: Sequence[Any], model: torch.nn.Module, regions: RegionSet
                 ) -> Gain | None:
    """The :class:`Gain` of a trained adapter (its nets, fold by fold, as training made
    them) on the folds' held-out frames; None when no frame is held out (one fold that
    validates nothing) or the lip landmarks are not among the trained points."""
    import torch

    from core.motion.audio2exp_model import members_of
    from trainer.loop import adapter_delta

    nets = members_of(model)
    k = len(folds)
    context = int(getattr(nets[0].cfg, "vis_context", -1))
    corpus = folds[0]
    eye = _eye_distance(corpus, regions)
    preds, bases, truths, eyes = [], [], [], []
    device = next(model.parameters()).device
    for f, fold in enumerate(folds):
        v = {name: t.to(device) for name, t in fold.validation(context).items()}
        keep = v["mask"] > 0
        if not bool(keep.any()):
            continue
        group = nets[f::k]
        for net in group:
            net.eval()
        with torch.no_grad():
            pred = torch.stack([
                adapter_delta(net, v["mel"], v["ref"], v["weight"], v.get("vis"), v["vis_now"])
                for net in group]).mean(dim=0)
        preds.append(pred[keep].cpu().numpy())
        bases.append(v["vis_now"][keep].cpu().numpy())
        truths.append(v["target"][keep].cpu().numpy())
        eyes.append(eye[fold.val_frames.numpy()][keep.cpu().numpy()])
    lm = regions.landmarks
    if not preds or not {lm["upper_lip_inner"], lm["lower_lip_inner"]} <= set(
            corpus.points.tolist()):
        return None
    pred, base, truth = (np.concatenate(x) for x in (preds, bases, truths))
    eye_d = np.concatenate(eyes)
    cb, db = lip_figures(base, truth, corpus.points, regions, eye_d)
    ca, da = lip_figures(pred, truth, corpus.points, regions, eye_d)
    if not all(math.isfinite(x) for x in (cb, db, ca, da)):
        return None
    return Gain(corpus.base, len(truth), cb, ca, db, da)


def _eye_distance(corpus: Any, regions: RegionSet) -> np.ndarray:
    """(frames,) outer-eye-corner distance of each frame's clip neutral (canonical units);
    1 where a clip's features carry no neutral face."""
    lm = regions.landmarks
    out = []
    for c in corpus.clips:
        d = 1.0
        if c.canonical is not None:
            k = np.asarray(c.canonical, np.float64)
            d = float(np.linalg.norm(k[lm["eye_right_outer"], :2] - k[lm["eye_left_outer"], :2]))
        out.append(np.full(c.frame_count, d if d > 1e-9 else 1.0))
    return np.concatenate(out)

"""One training job for a project, runnable as its own process (``python -m trainer``).

The job reads the project (its source video is the training clip, ``clips`` add more),
tracks what is not cached yet, trains in ``PROJECT/cache/train/audio2exp/`` and, when the
run finishes, writes the best weights to ``PROJECT/models/audio2exp-<date>.safetensors``
(or ``out``). Progress goes out as JSON lines; SIGTERM, SIGINT or a ``CANCEL`` file in the
run folder stops it cooperatively with a loadable last checkpoint, and the project itself
is left as it was, so ``resume`` picks up from there.

Everything the request names is checked before any work (:func:`check_request`): the
device exists, the project opens and its folders can be written, and the model file would
overwrite neither an input nor the project's own files.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import StudioError

if TYPE_CHECKING:  # the training stack (torch) loads in run_job, after the door checks
    from trainer.loop import Emit, TrainResult
    from trainer.verdict import Gain

CANCEL_FILE = "CANCEL"


@dataclass
class JobRequest:
    """What ``studio train`` asks for."""

    project: Path
    steps: int = 1500
    resume: bool = False
    lr: float = 2e-3
    batch: int = 16
    clips: Sequence[Path] = field(default_factory=list)
    out: Path | None = None
    device: str = "auto"
    seed: int = 0


def run_dir(project_cache: Path) -> Path:
    """Where a project's checkpoints live (cache/: safe to delete, only resume is lost)."""
    return project_cache / "train" / "audio2exp"


def default_model_path(models_dir: Path) -> Path:
    """``models/audio2exp-<date-time>.safetensors``, never overwriting an older one."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = models_dir / f"audio2exp-{stamp}.safetensors"
    n = 1
    while path.exists():
        n += 1
        path = models_dir / f"audio2exp-{stamp}-{n}.safetensors"
    return path


class CancelFlag:
    """Set by SIGTERM/SIGINT (main thread only) or by a CANCEL file appearing."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.set = False
        self._old: dict[int, object] = {}

    def __call__(self) -> bool:
        return self.set or self.file.exists()

    def _handler(self, signum, frame) -> None:  # noqa: ARG002 - signal handler signature
        self.set = True

    def __enter__(self) -> CancelFlag:
        self.file.unlink(missing_ok=True)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self.file.unlink(missing_ok=True)


def check_device(name: str) -> None:
    """Refuse a device this machine does not have, naming the option."""
    import torch

    if name in ("auto", "cpu"):
        return
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise StudioError(None, f"--device {name}: no CUDA GPU is available here (PyTorch "
                                    "sees none); use --device cpu, or auto")
        index = name.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise StudioError(None, f"--device {name}: there are {torch.cuda.device_count()} "
                                    "CUDA devices (cuda:0 is the first)")
        return
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise StudioError(None, "--device mps: no Apple GPU is available here; use cpu")
        return
    raise StudioError(None, f"--device {name}: unknown device (use auto, cpu or cuda)")


def _writable(folder: Path, what: str) -> None:
    """Refuse a folder (or the nearest existing parent of one to be made) we cannot write."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise StudioError(folder, f"read-only: training writes {what} there (no permission "
                                  "to write in it)")


def check_request(req: JobRequest) -> Path:
    """Check everything the request names before any work; returns the model path."""
    from core.outputs import MODEL_SUFFIX, check_output
    from core.project.project import Project

    if req.steps <= 0 or req.batch <= 0 or not (req.lr > 0 and math.isfinite(req.lr)):
        raise StudioError(None, "--steps, --batch and --lr must be positive")
    project = Project.open(req.project)
    project.require_media()
    check_device(req.device)
    _writable(project.cache_dir, "its checkpoints and the clip's analysis (cache/)")
    out = req.out or default_model_path(project.models_dir)
    check_output(out, project.inputs(), project_folder=project.folder, models_allowed=True,
                 what="the model")
    if out.suffix.lower() != MODEL_SUFFIX:
        raise StudioError(out, f"a model file's name ends in {MODEL_SUFFIX}")
    _writable(out.parent, "the trained model")
    return out


def run_job(req: JobRequest, emit: Emit | None = None) -> tuple[TrainResult, Path | None]:
    """Run the job; returns the result and the published model (None when cancelled).
    ``emit`` gets each progress record (none are sent without it)."""
    emit = emit or (lambda _r: None)
    out = check_request(req)
    from core.motion.audio2exp import read_metadata
    from trainer.data import folder_clips, load_corpus, project_clip
    from trainer.loop import TrainConfig, publish, train

    source, cache_dir, tracker = project_clip(req.project)
    clips = [source, *folder_clips(req.clips)] if req.clips else [source]
    run = run_dir(cache_dir)
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StudioError(run, f"cannot create it ({exc.strerror or exc})") from exc
    from core.atomic import sweep_temp_files

    sweep_temp_files(run)  # checkpoints a killed run was writing
    cfg = TrainConfig(steps=req.steps, batch=req.batch, lr=req.lr, device=req.device,
                      seed=req.seed)
    points = None
    last = run / "last.safetensors"
    if req.resume and last.is_file():
        meta = read_metadata(last)
        if meta.get("tracker") != tracker:
            raise StudioError(last, f"the checkpoint was trained on {meta.get('tracker')} "
                                    f"keypoints, the project uses {tracker}; train afresh")
        try:
            points = [int(p) for p in meta["points"]]
            saved = meta.get("train", {})
            for key in ("batch", "weight_decay", "alpha_ramp", "channels", "hidden", "dropout",
                        "basis", "vis_context", "folds", "seeds", "seed"):
                if key in saved:
                    setattr(cfg, key, type(getattr(cfg, key))(saved[key]))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
            raise StudioError(last, "the checkpoint's metadata is incomplete or corrupt; "
                                    "train afresh (without --resume)") from None
        cfg.base = str(meta.get("base", "visemes"))  # a resumed run keeps what it corrects
        if "folds" not in saved:  # made before cross-validation: one net, one split
            cfg.folds, cfg.seeds = 1, 1
    with CancelFlag(run / CANCEL_FILE) as cancel:
        emit({"event": "features", "clips": [str(c) for c in clips]})
        corpus = load_corpus(
            clips, cache_dir, tracker=tracker, points=points, folds=cfg.folds, base=cfg.base,
            progress=lambda name, d, t: emit({"event": "tracking", "clip": name,
                                              "done": d, "total": t}),
            cancel=cancel,
        )
        result = train(corpus, run, cfg, tracker=tracker, resume=req.resume, emit=emit,
                       cancel=cancel)
    if result.status == "cancelled":
        emit({"event": "stopped", "checkpoint": str(result.last),
              "message": "cancelled; resume with --resume"})
        return result, None
    path = publish(result, out)
    record = {"event": "model", "path": str(path), "best_val": round(result.best_val, 6),
              "initial_val": round(result.initial_val, 6), "step": result.step}
    gain = measure_gain(path, corpus, tracker)
    if gain is not None:
        record["gain"] = gain.to_json()
    emit(record)
    return result, path


def measure_gain(model_path: Path, folds: list, tracker: str) -> Gain | None:
    """The published adapter against the driver it corrects, on the folds' held-out
    frames (see :mod:`trainer.verdict`): what the window shows before keep or discard."""
    from core.keypoints.regions import load_regions
    from core.motion.audio2exp import load_model, read_metadata
    from trainer.verdict import heldout_gain

    model = load_model(model_path, read_metadata(model_path))
    return heldout_gain(folds, model, load_regions(tracker))

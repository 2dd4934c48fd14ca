"""Reading the official LivePortrait checkpoints safely and strictly (facts §1).

The user names a folder in the official layout: ``base_models/`` holds the appearance
feature extractor, motion extractor, warping module and SPADE generator, and
``retargeting_models/`` holds the stitching file. That folder may be the ``liveportrait``
folder itself or the one above it (``pretrained_weights/`` of the official checkout, or a
download of the Hugging Face repository, which ``studio weights fetch`` makes).

Checkpoints are read with ``torch.load(weights_only=True)``: only tensors and plain
containers are unpickled, so a file that carries code is refused before any of it runs.
Every state dict must match its network exactly; the error names the file and the first
missing, unexpected or mis-shaped key.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.errors import StudioError

#: checkpoint name → its path inside the ``liveportrait`` folder
FILES = {
    "appearance_feature_extractor": "base_models/appearance_feature_extractor.pth",
    "motion_extractor": "base_models/motion_extractor.pth",
    "warping_module": "base_models/warping_module.pth",
    "spade_generator": "base_models/spade_generator.pth",
    "stitching_retargeting_module": "retargeting_models/stitching_retargeting_module.pth",
}
#: what each file holds, for messages
WHAT = {
    "appearance_feature_extractor": "the appearance feature extractor",
    "motion_extractor": "the motion extractor",
    "warping_module": "the warping module",
    "spade_generator": "the SPADE generator",
    "stitching_retargeting_module": "the stitching and retargeting MLPs",
}
#: sub-dicts of the stitching file (extra top-level entries are ignored, as upstream)
STITCHING_PARTS = ("retarget_shoulder", "retarget_mouth", "retarget_eye")
#: the Hugging Face repository and the files ``studio weights fetch`` takes from it
HF_REPO = "KwaiVGI/LivePortrait"
HF_SUBFOLDER = "liveportrait"


class WeightsError(StudioError):
    """Weights that are missing, unreadable, unsafe or not the network they should be."""


def checkpoint_paths(folder: str | Path) -> dict[str, Path]:
    """The five checkpoint paths under ``folder`` (the ``liveportrait`` folder or its
    parent); raises WeightsError naming the first file that is missing."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise WeightsError(folder, "no such folder (name the folder that holds the LivePortrait "
                                   "weights, or run `studio weights fetch`)")
    candidates = [folder, folder / HF_SUBFOLDER]
    for root in candidates:
        paths = {name: root / rel for name, rel in FILES.items()}
        if all(p.is_file() for p in paths.values()):
            return paths
    # report against the candidate that has the most of the files
    root = max(candidates, key=lambda r: sum((r / rel).is_file() for rel in FILES.values()))
    missing = next(rel for rel in FILES.values() if not (root / rel).is_file())
    raise WeightsError(root / missing, "missing: the LivePortrait weights need "
                       + ", ".join(FILES.values()) + " in the official layout "
                       "(or run `studio weights fetch`)")


def read_checkpoint(path: str | Path) -> Any:
    """``torch.load(weights_only=True)`` on CPU, with every failure as a one-line
    WeightsError naming the file. A pickle that asks for anything but tensors and plain
    containers (e.g. a code payload) is refused without running it."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = str(exc)
        if "Weights only load failed" in detail:
            what = next((line.strip() for line in detail.splitlines()
                         if "GLOBAL" in line or "Unsupported" in line), "")
            raise WeightsError(path, "refused: the file asks to run Python code or build "
                                     "objects other than tensors, which a weights file never "
                                     f"needs; nothing from it was run ({what or 'not weights'})"
                               ) from exc
        raise WeightsError(path, f"unreadable checkpoint: {detail.splitlines()[0]}") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError,
            UnicodeDecodeError, KeyError, IndexError, AttributeError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(path, f"truncated or not a PyTorch checkpoint ({first})") from exc


def _shape(t: Any) -> str:
    if not hasattr(t, "shape"):
        return type(t).__name__
    return "[" + ", ".join(str(d) for d in t.shape) + "]"


def check_state_dict(module: nn.Module, state: Any, path: Path, what: str) -> None:
    """Raise WeightsError unless ``state`` has exactly ``module``'s keys and shapes.

    Only BatchNorm's ``num_batches_tracked`` may be absent (torch fills it in, as it does
    for the official code), since it plays no part in inference.
    """
    if not isinstance(state, dict):
        raise WeightsError(path, f"not {what}: the file holds a {type(state).__name__}, "
                                 "not a state dict")
    want = module.state_dict()
    for key, ref in want.items():
        if key not in state:
            if key.endswith("num_batches_tracked"):
                continue
            n = sum(k not in state for k in want)
            raise WeightsError(path, f"not {what}: missing key {key!r}"
                               + (f" (and {n - 1} more)" if n > 1 else ""))
        got = state[key]
        if not isinstance(got, torch.Tensor):
            raise WeightsError(path, f"not {what}: {key!r} is a {type(got).__name__}, "
                                     "not a tensor")
        if tuple(got.shape) != tuple(ref.shape):
            raise WeightsError(path, f"not {what}: {key!r} has shape {_shape(got)}, "
                                     f"expected {_shape(ref)}")
        if got.is_floating_point() != ref.is_floating_point():
            raise WeightsError(path, f"not {what}: {key!r} is {got.dtype}, expected {ref.dtype}")
    extra = [k for k in state if k not in want]
    if extra:
        raise WeightsError(path, f"not {what}: unexpected key {extra[0]!r}"
                           + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))


def load_into(module: nn.Module, state: Any, path: Path, what: str) -> None:
    """Check, then load strictly."""
    check_state_dict(module, state, path, what)
    module.load_state_dict(state, strict=True)


def stitching_state(obj: Any, path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """The three sub-dicts of the stitching file, DDP ``module.`` removed from every key
    (as the official loader does)."""
    what = WHAT["stitching_retargeting_module"]
    if not isinstance(obj, dict):
        raise WeightsError(path, f"not {what}: the file holds a {type(obj).__name__}")
    out = {}
    for part in STITCHING_PARTS:
        if part not in obj:
            raise WeightsError(path, f"not {what}: no {part!r} entry (it should hold "
                                     + ", ".join(STITCHING_PARTS) + ")")
        sub = obj[part]
        if not isinstance(sub, dict):
            raise WeightsError(path, f"not {what}: {part!r} is a {type(sub).__name__}, "
                                     "not a state dict")
        out[part] = {str(k).replace("module.", ""): v for k, v in sub.items()}
    return out


def load_networks(folder: str | Path, networks: dict[str, nn.Module]) -> dict[str, Path]:
    """Fill ``networks`` (name → module, names as in FILES; the stitching module has the
    three MLPs as attributes) from the checkpoints under ``folder``. All five files are
    checked before any long work; returns the paths read."""
    paths = checkpoint_paths(folder)
    for name, path in paths.items():
        obj = read_checkpoint(path)
        module = networks[name]
        if name == "stitching_retargeting_module":
            for part, state in stitching_state(obj, path).items():
                load_into(getattr(module, part), state, path,
                          f"{WHAT[name]} ({part} has other keys or shapes)")
        else:
            load_into(module, obj, path, WHAT[name])
        del obj
    return paths

"""``studio train PROJECT …`` and ``python -m trainer PROJECT …``: the same arguments.

``register(subparsers)`` adds the ``train`` subcommand to the studio's parser (its
handler is ``args.func``); :func:`main` is the stand-alone process the window starts with
QProcess. Both print JSON lines on stdout and return 0 (a model was written), 130
(cancelled: the last checkpoint is kept, ``--resume`` continues) or 1 (an error, also
printed as a JSON line ``{"event": "error", "message": …}``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.errors import Cancelled, StudioError, os_error_line


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of a training job."""
    p.add_argument("project", type=Path, help="the project folder (its source video trains)")
    p.add_argument("--steps", type=int, default=1500, help="training steps (default 1500)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the project's last checkpoint, at its saved step")
    p.add_argument("--lr", type=float, default=2e-3, help="learning rate (default 2e-3)")
    p.add_argument("--batch", type=int, default=16,
                   help="sequences of 8 frames per step (default 16)")
    p.add_argument("--clips", nargs="+", type=Path, default=[],
                   help="more talking-face videos, or folders of them, to train on")
    p.add_argument("--out", type=Path,
                   help="the model file (default PROJECT/models/audio2exp-<date>.safetensors)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--seed", type=int, default=0)
    return p


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``train`` to the studio's subcommands."""
    p = subparsers.add_parser("train", help="fine-tune the Audio2Exp adapter on a project")
    add_arguments(p)
    p.set_defaults(func=handle)
    return p


def _print_json(record: dict) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def handle(args: argparse.Namespace) -> int:
    """Run the job for parsed arguments; JSON lines on stdout, an exit code back."""
    from trainer.job import JobRequest, run_job

    req = JobRequest(project=args.project, steps=args.steps, resume=args.resume, lr=args.lr,
                     batch=args.batch, clips=list(args.clips), out=args.out,
                     device=args.device, seed=args.seed)
    try:
        _, path = run_job(req, _print_json)
    except (StudioError, OSError) as exc:  # OSError: a disk full or a folder turned read-only
        message = str(exc) if isinstance(exc, StudioError) else os_error_line(exc)
        _print_json({"event": "error", "message": message})
        print(f"error: {message}", file=sys.stderr)
        return 1
    except Cancelled:
        _print_json({"event": "stopped", "message": "cancelled while tracking; it resumes"})
        return 130
    return 0 if path is not None else 130


def main(argv: list[str] | None = None) -> int:
    """``python -m trainer``."""
    p = add_arguments(argparse.ArgumentParser(
        prog="python -m trainer", description="Fine-tune the Audio2Exp adapter on a project"))
    return handle(p.parse_args(argv))

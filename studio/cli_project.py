"""``studio project new|show|set``: make, inspect and edit project folders from a shell.

``register(subparsers)`` adds the ``project`` command to the main parser; each handler
returns an exit code (0, or 1 after printing ``error: <file>: <problem>``). The work itself
is done by :mod:`core.project`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.errors import StudioError


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``project`` to ``subparsers``; parsed args carry ``func`` to call with them."""
    p = subparsers.add_parser("project", help="create, show or edit a project folder")
    sub = p.add_subparsers(dest="project_command", required=True)

    n = sub.add_parser("new", help="create a project in a new or empty folder")
    n.add_argument("folder", type=Path)
    n.add_argument("--source", type=Path, required=True, help="the video or portrait image")
    n.add_argument("--audio", type=Path, dest="dub", help="the new voice track")
    n.add_argument("--transcript", type=Path, help="what the new voice says (.txt or .srt)")
    n.set_defaults(func=run_new)

    s = sub.add_parser("show", help="print a project's media, settings and edits")
    s.add_argument("folder", type=Path)
    s.add_argument("--json", action="store_true", help="print it as JSON")
    s.set_defaults(func=run_show)

    t = sub.add_parser("set", help="set one value and save, e.g. settings.alpha 1.4")
    t.add_argument("folder", type=Path)
    t.add_argument("key", help="settings.<name>, words.<index>.<field>, "
                               "emotion_clips.<id>.<field>, source, dub or transcript")
    t.add_argument("value", help="a number, true/false, null, JSON, or plain text")
    t.set_defaults(func=run_set)
    return p


def _guard(fn: Any) -> Any:
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except StudioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


@_guard
def run_new(args: argparse.Namespace) -> int:
    from core.project.project import Project

    project = Project.new(args.folder, args.source, dub=args.dub, transcript=args.transcript)
    print(f"created {project.json_path}")
    return 0


@_guard
def run_show(args: argparse.Namespace) -> int:
    from core.project.project import Project

    project = Project.open(args.folder)
    if args.json:
        print(json.dumps(project.summary(), indent=1, sort_keys=True))
        return 0
    doc = project.to_json()
    print(f"{project.json_path} (schema {doc['schema']})")
    for role in ("source", "dub", "transcript"):
        ref = doc[role]
        if ref is None:
            print(f"{role}: none")
            continue
        state = "  MISSING" if role in project.missing else ""
        print(f"{role}: {ref['path']} ({ref['kind']}, {ref['hash'][:12]}){state}")
    for key, value in _flat(doc["settings"]):
        print(f"settings.{key} = {json.dumps(value)}")
    for index, edits in doc["words"].items():
        fields = ", ".join(f"{k}={json.dumps(v)}" for k, v in edits.items())
        print(f"words.{index}: {fields}")
    for clip in doc["emotion_clips"]:
        what = clip.get("emotion") or json.dumps(clip["source"])
        print(f"emotion clip {clip['id']}: {clip['region']} {what} {clip['start']:g}-"
              f"{clip['end']:g} s, intensity {clip['intensity']:g}")
    for role, ref in project.missing.items():
        if role.startswith("clip:"):
            print(f"{role}: {ref.path} MISSING")
    for note in project.notes:
        print(f"note: {note}")
    return 0


@_guard
def run_set(args: argparse.Namespace) -> int:
    from core.project.commands import command_for_key, value_from_text
    from core.project.project import Project, dub_word_count

    project = Project.open(args.folder)
    if args.key.startswith("words."):  # a word edit must name a word the dub has
        project.word_count = dub_word_count(project)
    command = command_for_key(project, args.key, value_from_text(args.value))
    command.do(project)
    project.save()
    print(f"{args.key} = {args.value}")
    return 0


def _flat(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out += _flat(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out

"""``studio``: one entry point; subcommands run the engine without a window.

This module imports no Qt at import time, so ``studio analyze`` works on a headless server.
Nor does it import the engine before the arguments have been checked: a missing file, an
output that would overwrite an input or a bad value is answered in a fraction of a second,
before torch, MediaPipe or the aligner load (``bench/cli_startup.py`` times it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import vocabulary
from core.errors import (
    Cancelled,
    EditsError,
    MediaError,
    StudioError,
    TranscriptError,
    os_error_line,
)

#: the command line's flags of the take's global controls (core/vocabulary.py)
CONTROL_FLAGS = {"--alpha": vocabulary.ALPHA, "--beta": vocabulary.BETA,
                 "--smoothing": vocabulary.SMOOTHING, "--av-offset": vocabulary.AV_OFFSET}


def _box(text: str) -> tuple[float, float, float, float]:
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError("a box is X,Y,W,H in pixels") from exc
    return (x, y, x + w, y + h)


def _parser() -> argparse.ArgumentParser:
    from core.tracking.registry import tracker_names

    p = argparse.ArgumentParser(
        prog="studio", description="Talking-face studio",
        usage="studio [PATH ...] | studio COMMAND ...",
        epilog="studio PATH... opens the window with a project folder, or a video or portrait "
               "with a dub and a transcript, as a drop would (`studio -- NAME` opens a file "
               "named like a command).")
    sub = p.add_subparsers(dest="command")

    a = sub.add_parser("analyze", help="track the face, cache keypoints, align the speech")
    a.add_argument("media", type=Path, help="a video or a portrait image")
    a.add_argument("--audio", type=Path, help="speech to align (default: the video's own)")
    a.add_argument("--transcript", type=Path, help="what is said (.txt or .srt)")
    a.add_argument("--tracker", default="mediapipe", choices=tracker_names())
    a.add_argument("--face", type=int, dest="face_index",
                   help="which face when several are in view (0 = largest)")
    a.add_argument("--face-box", type=_box, help="the face to follow, as X,Y,W,H in pixels")
    a.add_argument("--language", default="en", help="language of the speech (en aligns words)")
    a.add_argument("--cache", type=Path, help="cache folder (default: the user cache)")
    a.add_argument("--json", action="store_true", help="print the summary as JSON")
    a.add_argument("--quiet", action="store_true", help="no progress bar")

    d = sub.add_parser("dub", help="make the face speak new audio and write an MP4")
    d.add_argument("source", type=Path, help="a video or a portrait image")
    d.add_argument("--audio", type=Path, required=True, help="the dub (wav, mp3, m4a, ...)")
    d.add_argument("--transcript", type=Path, help="what the dub says (.txt, .srt, .vtt)")
    d.add_argument("-o", "--output", type=Path,
                   help="the MP4 to write (default: SOURCE_dub.mp4 in this folder)")
    for flag, control in CONTROL_FLAGS.items():
        d.add_argument(flag, type=int if control.integer else float, default=control.default,
                       dest=flag[2:].replace("-", "_"), help=control.tip)
    d.add_argument("--longer", choices=vocabulary.LONGER, default=vocabulary.LONGER[0],
                   help="when the dub outlasts the video: play it back and forth, or hold")
    d.add_argument("--shorter", choices=vocabulary.SHORTER, default=vocabulary.SHORTER[0],
                   help="when the video outlasts the dub: play on with closed lips, or trim")
    d.add_argument("--no-idle", action="store_true",
                   help="portrait: no idle head motion or blinks")
    d.add_argument("--driver", default="learned",
                   help="what moves the lips: learned (the lip model trained on 36 speakers, "
                        "default), visemes (mouth shapes per phone), learned:<model file> or "
                        "audio2exp:<adapter file>")
    d.add_argument("--edits", type=Path,
                   help="word and emotion edits (JSON: {\"words\": [...], \"emotions\": [...]})")
    d.add_argument("--crf", type=int, default=vocabulary.CRF.default,
                   help=f"{vocabulary.CRF.tip} ({vocabulary.CRF.default} default)")
    d.add_argument("--preset", default=vocabulary.PRESET_DEFAULT, choices=vocabulary.X264_PRESETS,
                   help=f"x264 preset ({vocabulary.PRESET_DEFAULT} default)")
    d.add_argument("--mix-source-audio", action="store_true",
                   help="keep the source's own audio under the dub")
    d.add_argument("--tracker", default="mediapipe", choices=tracker_names())
    d.add_argument("--face", type=int, dest="face_index", help="which face (0 = largest)")
    d.add_argument("--face-box", type=_box, help="the face to follow, as X,Y,W,H in pixels")
    d.add_argument("--language", default="en", help="language of the dub (en aligns words)")
    d.add_argument("--cache", type=Path, help="cache folder (default: the user cache)")
    _renderer_args(d, default="warp")
    d.add_argument("--json", action="store_true", help="print the summary as JSON")
    d.add_argument("--quiet", action="store_true", help="no progress bar")

    x = sub.add_parser("export", help="render a project to an MP4")
    x.add_argument("project", type=Path, help="the project folder")
    x.add_argument("-o", "--output", type=Path,
                   help="the MP4 to write (default: <project>/<project name>.mp4)")
    for flag, control in {**CONTROL_FLAGS, "--crf": vocabulary.CRF}.items():
        x.add_argument(flag, type=int if control.integer else float,
                       dest=flag[2:].replace("-", "_"),
                       help=f"{control.tip} (default: the project's)")
    x.add_argument("--preset", type=str, help="x264 preset (default: the project's)")
    x.add_argument("--edits", type=Path, help="extra word and emotion edits (not saved)")
    _renderer_args(x, default=None)
    x.add_argument("--json", action="store_true", help="print the summary as JSON")
    x.add_argument("--quiet", action="store_true", help="no progress bar")

    wt = sub.add_parser("weights", help="the neural renderer's weights (LivePortrait)")
    wsub = wt.add_subparsers(dest="weights_command", required=True)
    f = wsub.add_parser("fetch", help="download the official LivePortrait weights "
                                      "(about 500 MB, from huggingface.co)")
    f.add_argument("--to", type=Path, help="the folder to fill (default: the user's "
                                           "weights folder, where --weights looks first)")
    f.add_argument("--revision", help="a commit of the Hugging Face repository")
    c = wsub.add_parser("check", help="load a weights folder strictly and say if it is usable")
    c.add_argument("folder", type=Path, nargs="?", help="default: the user's weights folder")

    from studio import cli_project
    from trainer import cli as trainer_cli

    cli_project.register(sub)
    trainer_cli.register(sub)
    return p


def _renderer_args(p: argparse.ArgumentParser, default: str | None) -> None:
    from core.render.registry import renderer_names

    p.add_argument("--renderer", choices=renderer_names(), default=default,
                   help="what draws the frames: warp (no weights) or liveportrait (the neural "
                        "renderer; needs its weights, and a GPU to be fast)"
                        + ("" if default else " (default: the project's)"))
    p.add_argument("--weights", type=Path,
                   help="folder of the LivePortrait weights in the official layout "
                        "(default: where `studio weights fetch` puts them)")


_FRAME_STAGES = ("tracking", "exporting")


class _Bar:
    """A tqdm bar per stage, on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.stage = None
        self.bar = None

    def __call__(self, stage: str, done: float, total: float) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            unit = "frame" if stage in _FRAME_STAGES else "%"
            self.bar = tqdm(total=total if unit == "frame" else 100, desc=stage, unit=unit,
                            file=sys.stderr, leave=False)
        scale = 1 if self.stage in _FRAME_STAGES else 100 / max(total, 1e-9)
        self.bar.n = int(done * scale)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _need_file(path: Path | None, error: type[StudioError] = MediaError) -> None:
    """The cheapest door: the file is there (no engine import needed to say it is not)."""
    if path is None:
        return
    if not path.exists():
        raise error(path, "file not found")
    if path.is_dir():
        raise error(path, "is a folder, not a file")


def _check_dub_inputs(source: Path, audio: Path | None, transcript: Path | None,
                      edits: Path | None) -> None:
    """Every input of ``dub``/``analyze`` is what it should be, before any long work."""
    _need_file(source)
    _need_file(audio)
    _need_file(transcript, TranscriptError)
    _need_file(edits, EditsError)
    from core.media.probe import check_audio, check_picture, check_transcript

    check_picture(source)
    if audio is not None:
        check_audio(audio)
    if transcript is not None:
        check_transcript(transcript)
    if edits is not None:
        _check_edits_file(edits)


def _check_edits_file(path: Path) -> None:
    """An edits file's syntax and values, before any work (words named by their text are
    looked up once the dub's words are known)."""
    from core.project.edits import parse_edits

    try:
        parse_edits(path)
    except EditsError as exc:
        if "need the dub's aligned words" not in str(exc):
            raise


def _analyze(args: argparse.Namespace) -> int:
    _check_dub_inputs(args.media, args.audio, args.transcript, None)
    from core.analysis import analyze

    bar = _Bar(enabled=sys.stderr.isatty() and not args.quiet)
    try:
        result = analyze(
            args.media, audio=args.audio, transcript=args.transcript, cache_root=args.cache,
            tracker=args.tracker, face_index=args.face_index, face_box=args.face_box,
            language=args.language, progress=bar,
        )
    finally:
        bar.close()
    s = result.summary()
    if args.json:
        print(json.dumps(s, indent=1))
        return 0
    print(f"{s['media']}: {s['frames']} frames at {s['fps']} fps ({s['duration_s']} s)")
    how = "read from cache" if s["keypoints_from_cache"] else (
        f"tracked {s['frames_tracked_now']} frames"
        + (f", resumed at frame {s['resumed_at_frame']}" if s["resumed_at_frame"] else ""))
    print(f"face found in {100 * s['face_found_share']:.1f}% of frames ({how})")
    for g in s["gaps"]:
        print(f"  no face {g['start_s']:.2f}-{g['end_s']:.2f} s ({g['frames']} frames)")
    if s["audio"]:
        print(f"words aligned: {s['words_aligned']} ({s['alignment_source']})")
    else:
        print("no audio: nothing to align")
    for w in s["warnings"]:
        print(f"warning: {w}")
    print(f"cache: {s['cache']} ({s['cache_mb']} MB)")
    print(f"time: {s['seconds']:.2f} s")
    return 0


def _dub(args: argparse.Namespace) -> int:
    from core.outputs import check_output, video_container

    output = args.output or Path.cwd() / f"{args.source.stem}_dub.mp4"
    check_output(output, {"source": args.source, "dub": args.audio,
                          "transcript": args.transcript, "edits file": args.edits})
    video_container(output)
    _check_dub_inputs(args.source, args.audio, args.transcript, args.edits)
    from core.dub import DubOptions, dub
    from core.export import ExportSettings

    try:
        options = DubOptions(
            alpha=args.alpha, beta=args.beta, smoothing=args.smoothing,
            longer=args.longer, shorter=args.shorter, idle_motion=not args.no_idle,
            av_offset_frames=args.av_offset,
        )
        settings = ExportSettings(crf=args.crf, preset=args.preset,
                                  mix_source_audio=args.mix_source_audio)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar = _Bar(enabled=sys.stderr.isatty() and not args.quiet)
    edits = None
    if args.edits is not None:
        from core.project.edits import parse_edits

        def edits(take):
            words = [w.text for w in take.dub_alignment.words] if take.dub_alignment else []
            return parse_edits(args.edits, words)
    try:
        result = dub(
            args.source, args.audio, output, transcript=args.transcript, options=options,
            settings=settings, cache_root=args.cache, tracker=args.tracker,
            face_index=args.face_index, face_box=args.face_box, language=args.language,
            progress=bar, edits=edits, driver=args.driver,
            renderer=args.renderer, weights=args.weights,
        )
    finally:
        bar.close()
    return _print_result(result.summary(), args.json)


def _print_result(s: dict, as_json: bool) -> int:
    if as_json:
        print(json.dumps(s, indent=1))
        return 0
    for w in s["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{s['output']}: {s['frames']} frames at {s['fps']} fps ({s['duration_s']} s), "
          f"{s['words']} words, in {s['seconds']:.1f} s")
    return 0


def _export(args: argparse.Namespace) -> int:
    import dataclasses
    import time

    from core.outputs import check_output
    from core.project.project import Project

    started = time.perf_counter()
    project = Project.open(args.project)
    overrides = {"alpha": args.alpha, "beta": args.beta, "smoothing": args.smoothing,
                 "av_offset_frames": args.av_offset}
    if args.renderer is not None:
        overrides["renderer"] = args.renderer
    if args.weights is not None:
        overrides["weights"] = str(args.weights.resolve())
    for key, value in overrides.items():
        if value is not None:
            project.set_setting(key, value)
    output = args.output or project.folder / f"{project.folder.name}.mp4"
    inputs = project.inputs()
    if args.edits is not None:
        _need_file(args.edits, EditsError)
        inputs["edits file"] = args.edits
    check_output(output, inputs, project_folder=project.folder)
    from core.export import check_output_path

    check_output_path(output)
    project.require_media()
    edits = None
    if args.edits is not None:  # checked whole (words by text too) before the analysis
        from core.project.dubwords import dub_word_texts
        from core.project.edits import parse_edits

        _check_edits_file(args.edits)
        if project.dub is not None:
            edits = parse_edits(args.edits, dub_word_texts(
                project.dub.path, None if project.transcript is None else
                project.transcript.path, project.cache_dir))
    # the engine loads only now, once everything the user gave has been checked
    from core.export import ExportSettings
    from core.session import EditSession

    try:
        settings = ExportSettings.from_settings(project.settings)
        if args.crf is not None or args.preset is not None:
            settings = dataclasses.replace(
                settings, crf=settings.crf if args.crf is None else args.crf,
                preset=settings.preset if args.preset is None else args.preset)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if edits is not None:  # on this run's copy of the project only: never saved
        for i, fields in edits.words.items():
            project.words.setdefault(i, {}).update(fields)
        project.emotion_clips = project.emotion_clips + list(edits.emotions)
    bar = _Bar(enabled=sys.stderr.isatty() and not args.quiet)
    session = EditSession(project)
    try:
        take = session.open_take(progress=bar)
        try:
            session.export(output, take_renderer=True, settings=settings)(bar, None)
        finally:
            session.close()
    finally:
        bar.close()
    al = take.dub_alignment
    return _print_result({
        "output": str(output), "frames": take.frame_count, "fps": round(take.fps, 3),
        "duration_s": round(take.frame_count / take.fps, 3),
        "words": 0 if al is None else len(al.words),
        "viseme_library": take.library.coverage(), "warnings": take.warnings,
        "seconds": round(time.perf_counter() - started, 3)}, args.json)


def _weights(args: argparse.Namespace) -> int:
    from core.render.liveportrait.renderer import default_weights

    if args.weights_command == "fetch":
        from core.render.liveportrait.fetch import fetch_weights

        dest = fetch_weights(args.to or default_weights(), revision=args.revision)
        folder = dest
    else:
        folder = args.folder or default_weights()
    from core.render.liveportrait.model import LivePortrait

    lp = LivePortrait.load(folder, device="cpu")
    params = sum(p.numel() for net in lp.networks.values() for p in net.parameters())
    print(f"{folder}: LivePortrait weights load strictly ({params / 1e6:.1f} M parameters)")
    return 0


def window_paths(argv: list[str], commands: set[str] | frozenset[str]) -> list[str] | None:
    """The paths of ``studio PATH…`` (the window opens them as a drop would), or None when
    ``argv`` is a subcommand or an option.

    A subcommand's name wins over a file of that name (``studio dub`` runs the dub job): write
    ``./dub`` or ``studio -- dub`` to open the file. Alone, though, ``studio dub`` cannot run
    (every subcommand needs its arguments), so a file or folder so named opens.
    """
    if not argv:
        return []
    if argv[0] == "--":
        return argv[1:]
    first = argv[0]
    if first.startswith("-"):
        return None
    if first in commands:
        return [first] if len(argv) == 1 and Path(first).exists() else None
    return list(argv)


def check_window_paths(items: list[str]) -> list[Path]:
    """Refuse, at the door, a path that is missing or not something the window opens."""
    from core.media import is_audio_path, is_image_path, is_video_path
    from core.media.probe import TEXT_SUFFIXES
    from core.outputs import PROJECT_FILES

    paths = [Path(a) for a in items]
    for p in paths:
        if not p.exists():
            raise StudioError(p, "no such file or folder")
        if p.is_dir():
            if len(paths) > 1:
                raise StudioError(p, "a project folder opens alone (give it without media)")
            continue
        if not (is_video_path(p) or is_image_path(p) or is_audio_path(p)
                or p.suffix.lower() in TEXT_SUFFIXES or p.name in PROJECT_FILES):
            raise StudioError(p, "not a video, image, audio, transcript or project folder")
    return paths


def main(argv: list[str] | None = None) -> int:
    from core.quiet import quiet_environment

    quiet_environment()  # before MediaPipe or LiteRT can load
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    items = window_paths(argv, frozenset(commands.choices))
    if items is not None:  # ``studio`` alone, or ``studio PATH…``, opens the window
        try:
            paths = check_window_paths(items)
        except StudioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        from studio.app import main as open_window

        return open_window([str(p) for p in paths])
    args = parser.parse_args(argv)
    if args.command is None:  # options only (none opens anything)
        from studio.app import main as open_window

        return open_window([])
    try:
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "dub":
            return _dub(args)
        if args.command == "export":
            return _export(args)
        if args.command == "weights":
            return _weights(args)
        if args.command in ("project", "train"):
            return args.func(args)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a disk that fills up or a folder that turns read-only mid-way
        print(f"error: {os_error_line(exc)}", file=sys.stderr)
        return 1
    except (Cancelled, KeyboardInterrupt):
        print("cancelled; what was done is cached and resumes next time", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())

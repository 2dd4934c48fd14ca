"""Never lose the user's work, fail clearly and early: every case of issue 12's list.

Each case runs the command as a user would and asserts the exact outcome: the refusal (exit
code 1), one line naming the file or field and the problem, and the unchanged bytes
(sha256) of every input. The last tests kill exports and saves with SIGKILL at several
points and check that the next command finds no leftover temporary file and an intact
project.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from core.atomic import sweep_temp_files
from studio.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _refused(capsys, args, *words: str) -> str:
    """Run ``studio ARGS``; it must fail with one ``error:`` line holding ``words``."""
    code, _, err = _run(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 1, (args, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


@pytest.fixture
def media(tmp_path) -> dict[str, Path]:
    """The README's sample portrait, voice and transcript, copied (the tests hash them)."""
    folder = tmp_path / "media"
    folder.mkdir()
    return {role: Path(shutil.copy(SAMPLES / name, folder / name)) for role, name in
            (("source", "portrait.jpg"), ("dub", "speech.wav"), ("transcript", "speech.txt"))}


@pytest.fixture
def project(tmp_path, media, capsys) -> Path:
    folder = tmp_path / "proj"
    code, _, err = _run(capsys, "project", "new", folder, "--source", media["source"],
                        "--audio", media["dub"], "--transcript", media["transcript"])
    assert code == 0, err
    return folder


def _hashes(project: Path, media: dict[str, Path]) -> dict[str, str]:
    files = [*media.values(), project / "project.json"]
    return {str(p): _sha(p) for p in files}


def _no_work_done(project: Path) -> None:
    """Refused at the door: nothing was tracked or aligned."""
    assert not (project / "cache" / "keypoints").exists()


# -- 1. no command writes over an input ------------------------------------------------------


def test_export_refuses_every_input_and_project_file(project, media, tmp_path, capsys):
    before = _hashes(project, media)
    edits = tmp_path / "edits.json"
    edits.write_text('{"words": []}')
    (project / "models" / "kept.mp4").write_bytes(b"not to be touched")
    link = tmp_path / "link.jpg"
    link.symlink_to(media["source"])
    hard = tmp_path / "hard.wav"
    os.link(media["dub"], hard)
    cases = [
        (project / "project.json", "is the project file"),
        (media["source"], "is the project's source"),
        (media["dub"], "is the project's dub"),
        (media["transcript"], "is the project's transcript"),
        (media["source"].parent / ".." / "media" / media["source"].name, "project's source"),
        (link, "is the project's source"),
        (hard, "is the project's dub"),
        (project / "cache" / "out.mp4", "inside the project's cache/ folder"),
        (project / "models" / "kept.mp4", "inside the project's models/ folder"),
        (edits, "is the edits file"),
    ]
    for out, words in cases:
        extra = ["--edits", edits] if out == edits else []
        _refused(capsys, ["export", project, "-o", out, *extra], str(out), words)
    assert _hashes(project, media) == before
    assert (project / "models" / "kept.mp4").read_bytes() == b"not to be touched"
    assert edits.read_text() == '{"words": []}'
    _no_work_done(project)


def test_train_refuses_to_write_its_model_over_the_project(project, media, capsys):
    before = _hashes(project, media)
    for out, words in ((project / "project.json", "is the project file"),
                       (project / "project.autosave.json", "project's autosave"),
                       (media["source"], "is the project's source"),
                       (project / "cache" / "m.safetensors", "inside the project's cache/"),
                       (project / "model.bin", "ends in .safetensors")):
        _refused(capsys, ["train", project, "--out", out, "--steps", "1"], str(out), words)
    assert _hashes(project, media) == before
    assert not (project / "cache" / "train").exists()
    _no_work_done(project)


def test_dub_refuses_its_inputs_through_the_same_check(media, tmp_path, capsys):
    before = {str(p): _sha(p) for p in media.values()}
    for role, words in (("source", "is the source"), ("dub", "is the dub"),
                        ("transcript", "is the transcript")):
        _refused(capsys, ["dub", media["source"], "--audio", media["dub"], "--transcript",
                          media["transcript"], "-o", media[role], "--cache", tmp_path / "c"],
                 str(media[role]), words)
    assert {str(p): _sha(p) for p in media.values()} == before
    assert not (tmp_path / "c").exists()


def test_an_unknown_container_is_refused_and_known_ones_are_written(project, media, tmp_path,
                                                                     capsys):
    for name in ("x.avi", "x.MP3", "noextension"):
        _refused(capsys, ["export", project, "-o", tmp_path / name], name,
                 "the studio writes H.264 + AAC video as .mp4, .mov, .mkv")
    _no_work_done(project)
    from core.export import ExportSettings, export_mp4

    frames = [np.full((32, 48, 3), k * 20, np.uint8) for k in range(5)]
    for suffix, fmt in ((".mp4", "mp4"), (".mov", "mov"), (".mkv", "matroska")):
        out = tmp_path / f"clip{suffix}"
        export_mp4(out, iter(frames), fps=25, frame_count=5,
                   audio=np.zeros(16000 // 5, np.float32), sample_rate=16000,
                   settings=ExportSettings(preset="ultrafast"))
        with av.open(str(out)) as c:
            assert fmt in c.format.name.split(",")
            assert c.streams.video[0].codec_context.name == "h264"
            assert c.streams.audio[0].codec_context.name == "aac"
            assert sum(1 for _ in c.decode(video=0)) == 5


# -- 2. validated at the door ----------------------------------------------------------------


def test_768_khz_audio_is_refused_in_one_line(media, tmp_path, capsys):
    hi = tmp_path / "hi.wav"
    sf.write(hi, np.zeros(768_000 // 10, np.float32), 768_000)
    before = _sha(hi)
    _refused(capsys, ["dub", media["source"], "--audio", hi, "-o", tmp_path / "o.mp4",
                      "--cache", tmp_path / "c"], str(hi), "768000 Hz", "resample")
    _refused(capsys, ["project", "new", tmp_path / "p", "--source", media["source"],
                      "--audio", hi], str(hi), "768000 Hz")
    assert _sha(hi) == before and not (tmp_path / "c").exists()
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "p").exists()


def test_training_on_a_missing_gpu_is_refused(project, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: --device cuda is valid here")
    line = _refused(capsys, ["train", project, "--device", "cuda", "--steps", "1"],
                    "--device cuda", "no CUDA GPU")
    assert line == ("error: --device cuda: no CUDA GPU is available here (PyTorch sees "
                    "none); use --device cpu, or auto")
    _refused(capsys, ["train", project, "--device", "tpu"], "--device tpu", "unknown device")
    _no_work_done(project)


def test_training_a_read_only_project_is_refused(project, media, capsys, monkeypatch):
    """As root, chmod cannot stop writes: os.access answers as it would for a user."""
    before = _hashes(project, media)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if str(p).startswith(
        str(project)) and mode & os.W_OK else real(p, mode, *a, **k))
    _refused(capsys, ["train", project, "--steps", "1"], str(project / "cache"),
             "read-only: training writes its checkpoints")
    assert _hashes(project, media) == before
    _no_work_done(project)


def _edit_doc(project: Path, change) -> None:
    doc = json.loads((project / "project.json").read_text())
    change(doc)
    (project / "project.json").write_text(json.dumps(doc))


def test_an_unknown_driver_is_refused_when_set_and_when_opened(project, media, capsys):
    _refused(capsys, ["project", "set", project, "settings.driver", "lipnet"],
             "project.json", "settings.driver: unknown driver 'lipnet'")
    _refused(capsys, ["project", "set", project, "settings.driver",
                      "audio2exp:models/none.safetensors"],
             "none.safetensors", "settings.driver: no such model file")
    _edit_doc(project, lambda d: d["settings"].update(driver="lipnet"))
    before = _hashes(project, media)
    for args in (["export", project, "-o", project / "x.mp4"], ["project", "show", project],
                 ["train", project, "--steps", "1"]):
        _refused(capsys, args, "project.json", "settings.driver: unknown driver 'lipnet'")
    # a model the file names but that is not there: refused before any tracking
    _edit_doc(project, lambda d: d["settings"].update(driver="audio2exp:models/gone.st"))
    _refused(capsys, ["export", project, "-o", project / "x.mp4"], "gone.st",
             "settings.driver: no such model file")
    assert {k: v for k, v in _hashes(project, media).items() if "project.json" not in k} == {
        k: v for k, v in before.items() if "project.json" not in k}
    _no_work_done(project)


def test_a_model_whose_version_is_not_a_number_is_refused(project, capsys):
    from safetensors.numpy import save_file

    bad = project / "models" / "bad.safetensors"
    meta = {"format": "studio-audio2exp", "version": "two", "backend": "landmarks",
            "tracker": "mediapipe", "n_points_total": 478}
    save_file({"w": np.zeros(1, np.float32)}, str(bad), metadata={"audio2exp": json.dumps(meta)})
    _refused(capsys, ["project", "set", project, "settings.driver",
                      "audio2exp:models/bad.safetensors"],
             str(bad), "metadata version is not a whole number")


@pytest.mark.parametrize("make, words", [
    (lambda t: t.replace('"path": "', '"path": "\\u0000', 1), "contains a NUL character"),
    (lambda t: t.replace('"words": {}', '"words": {"\\u0663": {"open": 2}}'),
     "is not a word index"),
    (lambda t: t.replace('"words": {}', '"words": {"\\u00b2": {"open": 2}}'),
     "is not a word index"),
    (lambda t: t.replace('"alpha": 1.0', '"alpha": ' + "9" * 4301), "not valid JSON"),
    (lambda t: t.replace('"alpha": 1.0', '"alpha": ' + "[" * 100_000 + "]" * 100_000),
     "nested too deeply"),
    (lambda t: t.replace('"path": "/', '"path": "../../..', 1), "climbs out of the project"),
])
def test_a_hostile_project_file_gets_one_line(project, capsys, make, words):
    path = project / "project.json"
    text = make(path.read_text())
    assert text != path.read_text()
    path.write_text(text)
    before = _sha(path)
    for args in (["project", "show", project], ["export", project, "-o", project / "x.mp4"],
                 ["project", "set", project, "settings.alpha", "1.5"]):
        _refused(capsys, args, str(path), words)
    assert _sha(path) == before
    _no_work_done(project)


def test_project_new_and_set_check_each_value_as_it_enters(project, media, tmp_path, capsys):
    before = _hashes(project, media)
    jpeg = SAMPLES / "portrait.jpg"
    _refused(capsys, ["project", "new", tmp_path / "p2", "--source", media["source"],
                      "--audio", jpeg], str(jpeg), "is a picture, not sound")
    assert not (tmp_path / "p2").exists()
    _refused(capsys, ["project", "set", project, "dub", jpeg], "is a picture, not sound")
    _refused(capsys, ["project", "set", project, "source", media["dub"]], "has no picture")
    _refused(capsys, ["project", "set", project, "transcript", "/etc/passwd"], "/etc/passwd",
             "not a transcript")
    _refused(capsys, ["project", "set", project, "dub", "/etc/passwd"], "/etc/passwd")
    _refused(capsys, ["project", "set", project, "settings.driver", "foo"],
             "settings.driver: unknown driver 'foo'")
    _refused(capsys, ["project", "set", project, "words.99999.open", "2"],
             "words.99999: no such word; the dub has 10 words (0 to 9)")
    _refused(capsys, ["project", "set", project, "words.٣.open", "2"],
             "words are named by index")
    _refused(capsys, ["project", "set", project, "settings.alpha", "1" * 5000],
             "settings.alpha: must be a number")
    assert _hashes(project, media) == before
    code, _, _ = _run(capsys, "project", "set", project, "words.9.open", "2")
    assert code == 0


def test_word_edits_beyond_the_dub_are_refused_before_the_analysis(project, tmp_path, capsys):
    _edit_doc(project, lambda d: d["words"].update({"40": {"open": 2.0}}))
    _refused(capsys, ["export", project, "-o", tmp_path / "x.mp4"],
             "words.40: no such word; the dub has 10 words")
    edits = tmp_path / "edits.json"
    _edit_doc(project, lambda d: d.update(words={}))
    edits.write_text(json.dumps({"words": [{"text": "zebra", "open": 2}]}))
    _refused(capsys, ["export", project, "-o", tmp_path / "x.mp4", "--edits", edits],
             str(edits), "word 'zebra' occurrence 1 not found")
    _no_work_done(project)


def test_asking_for_a_face_that_is_not_there_says_how_many_there_are(shared_data, tmp_path,
                                                                       capsys):
    video = shared_data / "edge" / "very_short.mp4"
    line = _refused(capsys, ["analyze", video, "--face", "7", "--cache", tmp_path],
                    str(video))
    assert line.endswith("face 7 was asked for, but no more than 1 face is in view in any "
                         "of its 62 frames (faces are numbered from 0, largest first)")


def test_a_corrupt_keypoint_cache_is_detected_and_rebuilt(tmp_path, capsys):
    portrait = SAMPLES / "portrait.jpg"
    args = ["analyze", portrait, "--cache", tmp_path, "--json"]
    code, out, _ = _run(capsys, *args)
    assert code == 0 and not json.loads(out)["keypoints_from_cache"]
    folder = Path(json.loads(out)["cache"])
    damage = [
        lambda: (folder / "meta.json").write_text("[1, 2]"),
        lambda: (folder / "meta.json").write_text("{"),
        lambda: (folder / "expression.npy").write_bytes(b""),
        lambda: (folder / "rotation.npy").write_bytes(
            (folder / "rotation.npy").read_bytes()[:-3]),
        lambda: (folder / "canonical.npy").write_bytes(b"\x93NUMPY garbage"),
        lambda: shutil.rmtree(folder) or folder.write_text("a file where a folder was"),
    ]
    for hurt in damage:
        hurt()
        code, out, err = _run(capsys, *args)
        assert code == 0, err
        s = json.loads(out)
        assert not s["keypoints_from_cache"] and s["face_found_share"] == 1.0
        code, out, _ = _run(capsys, *args)  # and the rebuilt one is used again
        assert json.loads(out)["keypoints_from_cache"]


# -- leftovers -------------------------------------------------------------------------------


def test_stale_temporary_files_are_swept_but_live_ones_kept(tmp_path):
    stale = [tmp_path / ".out.mp4.0123abcd.partial.mp4", tmp_path / ".project.json.ab_cd123.tmp",
             tmp_path / ".x.mkv.deadbeef.partial.mkv"]
    mine = [tmp_path / "notes.tmp", tmp_path / ".hidden", tmp_path / "a.partial.mp4"]
    for p in stale + mine:
        p.write_bytes(b"x")
    live = tmp_path / ".out.mp4.feedf00d.partial.mp4"
    live.write_bytes(b"being written")
    fd = os.open(live, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a running export holds it
    try:
        assert sorted(sweep_temp_files(tmp_path)) == sorted(stale)
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [p.name for p in mine] + [live.name])


_KILL_SAVE = textwrap.dedent("""
    import os, signal, sys
    import core.atomic as atomic
    from core.project.project import Project

    point = sys.argv[2]
    def die(*a, **k):
        os.kill(os.getpid(), signal.SIGKILL)
    if point == "created":
        make = atomic.create_temp
        atomic.create_temp = lambda *a, **k: (make(*a, **k), die())[0]
    elif point == "half-written":
        write = os.write
        def half(fd, data):
            write(fd, bytes(data[: len(data) // 2]))
            die()
        atomic.os.write = half
    elif point == "written":
        atomic.os.fsync = die
    elif point == "renamed":
        atomic.fsync_path = die
    project = Project.open(sys.argv[1])
    project.set_setting("alpha", 1.7)
    project.save()
""")

_KILL_EXPORT = textwrap.dedent("""
    import os, signal, sys
    import core.export.writer as writer
    from studio.cli import main

    point = sys.argv[1]
    def die(*a, **k):
        os.kill(os.getpid(), signal.SIGKILL)
    if point.startswith("frame"):
        k = int(point[5:])
        write = writer._PartialMp4.write_video
        def at_frame(self, *frame):
            if self._frames == k:
                die()
            return write(self, *frame)
        writer._PartialMp4.write_video = at_frame
    elif point == "closed":
        def commit(self):
            self._container.mux(self._video.encode(None))
            self._container.mux(self._audio.encode(None))
            self._container.close()
            die()
        writer._PartialMp4.commit = commit
    sys.exit(main(sys.argv[2:]))
""")


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and (
        p.name.endswith(".tmp") or ".partial." in p.name))


def test_killed_saves_leave_nothing_the_next_command_does_not_clean(project, capsys):
    doc = json.loads((project / "project.json").read_text())
    for point in ("created", "half-written", "written", "renamed"):
        child = subprocess.run([sys.executable, "-c", _KILL_SAVE, str(project), point],
                               cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert child.returncode == -signal.SIGKILL, (point, child.stderr)
        if point != "renamed":
            assert len(_temps(project)) == 1, (point, _temps(project))  # it died mid-save
        code, out, err = _run(capsys, "project", "show", project, "--json")  # the next one
        assert code == 0, err
        assert _temps(project) == []
        now = json.loads((project / "project.json").read_text())
        alpha = now["settings"]["alpha"]
        assert alpha == (1.7 if point == "renamed" else doc["settings"]["alpha"]), point
        assert json.loads(out)["project"] == now


def test_killed_exports_leave_nothing_the_next_export_does_not_clean(project, tmp_path,
                                                                       capsys):
    out = tmp_path / "out" / "dub.mp4"
    out.parent.mkdir()
    out.write_bytes(b"the previous export")
    before = (project / "project.json").read_bytes()
    for point in ("frame0", "frame20", "closed"):
        child = subprocess.run(
            [sys.executable, "-c", _KILL_EXPORT, point, "export", str(project), "-o",
             str(out), "--preset", "ultrafast", "--quiet"],
            cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert child.returncode == -signal.SIGKILL, (point, child.stderr)
        assert len(_temps(out.parent)) == 1, (point, _temps(out.parent))
        assert out.read_bytes() == b"the previous export"
        assert (project / "project.json").read_bytes() == before
    code, _, err = _run(capsys, "export", project, "-o", out, "--preset", "ultrafast",
                        "--quiet")
    assert code == 0, err
    assert _temps(out.parent) == [] and _temps(project) == []
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames > 0
    assert (project / "project.json").read_bytes() == before


# -- quiet and quick -------------------------------------------------------------------------


def test_a_command_prints_no_library_chatter(tmp_path):
    """MediaPipe and LiteRT print about five lines on every run; none reach the user."""
    run = subprocess.run([sys.executable, "-m", "studio", "analyze", str(SAMPLES /
                          "portrait.jpg"), "--cache", str(tmp_path), "--quiet"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stderr == "", run.stderr
    assert "face found in 100.0% of frames" in run.stdout


def test_a_bad_path_is_answered_before_the_engine_loads(tmp_path):
    """--help and a missing file never import torch, MediaPipe or the aligner (the time it
    takes is measured by bench/cli_startup.py)."""
    probe = textwrap.dedent("""
        import sys
        from studio.cli import main
        for args in (["dub", "missing.mp4", "--audio", "missing.wav", "-o", "o.mp4"],
                     ["analyze", "missing.mp4"], ["export", "missing-project"],
                     ["train", "missing-project"], ["project", "show", "missing"]):
            assert main(args) == 1, args
        heavy = sorted(m for m in ("torch", "mediapipe", "pocketsphinx", "cv2", "av")
                       if m in sys.modules)
        print("heavy:", " ".join(heavy))
    """)
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "heavy: ", run.stdout
    assert [line.split(":")[0] for line in run.stderr.splitlines()] == ["error"] * 5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread priorities: Linux")
def test_an_export_lowers_its_worker_threads_priority_never_the_main_threads():
    """Unprivileged users cannot raise a priority again: an export run on the main thread
    (the command line, a test) once left the whole rest of the process at nice 10, and the
    test suite crawled on a busy machine."""
    import threading

    from core.background import lower_thread_priority

    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    main_before = nice()
    assert lower_thread_priority() is False and nice() == main_before
    seen: dict = {}

    def worker() -> None:
        seen["lowered"], seen["nice"] = lower_thread_priority(), nice()

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == {"lowered": True, "nice": min(19, main_before + 10)}
    assert nice() == main_before

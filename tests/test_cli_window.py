"""``studio PATH…`` opens the window with those paths, as a drop would: run as a real
subprocess under offscreen Qt, told (STUDIO_REPORT_OPEN) to write what it opened and quit.
Subcommands keep working, and a file named like one is the edge case."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from studio.cli import main, window_paths

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
COMMANDS = frozenset({"analyze", "dub", "export", "weights", "project", "train"})


def studio(tmp_path: Path, *args: str, cwd: Path | None = None) -> tuple[int, dict | None, str]:
    """Run ``studio ARGS`` in its own process; (exit code, its report, stderr)."""
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               STUDIO_REPORT_OPEN=str(report), STUDIO_CACHE_DIR=str(tmp_path / "cache"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), OMP_NUM_THREADS="1",
               STUDIO_PROJECTS_DIR=str(tmp_path / "projects"))
    out = subprocess.run([sys.executable, "-m", "studio", *args], cwd=cwd or tmp_path,
                         env=env, capture_output=True, text=True, timeout=180)
    data = json.loads(report.read_text()) if report.is_file() else None
    return out.returncode, data, out.stderr


@pytest.fixture()
def media(tmp_path: Path) -> Path:
    """The sample portrait, speech and transcript in a folder of their own."""
    folder = tmp_path / "media"
    folder.mkdir()
    for name in ("portrait.jpg", "speech.wav", "speech.txt"):
        shutil.copy(SAMPLES / name, folder / name)
    return folder


def test_a_portrait_a_dub_and_a_transcript_open_as_a_new_project(tmp_path, media):
    code, seen, err = studio(tmp_path, str(media / "portrait.jpg"), str(media / "speech.wav"),
                             str(media / "speech.txt"))
    assert code == 0, err[-2000:]
    assert seen is not None and seen["errors"] == [], seen
    assert Path(seen["source"]).samefile(media / "portrait.jpg")
    assert Path(seen["dub"]).samefile(media / "speech.wav")
    assert Path(seen["transcript"]).samefile(media / "speech.txt")
    assert Path(seen["project"]).is_dir()


def test_a_project_folder_opens_and_relative_paths_are_the_shells(tmp_path, media):
    from core.project.project import Project

    project = Project.new(tmp_path / "my project", media / "portrait.jpg", media / "speech.wav")
    project.save()
    code, seen, err = studio(tmp_path, "my project")  # relative to the current folder
    assert code == 0, err[-2000:]
    assert seen["errors"] == [] and Path(seen["project"]).samefile(project.folder)
    assert Path(seen["dub"]).samefile(media / "speech.wav") and seen["transcript"] is None
    assert "my project" in seen["title"]


def test_a_file_named_like_a_subcommand(tmp_path, media, monkeypatch):
    """Alone it opens (the subcommand could not run without its arguments); with ``--``
    it opens whatever follows; with arguments the subcommand runs."""
    shutil.copy(media / "portrait.jpg", tmp_path / "dub")
    shutil.copy(media / "portrait.jpg", tmp_path / "export.jpg")
    (tmp_path / "train").mkdir()
    assert window_paths(["dub"], COMMANDS) is None  # not here: the cwd has no such file
    monkeypatch.chdir(tmp_path)
    assert window_paths(["dub"], COMMANDS) == ["dub"]
    assert window_paths(["dub", "--audio", "x.wav"], COMMANDS) is None
    assert window_paths(["--", "dub", "speech.wav"], COMMANDS) == ["dub", "speech.wav"]
    assert window_paths(["--help"], COMMANDS) is None
    assert window_paths([], COMMANDS) == []
    assert window_paths(["export.jpg"], COMMANDS) == ["export.jpg"]
    code, seen, err = studio(tmp_path, "--", "export.jpg", str(media / "speech.wav"))
    assert code == 0 and seen["errors"] == [], (err[-2000:], seen)
    assert Path(seen["source"]).samefile(tmp_path / "export.jpg")


def test_bad_paths_are_refused_at_the_door_and_subcommands_still_run(tmp_path, capsys):
    assert main([str(tmp_path / "missing.mp4")]) == 2
    assert f"{tmp_path / 'missing.mp4'}: no such file or folder" in capsys.readouterr().err
    odd = tmp_path / "notes.docx"
    odd.write_bytes(b"PK")
    assert main([str(odd)]) == 2
    assert "notes.docx: not a video, image, audio, transcript" in capsys.readouterr().err
    (tmp_path / "p").mkdir()
    assert main([str(tmp_path / "p"), str(odd)]) == 2
    assert "opens alone" in capsys.readouterr().err
    # a subcommand is still a subcommand: its own door check answers
    assert main(["dub", str(tmp_path / "missing.jpg"), "--audio",
                 str(SAMPLES / "speech.wav")]) == 1
    assert "missing.jpg" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0 and "studio PATH" in capsys.readouterr().out

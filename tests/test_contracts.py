"""The promises of the layout: core/ and trainer/ never import Qt; the studio starts with
MediaPipe's GUI OpenCV installed; the CI script runs README's commands."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6", "qtpy")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_and_trainer_never_import_qt():
    offenders = []
    for pkg in ("core", "trainer"):
        for path in (ROOT / pkg).rglob("*.py"):
            bad = _imports(path) & set(QT)
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert not offenders, offenders


def test_import_linter_contracts_hold():
    exe = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_engine_loads_without_qt():
    code = (
        "import sys, core.analysis, core.keypoints.analyze, core.align, core.media; "
        f"bad=[m for m in sys.modules if m.split('.')[0] in {QT!r}]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_qt_starts_after_mediapipe_and_opencv():
    code = (
        "import mediapipe, cv2\n"
        "from studio.qt_env import prepare_qt_environment\n"
        "prepare_qt_environment()\n"
        "from PySide6.QtWidgets import QApplication, QLabel\n"
        "app = QApplication([]); w = QLabel('studio'); w.show(); app.processEvents()\n"
        "print('qt-ok')\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert "qt-ok" in out.stdout, out.stderr[-2000:]


def test_ci_runs_readme_commands():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    block = readme.split("## Set up on a fresh machine")[1].split("```bash")[1].split("```")[0]
    commands = [line for line in block.strip().splitlines() if line.strip()]
    assert len(commands) == 2
    for command in commands:
        assert command in ci


def test_the_window_only_binds_and_no_studio_class_grows_past_forty_methods():
    """The session lives in core (core/session.py); the window keeps widgets, actions and
    bindings, in parts small enough to read."""
    assert len((ROOT / "studio" / "window.py").read_text().splitlines()) < 600
    big = []
    for path in (ROOT / "studio").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ClassDef):
                methods = [b for b in node.body
                           if isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef))]
                if len(methods) > 40:
                    big.append(f"{path.relative_to(ROOT)}: {node.name} has {len(methods)}")
    assert not big, big


def test_the_session_is_qt_free_and_holds_what_the_window_shows():
    code = (
        "import sys, core.session; "
        f"bad=[m for m in sys.modules if m.split('.')[0] in {QT!r}]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)

"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import core  # noqa: F401 - first, before any test module imports numpy (OpenBLAS threads)

# CI clones the repository so that ../shared sits beside its root.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"
PORTRAIT, SPEECH, TEXT = SAMPLES / "portrait.jpg", SAMPLES / "speech.wav", SAMPLES / "speech.txt"


@pytest.fixture(autouse=True)
def _main_thread_keeps_its_priority():
    """No test may leave the process at a lower OS priority: the rest of the suite would
    crawl on a busy machine (an export run on the main thread once did)."""
    if not hasattr(os, "getpriority"):
        yield
        return
    before = os.getpriority(os.PRIO_PROCESS, 0)  # Linux: the calling thread
    yield
    assert os.getpriority(os.PRIO_PROCESS, 0) == before, \
        "the test left the main thread at a lower priority"


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory) -> Path:
    """A keypoint and alignment cache of the test module's own."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def portrait_project(tmp_path_factory) -> Path:
    """The folder of a saved project: the shipped portrait dubbed with the sample sentence
    and its transcript (its analysis lands in the project's own cache/)."""
    from core.project.project import Project

    folder = tmp_path_factory.mktemp("portrait") / "project"
    Project.new(folder, PORTRAIT, SPEECH, TEXT).save()
    return folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real test media (``manifest.json`` describes each file)."""
    if not (SHARED_DATA / "manifest.json").is_file():
        pytest.skip(f"../shared/data is absent: the real test media belong in {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def liveportrait_weights(tmp_path_factory) -> Path:
    """The parity fixture's stand-in LivePortrait weights, written once per session in the
    official layout (about 500 MB in a temporary folder)."""
    from tests import liveportrait_parity as parity

    if not parity.available():
        pytest.skip(f"../shared/reference/liveportrait_parity is absent ({parity.PARITY})")
    return parity.write_official_layout(tmp_path_factory.mktemp("liveportrait_weights"))

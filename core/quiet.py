"""Keep third-party native libraries' log chatter off the user's terminal.

MediaPipe and LiteRT print about five lines on every run (an XNNPACK "INFO", absl's
"messages before InitializeLog" warning, "feedback manager" and "NORM_RECT" warnings) that
say nothing to a user and bury the progress bar. Two layers:

* :func:`quiet_environment` sets the libraries' own switches (glog's ``GLOG_minloglevel``,
  TensorFlow's ``TF_CPP_MIN_LOG_LEVEL``, absl-py's verbosity); it must run before they are
  imported, so the command line calls it first thing and each tracker calls it again before
  its import.
* The MediaPipe wheel logs through absl's C++ logging, which has no switch reachable from
  Python before ``absl::InitializeLog`` (which the wheel never calls), and LiteRT's
  "Created delegate" line ignores every variable. So the few calls known to print
  (creating a graph or an interpreter, their first frames) run inside
  :func:`filtered_stderr`: file descriptor 2 goes to a temporary file meanwhile, and
  afterwards every line that is not one of the known chatter patterns is passed on to the
  real stderr. Nothing else is lost, only delayed by the length of the call.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Set (unless the user set them) before MediaPipe, LiteRT or TensorFlow load.
QUIET_ENV = {
    "GLOG_minloglevel": "2",  # glog: errors and worse only
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow / TFLite C++ logging
    "TF_ENABLE_ONEDNN_OPTS": "0",  # no oneDNN banner
}

#: Lines the libraries print that are noise to a user (matched on whole lines).
NOISE = re.compile(
    rb"^(?:INFO: Created TensorFlow Lite \S+ delegate for \S+\.?"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
    rb"STDERR"
    rb"|[IW]\d{4} [\d:. ]+\s+\d+ (?:inference_feedback_manager|landmark_projection_calculator"
    rb"|gl_context|face_landmarker_graph|tflite_model_loader|model_resources_cache"
    rb")\.cc:\d+\] .*)\r?\n?$"
)

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
_capture = None


def quiet_environment() -> None:
    """Turn the native libraries' logging down (call before importing them)."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is not None:
        absl_logging.set_verbosity(absl_logging.ERROR)


def is_noise(line: bytes) -> bool:
    return bool(NOISE.match(line))


@contextmanager
def filtered_stderr() -> Iterator[None]:
    """Run a block with fd 2 captured; pass on afterwards every line that is not noise.

    Re-entrant and thread-safe: nested or concurrent captures share one, released when the
    last one ends. Set ``STUDIO_NATIVE_LOGS=1`` to see everything.
    """
    capture = StderrCapture()
    try:
        yield
    finally:
        capture.release()


class StderrCapture:
    """A hold on the shared capture of fd 2, from creation until :meth:`release`.

    For chatter that background threads print some time after a call returns (MediaPipe's
    graph threads load their models after the graph object is made): hold it from the
    call until the first frames are through.
    """

    def __init__(self) -> None:
        global _depth, _saved_fd, _capture
        self.held = os.environ.get("STUDIO_NATIVE_LOGS") != "1"
        if not self.held:
            return
        with _lock:
            if _depth == 0:
                try:
                    _flush()
                    capture = tempfile.TemporaryFile()
                    saved = os.dup(2)
                    os.dup2(capture.fileno(), 2)
                except OSError:  # no fd 2 to speak of: nothing to filter
                    capture, saved = None, None
                _capture, _saved_fd = capture, saved
            _depth += 1

    def release(self) -> None:
        global _depth, _saved_fd, _capture
        if not self.held:
            return
        self.held = False
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved_fd is not None and _capture is not None:
                _flush()
                os.dup2(_saved_fd, 2)
                os.close(_saved_fd)
                _capture.seek(0)
                kept = [line for line in _capture.read().splitlines(keepends=True)
                        if not is_noise(line)]
                _capture.close()
                _capture, _saved_fd = None, None
                if kept:
                    _write_all(2, b"".join(kept))

    def __del__(self) -> None:
        self.release()


def _flush() -> None:
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


def _write_all(fd: int, data: bytes) -> None:
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:
        pass

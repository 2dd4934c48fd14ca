"""MP4 export: real encodes of a synthetic clip, decoded back with PyAV (and ffprobe if present)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from core import atomic as atomic_module
from core.errors import Cancelled, StudioError
from core.export import (
    ExportSettings,
    aac_sample_rate,
    check_output_path,
    export_mp4,
    frame_rate_fraction,
)

FAST = ExportSettings(preset="veryfast")
W, H = 192, 144


class Frames:
    """Moving colour gradients with a drifting soft blob; records how many were taken."""

    def __init__(self, n: int, width: int = W, height: int = H, fail_at: int | None = None):
        self.n, self.width, self.height, self.fail_at = n, width, height, fail_at
        self.taken = 0

    @property
    def started(self) -> bool:
        return self.taken > 0

    def frame(self, i: int) -> np.ndarray:
        y, x = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        r = 40 + 170 * (x + 2 * i) / (self.width + 2 * self.n)
        g = 30 + 180 * (y + i) / (self.height + self.n)
        cx, cy = self.width * (0.3 + 0.4 * i / self.n), self.height / 2
        blob = 80 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * (self.height / 6) ** 2))
        b = 60 + blob
        return np.clip(np.stack([r, g + blob / 2, b], -1), 0, 255).astype(np.uint8)

    def __iter__(self):
        for i in range(self.n):
            if i == self.fail_at:
                raise RuntimeError("renderer broke")
            self.taken += 1
            yield self.frame(i)


def tone(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chirp(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * (200 * t + 400 * t**2))).astype(np.float32)


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].rate
        parts = [f.to_ndarray() for f in c.decode(audio=0)]
    return np.concatenate(parts, axis=1), rate


def decode_video(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def stream_seconds(stream) -> float:
    return float(stream.duration * stream.time_base)


def ffprobe_streams(path: Path) -> dict[str, dict]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Frames]:
    """2 s at 25 fps, 16 kHz chirp dub longer than the video (so it gets cut), CRF 18."""
    path = tmp_path_factory.mktemp("export") / "clip.mp4"
    frames = Frames(50)
    export_mp4(
        path,
        frames,
        fps=25,
        frame_count=50,
        audio=chirp(2.4, 16000),
        sample_rate=16000,
        settings=ExportSettings(crf=18, preset="medium"),
    )
    return path, frames


# -- the file ---------------------------------------------------------------------------


def test_streams_are_h264_yuv420p_and_aac(clip):
    path, _ = clip
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.codec_context.name == "h264"
        assert v.codec_context.format.name == "yuv420p"
        assert (v.width, v.height) == (W, H)
        assert v.average_rate == 25
        assert a.codec_context.name == "aac"
        assert a.rate == 48000  # 16 kHz dub resampled to a rate every player takes
        assert a.channels == 1


def test_durations_match_the_video_within_one_frame(clip):
    path, _ = clip
    frame = 1 / 25
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert stream_seconds(v) == pytest.approx(2.0, abs=frame)
        assert stream_seconds(a) == pytest.approx(2.0, abs=frame)
        assert v.frames == 50
    samples, rate = decode_audio(path)
    assert samples.shape[1] / rate == pytest.approx(2.0, abs=frame)
    assert len(decode_video(path)) == 50


def test_ffprobe_agrees(clip):
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed: the PyAV checks above stand alone")
    path, _ = clip
    streams = ffprobe_streams(path)
    v, a = streams["video"], streams["audio"]
    assert (v["codec_name"], v["pix_fmt"], v["r_frame_rate"]) == ("h264", "yuv420p", "25/1")
    assert (a["codec_name"], int(a["sample_rate"])) == ("aac", 48000)
    assert float(v["duration"]) == pytest.approx(2.0, abs=1 / 25)
    assert float(a["duration"]) == pytest.approx(float(v["duration"]), abs=1 / 25)
    assert v.get("color_space") == "bt709" and v.get("color_range") == "tv"


def test_index_is_at_the_front_for_progressive_playback(clip):
    path, _ = clip
    head = path.read_bytes()
    assert 0 <= head.find(b"moov") < head.find(b"mdat")


def test_decoded_frames_are_close_to_the_input(clip):
    path, frames = clip
    decoded = decode_video(path)
    worst = min(psnr(d, frames.frame(i)) for i, d in enumerate(decoded))
    assert worst > 35, f"worst frame PSNR {worst:.1f} dB at CRF 18"


def test_dub_is_the_soundtrack(clip):
    """The chirp survives: energy in the first half sits lower than in the second."""
    path, _ = clip
    samples, rate = decode_audio(path)
    mono = samples.mean(axis=0)
    assert np.sqrt(np.mean(mono[: rate // 2] ** 2)) > 0.2

    def centroid(x: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(x))
        return float((np.fft.rfftfreq(len(x), 1 / rate) * spec).sum() / spec.sum())

    assert centroid(mono[: rate // 2]) < centroid(mono[rate : rate + rate // 2])


# -- rates and sizes --------------------------------------------------------------------


def test_2997_fps_and_short_audio_padded_with_silence(tmp_path):
    out = tmp_path / "ntsc.mp4"
    n = 60
    export_mp4(
        out,
        Frames(n),
        fps=29.97,
        frame_count=n,
        audio=tone(440, 1.5, 48000),
        sample_rate=48000,
        settings=FAST,
    )
    length = n * 1001 / 30000
    frame = 1001 / 30000
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.average_rate == Fraction(30000, 1001)
        assert a.rate == 48000
        assert stream_seconds(v) == pytest.approx(length, abs=frame)
        assert stream_seconds(a) == pytest.approx(length, abs=frame)
    samples, rate = decode_audio(out)
    assert samples.shape[1] / rate == pytest.approx(length, abs=frame)
    tail = samples[0, int(1.6 * rate) : int(1.95 * rate)]
    assert np.abs(tail).max() < 0.01  # silence after the dub ends
    if shutil.which("ffprobe"):
        assert ffprobe_streams(out)["video"]["r_frame_rate"] == "30000/1001"


def test_odd_size_grows_by_one_copied_row_and_column(tmp_path):
    out = tmp_path / "odd.mp4"
    frames = Frames(10, width=161, height=121)
    export_mp4(
        out,
        frames,
        fps=25,
        frame_count=10,
        audio=tone(440, 0.4, 44100),
        sample_rate=44100,
        settings=FAST,
    )
    decoded = decode_video(out)
    assert decoded[0].shape == (122, 162, 3)
    with av.open(str(out)) as c:
        assert c.streams.audio[0].rate == 44100  # kept as it is
    src = frames.frame(5)
    assert psnr(decoded[5][:121, :161], src) > 35
    # The added column and row repeat the edge, not black.
    assert np.abs(decoded[5][:121, 161].astype(int) - src[:, 160]).mean() < 4
    assert np.abs(decoded[5][121, :161].astype(int) - src[120, :]).mean() < 4


def test_a_smaller_height_scales_the_frames_keeping_the_aspect_and_even_sizes(tmp_path):
    out = tmp_path / "small.mp4"
    frames = Frames(6, width=161, height=121)
    export_mp4(out, frames, fps=25, frame_count=6, audio=tone(440, 0.3, 44100),
               sample_rate=44100, settings=ExportSettings(crf=30, preset="ultrafast",
                                                          height=61))
    decoded = decode_video(out)
    assert decoded[0].shape == (60, 80, 3)  # 61 -> 60 (even), 161 * 60 / 121 -> 80
    small = cv2.resize(frames.frame(3), (80, 60), interpolation=cv2.INTER_AREA)
    assert psnr(decoded[3], small) > 25
    # a height at or over the source's keeps the source's size
    export_mp4(out, Frames(3, width=64, height=48), fps=25, frame_count=3,
               audio=tone(440, 0.2, 44100), sample_rate=44100,
               settings=ExportSettings(preset="ultrafast", height=1080))
    assert decode_video(out)[0].shape == (48, 64, 3)


@pytest.mark.parametrize(
    ("fps", "rate"),
    [
        (25, Fraction(25)),
        (25.0, Fraction(25)),
        (30, Fraction(30)),
        (29.97, Fraction(30000, 1001)),
        (30000 / 1001, Fraction(30000, 1001)),
        (23.976, Fraction(24000, 1001)),
        (23.98, Fraction(24000, 1001)),
        (59.94, Fraction(60000, 1001)),
        (12.5, Fraction(25, 2)),
        (Fraction(15, 1), Fraction(15)),
    ],
)
def test_frame_rate_fraction(fps, rate):
    assert frame_rate_fraction(fps) == rate


@pytest.mark.parametrize("fps", [0, -25, float("nan"), float("inf"), 5000])
def test_bad_fps_is_refused(fps):
    with pytest.raises(ValueError, match="fps"):
        frame_rate_fraction(fps)


def test_aac_rates():
    assert [aac_sample_rate(r) for r in (16000, 22050, 44100, 48000, 96000)] == [
        48000,
        48000,
        44100,
        48000,
        48000,
    ]


def test_empty_dub_gives_a_silent_track_as_long_as_the_video(tmp_path):
    out = tmp_path / "silent.mp4"
    export_mp4(
        out,
        Frames(25),
        fps=25,
        frame_count=np.int64(25),  # counts straight from numpy are fine
        audio=np.zeros(0, np.float32),
        sample_rate=16000,
        settings=FAST,
    )
    samples, rate = decode_audio(out)
    assert samples.shape[1] / rate == pytest.approx(1.0, abs=1 / 25)
    assert np.abs(samples).max() < 1e-3


def test_audio_given_as_samples_by_channels_is_refused(tmp_path):
    frames = Frames(10)
    with pytest.raises(ValueError, match="looks like \\(n, channels\\)"):
        export_mp4(
            tmp_path / "out.mp4",
            frames,
            fps=25,
            frame_count=10,
            audio=np.zeros((6400, 2), np.float32),
            sample_rate=16000,
            settings=FAST,
        )
    assert not frames.started
    assert list(tmp_path.iterdir()) == []


# -- the mix ----------------------------------------------------------------------------


def peak_ratio(mono: np.ndarray, rate: int, freq: float, reference: float) -> float:
    spec = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    bins = np.fft.rfftfreq(len(mono), 1 / rate)

    def at(f: float) -> float:
        return float(spec[np.abs(bins - f) < 15].max())

    return at(freq) / at(reference)


def export_mix(path: Path, mix: bool, gain: float = 0.5, amp: float = 0.4) -> np.ndarray:
    dub = tone(440, 2.0, 16000, amp)
    source = np.stack([tone(1000, 2.2, 44100, amp), tone(1000, 2.2, 44100, amp)])
    export_mp4(
        path,
        Frames(50),
        fps=25,
        frame_count=50,
        audio=dub,
        sample_rate=16000,
        settings=ExportSettings(preset="veryfast", mix_source_audio=mix, source_audio_gain=gain),
        source_audio=(source, 44100),
    )
    samples, rate = decode_audio(path)
    assert rate == 48000
    return samples


def test_source_audio_is_mixed_under_the_dub(tmp_path):
    samples = export_mix(tmp_path / "mix.mp4", True, gain=0.5)
    assert samples.shape[0] == 2  # the stereo source makes the mix stereo
    mono = samples.mean(axis=0)[4800:-4800]
    # Both tones are there, the source at about half the dub's level.
    assert peak_ratio(mono, 48000, 1000, 440) == pytest.approx(0.5, rel=0.15)


def test_source_audio_is_left_out_unless_asked(tmp_path):
    samples = export_mix(tmp_path / "dub_only.mp4", False)
    assert samples.shape[0] == 1
    assert peak_ratio(samples[0][4800:-4800], 48000, 1000, 440) < 0.01


def test_mix_is_clipped(tmp_path):
    samples = export_mix(tmp_path / "loud.mp4", True, gain=1.0, amp=0.9)  # peaks would be 1.8
    # Clipped at 1.0 before encoding; AAC's own ringing at the clipped edges adds up to ~10%.
    assert np.abs(samples).max() < 1.25


# -- progress and cancel ----------------------------------------------------------------


def test_progress_after_every_frame(tmp_path):
    seen: list[tuple[int, int]] = []
    export_mp4(
        tmp_path / "p.mp4",
        Frames(20),
        fps=25,
        frame_count=20,
        audio=tone(440, 0.8, 16000),
        sample_rate=16000,
        settings=FAST,
        progress=lambda stage, done, total: seen.append((done, total)),
    )
    assert seen == [(i, 20) for i in range(1, 21)]


def cancel_half_way(path: Path) -> Frames:
    frames = Frames(50)
    with pytest.raises(Cancelled):
        export_mp4(
            path,
            frames,
            fps=25,
            frame_count=50,
            audio=tone(440, 2.0, 16000),
            sample_rate=16000,
            settings=FAST,
            cancel=lambda: frames.taken >= 25,
        )
    return frames


def test_cancel_leaves_nothing_behind(tmp_path):
    out = tmp_path / "cancelled.mp4"
    frames = cancel_half_way(out)
    assert frames.taken == 25  # asked before every frame, so it stopped right there
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no partial file either


def test_cancel_keeps_an_existing_file(tmp_path):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"the previous export")
    cancel_half_way(out)
    assert out.read_bytes() == b"the previous export"
    assert list(tmp_path.iterdir()) == [out]


def test_renderer_error_propagates_and_cleans_up(tmp_path):
    out = tmp_path / "broken.mp4"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="renderer broke"):
        export_mp4(
            out,
            Frames(50, fail_at=10),
            fps=25,
            frame_count=50,
            audio=tone(440, 2.0, 16000),
            sample_rate=16000,
            settings=FAST,
        )
    assert out.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [out]


def test_too_few_frames_is_an_error_and_cleans_up(tmp_path):
    with pytest.raises(ValueError, match="ended after 5 of the 10"):
        export_mp4(
            tmp_path / "short.mp4",
            Frames(5),
            fps=25,
            frame_count=10,
            audio=tone(440, 0.4, 16000),
            sample_rate=16000,
            settings=FAST,
        )
    assert list(tmp_path.iterdir()) == []


def test_success_replaces_an_existing_file_and_leaves_no_partial(tmp_path):
    out = tmp_path / "again.mp4"
    out.write_bytes(b"old")
    export_mp4(
        out,
        Frames(5),
        fps=25,
        frame_count=5,
        audio=tone(440, 0.2, 16000),
        sample_rate=16000,
        settings=FAST,
    )
    assert out.read_bytes()[4:8] == b"ftyp"
    assert list(tmp_path.iterdir()) == [out]


# -- bad output paths: refused before any frame is rendered -----------------------------


def export_to(path: Path, frames: Frames | None = None) -> Frames:
    """Export a clip whose frames record whether the export started to consume them."""
    frames = Frames(10) if frames is None else frames
    export_mp4(
        path,
        frames,
        fps=25,
        frame_count=10,
        audio=tone(440, 0.4, 16000),
        sample_rate=16000,
        settings=FAST,
    )
    return frames


def test_missing_folder(tmp_path):
    frames = Frames(10)
    missing = tmp_path / "no such folder"
    with pytest.raises(StudioError, match="does not exist") as err:
        export_to(missing / "out.mp4", frames)
    assert str(missing) in str(err.value)
    assert not frames.started
    assert not missing.exists()


def test_path_is_a_folder(tmp_path):
    with pytest.raises(StudioError, match="is a folder"):
        check_output_path(tmp_path)


def test_read_only_folder_seen_by_the_check(tmp_path, monkeypatch):
    """As root, chmod cannot stop writes, so make os.access report what a user would see."""
    folder = tmp_path / "locked"
    folder.mkdir()
    real_access = os.access

    def access(p, mode, *args, **kwargs):
        if Path(p) == folder and mode & os.W_OK:
            return False
        return real_access(p, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    frames = Frames(10)
    with pytest.raises(StudioError, match="read-only") as err:
        export_to(folder / "out.mp4", frames)
    assert str(folder) in str(err.value)
    assert not frames.started
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to drop privileges")
def test_read_only_folder_for_real(tmp_path):
    """A real 0o555 folder, checked by the kernel for a user who is not root."""
    folder = Path(tempfile.mkdtemp(prefix="export-ro-", dir="/tmp"))
    try:
        folder.chmod(0o555)
        if os.geteuid() != 0:
            with pytest.raises(StudioError, match="read-only"):
                export_to(folder / "out.mp4")
            return
        # Root writes anywhere: ask the question in a child process running as nobody.
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: never return into pytest
            os.close(read)
            answer = b"no error"
            try:
                os.setgid(65534)
                os.setuid(65534)
                check_output_path(folder / "out.mp4")
            except StudioError as err:
                answer = str(err).encode()
            except BaseException as err:  # noqa: BLE001
                answer = f"SKIP {err!r}".encode()
            os.write(write, answer)
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as f:
            answer = f.read().decode()
        os.waitpid(pid, 0)
        if answer.startswith("SKIP"):
            pytest.skip(f"cannot drop to user nobody here: {answer}")
        assert "read-only" in answer and str(folder) in answer
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_partial_file_that_cannot_be_created(tmp_path, monkeypatch):
    """os.access can say yes and the folder still refuse the file: caught before frame 0."""
    monkeypatch.setattr(atomic_module.secrets, "token_hex", lambda n: "fixed")
    (tmp_path / ".out.mp4.fixed.partial.mp4").mkdir()  # the partial name is taken
    frames = Frames(10)
    with pytest.raises(StudioError, match="cannot write in folder"):
        export_to(tmp_path / "out.mp4", frames)
    assert not frames.started
    assert not (tmp_path / "out.mp4").exists()


# -- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"crf": -1}, "crf"),
        ({"crf": 52}, "crf"),
        ({"crf": 18.5}, "crf"),
        ({"crf": True}, "crf"),
        ({"preset": "fastest"}, "preset must be one of"),
        ({"audio_bitrate": 1000}, "audio_bitrate"),
        ({"source_audio_gain": -0.1}, "source_audio_gain"),
        ({"source_audio_gain": float("nan")}, "source_audio_gain"),
        ({"height": 8}, "height"),
        ({"height": 240.0}, "height"),
    ],
)
def test_bad_settings(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ExportSettings(**kwargs)


def test_default_settings():
    s = ExportSettings()
    assert (s.crf, s.preset, s.audio_bitrate, s.mix_source_audio) == (18, "faster", 192_000, False)
    assert ExportSettings(crf=0, preset="ultrafast").crf == 0


def test_no_frame_is_taken_while_the_preview_draws(tmp_path):
    """``yield_to`` (the window's preview is drawing) holds the frame producer back; the
    export goes on, complete and in order, once it lets go."""
    import threading

    frames = Frames(12)
    preview_busy = threading.Event()
    preview_busy.set()  # busy from the start, and again after frame 3
    taken: dict[str, list[int]] = {"start": [], "after 3": []}
    phase = ["start"]

    def progress(stage: str, done: int, total: int) -> None:
        if done == 3:
            phase[0] = "after 3"
            preview_busy.set()

    def busy() -> bool:
        if preview_busy.is_set():
            taken[phase[0]].append(frames.taken)
            if len(taken[phase[0]]) >= 5:  # the preview has drawn its frame
                preview_busy.clear()
            return True
        return False

    out = tmp_path / "beside.mp4"
    export_mp4(out, frames, fps=25, frame_count=12, audio=tone(440, 0.5, 16000),
               sample_rate=16000, settings=FAST, progress=progress, yield_to=busy)
    assert taken["start"] == [0] * 5  # nothing rendered before the preview let go
    assert len(taken["after 3"]) == 5 and len(set(taken["after 3"])) == 1  # none meanwhile
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 12

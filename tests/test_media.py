"""core.media against the real clips in ../shared/data and files transcoded here with PyAV."""

from __future__ import annotations

import json
import struct
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import soundfile

from core.errors import MediaError
from core.media import (
    ImageSource,
    Source,
    VideoSource,
    is_audio_path,
    is_image_path,
    is_silent,
    is_video_path,
    load_audio,
    open_image,
    open_media,
    open_video,
    rms_envelope,
)

# Where the shared_data fixture looks; read here too so tests can be parametrized per file.
_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _manifest_files(*folders: str) -> list[str]:
    try:
        entries = json.loads((_DATA / "manifest.json").read_text())["files"]
    except OSError:
        return []
    return [e["file"] for e in entries if e["file"].split("/")[0] in folders]


@pytest.fixture(scope="module")
def manifest(shared_data: Path) -> dict[str, dict]:
    entries = json.loads((shared_data / "manifest.json").read_text())["files"]
    return {e["file"]: e for e in entries}


# -- making test files with PyAV ------------------------------------------------------------


def _real_frames(path: Path, n: int, side: int) -> list[np.ndarray]:
    """The first ``n`` frames of a real clip, shrunk so encoding stays fast."""
    with open_video(path) as v:
        return [f for _, f in v.frames(0, n, size=(side, side))]


def _encode_video(
    dst: Path,
    frames: list[np.ndarray],
    codec: str,
    rate: int = 25,
    rotation: int | None = None,
    pts: list[int] | None = None,
) -> Path:
    """Write ``frames`` with one codec; ``rotation`` is PyAV's counter-clockwise degrees."""
    options = {"x265-params": "log-level=error"} if codec == "libx265" else {}
    h, w = frames[0].shape[:2]
    with av.open(str(dst), "w") as out:
        stream = out.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if pts is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for k, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[k], Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dst


def _encode_audio(src: Path, dst: Path, codec: str, rate: int) -> Path:
    """Transcode a wav with FFmpeg's encoders, through PyAV."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout="stereo")
        ctx = stream.codec_context
        resampler = av.AudioResampler(
            format=ctx.codec.audio_formats[0].name,
            layout="stereo",
            rate=rate,
            frame_size=ctx.frame_size or None,
        )
        for frame in inp.decode(audio=0):
            for chunk in resampler.resample(frame):
                out.mux(stream.encode(chunk))
        for chunk in resampler.resample(None):
            out.mux(stream.encode(chunk))
        out.mux(stream.encode(None))
    return dst


def _jpeg_with_orientation(rgb: np.ndarray, orientation: int) -> bytes:
    """A JPEG whose EXIF (one IFD entry, tag 0x0112) says how to turn it for display."""
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]
    )
    assert ok
    entry = struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + entry + struct.pack("<I", 0)
    app1 = b"Exif\x00\x00" + tiff
    jpeg = buf.tobytes()
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


@pytest.fixture(scope="module")
def made(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Containers and codecs the shared clips lack, made once per module."""
    d = tmp_path_factory.mktemp("made")
    clip = _real_frames(shared_data / "video/katie_hill.mp4", 30, 96)
    files = {
        "h264.mkv": _encode_video(d / "h264.mkv", clip, "libx264"),
        "vp9.webm": _encode_video(d / "vp9.webm", clip[:20], "libvpx-vp9"),
        "mpeg4.mp4": _encode_video(d / "mpeg4.mp4", clip, "mpeg4"),
        "hevc.mov": _encode_video(d / "hevc.mov", clip, "libx265"),
    }
    wav = shared_data / "audio/en_short1.wav"
    for name, codec, rate in [
        ("a.mp3", "libmp3lame", 44100),
        ("a.m4a", "aac", 44100),
        ("a.flac", "flac", 44100),
        ("a.ogg", "libopus", 48000),
    ]:
        files[name] = _encode_audio(wav, d / name, codec, rate)
    return files


# -- videos ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", _manifest_files("video", "edge", "expressions"))
def test_every_clip_opens_as_the_manifest_says(shared_data, manifest, name):
    entry = manifest[name]
    with open_video(shared_data / name) as v:
        w, h = (int(x) for x in entry["resolution"].split("x"))
        assert (v.width, v.height) == (w, h)
        assert v.rotation == 0 and not v.is_image and not v.truncated
        duration = float(entry["duration_s"])
        if "variable frame rate" in entry["description"]:
            assert v.fps == 30  # the nominal rate, not the 22.1 fps average
            assert v.source_frame_count / v.duration == pytest.approx(float(entry["fps"]), abs=0.2)
        else:
            assert v.fps == pytest.approx(float(entry["fps"]), abs=0.01)
        assert v.duration == pytest.approx(duration, abs=0.06)
        assert abs(v.frame_count - duration * v.fps) <= 2
        assert v.has_audio == (name != "edge/no_audio_track.mp4")
        for i in (0, v.frame_count - 1):
            rgb = v.frame(i)
            assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8
            assert rgb.flags.c_contiguous


def test_vertical_hevc_has_its_display_size(shared_data):
    with open_video(shared_data / "edge/vertical_hevc_1080x1920.mp4") as v:
        assert (v.width, v.height, v.rotation) == (1080, 1920, 0)
        assert v.frame(0).shape == (1920, 1080, 3)


def _random_equals_sequential(v: VideoSource, picks: list[int], stop: int | None = None) -> None:
    sequential = dict(v.frames(0, stop))
    v.cache_size = 0  # every pick below really decodes
    for i in picks:
        assert np.array_equal(v.frame(i), sequential[i]), f"frame {i} of {v.path.name}"


@pytest.mark.parametrize(
    "name", ["video/katie_hill.mp4", "video/woman_glasses.mp4", "edge/variable_frame_rate.mp4"]
)
def test_random_access_is_bit_identical_to_sequential(shared_data, name):
    with open_video(shared_data / name) as v:
        last = v.frame_count - 1
        picks = [last, 7, 110, 3, 90, 91, 89, 0, last - 1, 40]
        _random_equals_sequential(v, [i for i in picks if i <= last])


def test_random_access_on_a_single_gop_hevc(shared_data):
    with open_video(shared_data / "edge/vertical_hevc_1080x1920.mp4") as v:
        _random_equals_sequential(v, [47, 12, 13, 0, 30, 29], stop=48)


@pytest.mark.parametrize("name", ["h264.mkv", "vp9.webm", "mpeg4.mp4", "hevc.mov"])
def test_other_containers_and_codecs(made, name):
    with open_video(made[name]) as v:
        assert (v.width, v.height, v.fps) == (96, 96, 25)
        assert v.frame_count == (20 if name == "vp9.webm" else 30)
        _random_equals_sequential(v, [v.frame_count - 1, 5, 17, 0, 6, 2])


def test_sequential_reads_do_not_seek(shared_data, monkeypatch):
    with open_video(shared_data / "video/katie_hill.mp4", cache_frames=0) as v:
        seeks = []
        original = v._seek_to_key
        monkeypatch.setattr(v, "_seek_to_key", lambda key: (seeks.append(key), original(key)))
        for i in range(0, 60):
            v.frame(i)
        assert seeks == []
        v.frame(10)  # behind the decoder: one seek
        v.frame(11)
        v.frame(14)
        assert len(seeks) == 1


def test_cache_and_downscaled_frames(shared_data):
    with open_video(shared_data / "video/man_map.mp4", cache_frames=4) as v:
        a = v.frame(20)
        assert v.frame(20) is a  # from the cache
        assert not a.flags.writeable
        for i in range(10):
            v.frame(i)
        assert v.frame(20) is not a and np.array_equal(v.frame(20), a)
        assert v.frame(20, max_side=211).shape == (211, 211, 3)
        assert v.frame(20, size=(100, 60)).shape == (60, 100, 3)
        assert v.frame(20, max_side=5000).shape == (844, 844, 3)
        got = list(v.frames(5, 9, max_side=64))
        assert [i for i, _ in got] == [5, 6, 7, 8]
        assert all(f.shape == (64, 64, 3) for _, f in got)
        v.cache_size = 1
        with pytest.raises(IndexError):
            v.frame(v.frame_count)
    with pytest.raises(ValueError):
        v.frame(0)


def test_variable_frame_rate_timeline(shared_data, manifest):
    with open_video(shared_data / "edge/variable_frame_rate.mp4") as v:
        ts = v.timestamps
        assert len(ts) == v.frame_count == 184
        assert v.duration == pytest.approx(
            float(manifest["edge/variable_frame_rate.mp4"]["duration_s"]), abs=0.01
        )
        assert np.all(np.diff(ts) >= 0)
        assert len(np.unique(ts)) == v.source_frame_count  # no source frame is dropped
        slots = np.arange(v.frame_count) / v.fps
        shown = slots >= ts[0]  # slots before the first frame hold it
        assert np.all(ts[shown] <= slots[shown] + 0.5 / v.fps + 1e-9)  # never a frame early
        assert np.max(slots - ts) < 2 / v.fps  # nor one from long ago: timing follows pts
        # Repeated slots show the very same picture.
        k = int(np.flatnonzero(np.diff(ts) == 0)[5])
        assert v.frame(k) is v.frame(k + 1)


def test_constant_rate_timeline_is_the_identity(shared_data):
    with open_video(shared_data / "video/child.mp4") as v:
        assert np.allclose(v.timestamps, np.arange(v.frame_count) / v.fps)
        assert v.source_frame_count == v.frame_count


def test_coarse_millisecond_timestamps_do_not_drop_frames(shared_data, tmp_path):
    # 30 fps stored at 1 ms (0, 33, 67, 100, ...): strict "pts <= i/fps" would repeat and drop.
    clip = _real_frames(shared_data / "video/child.mp4", 12, 64)
    path = _encode_video(
        tmp_path / "ms.mkv", clip, "libx264", rate=30, pts=[round(k * 1000 / 30) for k in range(12)]
    )
    with open_video(path) as v:
        assert v.fps == 30 and v.frame_count == 12
        assert len(np.unique(v.timestamps)) == 12


@pytest.mark.parametrize(("ccw", "clockwise"), [(-90, 90), (90, 270), (180, 180)])
def test_display_rotation_is_applied(tmp_path, ccw, clockwise):
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:16, :24] = 255  # a white block in the top-left corner of the coded picture
    path = _encode_video(tmp_path / "r.mp4", [rgb] * 5, "libx264", rotation=ccw)
    with open_video(path) as v:
        assert v.rotation == clockwise
        shown = v.frame(2)
        assert (v.width, v.height) == (shown.shape[1], shown.shape[0])
        assert (v.width, v.height) == ((48, 64) if clockwise % 180 else (64, 48))
        corner = {90: shown[:8, -8:], 180: shown[-8:, -8:], 270: shown[-8:, :8]}[clockwise]
        assert corner.mean() > 200 and shown.mean() < 100


# -- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", _manifest_files("image", "negative"))
def test_every_image_opens(shared_data, manifest, name):
    with open_image(shared_data / name) as img:
        w, h = (int(x) for x in manifest[name]["resolution"].split("x"))
        assert (img.width, img.height) == (w, h)
        assert (img.frame_count, img.fps, img.duration, img.rotation) == (1, 25.0, 0.04, 0)
        assert img.is_image and not img.has_audio
        rgb = img.frame(0)
        assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
        assert [i for i, _ in img.frames()] == [0]


def test_exif_orientation_is_applied(tmp_path):
    rgb = np.zeros((40, 80, 3), np.uint8)
    rgb[:, :10] = (255, 0, 0)  # a red stripe down the left edge as stored
    path = tmp_path / "phone.jpg"
    path.write_bytes(_jpeg_with_orientation(rgb, 6))  # 6: turn 90 degrees clockwise
    img = open_image(path)
    assert (img.width, img.height) == (40, 80)
    shown = img.frame(0)
    assert shown[:8, :, 0].mean() > 200 and shown[:8, :, 2].mean() < 60  # red on top
    assert shown[-30:].mean() < 30


def test_grey_alpha_webp_bmp_and_16_bit_images_become_rgb(tmp_path):
    grey = np.tile(np.arange(0, 250, 5, dtype=np.uint8), (30, 1))
    cases = {
        "grey.png": grey,
        "alpha.png": np.dstack([grey, grey, grey, np.full_like(grey, 128)]),
        "deep.png": grey.astype(np.uint16) * 257,
        "x.webp": np.dstack([grey] * 3),
        "x.bmp": np.dstack([grey] * 3),
    }
    for name, pixels in cases.items():
        ok, buf = cv2.imencode(Path(name).suffix, pixels)
        assert ok
        (tmp_path / name).write_bytes(buf.tobytes())
        rgb = open_image(tmp_path / name).frame(0)
        assert rgb.shape == (30, 50, 3) and rgb.dtype == np.uint8, name
        assert abs(int(rgb[0, 20, 1]) - 100) <= 3, name


def test_open_media_picks_by_content(shared_data, tmp_path):
    photo = open_media(shared_data / "image/cartoon.jpg")
    video = open_media(shared_data / "video/woman_glasses.mp4")
    assert isinstance(photo, ImageSource) and isinstance(video, VideoSource)
    assert isinstance(photo, Source) and isinstance(video, Source)
    png_named_mp4 = tmp_path / "still.mp4"
    png_named_mp4.write_bytes((shared_data / "image/art.png").read_bytes())
    assert open_media(png_named_mp4).is_image
    mp4_named_jpg = tmp_path / "clip.jpg"
    mp4_named_jpg.write_bytes((shared_data / "video/woman_glasses.mp4").read_bytes())
    with open_media(mp4_named_jpg) as v:
        assert not v.is_image and v.frame_count == 122
    video.close()


def test_extension_helpers():
    assert is_video_path("a/B.MP4") and is_video_path("x.webm") and not is_video_path("x.wav")
    assert is_image_path("p.JPEG") and is_image_path("p.webp") and not is_image_path("p.mov")
    assert is_audio_path("s.flac") and is_audio_path("s.m4a") and not is_audio_path("s.png")


# -- audio ----------------------------------------------------------------------------------


def test_wav_at_16k_mono_and_at_its_own_rate(shared_data):
    a = load_audio(shared_data / "audio/en_radio31.wav")
    assert a.sample_rate == 16000 and a.samples.dtype == np.float32 and a.samples.ndim == 1
    assert a.duration == pytest.approx(8.0, abs=0.01)
    stereo = load_audio(shared_data / "audio/de_speech.wav", sample_rate=None, mono=False)
    assert stereo.sample_rate == 48000 and stereo.samples.shape[0] == 2
    assert stereo.duration == pytest.approx(9.34, abs=0.01)
    assert np.abs(stereo.samples).max() <= 1.0
    mono = load_audio(shared_data / "audio/de_speech.wav", sample_rate=None)
    assert np.allclose(mono.samples, stereo.samples.mean(axis=0), atol=1e-6)  # mean down-mix


def test_audio_track_of_a_video(shared_data):
    with open_video(shared_data / "video/man_map.mp4") as v:
        duration = v.duration
    a = load_audio(shared_data / "video/man_map.mp4")
    assert a.sample_rate == 16000 and a.duration == pytest.approx(duration, abs=0.05)
    assert not is_silent(a)


@pytest.mark.parametrize("name", ["a.mp3", "a.m4a", "a.flac", "a.ogg"])
def test_compressed_audio_files(shared_data, made, name):
    reference = load_audio(shared_data / "audio/en_short1.wav")
    a = load_audio(made[name])
    assert a.sample_rate == 16000 and a.samples.ndim == 1
    assert a.duration == pytest.approx(reference.duration, abs=0.08)
    ref_env = rms_envelope(reference, 25)
    env = rms_envelope(a, 25, n_frames=len(ref_env))
    assert np.corrcoef(ref_env, env)[0, 1] > 0.95


def test_late_audio_of_a_video_is_padded_to_frame_zero(tmp_path):
    path = tmp_path / "late_audio.mkv"
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000) * 32767).astype(np.int16)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=16000, layout="mono")
        for k in range(25):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 8 * k, np.uint8), "rgb24")
            frame.pts, frame.time_base = k, Fraction(1, 25)
            out.mux(video.encode(frame))
        for k in range(0, 8000, 1000):  # the sound starts 0.2 s after the first frame
            chunk = av.AudioFrame.from_ndarray(tone[None, k : k + 1000], "s16", "mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = 16000, 3200 + k, Fraction(1, 16000)
            out.mux(audio.encode(chunk))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    a = load_audio(path)
    assert a.samples.shape == (11200,)
    assert np.abs(a.samples[:3190]).max() == 0 and np.abs(a.samples[3210:3400]).max() > 0.4
    with open_video(path) as v:
        assert (v.start_time, v.frame_count) == (0.0, 25)


def test_video_without_audio(shared_data):
    path = shared_data / "edge/no_audio_track.mp4"
    with pytest.raises(MediaError, match="has no audio track") as err:
        load_audio(path)
    assert "no_audio_track.mp4" in str(err.value) and "\n" not in str(err.value)
    with open_video(path) as v:
        assert not v.has_audio and v.frame_count == 352


def test_silence_and_loudness(shared_data):
    assert is_silent(load_audio(shared_data / "edge/silent_audio_track.mp4"))
    speech = load_audio(shared_data / "audio/en_long_leading_silence.wav")
    assert not is_silent(speech)
    env = rms_envelope(speech, 25)
    assert len(env) == 1500 and env.dtype == np.float32
    assert env[:60].max() < 0.2 * np.percentile(env[100:], 90)  # the quiet first seconds
    wide = rms_envelope(speech, 25, window_s=0.2)
    assert len(wide) == 1500 and np.all(wide >= 0)


# -- bad input ------------------------------------------------------------------------------


def _assert_names(err: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    text = str(err.value)
    assert path.name in text and "\n" not in text
    for word in words:
        assert word in text


def test_missing_file(tmp_path):
    path = tmp_path / "gone.mp4"
    for opener in (open_video, open_image, open_media, load_audio):
        with pytest.raises(MediaError) as err:
            opener(path)
        _assert_names(err, path, "not found")


def test_text_file_renamed(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are my notes, not a video\n" * 20)
    for opener in (open_video, open_media, load_audio):
        with pytest.raises(MediaError) as err:
            opener(path)
        _assert_names(err, path, "not a video or audio file")
    jpg = tmp_path / "notes.jpg"
    jpg.write_text("not a picture either\n" * 20)
    with pytest.raises(MediaError) as err:
        open_image(jpg)
    _assert_names(err, jpg, "not an image")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError) as err:
        open_video(empty)
    _assert_names(err, empty, "empty")


def test_audio_file_is_not_a_video(shared_data):
    path = shared_data / "audio/zh_speech.wav"
    with pytest.raises(MediaError) as err:
        open_video(path)
    _assert_names(err, path, "no video stream")


def test_mp4_cut_before_its_index(shared_data, tmp_path):
    data = (shared_data / "video/woman_glasses.mp4").read_bytes()  # moov at the end
    path = tmp_path / "cut_index.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError) as err:
        open_video(path)
    _assert_names(err, path, "truncated")


def test_mp4_cut_inside_its_frames(shared_data, tmp_path):
    source = shared_data / "video/young_man_outdoors.mp4"  # moov first, then mdat
    data = source.read_bytes()
    path = tmp_path / "cut_frames.mp4"
    path.write_bytes(data[: len(data) // 2])
    with open_video(path) as cut, open_video(source) as whole:
        assert cut.truncated and not whole.truncated
        assert 40 < cut.frame_count < whole.frame_count
        for i, rgb in cut.frames():  # every frame on the timeline is the real one
            assert np.array_equal(rgb, whole.frame(i)), i
    path.write_bytes(data[: len(data) // 40])  # not even the first frame
    with pytest.raises(MediaError) as err:
        open_video(path)
    _assert_names(err, path, "truncated")


def test_zero_length_wav(tmp_path):
    path = tmp_path / "nothing.wav"
    soundfile.write(path, np.zeros(0, np.float32), 16000)
    with pytest.raises(MediaError) as err:
        load_audio(path)
    _assert_names(err, path, "0 samples")

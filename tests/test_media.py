"""Ingest: audio files, the audio of picture files, picture probing and frame decoding.

All media are generated in a temporary folder with the ffmpeg CLI and soundfile.
"""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from adr.core.errors import AdrError
from adr.core.timecode import FrameRate
from adr.ingest.bwf import BextInfo, make_ixml, write_bwf
from adr.ingest.media import Audio, read_audio
from adr.ingest.video import PictureInfo, iter_frames, probe_picture, read_frame

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg CLI missing")

FRAMES = 30  # picture frames in every generated clip


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=60
    )


def _make_picture(
    out: Path,
    rate: str,
    vcodec: list[str],
    acodec: list[str] | None,
    timecode: str | None = None,
    channels: int = 1,
) -> Path:
    seconds = float((FRAMES - 0.5) / Fraction(rate))  # keeps frames 0..FRAMES-1
    args = ["-f", "lavfi", "-i", f"testsrc=size=160x120:rate={rate}"]
    if acodec is not None:
        args += ["-f", "lavfi", "-i", "sine=f=440:sample_rate=48000"]
    args += ["-t", f"{seconds:.6f}", *vcodec]
    if acodec is not None:
        args += [*acodec, "-ac", str(channels), "-ar", "48000"]
    if timecode is not None:
        args += ["-timecode", timecode]
    _ffmpeg(*args, str(out))
    return out


# name: (suffix, rate, video codec, audio codec, timecode, channels, exact rate, DF)
PICTURES = {
    "h264_2398.mov": (
        "24000/1001",
        ["-c:v", "libx264", "-preset", "ultrafast"],
        ["-c:a", "pcm_s16le"],
        "01:00:00:00",
        2,
    ),
    "mpeg4_24.mov": ("24", ["-c:v", "mpeg4"], ["-c:a", "pcm_s24le"], "10:00:00:00", 1),
    "mpeg4_2997df.mp4": (
        "30000/1001",
        ["-c:v", "mpeg4", "-bf", "2"],
        ["-c:a", "aac"],
        "00:59:59;28",
        1,
    ),
    "h264_25.mp4": (
        "25",
        ["-c:v", "libx264", "-preset", "ultrafast"],
        ["-c:a", "aac"],
        "01:00:00:00",
        2,
    ),
    "mpeg2_25.mxf": ("25", ["-c:v", "mpeg2video"], ["-c:a", "pcm_s16le"], "01:00:00:00", 1),
    "mpeg2_2997df.mpg": (
        "30000/1001",
        ["-c:v", "mpeg2video", "-bf", "2"],
        ["-c:a", "mp2"],
        "00:59:59;28",
        2,
    ),
    "mpeg2_2398.mpg": ("24000/1001", ["-c:v", "mpeg2video"], ["-c:a", "mp2"], "01:00:00:00", 1),
    "mjpeg_24.avi": ("24", ["-c:v", "mjpeg"], ["-c:a", "pcm_s16le"], None, 1),
    "mpeg4_2997.avi": ("30000/1001", ["-c:v", "mpeg4"], ["-c:a", "pcm_s16le"], None, 2),
}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    for name, (rate, v, a, tc, ch) in PICTURES.items():
        _make_picture(folder / name, rate, v, a, tc, ch)
    _make_picture(folder / "silent_25.mp4", "25", ["-c:v", "mpeg4"], None)
    _make_picture(folder / "no_tc_25.mpg", "25", ["-c:v", "mpeg2video"], ["-c:a", "mp2"])
    _make_picture(folder / "pal_half_125.mp4", "12.5", ["-c:v", "mpeg4"], None)
    return folder


def _ffprobe_frames(path: Path) -> int:
    """Independent frame count: ffprobe decodes the whole video stream."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return int(out.strip().split(",")[0])


def _tone(sr: int, seconds: float = 1.0, channels: int = 1, f0: float = 440.0) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    return np.stack([0.5 * np.sin(2 * np.pi * f0 * (k + 1) * t) for k in range(channels)])


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))


# --- pictures ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PICTURES))
def test_probe_picture(media: Path, name: str) -> None:
    rate, _v, _a, tc, channels = PICTURES[name]
    info = probe_picture(media / name)
    assert info.frame_rate.rate == Fraction(rate)
    assert info.frame_rate.drop_frame == (tc is not None and ";" in tc)
    assert info.num_frames == FRAMES == _ffprobe_frames(media / name)
    assert info.duration == pytest.approx(float(info.num_frames / Fraction(rate)))
    assert (info.width, info.height) == (160, 120)
    assert info.start_timecode == tc
    assert info.has_audio and info.audio_sample_rate == 48000
    assert info.audio_channels == channels
    assert PictureInfo.from_dict(info.to_dict()) == info


@pytest.mark.parametrize("name", list(PICTURES))
def test_embedded_audio(media: Path, name: str) -> None:
    rate, _v, _a, _tc, channels = PICTURES[name]
    audio = read_audio(media / name)
    assert audio.sample_rate == 48000 and audio.num_channels == channels
    # As long as the generated tone, aligned to the first picture frame; lossy codecs may
    # add or drop a few ms at the ends.
    assert abs(audio.duration - float((FRAMES - 0.5) / Fraction(rate))) < 0.03
    mid = audio.samples[0, 4800 : 4800 + 16384]
    assert _peak_hz(mid, 48000) == pytest.approx(440, abs=3)
    assert audio.time_reference is None and audio.channel_names[0] == "1"


@pytest.mark.parametrize(
    ("suffix", "acodec"), [("mov", "pcm_s16le"), ("mpg", "mp2"), ("mkv", "pcm_s16le")]
)
def test_embedded_audio_is_aligned_to_first_frame(tmp_path: Path, suffix: str, acodec: str) -> None:
    """Audio that starts 0.5 s after the picture gets 0.5 s of leading silence."""
    path = tmp_path / f"offset.{suffix}"
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=25",
        "-itsoffset",
        "0.5",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:sample_rate=48000",
        "-t",
        "1.5",
        "-c:v",
        "mpeg4",
        "-c:a",
        acodec,
        str(path),
    )
    x = read_audio(path).samples[0]
    onset = int(np.flatnonzero(np.abs(x) > 0.01)[0])
    assert abs(onset - 24000) <= 48 * 3  # within 3 ms


def test_picture_without_audio(media: Path) -> None:
    info = probe_picture(media / "silent_25.mp4")
    assert not info.has_audio and info.audio_sample_rate is None and info.audio_channels is None
    assert info.start_timecode is None
    with pytest.raises(AdrError, match="has no audio stream") as exc:
        read_audio(media / "silent_25.mp4")
    assert "silent_25.mp4" in str(exc.value)


def test_mpeg_default_gop_timecode_is_none(media: Path) -> None:
    info = probe_picture(media / "no_tc_25.mpg")  # GOP headers say 00:00:00:00
    assert info.start_timecode is None and info.num_frames == FRAMES


@pytest.mark.corpus
def test_corpus_grid_clip(corpus: Path) -> None:
    clip = sorted((corpus / "video" / "grid_lipnet").glob("*.mpg"))[0]
    info = probe_picture(clip)
    assert info.frame_rate == FrameRate.parse("25") and (info.width, info.height) == (360, 288)
    assert info.num_frames == _ffprobe_frames(clip)
    audio = read_audio(clip)
    assert audio.sample_rate == info.audio_sample_rate and audio.num_channels == info.audio_channels
    assert abs(audio.duration - info.duration) < 0.1
    frames = list(iter_frames(clip, 1.0, 1.2, gray=True))
    assert [i for i, _ in frames] == [25, 26, 27, 28, 29]


def test_unsupported_frame_rate_and_override(media: Path) -> None:
    path = media / "pal_half_125.mp4"
    with pytest.raises(AdrError, match="unsupported frame rate 12.5") as exc:
        probe_picture(path)
    assert exc.value.where == str(path)
    info = probe_picture(path, frame_rate=FrameRate.parse("25"))
    assert info.frame_rate.rate == 25 and info.num_frames == FRAMES
    info = probe_picture(media / "mpeg4_2997.avi", frame_rate=FrameRate.parse("29.97df"))
    assert info.frame_rate.drop_frame


def _all_frames(path: Path) -> list[np.ndarray]:
    frames = list(iter_frames(path))
    assert [i for i, _ in frames] == list(range(probe_picture(path).num_frames))
    return [img for _, img in frames]


@pytest.mark.parametrize(
    "name", ["mpeg4_2997df.mp4", "mpeg2_2997df.mpg", "h264_2398.mov", "mpeg2_25.mxf"]
)
def test_iter_frames_seek_matches_sequential(media: Path, name: str) -> None:
    path = media / name
    rate = probe_picture(path).frame_rate.rate
    full = _all_frames(path)
    assert full[0].shape == (120, 160, 3) and full[0].dtype == np.uint8
    assert not np.array_equal(full[10], full[11])  # frames differ: the test is meaningful
    start, end = float(17 / rate), float(23 / rate) + 0.001  # 23 overlaps by 1 ms
    got = list(iter_frames(path, start, end))
    assert [i for i, _ in got] == list(range(17, 24))
    for i, img in got:
        assert np.array_equal(img, full[i]), i
    assert np.array_equal(read_frame(path, 25), full[25])
    assert np.array_equal(read_frame(path, 0), full[0])
    gray = list(iter_frames(path, start, float(18 / rate), gray=True))
    assert [i for i, _ in gray] == [17] and gray[0][1].shape == (120, 160)


def test_read_frame_errors(media: Path) -> None:
    with pytest.raises(AdrError, match="frame 30 does not exist"):
        read_frame(media / "mjpeg_24.avi", FRAMES)
    assert list(iter_frames(media / "mjpeg_24.avi", 5.0, 6.0)) == []


# --- audio files ---------------------------------------------------------------------------


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT"])
def test_wav_bit_depths(tmp_path: Path, subtype: str) -> None:
    x = _tone(48000, 0.5)
    sf.write(tmp_path / "a.wav", x.T, 48000, subtype=subtype)
    audio = read_audio(tmp_path / "a.wav")
    bits = {"PCM_16": 15, "PCM_24": 23, "PCM_32": 31, "FLOAT": 24}[subtype]
    assert audio.samples.dtype == np.float32 and audio.samples.shape == (1, 24000)
    assert np.max(np.abs(audio.samples - x)) <= 2.0**-bits + 1e-7


def test_polyphonic_bwf_metadata(tmp_path: Path) -> None:
    x = _tone(48000, 0.5, channels=6) * 0.3
    names = ["Boom", "Lav1", "Lav2", "Lav3", "Plant", "Mix"]
    path = write_bwf(
        tmp_path / "poly.wav",
        x,
        48000,
        ixml=make_ixml(names),
        bext=BextInfo(description="scene 12", time_reference=172972800),
    )
    audio = read_audio(path)
    assert audio.num_channels == 6 and audio.channel_names == tuple(names)
    assert audio.time_reference == 172972800
    assert np.max(np.abs(audio.samples - x)) <= 2.0**-23 + 1e-7
    two = read_audio(path, channels=[4, 0])
    assert two.channel_names == ("Plant", "Boom")
    assert np.array_equal(two.samples, audio.samples[[4, 0]])
    part = audio.slice(0.25, 0.5)
    assert part.num_samples == 12000 and part.time_reference == 172972800 + 12000
    assert part.metadata_dict()["channel_names"] == names
    assert np.allclose(audio.mono(), audio.samples.mean(axis=0))
    assert np.array_equal(audio.mono(5), audio.samples[5])
    down = read_audio(path, sample_rate=16000)
    assert down.sample_rate == 16000 and down.time_reference == 172972800 // 3


@pytest.mark.parametrize(
    ("fmt", "sr"),
    [
        ("FLAC", 8000),
        ("FLAC", 44100),
        ("MP3", 8000),
        ("MP3", 16000),
        ("MP3", 44100),
        ("MP3", 48000),
    ],
)
def test_compressed_formats(tmp_path: Path, fmt: str, sr: int) -> None:
    path = tmp_path / f"a.{fmt.lower()}"
    x = _tone(sr, 1.0, f0=440.0)
    if fmt == "MP3":
        wav = tmp_path / "src.wav"
        sf.write(wav, x.T, sr)
        _ffmpeg("-i", str(wav), "-c:a", "libmp3lame", "-b:a", "64k", str(path))
    else:
        sf.write(path, x.T, sr, format=fmt)
    audio = read_audio(path)
    assert audio.sample_rate == sr and audio.num_channels == 1
    assert abs(audio.duration - 1.0) < 0.08  # mp3 frames pad the ends
    assert _peak_hz(audio.samples[0, : sr // 2], sr) == pytest.approx(440, abs=4)
    if fmt == "FLAC":
        assert np.max(np.abs(audio.samples - x)) <= 2.0**-15 + 1e-7


def test_m4a_through_pyav(tmp_path: Path) -> None:
    path = tmp_path / "a.m4a"
    _ffmpeg(
        "-f", "lavfi", "-i", "sine=f=440:sample_rate=44100:duration=1", "-c:a", "aac", str(path)
    )
    audio = read_audio(path)
    assert audio.sample_rate == 44100 and audio.num_samples == 44100


@pytest.mark.parametrize(
    ("src", "dst"), [(44100, 48000), (48000, 16000), (8000, 48000), (22050, 16000)]
)
def test_resampling(tmp_path: Path, src: int, dst: int) -> None:
    sf.write(tmp_path / "a.wav", _tone(src, 1.0).T, src, subtype="PCM_24")
    audio = read_audio(tmp_path / "a.wav", sample_rate=dst)
    assert audio.sample_rate == dst and audio.num_samples == dst
    assert _peak_hz(audio.samples[0], dst) == pytest.approx(440, abs=2)
    assert np.max(np.abs(audio.samples[0, dst // 10 : -dst // 10])) == pytest.approx(0.5, abs=0.02)


# --- error paths ---------------------------------------------------------------------------


def test_error_paths(tmp_path: Path) -> None:
    sf.write(tmp_path / "good.wav", _tone(48000, 1.0).T, 48000, subtype="PCM_16")
    raw = (tmp_path / "good.wav").read_bytes()
    (tmp_path / "header_only.wav").write_bytes(raw[:44])
    (tmp_path / "garbage.wav").write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp_path / "garbage.mp3").write_bytes(bytes(range(256)) * 16)
    (tmp_path / "empty.flac").write_bytes(b"")
    (tmp_path / "text.mov").write_text("not a movie\n")
    cases = {
        "missing.wav": "file not found",
        "header_only.wav": "no audio samples",
        "garbage.wav": "not a WAV file",
        "garbage.mp3": "not a readable audio",
        "empty.flac": "file is empty",
        "text.mov": "not a readable audio or video",
    }
    for name, problem in cases.items():
        with pytest.raises(AdrError, match=problem) as exc:
            read_audio(tmp_path / name)
        assert exc.value.where == str(tmp_path / name)
    for fn in (read_audio, probe_picture):
        with pytest.raises(AdrError, match="is a folder"):
            fn(tmp_path)  # type: ignore[operator]
    with pytest.raises(AdrError, match="has no picture"):
        probe_picture(tmp_path / "good.wav")
    with pytest.raises(AdrError, match="channel"):
        read_audio(tmp_path / "good.wav", channels=[1])


def test_truncated_wav_reads_what_is_there(tmp_path: Path) -> None:
    """Decision: a WAV cut in the middle of its data reads up to the cut (like ffmpeg)."""
    sf.write(tmp_path / "good.wav", _tone(48000, 1.0).T, 48000, subtype="PCM_16")
    raw = (tmp_path / "good.wav").read_bytes()
    (tmp_path / "half.wav").write_bytes(raw[: 44 + 48000])  # 24000 of 48000 samples
    audio = read_audio(tmp_path / "half.wav")
    assert audio.num_samples == 24000


def test_audio_slice_and_mono_errors() -> None:
    audio = Audio(np.zeros((2, 48000), np.float32), 48000, "take.wav")
    assert audio.duration == 1.0 and audio.channel_names == ("1", "2")
    for start, end in ((-0.1, 0.5), (0.5, 1.1), (0.6, 0.5)):
        with pytest.raises(AdrError, match="outside the audio") as exc:
            audio.slice(start, end)
        assert exc.value.where == "take.wav"
    with pytest.raises(AdrError, match="channel 2"):
        audio.mono(2)
    assert audio.slice(0.0, 1.0).num_samples == 48000

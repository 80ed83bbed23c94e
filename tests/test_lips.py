"""Lip tracking and audio/video offset: GRID talking heads (corpus) and generated pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adr.analysis.avsync import AvOffset, estimate_av_offset
from adr.analysis.lip_records import FaceBox, LipResult, MouthShape
from adr.analysis.lips import (
    measure_mouth,
    track_lips,
    visual_speech_activity,
)
from adr.core.errors import AdrError
from adr.core.types import LipTrack
from adr.ingest.media import read_audio

FPS = 25
GRID = "video/grid_lipnet/bbaf2n.mpg"


def write_video(path: Path, frames: list[np.ndarray], fps: int = FPS) -> Path:
    """Encode grayscale frames (H, W) uint8 as an MPEG-4 file."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.height, stream.width = frames[0].shape
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "2"}
        for f in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="gray")
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode())
    return path


def read_gray_frames(path: Path, count: int) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        frames = []
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="gray"))
            if len(frames) == count:
                break
    return frames


def shift_audio(x: np.ndarray, seconds: float, sr: int) -> np.ndarray:
    """Delay (positive) or advance (negative) ``x`` by ``seconds``, keeping its length."""
    n = int(round(seconds * sr))
    if n >= 0:
        return np.concatenate([np.zeros(n, x.dtype), x])[: len(x)]
    return np.concatenate([x[-n:], np.zeros(-n, x.dtype)])


@pytest.fixture(scope="module")
def grid_result(corpus: Path) -> LipResult:
    return track_lips(corpus / GRID)


# ----------------------------------------------------------------------------- GRID (corpus)


@pytest.mark.corpus
def test_grid_face_found_and_mouth_moves(grid_result: LipResult) -> None:
    track, report = grid_result.track, grid_result.report
    assert track.num_frames == 75 and track.start == 0.0 and track.fps == pytest.approx(25.0)
    assert report.detection_rate > 0.9
    assert report.detections < track.num_frames / 4  # landmarks carry the frames in between
    opening = track.opening[track.face]
    assert np.nanmax(opening) - np.nanmin(opening) > 0.1
    assert np.nanstd(opening) > 0.03
    active = visual_speech_activity(track)
    assert active.shape == (75,) and 0.3 < active.mean() < 0.95
    width = track.width[track.face]
    assert 30 < np.median(width) < 90  # pixels, for a ~130 px face


@pytest.mark.corpus
def test_grid_offset_of_shifted_audio(corpus: Path, grid_result: LipResult) -> None:
    track = read_audio(corpus / GRID)
    audio, sr = track.mono(), track.sample_rate
    est = estimate_av_offset(grid_result.track, shift_audio(audio, 3 / FPS, sr), sr)
    assert abs(est.offset_frames - 3.0) <= 1.0
    assert est.offset_seconds == pytest.approx(est.offset_frames / FPS)
    assert est.confidence > 0.1
    applied = est.apply(grid_result.track)
    assert applied.av_offset == est.offset_seconds and applied.av_confidence == est.confidence
    assert abs(estimate_av_offset(grid_result.track, audio, sr).offset_frames) <= 1.0
    # the same audio, declared to start 3 frames later in the session
    late = estimate_av_offset(grid_result.track, audio, sr, audio_start=3 / FPS)
    assert abs(late.offset_frames - 3.0) <= 1.0


@pytest.mark.corpus
def test_grid_time_range_and_round_trip(corpus: Path) -> None:
    result = track_lips(corpus / GRID, start=1.0, end=2.0, detect_every=5)
    assert result.track.num_frames == 25 and result.track.start == pytest.approx(1.0)
    assert result.boxes.shape == (25, 4)
    again = LipResult.from_dict(result.to_dict())
    assert again.report == result.report
    np.testing.assert_allclose(again.track.opening, result.track.opening, atol=1e-4)
    np.testing.assert_array_equal(again.track.face, result.track.face)


@pytest.mark.corpus
def test_two_faces_largest_chosen(corpus: Path, tmp_path: Path) -> None:
    frames = read_gray_frames(corpus / GRID, 25)
    canvas = []
    for f in frames:
        small = f[::2, ::2]
        c = np.full((288, 540), 100, np.uint8)
        c[:, :360] = f
        c[72:216, 360:540] = small
        canvas.append(c)
    result = track_lips(write_video(tmp_path / "two.mp4", canvas))
    assert result.report.max_faces == 2
    assert result.report.multi_face_frames > 20
    assert result.track.face.mean() > 0.9
    centers = 0.5 * (result.boxes[result.track.face, 0] + result.boxes[result.track.face, 2])
    assert np.all(centers < 300)  # the full-size face on the left


@pytest.mark.corpus
def test_face_leaving_frame(corpus: Path, tmp_path: Path) -> None:
    frames = read_gray_frames(corpus / GRID, 50)
    moved = []
    for i, f in enumerate(frames):
        dx = 8 * max(0, i - 10)
        c = np.full_like(f, 100)
        c[:, dx:] = f[:, : f.shape[1] - dx]
        moved.append(c)
    result = track_lips(write_video(tmp_path / "leave.mp4", moved))
    face = result.track.face
    assert face[:15].all() and not face[-10:].any()
    assert np.isnan(result.track.opening[-10:]).all() and np.isnan(result.boxes[-10:]).all()
    last = result.report.lost_spans[-1]
    assert last.end == pytest.approx(2.0) and 0.8 < last.start < 1.7


@pytest.mark.corpus
def test_cut_to_no_face_is_seen_at_once(corpus: Path, tmp_path: Path) -> None:
    frames = read_gray_frames(corpus / GRID, 30)
    cut = frames[:13] + [np.full_like(frames[0], 120)] * 17  # cut between two detections
    result = track_lips(write_video(tmp_path / "cut.mp4", cut), detect_every=10)
    np.testing.assert_array_equal(result.track.face, np.arange(30) < 13)
    assert result.report.track_losses == 1
    assert result.report.lost_spans[0].start == pytest.approx(13 / FPS)


@pytest.mark.corpus
def test_measure_mouth_on_grid_frame(corpus: Path) -> None:
    frame = read_gray_frames(corpus / GRID, 40)[-1]
    shape = measure_mouth(frame, FaceBox(96, 125, 225, 254))
    assert shape.valid and 0.0 <= shape.opening < 1.0 and 30 < shape.width < 90
    assert MouthShape.from_dict(shape.to_dict()) == shape
    outside = measure_mouth(frame, FaceBox(-400, -400, -270, -270))
    assert not outside.valid and np.isnan(outside.opening)


# ----------------------------------------------------------------------------- generated


def test_no_face_video(tmp_path: Path, rng: np.random.Generator) -> None:
    frames = [rng.integers(0, 256, (120, 160), dtype=np.uint8) for _ in range(50)]
    result = track_lips(write_video(tmp_path / "noise.mp4", frames))
    track = result.track
    assert track.num_frames == 50 and track.start == 0.0 and track.fps == pytest.approx(25.0)
    assert not track.face.any() and np.isnan(track.opening).all() and np.isnan(track.width).all()
    assert result.report.face_frames == 0 and result.report.detection_rate == 0.0
    assert len(result.report.lost_spans) == 1
    assert result.report.lost_spans[0].end == pytest.approx(2.0)
    assert not visual_speech_activity(track).any()
    t = np.arange(2 * 16000) / 16000
    speech_like = np.sin(2 * np.pi * 500 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    est = estimate_av_offset(track, speech_like, 16000)
    assert est.confidence == 0.0


def test_offset_on_synthetic_mouth() -> None:
    """Mouth opening and audio bursts from the same random syllables, audio 0.12 s late."""
    rng = np.random.default_rng(7)
    fps, sr, seconds, late = 25.0, 16000, 4.0, 0.12
    syll = np.repeat(rng.random(int(seconds * 5)) > 0.4, int(sr / 5)).astype(float)
    t = np.arange(len(syll)) / sr
    env = np.convolve(syll, np.hanning(800) / 400, mode="same")
    audio = shift_audio(env * np.sin(2 * np.pi * 700 * t), late, sr)
    opening = env[(np.arange(int(seconds * fps)) / fps * sr).astype(int)].astype(np.float32)
    track = LipTrack(
        start=0.0,
        fps=fps,
        opening=0.3 * opening,
        width=np.full(len(opening), 50.0, np.float32),
        face=np.ones(len(opening), bool),
    )
    est = estimate_av_offset(track, audio, sr)
    assert est.offset_seconds == pytest.approx(late, abs=0.02)
    assert est.confidence > 0.3
    silent = estimate_av_offset(track, np.zeros_like(audio), sr)
    assert silent.confidence == 0.0
    assert AvOffset.from_dict(est.to_dict()) == est


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(AdrError, match="bad.mp4"):
        track_lips(bad)
    with pytest.raises(AdrError, match="not found"):
        track_lips(tmp_path / "missing.mov")


def test_progress_and_empty_range(tmp_path: Path) -> None:
    frames = [np.full((120, 160), 90, np.uint8)] * 30
    video = write_video(tmp_path / "grey.mp4", frames)
    events = []
    result = track_lips(video, progress=events.append)
    assert result.track.num_frames == 30
    assert events[-1].done == events[-1].total == 30
    assert [e.done for e in events].count(30) == 1
    with pytest.raises(AdrError, match="no picture"):
        track_lips(video, start=5.0)

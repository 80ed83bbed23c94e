"""One wrapper per third-party model: the product and the measures compute the same thing."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

SR = 16000


def _speechlike(seconds: float, f0: float = 150.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 2 * t))) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 25))
    env = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None)
    return (0.3 * x * env / np.max(np.abs(x)) + 0.01 * rng.standard_normal(len(t))).astype(
        np.float32
    )


def test_dnsmos_is_one_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cue sheet's DNSMOS (damage) and the benchmark's (metrics) are the same numbers,
    and both come from adr.analysis.dnsmos.score."""
    from adr import metrics
    from adr.analysis import damage, dnsmos

    x = _speechlike(2.0)
    calls: list[bool] = []
    real = dnsmos.score

    def counted(audio: np.ndarray, sr: int, *, p808: bool = True) -> dnsmos.Dnsmos:
        calls.append(p808)
        return real(audio, sr, p808=p808)

    monkeypatch.setattr(dnsmos, "score", counted)
    m = metrics.dnsmos(x, SR)
    d = damage.assess(x, SR, dnsmos=True, denoised=x * 0.99).dnsmos
    assert calls == [False, True]
    assert d is not None and set(d) == {"ovrl", "sig", "bak", "p808"}
    for k in ("ovrl", "sig", "bak"):
        assert d[k] == pytest.approx(getattr(m, k), abs=1e-3)
        assert 1.0 <= d[k] <= 5.0
    assert m.p808 is None and 1.0 <= d["p808"] <= 5.0


def test_dnsmos_matches_the_reference_procedure() -> None:
    """The single-threaded sessions give the numbers of the speechmos reference code."""
    from speechmos import dnsmos as reference

    from adr.analysis.dnsmos import score

    x = _speechlike(3.3, seed=1)
    ref = reference.run(x, SR)
    got = score(x, SR)
    for k in ("ovrl", "sig", "bak", "p808"):
        assert getattr(got, k) == pytest.approx(float(ref[f"{k}_mos"]), abs=1e-4), k


def test_speaker_encoder_is_shared() -> None:
    """Identification and the similarity measure embed through the same encoder instance."""
    from adr import metrics
    from adr.analysis import speaker_encoder, speakers

    x = _speechlike(2.0)
    e_ident = speakers.embed(x, SR)
    e_metric = metrics.speaker_embedding(x, SR)
    assert e_ident.shape == e_metric.shape == (256,)
    np.testing.assert_allclose(e_ident, e_metric, atol=1e-5)
    assert list(speaker_encoder._models) == [speaker_encoder.GE2E]  # loaded once


def _write_video(path: Path, frames: list[np.ndarray], rate: str) -> Path:
    h, w = frames[0].shape
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "gray",
        "-s",
        f"{w}x{h}",
        "-r",
        rate,
        "-i",
        "-",
        "-c:v",
        "mpeg4",
        "-q:v",
        "2",
        "-pix_fmt",
        "yuv420p",
        str(path),
    ]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True, timeout=60)
    return path


def test_lips_decode_through_the_picture_reader(tmp_path: Path) -> None:
    """The lip tracker's frames, indices and rate are those of adr.ingest.video (exact
    rates): at 29.97 fps a range starting mid-frame begins at the frame it overlaps."""
    from adr.analysis.lips import _frames
    from adr.ingest.video import iter_frames, picture_timing

    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (48, 64), dtype=np.uint8) for _ in range(40)]
    video = _write_video(tmp_path / "ntsc.mp4", frames, "30000/1001")
    rate, count = picture_timing(video)
    assert rate == Fraction(30000, 1001) and count == 40
    start, end = 10.5 * 1001 / 30000, 20 * 1001 / 30000
    fps, total, got = _frames(video, start, end)
    got = list(got)
    assert fps == float(Fraction(30000, 1001))
    assert [i for i, _ in got] == list(range(10, 20)) and total == 10
    ref = list(iter_frames(video, start, end, gray=True))
    assert len(ref) == 10 and all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, ref))

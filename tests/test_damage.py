"""Tests for adr.analysis.damage on synthesized speech (festival) with generated noise."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from adr.analysis.damage import (
    DamageReport,
    DamageSpan,
    DamageThresholds,
    assess,
    estimate_snr,
    find_spans,
)
from adr.core.errors import AdrError

TEXT = "We have to leave the city before the storm reaches the harbour tonight, she said."


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, int]:
    """A festival (male diphone, 16 kHz) line with 0.5 s of silence around it."""
    exe = shutil.which("text2wave")
    if exe is None:
        pytest.skip("festival is not installed")
    d = tmp_path_factory.mktemp("damage")
    (d / "line.txt").write_text(TEXT)
    subprocess.run(
        [exe, "-eval", "(voice_ked_diphone)", str(d / "line.txt"), "-o", str(d / "line.wav")],
        check=True,
        capture_output=True,
    )
    x, sr = sf.read(d / "line.wav", dtype="float32")
    x = 0.5 * x / np.max(np.abs(x))
    pad = np.zeros(sr // 2, dtype=np.float32)
    return np.concatenate([pad, x, pad]), sr


def active_power(x: np.ndarray, sr: int) -> float:
    w = int(0.02 * sr)
    p = (x[: len(x) // w * w].astype(np.float64).reshape(-1, w) ** 2).mean(axis=1)
    return float(p[p >= p.max() * 1e-4].mean())


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1.0))
    return np.fft.irfft(spec, n)


def at_snr(x: np.ndarray, sr: int, noise: np.ndarray, snr_db: float) -> np.ndarray:
    g = np.sqrt(active_power(x, sr) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return (x + g * noise).astype(np.float32)


def test_clean_line_is_not_flagged(speech: tuple[np.ndarray, int]) -> None:
    x, sr = speech
    rep = assess(x, sr, start=100.0)
    assert not rep.flagged, rep.reason
    assert rep.snr_db > 20
    assert rep.reason == ""
    assert not [s for s in rep.spans if s.kind == "burst"]


def test_snr_estimate_within_3_db_at_10_db(
    speech: tuple[np.ndarray, int], rng: np.random.Generator
) -> None:
    x, sr = speech
    noisy = at_snr(x, sr, pink(len(x), rng), 10.0)
    rep = assess(noisy, sr)
    assert abs(rep.snr_db - 10.0) < 3.0
    assert not rep.flagged  # 10 dB lines are kept (the default flags below 7 dB)
    rep = assess(noisy, sr, thresholds=DamageThresholds(snr_db=15.0))
    assert rep.flagged and rep.reason.startswith("SNR")


def test_burst_is_located_and_flagged(
    speech: tuple[np.ndarray, int], rng: np.random.Generator
) -> None:
    x, sr = speech
    y = at_snr(x, sr, pink(len(x), rng), 30.0)
    b0, b1 = int(1.6 * sr), int(2.2 * sr)  # over speech
    burst = rng.standard_normal(b1 - b0) * np.sqrt(active_power(x, sr))  # 0 dB against speech
    y[b0:b1] += burst.astype(np.float32)
    rep = assess(y, sr, start=12.0)
    bursts = [s for s in rep.spans if s.kind == "burst"]
    assert rep.flagged
    assert len(bursts) == 1, rep.spans
    assert abs(bursts[0].start - 13.6) < 0.05
    assert abs(bursts[0].end - 14.2) < 0.05
    assert bursts[0].snr_db < 5
    assert "burst 0.5" in rep.reason or "burst 0.6" in rep.reason
    assert "at 13.6" in rep.reason


def test_sustained_noise_is_a_noise_span() -> None:
    sr = 16000
    rng = np.random.default_rng(0)
    speech = np.zeros(6 * sr)
    noise = 0.001 * rng.standard_normal(6 * sr)
    noise[sr : 4 * sr] *= 300
    spans = find_spans(speech + 0.1, noise, sr, thresholds=DamageThresholds(span_snr_db=100.0))
    assert [s.kind for s in spans] == ["noise"]
    assert spans[0].start == pytest.approx(1.0, abs=0.03)
    assert spans[0].end == pytest.approx(4.0, abs=0.03)


def test_estimate_snr_exact_on_known_parts(rng: np.random.Generator) -> None:
    s = np.sin(2 * np.pi * 200 * np.arange(16000) / 16000)
    n = rng.standard_normal(16000) * np.sqrt(0.5) * 0.1  # 20 dB below the sine
    assert estimate_snr(s, n, 16000) == pytest.approx(20.0, abs=0.3)


def test_report_round_trip() -> None:
    rep = DamageReport(
        3.2,
        {"ovrl": 2.1, "sig": 3.0, "bak": 1.9, "p808": 2.5},
        [DamageSpan(1.0, 1.5, "burst", -2.0)],
        True,
        "SNR 3.2 dB",
    )
    assert DamageReport.from_dict(rep.to_dict()) == rep
    assert DamageThresholds.from_dict(DamageThresholds().to_dict()) == DamageThresholds()


def test_rejects_bad_input() -> None:
    with pytest.raises(AdrError):
        assess(np.zeros((2, 16000), dtype=np.float32), 16000)
    with pytest.raises(AdrError):
        assess(np.zeros(100, dtype=np.float32), 16000)


@pytest.mark.slow
def test_dnsmos_optional(speech: tuple[np.ndarray, int]) -> None:
    x, sr = speech
    rep = assess(x, sr, dnsmos=True)
    assert rep.dnsmos is not None and set(rep.dnsmos) == {"ovrl", "sig", "bak", "p808"}
    assert 1.0 <= rep.dnsmos["ovrl"] <= 5.0

"""Tests for adr.analysis.pitch_model on a generated vowel with a known F0 contour."""

from __future__ import annotations

import numpy as np
import pytest

from adr.analysis.pitch_model import PITCH_MODELS, model_f0
from adr.core.errors import AdrError

SR = 16000


def vowel(f0: np.ndarray, sr: int = SR) -> np.ndarray:
    """A vowel-like signal following the F0 contour ``f0`` (Hz per sample, shape (N,)).

    Harmonics up to 4 kHz, weighted by an /a/-like envelope (formants near 700, 1200 and
    2600 Hz), with a 40 ms fade in and out. Returns shape (N,), float32, peak 0.3.
    """
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = np.zeros(len(f0))
    for k in range(1, 40):
        fk = k * f0
        gain = sum(
            a / (1 + ((fk - fc) / bw) ** 2)
            for fc, bw, a in ((700, 130, 1.0), (1200, 150, 0.6), (2600, 250, 0.25))
        )
        x += np.where(fk < 4000, gain, 0.0) * np.sin(k * phase)
    ramp = np.minimum(1.0, np.minimum(np.arange(len(x)), np.arange(len(x))[::-1]) / (0.04 * sr))
    x *= ramp
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32)


def contour(seconds: float = 1.5, sr: int = SR) -> np.ndarray:
    """A gliding F0 (110 -> 190 Hz) with 5 Hz vibrato of +-3 %, per sample, shape (N,)."""
    t = np.arange(int(seconds * sr)) / sr
    return (110.0 + 80.0 * t / seconds) * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))


@pytest.mark.parametrize("model", PITCH_MODELS)
@pytest.mark.parametrize("snr_db", [None, 5.0])
def test_follows_vowel_contour(model: str, snr_db: float | None) -> None:
    f0 = contour()
    x = vowel(f0)
    if snr_db is not None:
        rng = np.random.default_rng(3)
        noise = rng.standard_normal(len(x))
        x = x + noise * np.sqrt(np.mean(x**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
        x = x.astype(np.float32)
    n = round(len(x) / SR / 0.01)
    est, voiced, conf = model_f0(x, SR, n, model=model)
    truth = f0[np.minimum(np.arange(n) * 160, len(f0) - 1)]
    mid = slice(10, n - 10)
    assert voiced[mid].mean() > 0.95
    cents = 1200 * np.abs(np.log2(est[mid] / truth[mid]))
    assert np.median(cents) < 20
    assert np.mean(cents > 50) < 0.02
    assert np.all((conf >= 0) & (conf <= 1))


@pytest.mark.parametrize("model", PITCH_MODELS)
def test_silence_and_grid(model: str) -> None:
    f0, voiced, conf = model_f0(np.zeros(SR // 2, dtype=np.float32), SR, 50, model=model)
    assert f0.shape == voiced.shape == conf.shape == (50,)
    assert not voiced.any()
    # another sample rate: resampled inside, same grid
    x = vowel(np.full(22050, 150.0), 22050)
    f0, voiced, _ = model_f0(x, 22050, 100, model=model)
    assert voiced[10:90].all()
    assert np.max(np.abs(f0[10:90] / 150.0 - 1)) < 0.03


def test_rejects_bad_input() -> None:
    with pytest.raises(AdrError):
        model_f0(np.zeros(1000), SR, 6, model="crepe")
    with pytest.raises(AdrError):
        model_f0(np.zeros((2, 10)), SR, 6)
    with pytest.raises(AdrError):
        model_f0(np.zeros(1000), SR, 6, f0_floor=300, f0_ceiling=200)

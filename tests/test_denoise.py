"""Tests for adr.analysis.denoise on a generated speech-like signal in white noise."""

from __future__ import annotations

import numpy as np
import pytest

from adr.analysis.denoise import denoise, resample
from adr.core.errors import AdrError


def speechlike(sr: int, seconds: float = 2.0) -> np.ndarray:
    """A harmonic tone with vibrato, harmonics up to 7 kHz and a 2 Hz syllable envelope.

    DeepFilterNet3 treats a steady tone as noise, so the test signal moves like a voice.
    """
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140.0 * (1.0 + 0.08 * np.sin(2 * np.pi * 3.0 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 50) if k * 140 * 1.08 < min(7000, sr / 2))
    env = np.sqrt(np.clip(np.sin(2 * np.pi * 2.0 * t), 0.0, None))
    return (0.3 * x * env / np.max(np.abs(x))).astype(np.float32)


def snr_db(clean: np.ndarray, test: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(clean**2) / np.sum((test - clean) ** 2)))


@pytest.fixture(scope="module")
def noisy_case() -> tuple[np.ndarray, np.ndarray, int]:
    sr = 16000
    clean = speechlike(sr)
    noise = np.random.default_rng(0).standard_normal(len(clean)).astype(np.float32)
    noise *= np.sqrt(np.sum(clean**2) / np.sum(noise**2))  # 0 dB SNR
    return clean, clean + noise, sr


@pytest.mark.parametrize("method", ["dfn3", "noisereduce"])
def test_denoise_raises_snr_and_keeps_length(noisy_case, method):
    clean, noisy, sr = noisy_case
    out = denoise(noisy, sr, method)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert snr_db(clean, out) - snr_db(clean, noisy) > 2.5


def test_dfn3_is_aligned_and_deterministic_at_other_rates(noisy_case):
    clean, noisy, _ = noisy_case
    sr = 22050
    x = resample(noisy[:16000], 16000, sr)
    a = denoise(x, sr, "dfn3")
    b = denoise(x, sr, "dfn3")
    assert a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    # sample alignment: the cross-correlation with the clean signal peaks at lag 0
    c = resample(clean[:16000], 16000, sr)
    lags = range(-40, 41)
    xc = [float(np.dot(np.roll(a, k), c)) for k in lags]
    assert abs(list(lags)[int(np.argmax(xc))]) <= 2


def test_none_copies_and_unknown_method_fails(noisy_case):
    _, noisy, sr = noisy_case
    out = denoise(noisy, sr, "none")
    np.testing.assert_array_equal(out, noisy)
    assert out is not noisy
    with pytest.raises(AdrError):
        denoise(noisy, sr, "rnnoise")
    with pytest.raises(AdrError):
        denoise(np.zeros((2, 100), np.float32), sr, "none")


def test_empty_input():
    assert denoise(np.zeros(0, np.float32), 16000, "dfn3").shape == (0,)

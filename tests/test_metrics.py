"""Tests for adr.metrics on tiny generated cases (model-based measures are marked slow)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adr import metrics as M
from adr.core.errors import AdrError

SR = 16000


def voiced(f0: float, seconds: float = 2.0, sr: int = SR, vibrato: float = 0.06) -> np.ndarray:
    """Harmonic tone with vibrato and a 2 Hz syllable envelope (speech-like), shape (N,)."""
    t = np.arange(int(seconds * sr)) / sr
    inst = f0 * (1.0 + vibrato * np.sin(2 * np.pi * 2.5 * t))
    phase = 2 * np.pi * np.cumsum(inst) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 40) if k * f0 * 1.1 < sr / 2 - 500)
    env = np.sqrt(np.clip(np.sin(2 * np.pi * 1.0 * t + 0.3), 0.0, None))
    return (0.3 * x * env / np.max(np.abs(x))).astype(np.float32)


# --------------------------------------------------------------------------- WER


def test_normalize_for_wer():
    assert M.normalize_for_wer("Hello, World!") == "hello world"
    assert (
        M.normalize_for_wer("Mr. Smith paid 25 -- twice.") == "mister smith paid twenty five twice"
    )
    assert (
        M.normalize_for_wer("It’s 1,200 well-known items")
        == "it's one thousand two hundred well known items"
    )
    assert M.normalize_for_wer("  ") == ""


def test_word_error_rate_known_cases():
    assert M.word_error_rate("the cat sat down", "the cat sat down") == 0.0
    assert M.word_error_rate("the cat sat down", "The cat sat, down!") == 0.0
    assert M.word_error_rate("the cat sat down", "the dog sat down") == pytest.approx(0.25)
    assert M.word_error_rate("six spoons", "6 spoons") == 0.0
    e = M.word_errors("a b c d", "a c d e f")
    assert (e.words, e.deletions, e.insertions) == (4, 1, 2) and e.errors == 3
    assert M.word_error_rate("", "") == 0.0
    assert M.word_error_rate("one two", "") == 1.0
    assert M.word_errors("", "noise").insertions == 1


# --------------------------------------------------------------------------- pitch


def test_f0_metrics_of_tones_at_known_ratio():
    ref = voiced(150.0)
    up = voiced(150.0 * 2 ** (100 / 1200))  # one semitone higher, same vibrato
    same = M.f0_metrics(ref, ref, SR)
    assert same.rmse_cents < 1.0 and same.correlation > 0.999
    assert same.gross_error == 0.0 and same.voicing_error == 0.0
    f = M.f0_metrics(ref, up, SR)
    assert f.rmse_cents == pytest.approx(100.0, abs=8.0)
    assert f.correlation > 0.95
    assert f.gross_error < 0.02
    assert f.voicing_error < 0.05
    octave = M.f0_metrics(ref, voiced(300.0), SR)
    assert octave.gross_error > 0.9 and octave.rmse_cents == pytest.approx(1200, abs=30)


def test_f0_metrics_voicing_error_against_silence():
    ref = voiced(150.0)
    f = M.f0_metrics(ref, np.zeros_like(ref), SR)
    assert math.isnan(f.rmse_cents) and f.voicing_error > 0.3


# --------------------------------------------------------------------------- PESQ / STOI


def test_pesq_and_stoi_identical_high_noise_low(rng):
    clean = voiced(140.0, seconds=3.0)
    noise = (0.1 * rng.standard_normal(len(clean))).astype(np.float32)
    assert M.pesq_score(clean, clean, SR) > 4.0
    assert M.stoi_score(clean, clean, SR) > 0.99
    assert M.pesq_score(clean, noise, SR) < 1.5
    assert M.stoi_score(clean, noise, SR) < 0.3
    noisy = clean + 0.3 * noise
    assert M.pesq_score(clean, clean, SR) > M.pesq_score(clean, noisy, SR)


def test_stoi_needs_aligned_signals():
    x = voiced(140.0)
    with pytest.raises(AdrError):
        M.stoi_score(x, x[:-10], SR)


def test_pesq_resamples_other_rates():
    x = voiced(140.0, seconds=2.0, sr=22050)
    assert M.pesq_score(x, x, 22050) > 4.0


# --------------------------------------------------------------------------- timing


def test_boundary_errors():
    b = M.boundary_errors([0.0, 1.0, 2.0, 3.0], [0.01, 1.0, 2.05, 2.9])
    assert b.median == pytest.approx(0.03)
    assert b.p90 == pytest.approx(np.percentile([0.01, 0.0, 0.05, 0.1], 90))
    assert b.count == 4
    with pytest.raises(AdrError):
        M.boundary_errors([0.0], [0.0, 1.0])
    assert math.isnan(M.boundary_errors([], []).median)


def test_records_round_trip():
    for rec in (
        M.Dnsmos(3.1, 3.5, 4.0),
        M.F0Metrics(12.0, 0.9, 0.01, 0.05),
        M.BoundaryError(0.02, 0.05, 7),
        M.WordErrors(4, 1, 0, 0),
    ):
        assert type(rec).from_dict(rec.to_dict()) == rec


def test_bad_input_raises():
    with pytest.raises(AdrError):
        M.pesq_score(np.zeros((2, 10)), np.zeros(10), SR)
    with pytest.raises(AdrError):
        M.f0_metrics(np.full(1000, np.nan), np.zeros(1000), SR)


# --------------------------------------------------------------------------- models (slow)


@pytest.mark.slow
def test_speaker_similarity_of_itself_is_one():
    x = voiced(140.0, seconds=3.0)
    assert M.speaker_similarity(x, SR, [x], SR) == pytest.approx(1.0, abs=1e-4)
    other = voiced(260.0, seconds=3.0, vibrato=0.12)
    assert M.speaker_similarity(other, SR, [x], SR) < 0.99


@pytest.mark.slow
def test_dnsmos_range_and_clean_beats_noisy(corpus):
    import soundfile as sf

    clean, sr = sf.read(
        corpus / "speech_clean/voicebank_demand_p287/clean/p287_001.wav", dtype="float32"
    )
    noisy, _ = sf.read(
        corpus / "speech_noisy/voicebank_demand_p287/noisy/p287_001.wav", dtype="float32"
    )
    c, n = M.dnsmos(clean, sr), M.dnsmos(noisy, sr)
    for d in (c, n):
        assert 1.0 <= d.ovrl <= 5.0 and 1.0 <= d.sig <= 5.0 and 1.0 <= d.bak <= 5.0
    assert c.ovrl > n.ovrl and c.bak > n.bak

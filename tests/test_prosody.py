"""Tests for adr.analysis.prosody on generated tones (known F0)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import harmonic_tone

from adr.analysis.prosody import (
    clean_voicing,
    extract_prosody,
    fix_octave_jumps,
    frame_energy_db,
    speaking_rate,
)
from adr.core.errors import AdrError
from adr.core.types import Phone, Prosody


@pytest.mark.parametrize("f0", [100.0, 140.0, 220.0])
def test_tracks_harmonic_tone_within_2_percent(f0: float) -> None:
    tone = harmonic_tone(f0=f0, seconds=1.0, sr=16000)
    p = extract_prosody(tone, 16000, denoise="none")
    assert p.voiced[20:80].all()
    assert np.max(np.abs(p.f0[20:80] / f0 - 1)) < 0.02


def test_tracks_tone_in_noise_with_denoiser(rng: np.random.Generator) -> None:
    tone = harmonic_tone(f0=150.0, seconds=1.0, sr=16000)
    noisy = tone + 0.03 * rng.standard_normal(len(tone)).astype(np.float32)
    p = extract_prosody(noisy, 16000, denoise="noisereduce")
    mid = slice(25, 75)
    assert p.voiced[mid].mean() > 0.9
    v = p.voiced[mid]
    assert np.median(np.abs(p.f0[mid][v] / 150.0 - 1)) < 0.02


def test_silence_has_no_voiced_frames() -> None:
    p = extract_prosody(np.zeros(16000, dtype=np.float32), 16000, denoise="none")
    assert not p.voiced.any()
    assert np.all(p.f0 == 0)
    assert np.all(p.energy <= -100)


def test_frame_count_and_timing() -> None:
    sr = 22050
    p = extract_prosody(harmonic_tone(seconds=1.234, sr=sr), sr, start=12.5, denoise="none")
    assert isinstance(p, Prosody)
    assert p.num_frames == 123
    assert p.times[0] == 12.5
    assert p.times[10] == pytest.approx(12.6)
    assert len(p.f0) == len(p.voiced) == len(p.energy)
    q = Prosody.from_dict(p.to_dict())
    assert q.num_frames == p.num_frames


def test_energy_follows_level() -> None:
    sr = 16000
    x = np.zeros(sr, dtype=np.float32)
    x[sr // 2 :] = 0.1 * np.sin(2 * np.pi * 200 * np.arange(sr // 2) / sr)
    e = frame_energy_db(x, sr, 100)
    assert np.all(e[:45] <= -100)
    assert e[60:95] == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.3)


def test_octave_jump_is_corrected() -> None:
    f0 = np.full(100, 120.0)
    f0[40:47] = 240.0  # a 70 ms jump up an octave
    f0[70:74] = 61.0  # a 40 ms jump down an octave
    voiced = np.ones(100, dtype=bool)
    fixed = fix_octave_jumps(f0, voiced)
    assert np.allclose(fixed, 120.0, rtol=0.02)
    # a genuine, long rise is left alone
    rise = np.concatenate([np.full(50, 120.0), np.full(50, 240.0)])
    assert np.allclose(fix_octave_jumps(rise, voiced), rise)


def test_octave_jump_corrected_end_to_end() -> None:
    sr = 16000
    a = harmonic_tone(f0=130.0, seconds=1.0, sr=sr)
    t = np.arange(len(a)) / sr
    # the middle 60 ms lose their odd harmonics: the waveform period halves (an octave up)
    even = sum(np.sin(2 * np.pi * 130.0 * k * t) / k for k in range(2, 11, 2))
    odd_free = (0.3 * even / np.max(np.abs(even))).astype(np.float32)
    mid = slice(int(0.47 * sr), int(0.53 * sr))
    x = a.copy()
    x[mid] = odd_free[mid] * np.max(np.abs(a[mid])) / np.max(np.abs(odd_free[mid]))
    p = extract_prosody(x, sr, denoise="none")
    v = p.voiced[30:70]
    assert v.all()
    assert np.max(np.abs(p.f0[30:70] / 130.0 - 1)) < 0.05


def test_clean_voicing_rules() -> None:
    f0 = np.zeros(30)
    voiced = np.zeros(30, dtype=bool)
    voiced[2:4] = True  # 2 frames: too short, dropped
    voiced[10:15] = True
    voiced[17:25] = True  # 2-frame gap at 15:17: filled
    f0[voiced] = 100.0
    f0[17:25] = 200.0
    f, v = clean_voicing(f0, voiced)
    assert not v[2:4].any()
    assert v[10:25].all()
    assert 100.0 < f[15] < f[16] < 200.0
    assert np.all(f[~v] == 0)


def test_speaking_rate_excludes_silence() -> None:
    phones = [
        Phone("sil", 0.0, 0.5),
        Phone("h", 0.5, 0.6, 0),
        Phone("ə", 0.6, 0.7, 0),
        Phone("l", 0.7, 0.8, 0),
        Phone("oʊ", 0.8, 1.0, 0),
        Phone("sp", 1.0, 2.0),
    ]
    assert speaking_rate(phones) == pytest.approx(4 / 0.5)
    assert speaking_rate([]) == 0.0


def test_rejects_bad_input() -> None:
    with pytest.raises(AdrError):
        extract_prosody(np.zeros((2, 10)), 16000)
    with pytest.raises(AdrError):
        extract_prosody(np.zeros(1000), 16000, f0_floor=300, f0_ceiling=200)


@pytest.mark.parametrize("tracker", ["praat+fcpe", "praat", "fcpe", "swift"])
def test_trackers_follow_vowel_contour_in_noise(tracker: str) -> None:
    from test_pitch_model import contour, vowel

    f0 = contour()
    x = vowel(f0)
    noise = np.random.default_rng(5).standard_normal(len(x))
    x = (x + noise * np.sqrt(np.mean(x**2) / np.mean(noise**2) / 10**0.5)).astype(np.float32)
    p = extract_prosody(x, 16000, denoise="none", tracker=tracker)  # 5 dB white noise
    truth = f0[np.minimum(np.arange(p.num_frames) * 160, len(f0) - 1)]
    mid = slice(10, p.num_frames - 10)
    assert p.voiced[mid].mean() > 0.95
    v = p.voiced[mid]
    cents = 1200 * np.abs(np.log2(p.f0[mid][v] / truth[mid][v]))
    assert np.median(cents) < 20
    assert np.mean(cents > 50) < 0.02
    assert np.all(p.f0[~p.voiced] == 0)


def test_default_tracker_and_unknown_tracker() -> None:
    from adr.analysis.prosody import DEFAULT_TRACKER, TRACKERS

    assert DEFAULT_TRACKER == "praat+fcpe" and DEFAULT_TRACKER in TRACKERS
    with pytest.raises(AdrError):
        extract_prosody(np.zeros(1600, dtype=np.float32), 16000, denoise="none", tracker="crepe")

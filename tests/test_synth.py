"""Tests of the harmonic-plus-noise synthesizer and the frame features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adr.core.errors import AdrError
from adr.core.types import LipTrack, Phone, Prosody
from adr.voice.features import FrameFeatures, frame_features, interpolate_f0, loudness_db
from adr.voice.synth import Reverb, filtered_noise, harmonic_synth, upsample_frames

SR, HOP = 22050, 220


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), 8 * len(x)))
    return float(np.argmax(spec) * sr / (8 * len(x)))


@pytest.mark.parametrize("f0", [110.0, 196.0, 347.5])
def test_harmonic_synth_produces_the_given_f0(f0: float) -> None:
    t = 50
    dist = torch.zeros(1, t, 20)
    dist[..., 0] = 1.0  # fundamental only
    y = harmonic_synth(torch.full((1, t), f0), torch.full((1, t), 0.5), dist, SR, HOP)[0]
    assert y.shape == (t * HOP,)
    assert abs(_peak_hz(y.numpy(), SR) - f0) < 0.5
    assert float(y.abs().max()) == pytest.approx(0.5, rel=0.01)


def test_harmonics_above_nyquist_are_silent() -> None:
    t, f0 = 40, 3000.0
    dist = torch.ones(1, t, 10)  # harmonics 4..10 are at or above 11025 Hz
    y = harmonic_synth(torch.full((1, t), f0), torch.ones(1, t), dist, SR, HOP)[0].numpy()
    spec = np.abs(np.fft.rfft(y))
    freqs = np.fft.rfftfreq(len(y), 1 / SR)
    assert spec[freqs > 9500].max() < 1e-3 * spec.max()
    peaks = freqs[np.argsort(spec)[-3:]]
    assert sorted(np.round(peaks / f0).astype(int).tolist()) == [1, 2, 3]


def test_synth_is_differentiable_and_exact_length() -> None:
    t = 12
    amp = torch.rand(2, t, requires_grad=True)
    dist = torch.rand(2, t, 8, requires_grad=True)
    noise = torch.rand(2, t, 17, requires_grad=True)
    y = harmonic_synth(torch.full((2, t), 150.0), amp, dist, SR, HOP)
    z = filtered_noise(noise, HOP)
    assert y.shape == z.shape == (2, t * HOP)
    ((y + Reverb(64)(z)) ** 2).sum().backward()
    assert amp.grad is not None and dist.grad is not None and noise.grad is not None
    assert torch.isfinite(noise.grad).all()


def test_upsample_frames_is_centred() -> None:
    x = torch.tensor([[[0.0], [1.0]]])  # (1, 2, 1)
    y = upsample_frames(x, 4)[0, :, 0]
    assert y.shape == (8,)
    assert y[:2].eq(0).all() and y[-2:].eq(1).all()
    assert torch.all(y[1:] >= y[:-1])


def test_loudness_db_of_a_sine() -> None:
    t = np.arange(SR) / SR
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    db = loudness_db(x, SR, HOP / SR)
    assert len(db) == round(len(x) / HOP)
    assert np.median(db) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.2)
    assert loudness_db(np.zeros(SR), SR, 0.01).min() == pytest.approx(-100.0)


def test_frame_features_timing_and_voicing() -> None:
    inv = ("sil", "spn", "a", "b")
    n = 100  # 1 s of prosody at 10 ms
    f0 = np.where(np.arange(n) < 50, 100.0, 200.0).astype(np.float32)
    f0[40:60] = 0.0
    pros = Prosody(
        start=10.0, frame_period=0.01, f0=f0, voiced=f0 > 0, energy=np.full(n, -20.0, np.float32)
    )
    phones = [Phone("a", 10.2, 10.4), Phone("b", 10.4, 10.5), Phone("zz", 10.5, 10.6)]
    fp = HOP / SR
    ff = frame_features(
        phones, pros, None, start=10.0, end=10.9, frame_period=fp, phone_inventory=inv
    )
    assert ff.num_frames == round(0.9 / fp)
    centres = 10.0 + (np.arange(ff.num_frames) + 0.5) * fp
    in_a = (centres >= 10.2) & (centres < 10.4)
    assert np.all(ff.phone_ids[in_a] == 2)
    assert np.all(ff.phone_ids[(centres >= 10.5) & (centres < 10.6)] == 1)  # unknown -> spn
    assert np.all(ff.phone_ids[centres < 10.2] == 0)
    assert np.all(ff.phone_pos[in_a][1:] > ff.phone_pos[in_a][:-1])
    assert np.allclose(ff.phone_dur[in_a], 0.2)
    assert np.all(ff.f0 > 0)  # interpolated through the unvoiced gap
    assert ff.voiced[(centres > 10.42) & (centres < 10.58)].max() == 0
    assert ff.voiced[centres < 10.38].min() == 1
    assert np.all(ff.lip_mask == 0) and ff.lips.shape == (ff.num_frames, 2)
    again = FrameFeatures.from_dict(ff.to_dict())
    assert np.array_equal(again.phone_ids, ff.phone_ids) and np.allclose(again.f0, ff.f0)
    crop = ff.crop(5, 10)
    assert crop.num_frames == 10 and crop.start == pytest.approx(10.0 + 5 * fp)


def test_frame_features_lips_and_errors() -> None:
    pros = Prosody(
        start=0.0,
        frame_period=0.01,
        f0=np.full(100, 120.0, np.float32),
        voiced=np.ones(100, bool),
        energy=np.full(100, -30.0, np.float32),
    )
    opening = np.linspace(0, 0.5, 25).astype(np.float32)
    lips = LipTrack(
        start=0.0,
        fps=25.0,
        opening=opening,
        width=np.full(25, 40.0, np.float32),
        face=np.ones(25, bool),
    )
    ff = frame_features(
        [], pros, lips, start=0.0, end=1.0, frame_period=0.01, phone_inventory=("sil",)
    )
    assert ff.lip_mask.min() == 1
    assert ff.lips[0, 0] == pytest.approx(0.0) and ff.lips[-1, 0] == pytest.approx(0.5)
    with pytest.raises(AdrError):
        frame_features(
            [], pros, None, start=1.0, end=1.0, frame_period=0.01, phone_inventory=("sil",)
        )
    with pytest.raises(AdrError):
        frame_features(
            [], pros, None, start=0.0, end=1.0, frame_period=0.01, phone_inventory=("a",)
        )


def test_interpolate_f0_holds_edges() -> None:
    f = interpolate_f0(np.array([0, 100, 0, 400, 0.0]), np.array([0, 1, 0, 1, 0], bool))
    assert np.allclose(f, [100, 100, 200, 400, 400], rtol=1e-4)
    assert np.all(interpolate_f0(np.zeros(3), np.zeros(3, bool)) > 0)

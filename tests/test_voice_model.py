"""Tests of the voice model: config round trip, render shape, timing and pitch."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_voice import TINY_SIZES

from adr.core.types import Phone, Prosody
from adr.voice.features import frame_features, loudness_db
from adr.voice.voice_model import VoiceConfig, VoiceModel

INVENTORY = ("sil", "spn", "a", "b")


def tiny_config(**kw: object) -> VoiceConfig:
    base: dict = dict(phone_inventory=INVENTORY, **TINY_SIZES)
    base.update(kw)
    return VoiceConfig(**base)


def _features(cfg: VoiceConfig, seconds: float, f0: float = 150.0, start: float = 3.0):
    n = int(seconds * 100) + 2
    pros = Prosody(
        start=start,
        frame_period=0.01,
        f0=np.full(n, f0, np.float32),
        voiced=np.ones(n, bool),
        energy=np.full(n, -20.0, np.float32),
    )
    phones = [Phone("a", start + 0.1, start + 0.3), Phone("b", start + 0.3, start + 0.6)]
    return frame_features(
        phones,
        pros,
        None,
        start=start,
        end=start + seconds,
        frame_period=cfg.frame_period,
        phone_inventory=cfg.phone_inventory,
    )


def test_config_round_trip_and_strictness() -> None:
    cfg = tiny_config(lips=True, reverb_seconds=0.01)
    assert VoiceConfig.from_dict(cfg.to_dict()) == cfg
    d = cfg.to_dict()
    d["bogus"] = 1
    with pytest.raises(ValueError):
        VoiceConfig.from_dict(d)
    with pytest.raises(ValueError):
        VoiceConfig.from_dict({**cfg.to_dict(), "format_version": 99})
    with pytest.raises(ValueError):
        tiny_config(sample_rate=16000)
    with pytest.raises(ValueError):
        tiny_config(phone_inventory=("a", "b"))


@pytest.mark.parametrize("sr,hop", [(22050, 220), (24000, 240)])
def test_render_length_is_frames_times_hop(sr: int, hop: int) -> None:
    cfg = tiny_config(sample_rate=sr, hop_length=hop)
    feats = _features(cfg, 0.73)
    y = VoiceModel(cfg).render(feats)
    assert y.dtype == np.float32
    assert y.shape == (feats.num_frames * hop,)
    assert abs(len(y) / sr - 0.73) <= 0.5 * hop / sr
    assert np.all(np.abs(y) <= 1.0) and np.isfinite(y).all()


def test_render_is_deterministic_and_follows_f0() -> None:
    cfg = tiny_config(gru=False)
    model = VoiceModel(cfg)
    feats = _features(cfg, 1.0, f0=180.0)
    a, b = model.render(feats), model.render(feats)
    assert np.array_equal(a, b)
    # the harmonic part alone (noise removed) is periodic at f0
    h = model.render(feats, seed=1)  # different noise, same harmonics
    harm = 0.5 * (a + h)
    spec = np.abs(np.fft.rfft(harm * np.hanning(len(harm))))
    freqs = np.fft.rfftfreq(len(harm), 1 / cfg.sample_rate)
    peak = freqs[np.argmax(spec[: np.searchsorted(freqs, 3000)])]
    assert abs(round(peak / 180.0) * 180.0 - peak) < 3.0


def test_unvoiced_frames_have_no_harmonics() -> None:
    cfg = tiny_config(gru=False)
    model = VoiceModel(cfg)
    feats = _features(cfg, 0.5)
    batch_unvoiced = feats.__class__(
        **{
            **{
                k: getattr(feats, k)
                for k in (
                    "start",
                    "frame_period",
                    "phone_ids",
                    "phone_pos",
                    "phone_dur",
                    "f0",
                    "loudness",
                    "lips",
                    "lip_mask",
                )
            },
            "voiced": np.zeros(feats.num_frames, np.float32),
        }
    )
    from adr.voice.voice_model import features_to_tensors

    ctl = model.controls(features_to_tensors(batch_unvoiced))
    assert float(ctl["amplitude"].detach().abs().max()) == 0.0


def test_parameter_count_of_default_config() -> None:
    model = VoiceModel(VoiceConfig(phone_inventory=INVENTORY))
    n = sum(p.numel() for p in model.parameters())
    assert 0.5e6 < n < 3e6


def test_loudness_definition_matches_features() -> None:
    """The model's loudness feature is Prosody.energy's definition (analysis), sampled at the
    model's frame centres, and is the RMS level in dBFS."""
    from adr.analysis.prosody import frame_energy_db
    from adr.core.timebase import seconds_to_samples

    cfg = tiny_config()
    sr, fp = cfg.sample_rate, cfg.frame_period
    t = np.arange(sr) / sr
    steady = loudness_db(0.1 * np.sin(2 * np.pi * 200 * t), sr, fp)
    assert len(steady) == round(sr / cfg.hop_length)
    np.testing.assert_allclose(steady[3:-3], 20 * np.log10(0.1 / np.sqrt(2)), atol=0.05)
    rising = (0.02 + 0.3 * t) * np.sin(2 * np.pi * 200 * t)
    db = loudness_db(rising, sr, fp)
    assert np.all(np.diff(db[3:-3]) > 0)
    # analysis frames are centred on i * fp, the model's on (i + 0.5) * fp
    ref = frame_energy_db(rising[seconds_to_samples(fp / 2, sr) :], sr, len(db), frame_period=fp)
    np.testing.assert_allclose(db[3:-3], ref[3:-3], atol=0.05)


def test_harmonic_distribution_starts_at_the_configured_tilt() -> None:
    cfg = tiny_config(harmonic_tilt_db=-12.0)
    assert VoiceConfig(phone_inventory=INVENTORY).harmonic_tilt_db == -12.0  # the default
    from adr.voice.voice_model import features_to_tensors

    ctl = VoiceModel(cfg).controls(features_to_tensors(_features(cfg, 0.5)))
    dist = ctl["distribution"].detach().mean(dim=(0, 1)).numpy()  # (K,)
    slope = np.polyfit(np.log2(np.arange(1, cfg.n_harmonics + 1)), 20 * np.log10(dist), 1)[0]
    assert -15.0 < slope < -9.0  # dB per octave of harmonic number
    flat = VoiceModel(tiny_config(harmonic_tilt_db=0.0))
    assert float(flat.head[-1].bias[1 : 1 + cfg.n_harmonics].detach().abs().max()) < 1.0


def test_version_1_config_reads_as_a_flat_tilt() -> None:
    d = tiny_config().to_dict()
    del d["harmonic_tilt_db"]
    old = VoiceConfig.from_dict({**d, "format_version": 1})
    assert old.harmonic_tilt_db == 0.0 and old.format_version == 2
    with pytest.raises(ValueError):
        VoiceConfig.from_dict({**d, "format_version": 1, "harmonic_tilt_db": -12.0})

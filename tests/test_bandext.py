"""Bandwidth extension (adr.voice.bandext): profile, extension, storage in the voice."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from adr.voice.bandext import (
    HighBandProfile,
    _band_mean,
    _power_frames,
    extend_band,
    high_band_profile,
    profile_of,
    with_profile,
)
from adr.voice.restorer import RestorerConfig

SR = 48000
HIGH_GAIN_DB = -20.0  # the synthetic actor's 11-24 kHz band re its 5.5-10.5 kHz band


def _speechlike(seconds: float = 2.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(full band, band-limited to 10.5 kHz): amplitude-modulated noise, flat high band."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = rng.standard_normal(n) * (0.2 + (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2)
    low = sosfiltfilt(butter(10, 10500, fs=SR, output="sos"), x)
    high = sosfiltfilt(butter(10, 11500, "high", fs=SR, output="sos"), x)
    full = 0.1 * (low + 10 ** (HIGH_GAIN_DB / 20) * high)
    return full.astype(np.float32), (0.1 * low).astype(np.float32)


def _rel_db(x: np.ndarray, lo: float, hi: float) -> float:
    p, f = _power_frames(x, SR)
    return float(
        10 * np.log10(_band_mean(p, f, lo, hi).sum() / _band_mean(p, f, 5500, 10500).sum())
    )


@pytest.fixture(scope="module")
def signals() -> tuple[np.ndarray, np.ndarray, HighBandProfile]:
    full, low = _speechlike()
    return full, low, high_band_profile(full, SR)


def test_profile_of_known_high_band(signals):
    _, _, prof = signals
    assert prof.has_high_band and prof.top_hz > 23000
    assert prof.band_edges_hz[0] == 11000.0 and prof.band_edges_hz[-1] > 23000
    # bands clear of the filters' transition: the known ratio
    assert np.allclose(prof.levels_db[2:], HIGH_GAIN_DB, atol=1.5)


def test_extension_reaches_profile_level_and_keeps_low_band(signals):
    full, low, prof = signals
    y = extend_band(low, prof)
    assert y.shape == low.shape and y.dtype == np.float32
    for lo, hi in ((13000, 14000), (16000, 17000), (20000, 22000)):
        assert abs(_rel_db(y, lo, hi) - _rel_db(full, lo, hi)) < 3.0
    # below 10 kHz unchanged: the added signal has nothing there
    d = np.fft.rfft(y.astype(np.float64) - low)
    f = np.fft.rfftfreq(len(y), 1 / SR)
    x = np.fft.rfft(low.astype(np.float64))
    assert np.sum(np.abs(d[f < 10000]) ** 2) < 1e-6 * np.sum(np.abs(x[f < 10000]) ** 2)
    assert np.array_equal(extend_band(low, prof), y)  # deterministic


def test_no_clipping_introduced(signals):
    _, low, prof = signals
    loud = low / np.max(np.abs(low)) * np.float32(0.998)
    y = extend_band(loud, _louder(prof))
    assert np.max(np.abs(y)) <= 0.999 + 1e-6


def _louder(prof: HighBandProfile) -> HighBandProfile:
    return HighBandProfile(
        prof.band_edges_hz, tuple(v + 15 for v in prof.levels_db), prof.slopes, prof.top_hz
    )


def test_band_limited_material_has_no_high_band():
    full, _ = _speechlike(1.0, seed=1)
    prof = high_band_profile(full[::3], 16000)  # 16 kHz material: nothing above 8 kHz
    assert not prof.has_high_band and prof.band_edges_hz == ()
    x = _speechlike(0.5, seed=2)[1]
    assert np.array_equal(extend_band(x, prof), x)


def test_profile_round_trips_and_is_strict(signals):
    _, _, prof = signals
    assert HighBandProfile.from_dict(prof.to_dict()) == prof
    with pytest.raises(ValueError):
        HighBandProfile.from_dict({**prof.to_dict(), "extra": 1})
    with pytest.raises(ValueError):
        HighBandProfile((11000.0, 12000.0), (1.0, 2.0), (0.0, 0.0), 12000.0)


def test_restorer_config_stores_profile_and_loads_old_dicts(signals):
    _, _, prof = signals
    old = RestorerConfig().to_dict()
    assert "high_band" not in old  # older voices' configs are written as before
    assert RestorerConfig.from_dict(old) == RestorerConfig()
    cfg = with_profile(RestorerConfig(), prof)
    back = RestorerConfig.from_dict(cfg.to_dict())
    assert back == cfg and profile_of(back) == prof
    with pytest.raises(ValueError):
        RestorerConfig.from_dict({**old, "high_band": [[1.0, 2.0]]})

"""Block-wise stem loudness (adr.deliver.stem_loudness) equals the whole-array
adr.deliver.loudness."""

from __future__ import annotations

import numpy as np
import pytest

from adr.deliver import loudness as L
from adr.deliver import stem_loudness as S

SR = 48_000


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(S, "BLOCK", 5_000)  # many block edges in a few seconds of audio


def _speechy(seconds: float, seed: int = 0) -> np.ndarray:
    """Bursts of tone and noise with pauses and a few sharp inter-sample peaks, shape (N,)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    env = (np.sin(2 * np.pi * 0.7 * t) > -0.2) * (0.3 + 0.7 * rng.random(n) ** 8)
    x = env * (0.2 * np.sin(2 * np.pi * 180 * t) + 0.05 * rng.standard_normal(n))
    for k in rng.integers(0, n - 2, 12):  # alternating full-scale pairs: true peak > sample peak
        x[k : k + 2] = [0.9, -0.9]
    return x


@pytest.mark.parametrize("seconds", [0.3, 3.1])
def test_loudness_and_true_peak_match_whole_array(seconds: float) -> None:
    x = _speechy(seconds)
    x32 = x.astype(np.float32)
    ref = x32.astype(np.float64)
    assert abs(S.stem_loudness(x32, SR) - L.integrated_loudness(ref, SR)) < 0.01
    assert abs(S.stem_true_peak(x32) - L.true_peak_db(ref, SR)) < 0.01
    assert abs(S.stem_loudness(x32, SR, scale=0.5) - L.integrated_loudness(ref * 0.5, SR)) < 0.01
    spans = [(0.05, 0.2), (1.0, 1.7), (2.5, 9.0)]
    mask = np.zeros(len(x), dtype=bool)
    for a, b in spans:
        mask[round(a * SR) : round(b * SR)] = True
    assert abs(S.stem_loudness(x32, SR, dialog=spans) - L.gated_loudness(ref, SR, mask)) < 0.01


def test_silence() -> None:
    x = np.zeros(SR, dtype=np.float32)
    assert S.stem_loudness(x, SR) == float("-inf")
    assert S.stem_true_peak(x) == float("-inf")
    rep, gain = S.normalize_stem(x, SR, "-24")
    assert gain == 1.0 and rep.before == float("-inf") and not x.any()


@pytest.mark.parametrize("spec", ["-23", "-27"])
def test_normalize_stem_matches_normalize_loudness(spec: str) -> None:
    x = _speechy(3.1, seed=1).astype(np.float32)
    spans = [(0.0, 1.2), (2.0, 3.0)]
    mask = np.zeros(len(x), dtype=bool)
    for a, b in spans:
        mask[round(a * SR) : round(b * SR)] = True
    y_ref, ref = L.normalize_loudness(x.astype(np.float64) * 4.0, SR, spec, dialog_mask=mask)
    y = x * np.float32(4.0)
    rep, gain = S.normalize_stem(y, SR, spec, dialog=spans)
    y = y * gain
    assert ref.limited_db > 0.5  # the limiter ran, more than one pass
    assert np.max(np.abs(y - y_ref)) < 1e-5
    for name in ("before", "after", "gain_db", "true_peak", "limited_db"):
        assert abs(getattr(rep, name) - getattr(ref, name)) < 0.01, name

"""bench_oracle's render-time ablations act only inside their block."""

from __future__ import annotations

import numpy as np


def test_mapped_reliability_maps_the_take_reliability_and_restores_it():
    import adr.voice.speak as speak_mod
    from bench.bench_oracle import RELIABILITY_MAPS, mapped_reliability

    sr = 16000
    t = np.arange(sr) / sr
    x = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    original = speak_mod.take_evidence
    _, rel, _ = original(x, sr, 40, denoised=x * 0.9)
    with mapped_reliability(RELIABILITY_MAPS["noisy, hard reliability"]):
        _, hard, _ = speak_mod.take_evidence(x, sr, 40, denoised=x * 0.9)
    assert speak_mod.take_evidence is original
    np.testing.assert_array_equal(hard, (rel >= 0.5).astype(np.float32))
    assert set(np.unique(hard)) <= {0.0, 1.0}

"""Synthetic rooms keep a line's length, timing and peak."""

from __future__ import annotations

import numpy as np

from adr.analysis.rooms import reverberate

SR = 16_000


def test_reverberate_keeps_length_timing_and_peak() -> None:
    x = np.zeros(SR, dtype=np.float32)
    x[4000] = 0.5  # a click at 0.25 s
    y = reverberate(x, SR, 0.4, np.random.default_rng(0))
    assert y.shape == x.shape and y.dtype == np.float32
    assert int(np.argmax(np.abs(y))) == 4000  # the direct sound stays where it was
    assert np.isclose(np.max(np.abs(y)), 0.5)
    tail = y[4000 + SR // 10 : 4000 + SR // 5]
    assert np.sqrt(np.mean(tail**2)) > 1e-4  # and a tail follows it
    assert np.allclose(y, reverberate(x, SR, 0.4, np.random.default_rng(0)))  # seeded


def test_reverberate_empty() -> None:
    assert reverberate(np.zeros(0, np.float32), SR, 0.3, np.random.default_rng(0)).size == 0

"""adr.voice.timbre: the actor's long-term log-mel and a line moved toward it."""

from __future__ import annotations

import numpy as np
import pytest

from bench.timbre import MAX_SHIFT, match_timbre, speech_weights, timbre_of


def _line(rng: np.random.Generator, tilt: np.ndarray, frames: int = 200) -> np.ndarray:
    """A log-mel line: speech frames (a colour ``tilt`` plus variation) between pauses."""
    mel = np.full((tilt.size, frames), -11.0)
    speech = slice(40, 160)
    mel[:, speech] = tilt[:, None] + 0.3 * rng.standard_normal((tilt.size, 120))
    return mel.astype(np.float32)


def test_timbre_is_the_speech_frames_mean_and_matching_moves_only_speech() -> None:
    rng = np.random.default_rng(0)
    bins = np.linspace(0, 1, 80)
    actor, donor = -2.0 - 2.0 * bins, -2.5 - 0.5 * bins  # a darker and a brighter colour
    timbre = timbre_of([_line(rng, actor) for _ in range(3)])
    assert timbre.shape == (80,) and np.allclose(timbre, actor, atol=0.08)
    take = _line(rng, donor)
    w = speech_weights(take)
    assert w[:40].max() == 0.0 and w[50:150].min() == 1.0
    out = match_timbre(take, timbre)
    # the speech frames now have the actor's colour (up to a level: the line keeps its own)
    got = out[:, 40:160].mean(axis=1)
    assert np.allclose(got - got.mean(), timbre - timbre.mean(), atol=1e-4)
    assert np.array_equal(out[:, :40], take[:, :40])  # pauses untouched
    assert np.isclose(out[:, 40:160].mean(), take[:, 40:160].mean(), atol=1e-4)
    assert np.array_equal(match_timbre(take, timbre, strength=0.0), take)
    half = match_timbre(take, timbre, strength=0.5)
    assert np.allclose(half - take, 0.5 * (out - take), atol=1e-5)


def test_the_shift_is_bounded_and_shapes_are_checked() -> None:
    rng = np.random.default_rng(1)
    take = _line(rng, np.full(80, -3.0))
    far = np.where(np.arange(80) < 40, 5.0, -5.0)
    moved = match_timbre(take, far) - take
    assert np.abs(moved).max() <= MAX_SHIFT + 1e-6
    with pytest.raises(ValueError, match="does not fit"):
        match_timbre(take, np.zeros(40))
    with pytest.raises(ValueError, match="no speech frame"):
        timbre_of([])

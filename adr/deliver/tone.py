"""Room tone: a bed cut from the production's quietest gaps, laid under a replacement.

:func:`room_tone` finds the production's quietest stretches outside every cue (the caller
marks what may be used); :func:`tone_bed` makes a bed of any length from them. Conforming
(:mod:`adr.deliver.conform`) lays it under the replaced audio, at most ``room_tone_below`` dB
under the speech.
"""

from __future__ import annotations

import numpy as np

__all__ = ["room_tone", "tone_bed"]


def room_tone(
    audio: np.ndarray,
    sample_rate: int,
    allowed: np.ndarray,
    *,
    min_run: float = 0.2,
    max_seconds: float = 4.0,
) -> np.ndarray:
    """The quietest gaps of the production (runs of 50 ms frames within 3 dB of the 20th
    percentile level, at least ``min_run`` long, inside ``allowed``), joined; shape (K,)."""
    x = np.asarray(audio, dtype=np.float64)
    w = int(0.05 * sample_rate)
    n = len(x) // w
    if n == 0:
        return np.zeros(0)
    frames = x[: n * w].reshape(n, w)
    ok = np.asarray(allowed, dtype=bool)[: n * w].reshape(n, w).all(axis=1)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    if not ok.any():
        return np.zeros(0)
    quiet = ok & (level <= np.percentile(level[ok], 20) + 3.0) & (level > -100)
    pieces, i = [], 0
    while i < n:
        j = i
        while j < n and quiet[j]:
            j += 1
        if (j - i) * 0.05 >= min_run:
            pieces.append(frames[i:j].ravel())
        i = j + 1
    if not pieces:
        return np.zeros(0)
    f = int(0.01 * sample_rate)
    g = np.sin(0.5 * np.pi * (np.arange(f) + 0.5) / f)
    out = pieces[0]
    for p in pieces[1:]:  # equal-power joins, 10 ms
        if len(out) > f and len(p) > f:
            out = np.concatenate([out[:-f], out[-f:] * g[::-1] + p[:f] * g, p[f:]])
    return out[: int(max_seconds * sample_rate)]


def tone_bed(
    tone: np.ndarray, length: int, sample_rate: int, *, fade: float = 0.05, seed: int = 0
) -> np.ndarray:
    """``length`` samples of ``tone`` looped from random start points with equal-power
    crossfades of ``fade`` s (0: plain concatenation); zeros when the tone is too short."""
    t = np.asarray(tone, dtype=np.float64)
    f = int(fade * sample_rate)
    out = np.zeros(length)
    if len(t) <= 2 * f + 1 or length == 0:
        return out
    rng = np.random.default_rng(seed)
    g = np.sin(0.5 * np.pi * (np.arange(f) + 0.5) / max(f, 1))
    pos = 0
    while pos < length:
        piece = np.roll(t, -int(rng.integers(len(t)))) if pos else t
        piece = piece[: length - pos + f] if pos else piece[:length]
        if pos and f:
            k = min(f, len(piece))
            out[pos - f : pos - f + k] = (
                out[pos - f : pos - f + k] * g[::-1][:k] + piece[:k] * g[:k]
            )
            piece = piece[k:]
            start = pos - f + k
        else:
            start = pos
        out[start : start + len(piece)] = piece[: length - start]
        pos = start + len(piece)
    return out

"""Picture lock: the timing of a rendered take against the production guide track.

Pure functions on mono float arrays. A take's timing is refined against the production
guide track (normally the denoised production line with a margin either side) by dynamic
time warping (:func:`estimate_warp`) on MFCCs 1-19 (16 kHz, 10 ms hop, 25 ms window) with
per-line mean and variance normalization, compared by cosine distance; both signals get a
-80 dBFS dither so that digital silence and a noise floor look alike. The DTW has open begin
and end, slopes between 1/2 and 2 (steps (1,1), (1,2), (2,1)), a band of ``max_shift``
around the cue position and a small cost per second of shift (a prior for "on time"). Where
the path stays within ``tolerance`` of a constant offset over the take's speech frames (90th
percentile) the result is that offset (``method="offset"``); where the render drifts, a
smooth time warp (knots every 50 ms, ``method="warp"``) that :func:`apply_warp` renders with
WSOLA (40 ms Hann grains, 20 ms hop, +-8 ms similarity search), so pitch is kept.
A path whose mean cost over the take's speech exceeds ``max_cost`` (0.75) is not trusted and
the take stays where it was placed (``method="none"``).
:func:`word_boundary_error` measures how far word boundaries land from a reference. What the
refinement gains, and why 0.75: docs/decisions.md ("warp: ...").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.timebase import seconds_to_samples
from adr.core.types import Word, strict_from_dict
from adr.metrics import BoundaryError, boundary_errors

__all__ = [
    "TimeWarp",
    "line_features",
    "frame_level_db",
    "dtw_path",
    "estimate_warp",
    "apply_warp",
    "shift",
    "warp_words",
    "word_boundary_error",
]

_FEATURE_RATE = 16_000
_HOP = 0.01


def _arr() -> Any:
    return field(default_factory=lambda: np.zeros(0), compare=False)


@dataclass(frozen=True, eq=False)
class TimeWarp:
    """Map from take time to production time, both seconds from the take's first sample.

    Attributes
    ----------
    method : str
        ``"none"``, ``"offset"`` (``t + offset``) or ``"warp"`` (piecewise linear on knots).
    offset : float
        Constant (or median) shift, seconds; positive moves the take later.
    src, dst : np.ndarray, shape (K,)
        Knots (take time -> production time) of a warp; extrapolated with slope 1.
    deviation : float
        90th percentile of |path - offset| over the take's speech, seconds.
    cost : float
        Mean cosine distance along the DTW path over the take's speech (0 identical, about
        1 unrelated); above ``max_cost`` the path is not trusted and ``method`` is ``"none"``.
    """

    method: str = "none"
    offset: float = 0.0
    src: np.ndarray = _arr()
    dst: np.ndarray = _arr()
    deviation: float = 0.0
    cost: float = 0.0

    def map(self, t: np.ndarray | float) -> np.ndarray:
        """Production time of take time ``t`` (array or scalar), seconds."""
        t = np.asarray(t, dtype=np.float64)
        if self.method != "warp" or len(self.src) < 2:
            return t + (self.offset if self.method != "none" else 0.0)
        return _interp_ext(t, self.src, self.dst)

    def inverse(self, t: np.ndarray | float) -> np.ndarray:
        """Take time that lands at production time ``t``, seconds."""
        t = np.asarray(t, dtype=np.float64)
        if self.method != "warp" or len(self.src) < 2:
            return t - (self.offset if self.method != "none" else 0.0)
        return _interp_ext(t, self.dst, self.src)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TimeWarp) and self.to_dict() == other.to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "offset": round(self.offset, 6),
            "src": np.round(self.src, 5).tolist(),
            "dst": np.round(self.dst, 5).tolist(),
            "deviation": round(self.deviation, 6),
            "cost": round(self.cost, 6),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimeWarp:
        d = dict(data)
        for key in ("src", "dst"):
            if key in d:
                d[key] = np.asarray(d[key], dtype=np.float64)
        return strict_from_dict(cls, d)


def _interp_ext(t: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.interp(t, x, y)
    out = np.where(t < x[0], y[0] + (t - x[0]), out)
    return np.where(t > x[-1], y[-1] + (t - x[-1]), out)


def line_features(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """MFCC 1-19 per 10 ms frame, mean/variance normalized; shape (T, 19), frame i at i*10 ms."""
    import librosa

    from adr.analysis.denoise import resample

    x = resample(np.asarray(audio, dtype=np.float32), sample_rate, _FEATURE_RATE).astype(np.float64)
    x = x + 1e-4 * np.random.default_rng(0).standard_normal(len(x))
    m = librosa.feature.mfcc(
        y=x,
        sr=_FEATURE_RATE,
        n_mfcc=20,
        n_fft=512,
        win_length=400,
        hop_length=160,
        n_mels=40,
        fmin=60.0,
        fmax=7600.0,
    )[1:].T
    return (m - m.mean(axis=0)) / (m.std(axis=0) + 1e-8)


def frame_level_db(audio: np.ndarray, sample_rate: int, count: int) -> np.ndarray:
    """RMS level in dBFS over 25 ms around each 10 ms frame, shape (count,)."""
    x = np.asarray(audio, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(x**2)])
    c = np.round(np.arange(count) * _HOP * sample_rate).astype(int)
    half = int(0.0125 * sample_rate)
    a, b = np.clip(c - half, 0, len(x)), np.clip(c + half, 0, len(x))
    p = (csum[b] - csum[a]) / np.maximum(b - a, 1)
    return 10 * np.log10(np.maximum(p, 1e-12))


def dtw_path(cost: np.ndarray, lead: int, band: int) -> tuple[np.ndarray, np.ndarray]:
    """Open-begin/open-end DTW with slopes in [1/2, 2] inside a band.

    Parameters
    ----------
    cost : np.ndarray, shape (N, M)
        Local distances, take frames x guide frames.
    lead, band : int
        Cell (i, j) is allowed when ``|j - i - lead| <= band``.

    Returns
    -------
    rows, cols : np.ndarray of int, shape (P,)
        The path's cells in order (every take frame appears at least once).
    """
    n, m = cost.shape
    jj = np.arange(m)
    c = np.where(np.abs(jj[None, :] - np.arange(n)[:, None] - lead) <= band, cost, np.inf)
    acc = np.full((n, m), np.inf)
    step = np.zeros((n, m), dtype=np.int8)
    acc[0] = c[0]
    inf = np.full(2, np.inf)
    for i in range(1, n):
        diag = np.concatenate([inf[:1], acc[i - 1, :-1]])
        wide = np.concatenate([inf, acc[i - 1, :-2] + c[i, 1:-1]])  # (i-1, j-2) via (i, j-1)
        tall = (
            np.concatenate([inf[:1], acc[i - 2, :-1] + c[i - 1, 1:]])
            if i >= 2
            else np.full(m, np.inf)
        )  # (i-2, j-1) via (i-1, j)
        choices = np.stack([diag, wide, tall])
        step[i] = np.argmin(choices, axis=0)
        acc[i] = c[i] + choices[step[i], jj]
    j = int(np.argmin(acc[-1]))
    if not np.isfinite(acc[-1, j]):
        raise AdrError("dtw", "no path inside the band")
    rows, cols, i = [n - 1], [j], n - 1
    while i > 0:
        s = step[i, j]
        if s == 0:
            i, j = i - 1, j - 1
        elif s == 1:
            rows.append(i)
            cols.append(j - 1)
            i, j = i - 1, j - 2
        else:
            rows.append(i - 1)
            cols.append(j)
            i, j = i - 2, j - 1
        rows.append(i)
        cols.append(j)
    return np.array(rows[::-1]), np.array(cols[::-1])


def estimate_warp(
    take: np.ndarray,
    guide: np.ndarray,
    sample_rate: int,
    *,
    lead: float = 0.0,
    max_shift: float = 0.3,
    tolerance: float = 0.02,
    max_cost: float = 0.75,
    shift_cost: float = 0.3,
) -> TimeWarp:
    """Timing of ``take`` against the production ``guide`` (see the module docstring).

    Parameters
    ----------
    take : np.ndarray, shape (N,)
        The rendered line placed at its cue (sample 0 = cue in).
    guide : np.ndarray, shape (M,)
        Production line (denoised) starting ``lead`` seconds before the cue in.
    max_shift : float
        Largest shift searched, seconds.
    tolerance : float
        Largest deviation (90th percentile) still reported as a plain offset, seconds.
    max_cost : float
        Largest mean path cost over the take's speech frames for which the DTW is trusted.
    shift_cost : float
        Prior against moving the take: cost added per second of shift at each cell.

    Returns
    -------
    TimeWarp
        ``method="none"`` when the take has no speech or the path is not trusted (its
        ``cost`` then says why).
    """
    ft, fg = line_features(take, sample_rate), line_features(guide, sample_rate)
    level = frame_level_db(take, sample_rate, len(ft))
    speech = (level > level.max() - 30.0) & (level > -60.0)
    if speech.sum() < 5:
        return TimeWarp()
    cost = 1.0 - (ft @ fg.T) / (
        np.linalg.norm(ft, axis=1)[:, None] * np.linalg.norm(fg, axis=1)[None, :] + 1e-9
    )
    lead_f = int(round(lead / _HOP))
    shift = np.abs(np.arange(len(fg))[None, :] - np.arange(len(ft))[:, None] - lead_f) * _HOP
    rows, cols = dtw_path(cost + shift_cost * shift, lead_f, max(1, int(round(max_shift / _HOP))))
    matched = np.bincount(rows, weights=cols, minlength=len(ft)) / np.maximum(
        np.bincount(rows, minlength=len(ft)), 1
    )
    d = matched - lead_f - np.arange(len(ft))
    d0 = float(np.median(d[speech]))
    deviation = float(np.percentile(np.abs(d[speech] - d0), 90)) * _HOP
    path_cost = float(np.mean(cost[rows, cols][speech[rows]]))
    if path_cost > max_cost:  # take and guide too unlike: keep the take where it was placed
        return TimeWarp("none", 0.0, deviation=deviation, cost=path_cost)
    near = speech & (np.abs(d - d0) <= 1.5)
    offset = float(np.mean(d[near])) * _HOP
    if deviation <= tolerance:
        return TimeWarp("offset", offset, deviation=deviation, cost=path_cost)
    from scipy.ndimage import median_filter, uniform_filter1d

    idx = np.flatnonzero(speech)
    smooth = np.interp(np.arange(len(d)), idx, d[idx])
    smooth = uniform_filter1d(median_filter(smooth, 7, mode="nearest"), 5, mode="nearest")
    knots = np.unique(np.r_[np.arange(idx[0], idx[-1] + 1, 5), idx[-1]])
    src = knots * _HOP
    dst = (knots + smooth[knots]) * _HOP
    for k in range(1, len(dst)):  # keep the warp monotonic, slope >= 1/2
        dst[k] = max(dst[k], dst[k - 1] + 0.5 * (src[k] - src[k - 1]))
    return TimeWarp("warp", float(np.median(smooth[idx])) * _HOP, src, dst, deviation, path_cost)


def shift(audio: np.ndarray, samples: int, length: int) -> np.ndarray:
    """``audio`` moved ``samples`` later (earlier when negative) on a zero timeline of
    ``length`` samples, shape (length,); parts outside are dropped."""
    out = np.zeros(int(length))
    lo, hi = max(samples, 0), min(samples + len(audio), len(out))
    if hi > lo:
        out[lo:hi] = audio[lo - samples : hi - samples]
    return out


def apply_warp(
    audio: np.ndarray, sample_rate: int, warp: TimeWarp, length: int | None = None
) -> np.ndarray:
    """Render ``audio`` on production time, shape (length,) (default: same length).

    An offset is an exact sample shift (zeros fill); a warp is rendered by WSOLA.
    """
    x = np.asarray(audio, dtype=np.float64)
    n = len(x) if length is None else int(length)
    if warp.method != "warp":
        return shift(
            x, seconds_to_samples(warp.offset if warp.method == "offset" else 0.0, sample_rate), n
        )
    from scipy.signal import correlate

    half = int(0.02 * sample_rate)
    tol = int(0.008 * sample_rate)
    win = np.sin(np.pi * (np.arange(2 * half) + 0.5) / (2 * half)) ** 2  # sums to 1 at 50 %
    pad = 2 * half + tol + n + len(x)
    xp = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
    y = np.zeros(n + 4 * half)
    wsum = np.zeros_like(y)
    centres = np.arange(0, n + half, half)
    positions = np.round(warp.inverse(centres / sample_rate) * sample_rate).astype(int) + pad
    prev = None
    for c, p in zip(centres, positions):
        chosen = p
        if prev is not None:
            template = xp[prev + half - half : prev + half + half]
            seg = xp[p - tol - half : p + tol + half]
            r = correlate(seg, template, mode="valid", method="fft")
            if np.max(r) > 0:
                chosen = p - tol + int(np.argmax(r))
        y[c : c + 2 * half] += win * xp[chosen - half : chosen + half]
        wsum[c : c + 2 * half] += win
        prev = chosen
    out = np.where(wsum > 1e-3, y / np.maximum(wsum, 1e-3), 0.0)
    return out[half : half + n]


def warp_words(words: Sequence[Word], warp: TimeWarp, origin: float) -> tuple[Word, ...]:
    """Words of a take placed at ``origin`` (session s) moved through ``warp``."""
    return tuple(
        dataclasses.replace(
            w,
            start=origin + float(warp.map(w.start - origin)),
            end=origin + float(warp.map(w.end - origin)),
        )
        for w in words
    )


def word_boundary_error(reference: Sequence[Word], hypothesis: Sequence[Word]) -> BoundaryError:
    """Median and 90th percentile error of word starts and ends (same words in both)."""
    ref = [t for w in reference for t in (w.start, w.end)]
    hyp = [t for w in hypothesis for t in (w.start, w.end)]
    return boundary_errors(ref, hyp)

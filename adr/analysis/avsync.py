"""Audio/video offset of a scene from its lip track: is the sound in sync with the picture?

The mouth opening (:mod:`adr.analysis.lips`) and a speech-band audio envelope are compared by their
rates of change over a range of lags; the peak of the normalized cross-correlation is the
offset, refined between grid points by parabolic interpolation. Each picture frame is timed at
the centre of its exposure (:data:`SHUTTER`), not at its timestamp.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adr.core.records import Record
from adr.core.timebase import seconds_to_frames
from adr.core.types import LipTrack

__all__ = ["SHUTTER", "AvOffset", "estimate_av_offset", "speech_envelope"]

#: Fraction of a frame period the camera's shutter is open (a 180 degree shutter, the film
#: and television norm): a frame shows the mouth averaged over the first half of its period,
#: so its image is centred a quarter frame after its timestamp.
SHUTTER = 0.5


@dataclass(frozen=True)
class AvOffset(Record):
    """Audio-minus-picture offset: positive ``offset_seconds`` means the audio is late.

    ``confidence`` is in [0, 1] (0: no face, no speech or no clear correlation peak);
    ``correlation`` is the normalized correlation at the peak.
    """

    offset_seconds: float
    offset_frames: float
    confidence: float
    correlation: float = 0.0

    def apply(self, track: LipTrack) -> LipTrack:
        """``track`` with its ``av_offset``/``av_confidence`` set from this estimate."""
        return dataclasses.replace(
            track, av_offset=self.offset_seconds, av_confidence=self.confidence
        )


# --------------------------------------------------------------------------- audio/video offset


def speech_envelope(
    audio: np.ndarray,
    sample_rate: int,
    times: np.ndarray,
    *,
    band: tuple[float, float] = (300.0, 3000.0),
    window: float = 0.04,
) -> np.ndarray:
    """Speech-band log energy around given times.

    Parameters
    ----------
    audio : np.ndarray, shape (N,) or (N, C)
        Samples (channels are mixed); time 0 is sample 0.
    times : np.ndarray, shape (T,)
        Seconds at which to evaluate the envelope.
    band : (low, high)
        Pass band in Hz.
    window : float
        Seconds averaged around each time.

    Returns
    -------
    np.ndarray, shape (T,)
        Energy in dB, floored 60 dB below the loudest window; NaN outside the audio.
    """
    from scipy.signal import butter, sosfiltfilt

    x = np.asarray(audio, dtype=np.float64)
    x = x.mean(axis=1) if x.ndim == 2 else x
    t = np.asarray(times, dtype=np.float64)
    if x.ndim != 1 or len(x) < 32:
        return np.full(len(t), np.nan)
    high = min(band[1], 0.45 * sample_rate)
    sos = butter(4, [band[0], high], btype="bandpass", fs=sample_rate, output="sos")
    power = np.concatenate([[0.0], np.cumsum(sosfiltfilt(sos, x) ** 2)])
    half = window / 2
    lo = np.clip(np.round((t - half) * sample_rate), 0, len(x)).astype(np.int64)
    hi = np.clip(np.round((t + half) * sample_rate), 0, len(x)).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (power[hi] - power[lo]) / (hi - lo)
    inside = (t >= 0) & (t < len(x) / sample_rate) & (hi > lo)
    peak = float(np.max(mean[inside])) if inside.any() else 0.0
    db = 10.0 * np.log10(np.maximum(np.where(inside, mean, 1.0), max(peak, 1e-20) * 1e-6))
    return np.where(inside, db, np.nan)


def _lag_correlation(v: np.ndarray, a: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``v[i]`` with ``a[i + pad + lag]`` per lag (NaN-aware).

    ``v`` has shape (T,), ``a`` shape (T + 2 * pad,) with ``pad = max |lag|``.
    """
    pad = int(np.max(np.abs(lags)))
    out = np.full(len(lags), np.nan)
    for k, lag in enumerate(lags):
        b = a[pad + lag : pad + lag + len(v)]
        ok = np.isfinite(v) & np.isfinite(b)
        if ok.sum() < 8:
            continue
        x, y = v[ok] - v[ok].mean(), b[ok] - b[ok].mean()
        den = math.sqrt(float(np.dot(x, x) * np.dot(y, y)))
        out[k] = float(np.dot(x, y)) / den if den > 1e-12 else np.nan
    return out


def estimate_av_offset(
    track: LipTrack,
    audio: np.ndarray,
    sample_rate: int,
    *,
    audio_start: float = 0.0,
    max_offset: float = 0.5,
    spans: Sequence[tuple[float, float]] | None = None,
) -> AvOffset:
    """Estimate how late the audio is relative to the picture from mouth movement.

    Parameters
    ----------
    track : LipTrack
        Mouth opening per picture frame (F,).
    audio : np.ndarray, shape (N,) or (N, C)
        The production sound of the same scene.
    sample_rate : int
        Of ``audio``.
    audio_start : float
        Session time (seconds) of audio sample 0.
    max_offset : float
        Largest offset searched, seconds either way.
    spans : sequence of (start, end), optional
        Session times (seconds) where the audio is speech worth using, e.g. the cues of a
        scene: only mouth frames and audio inside them are correlated (everything else is
        ignored). ``None``: all of both.

    Returns
    -------
    AvOffset
        Positive ``offset_seconds``: the audio is late. Confidence 0 when there is no face,
        no mouth movement or no speech-like audio.

    Notes
    -----
    Correlates the first differences (smoothed over half a frame) of the mouth opening and of
    the 300-3000 Hz log energy, on a grid of four points per frame, over lags
    ``±max_offset``; the peak is refined by parabolic interpolation. Give it as much material
    as possible (docs/decisions.md, "avsync: ..."): for cues, estimate on the whole take or
    scene and apply it.
    """
    fps = float(track.fps)
    none = AvOffset(0.0, 0.0, 0.0, 0.0)
    opening = np.asarray(track.opening, dtype=np.float64)
    if len(opening) < 8 or np.isfinite(opening).sum() < 8 or fps <= 0:
        return none
    up = 4  # correlation grid: 4 points per picture frame
    step = 1.0 / (fps * up)
    pad = max(1, seconds_to_frames(max_offset, step))
    frame_t = (np.arange(len(opening)) + SHUTTER / 2) / fps  # each frame's exposure centre
    grid = np.arange(len(opening) * up) * step
    v = _interp_nan(frame_t, opening, grid)
    ext = np.arange(-pad, len(grid) + pad) * step
    a = speech_envelope(audio, sample_rate, track.start + ext - audio_start)
    if spans is not None:
        v = np.where(_inside(track.start + grid, spans), v, np.nan)
        a = np.where(_inside(track.start + ext, spans), a, np.nan)
    finite_a = a[np.isfinite(a)]
    if len(finite_a) < 8 or np.ptp(finite_a) < 10.0 or np.nanstd(v) < 1e-3:
        return none
    lags = np.arange(-pad, pad + 1)
    # Rates of change (smoothed over ~half a frame) correlate sharply; levels only broadly.
    c = _lag_correlation(np.gradient(_smooth(v, up / 2)), np.gradient(_smooth(a, up / 2)), lags)
    if not np.isfinite(c).any():
        return none
    c = np.where(np.isfinite(c), c, np.nanmin(c))
    k = int(np.argmax(c))
    frac = 0.0
    if 0 < k < len(c) - 1:
        den = c[k - 1] - 2 * c[k] + c[k + 1]
        frac = float(np.clip(0.5 * (c[k - 1] - c[k + 1]) / den, -0.5, 0.5)) if den < 0 else 0.0
    offset = float((lags[k] + frac) * step)
    return AvOffset(offset, offset * fps, _confidence(c, k, up), float(c[k]))


def _inside(t: np.ndarray, spans: Sequence[tuple[float, float]]) -> np.ndarray:
    """Which times ``t`` (T,) fall inside any of ``spans``, shape (T,) bool."""
    out = np.zeros(len(t), dtype=bool)
    for a, b in spans:
        out |= (t >= a) & (t < b)
    return out


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of ``x`` (T,) by ``sigma`` samples, keeping NaN where it was."""
    from scipy.ndimage import gaussian_filter1d

    ok = np.isfinite(x)
    filled = np.where(ok, x, float(np.mean(x[ok])) if ok.any() else 0.0)
    return np.where(ok, gaussian_filter1d(filled, sigma, mode="nearest"), np.nan)


def _interp_nan(t: np.ndarray, x: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``x`` (T,) at ``at``; NaN where a neighbour is NaN."""
    ok = np.isfinite(x)
    y = np.interp(at, t[ok], x[ok])
    near = np.interp(at, t, ok.astype(np.float64))
    return np.where(near > 0.999, y, np.nan)


def _confidence(c: np.ndarray, k: int, up: int) -> float:
    """Peak height and prominence of correlation curve ``c`` (lags,) at ``k``, in [0, 1].

    Heuristic (calibrated only on GRID clips): the peak's correlation and its z-score against
    the lags more than three frames away must both be high, and no far peak may come close
    (two near-equal peaks are ambiguous); a peak at the edge of the search counts little.
    """
    far = np.abs(np.arange(len(c)) - k) > 3 * up
    if far.sum() < 3:
        return 0.0
    z = (c[k] - float(np.mean(c[far]))) / (float(np.std(c[far])) + 1e-6)
    edge = 0.3 if k in (0, len(c) - 1) else 1.0
    strength = np.clip((c[k] - 0.2) / 0.4, 0.0, 1.0)
    prominence = np.clip((z - 1.5) / 2.0, 0.0, 1.0)
    unique = np.clip((c[k] - float(np.max(c[far]))) / 0.1, 0.0, 1.0)
    return float(edge * strength * prominence * unique)

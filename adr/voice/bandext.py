"""Bandwidth extension learned at enrollment: the band above 11 kHz of a 48 kHz take.

The take is vocoded at 22.05 kHz, so nothing above 11.025 kHz reaches the deliverable. At
enrollment :func:`high_band_profile` measures, on the actor's recordings at their native rate,
each 1 kHz band above 11 kHz relative to 5.5-10.5 kHz over speech frames (offset, and slope
against the frame's level) and the material's top frequency. :func:`extend_band` copies STFT
bins up by 5.44 kHz (repeatedly), scales them per frame and band to the profile given the
frame's own 5.5-10.5 kHz energy and adds them from 10.5 kHz (faded in to 11.5 kHz), never
above that top. Material at 16 or 22.05 kHz has no high band: the extension adds nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.types import strict_from_dict

__all__ = [
    "HighBandProfile",
    "high_band_profile",
    "profile_from_files",
    "extend_band",
    "profile_of",
    "with_profile",
    "REF_BAND_HZ",
    "LOW_EDGE_HZ",
]

REF_BAND_HZ = (5500.0, 10500.0)  # below the resampler's roll-off of a 22.05 kHz take
LOW_EDGE_HZ = 11000.0  # first band of the profile
_TOP_HZ, _SR = 24000.0, 48000
_SEAM_HZ = (10500.0, 11500.0)  # extension faded in over this range
_FRAME_S, _N_FFT, _HOP = 0.02133, 1024, 256  # analysis frame; take STFT at 48 kHz
_SHIFT_BINS = 116  # 5437.5 Hz at 48 kHz; a multiple of N_FFT/HOP: phase-coherent
_SPEECH_DB, _L_RANGE = -40.0, (-40.0, 10.0)
_TOP_BELOW_REF_DB = 50.0  # a frequency the material "has" is within this of the ref band


@dataclass(frozen=True)
class HighBandProfile:
    """An actor's high band relative to the 5.5-10.5 kHz band (stored in the voice).

    Attributes
    ----------
    band_edges_hz : tuple of float, length n + 1 (empty: no high band)
    levels_db : tuple of float, length n
        Per band, the power-density ratio to the reference band (dB) at reference level 0.
    slopes : tuple of float, length n
        dB of that ratio per dB of the frame's reference level relative to the 95th
        percentile of the recording's frames.
    top_hz : float
        Highest frequency the material has (0: none measured).
    """

    band_edges_hz: tuple[float, ...] = ()
    levels_db: tuple[float, ...] = ()
    slopes: tuple[float, ...] = ()
    top_hz: float = 0.0

    def __post_init__(self) -> None:
        for name in ("band_edges_hz", "levels_db", "slopes"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        n = len(self.levels_db)
        if len(self.slopes) != n or len(self.band_edges_hz) != (n + 1 if n else 0):
            raise ValueError("HighBandProfile: n + 1 band edges, n levels and n slopes")
        if not np.all(np.isfinite(self.band_edges_hz + self.levels_db + self.slopes)) or np.any(
            np.diff(self.band_edges_hz) <= 0
        ):
            raise ValueError("HighBandProfile: finite values, increasing band edges")

    @property
    def has_high_band(self) -> bool:
        return bool(self.levels_db)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HighBandProfile:
        return strict_from_dict(cls, dict(data))

    def rows(self) -> tuple[tuple[float, float, float, float], ...]:
        """Per band ``(low_hz, high_hz, level_db, slope)`` (the voice file's form)."""
        e = self.band_edges_hz
        return tuple(zip(e[:-1], e[1:], self.levels_db, self.slopes))

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[float]], top_hz: float) -> HighBandProfile:
        """Inverse of :meth:`rows` (contiguous bands)."""
        return cls(
            tuple(r[0] for r in rows) + tuple(r[1] for r in rows[-1:]),
            tuple(r[2] for r in rows),
            tuple(r[3] for r in rows),
            float(top_hz),
        )


def _power_frames(x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Power spectra of Hann frames (~21 ms, hop 1/4): (frames, bins) and bin freqs (bins,)."""
    n = max(64, int(round(_FRAME_S * sr)))
    hop, win = n // 4, np.hanning(n).astype(np.float32)
    x = np.asarray(x, dtype=np.float32)
    if len(x) < n:
        x = np.pad(x, (0, n - len(x)))
    idx = np.arange(0, len(x) - n + 1, hop)
    out = np.empty((len(idx), n // 2 + 1), np.float32)
    for i in range(0, len(idx), 4096):  # blocks: bounded memory on long recordings
        frames = np.lib.stride_tricks.sliding_window_view(x, n)[idx[i : i + 4096]] * win
        out[i : i + 4096] = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return out, np.fft.rfftfreq(n, 1.0 / sr)


def _band_mean(p: np.ndarray, f: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Mean power density over bins in [lo, hi): (frames,)."""
    m = (f >= lo) & (f < hi)
    return p[:, m].mean(axis=1) if m.any() else np.zeros(len(p), p.dtype)


def _rel_level(ref: np.ndarray) -> np.ndarray:
    """Reference-band level in dB relative to its 95th percentile frame: (frames,)."""
    db = 10 * np.log10(np.maximum(ref, 1e-20))
    return db - (np.percentile(db, 95) if db.size else 0.0)


def _stats(audio: np.ndarray, sample_rate: int) -> dict[str, Any]:
    """Speech frames of one recording: rel. level (S,), ref power (S,), spectra (S, bins)."""
    p, f = _power_frames(audio, sample_rate)
    ref = _band_mean(p, f, *REF_BAND_HZ)
    lvl = _rel_level(ref)
    speech = (lvl > _SPEECH_DB) & (ref > 0)
    top = 0.0
    if speech.any() and f[-1] > REF_BAND_HZ[1]:
        ltas = p[speech].mean(axis=0)
        k = max(1, int(round(250.0 / (f[1] - f[0]))))
        smooth = 10 * np.log10(np.convolve(ltas, np.ones(k) / k, mode="same") + 1e-30)
        has = np.flatnonzero(smooth > 10 * np.log10(ref[speech].mean()) - _TOP_BELOW_REF_DB)
        top = float(min(f[has[-1]], _TOP_HZ)) if has.size else 0.0
    return {"p": p[speech], "f": f, "ref": ref[speech], "lvl": lvl[speech], "top": top}


def _fit(stats: Sequence[dict[str, Any]]) -> HighBandProfile:
    top = max((s["top"] for s in stats), default=0.0)
    edges = [*np.arange(LOW_EDGE_HZ, top - 500.0, 1000.0), top] if top >= LOW_EDGE_HZ + 500 else []
    levels, slopes = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        use = [s for s in stats if s["top"] >= hi - 1.0 and len(s["ref"])]
        if not use:
            break
        band = np.concatenate([_band_mean(s["p"], s["f"], lo, hi) for s in use]).astype(float)
        ref = np.concatenate([s["ref"] for s in use]).astype(float)
        lvl = np.clip(np.concatenate([s["lvl"] for s in use]), *_L_RANGE)
        ratio = 10 * np.log10(np.maximum(band, 1e-30) / ref)
        slope = float(np.clip(np.polyfit(lvl, ratio, 1)[0], -1.0, 1.0)) if len(lvl) > 2 else 0.0
        level = 10 * np.log10(band.sum() / np.sum(ref * 10 ** (slope * lvl / 10)) + 1e-30)
        levels.append(round(float(level), 3))
        slopes.append(round(slope, 4))
    edges = edges[: len(levels) + 1] if levels else []
    return HighBandProfile(
        tuple(round(float(e), 1) for e in edges), tuple(levels), tuple(slopes), round(top, 1)
    )


def high_band_profile(audio: np.ndarray, sample_rate: int) -> HighBandProfile:
    """Measure the high band of clean speech at its native rate.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        Clean mono speech.
    sample_rate : int
        Its native rate; at 22.05 kHz or less there is no high band to learn.

    Returns
    -------
    HighBandProfile
        1 kHz bands from 11 kHz up to the top frequency the material has (at most 24 kHz).
    """
    return _fit([_stats(audio, sample_rate)])


def profile_from_files(paths: Sequence[str | Path]) -> HighBandProfile:
    """:func:`high_band_profile` over recordings at native rate (unreadable ones skipped)."""
    from adr.core.errors import AdrError
    from adr.ingest.media import read_audio

    stats = []
    for path in paths:
        try:
            audio = read_audio(path)
        except AdrError:
            continue
        stats.append(_stats(audio.mono(), audio.sample_rate))
    return _fit(stats)


def profile_of(config: Any) -> HighBandProfile:
    """The profile stored in a :class:`~adr.voice.restorer.RestorerConfig`."""
    return HighBandProfile.from_rows(config.high_band, config.high_band_top_hz)


def with_profile(config: Any, profile: HighBandProfile) -> Any:
    """A :class:`~adr.voice.restorer.RestorerConfig` carrying ``profile``."""
    return dataclasses.replace(config, high_band=profile.rows(), high_band_top_hz=profile.top_hz)


def extend_band(take_48k: np.ndarray, profile: HighBandProfile) -> np.ndarray:
    """Fill the band above 11 kHz of a 48 kHz take by spectral band replication.

    Parameters
    ----------
    take_48k : np.ndarray, shape (N,)
        The take at 48 kHz (content up to about 11 kHz).
    profile : HighBandProfile
        The actor's high band; without one the take comes back unchanged.

    Returns
    -------
    np.ndarray, shape (N,), float32
        The take plus the extension; peaks stay at or below ``max(0.999, input peak)``.
    """
    from scipy.signal import istft, stft

    x = np.asarray(take_48k, dtype=np.float32).reshape(-1)
    if not profile.has_high_band or len(x) < _N_FFT:
        return x.copy()
    stft_args = {"nperseg": _N_FFT, "noverlap": _N_FFT - _HOP}
    f, _, spec = stft(x, _SR, **stft_args)  # (bins, frames)
    power = (np.abs(spec) ** 2).T  # (frames, bins)
    j0 = int(np.searchsorted(f, _SEAM_HZ[0]))
    copied = spec.copy()
    for j in range(j0, len(f)):  # patch up, again and again
        copied[j] = copied[j - _SHIFT_BINS]
    ref = _band_mean(power, f, *REF_BAND_HZ)
    lvl = np.clip(_rel_level(ref), *_L_RANGE)
    cpow = (np.abs(copied) ** 2).T
    edges = np.asarray(profile.band_edges_hz)
    centres = (edges[:-1] + edges[1:]) / 2
    gains_db = np.empty((len(centres), len(ref)))
    for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        target = ref * 10 ** ((profile.levels_db[b] + profile.slopes[b] * lvl) / 10)
        extra = np.maximum(target - _band_mean(power, f, lo, hi), 1e-30)
        gains_db[b] = 10 * np.log10(extra / np.maximum(_band_mean(cpow, f, lo, hi), 1e-30))
    gains_db = np.clip(gains_db, -120.0, 40.0)
    gain = 10 ** (np.stack([np.interp(f, centres, g) for g in gains_db.T], axis=1) / 20)
    seam = np.clip((f - _SEAM_HZ[0]) / (_SEAM_HZ[1] - _SEAM_HZ[0]), 0.0, 1.0)
    # faded in over the seam, nothing above the top the actor's material has
    weight = (0.5 - 0.5 * np.cos(np.pi * seam)) * np.clip((profile.top_hz - f) / 200, 0, 1)
    _, ext = istft(copied * gain * weight[:, None], _SR, **stft_args)
    ext = np.pad(ext[: len(x)], (0, max(0, len(x) - len(ext)))).astype(np.float32)
    ceiling = max(0.999, float(np.max(np.abs(x))))
    lo_s, hi_s = (1.0, 1.0) if np.max(np.abs(x + ext)) <= ceiling else (0.0, 1.0)
    for _ in range(20 if lo_s < 1.0 else 0):  # shrink the extension until nothing clips
        mid = (lo_s + hi_s) / 2
        lo_s, hi_s = (mid, hi_s) if np.max(np.abs(x + mid * ext)) <= ceiling else (lo_s, mid)
    return (x + np.float32(lo_s) * ext).astype(np.float32)

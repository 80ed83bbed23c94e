"""Damage assessment of a production line: does it need replacing, and where is it hurt?

The line is split into a speech estimate and a noise estimate with the denoiser
(:mod:`adr.denoise`, DeepFilterNet3 by default): ``noise = line - denoised``. From these:

- **SNR**: active speech level of the denoised line (mean power of its 20 ms blocks within
  40 dB of the loudest) over the mean power of the noise estimate, in dB. This estimated the
  true SNR better than a VAD/energy-statistics estimate (see bench/results_damage.json).
- **Damage spans**: the noise level is tracked in 20 ms frames (10 ms hop); runs where it
  rises ``jump_db`` above the line's noise floor *and* comes within ``span_snr_db`` of the
  speech level are spans: ``"burst"`` when at most ``burst_max`` seconds long, ``"noise"``
  (sustained noise over part of the line) when longer.
- **DNSMOS** (optional, ``dnsmos=True``; about 2 s per call): Microsoft's non-intrusive MOS
  through ``speechmos`` at 16 kHz, as ``{"ovrl": .., "sig": .., "bak": .., "p808": ..}``.

A line is flagged when its SNR is below ``thresholds.snr_db``, when DNSMOS OVRL is below
``thresholds.dnsmos_ovrl`` or when it has a burst.

Measured (bench/results_damage.json: 10 corpus lines x clean/20/10/0/-5 dB real noise, each
with and without a 0 dB noise burst over speech; "needs replacement" = true SNR < 15 dB or a
burst): flag precision 0.95, recall 1.00. SNR-estimate error (mean absolute) 4.4 / 0.7 / 1.0 /
1.8 dB at 20 / 10 / 0 / -5 dB (it reads low at high SNR: what DeepFilterNet3 removes from
clean speech counts as noise; clean lines read 26 dB median), against 5.4 / 12 / 13 / 30 dB for
the VAD/energy-statistics estimate. Bursts: recall 0.8 on clean and 10 dB lines, edges within
10-60 ms (median); at 0 dB and below a 0 dB burst hardly stands out (recall 0.3-0.4), but
those lines are flagged by their SNR anyway. DNSMOS OVRL measured 2.74-3.44 on clean corpus
lines and 1.56-2.24 at 10 dB (bench), hence the 2.5 default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adr.errors import AdrError
from adr.timebase import samples_to_seconds, seconds_to_samples
from adr.types import strict_from_dict

__all__ = ["DamageThresholds", "DamageSpan", "DamageReport", "assess", "estimate_snr", "find_spans"]

_FRAME = 0.02  # seconds per noise-level frame
_HOP = 0.01
_SNR_CAP_DB = 60.0


@dataclass(frozen=True)
class DamageThresholds:
    """When a line counts as damaged.

    Attributes
    ----------
    snr_db : float
        Flag the line when its estimated SNR is below this.
    dnsmos_ovrl : float
        Flag the line when DNSMOS OVRL is below this (only when DNSMOS is computed).
    jump_db : float
        A span's noise must rise this far above the line's noise floor ...
    span_snr_db : float
        ... and come within this many dB of the speech level.
    min_span : float
        Shortest span in seconds.
    burst_max : float
        Longest span, in seconds, still called a burst (longer: sustained ``"noise"``).
    """

    snr_db: float = 15.0
    dnsmos_ovrl: float = 2.5
    jump_db: float = 10.0
    span_snr_db: float = 3.0
    min_span: float = 0.1
    burst_max: float = 2.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DamageThresholds:
        return strict_from_dict(cls, data)


@dataclass(frozen=True)
class DamageSpan:
    """A localized stretch of damage.

    Attributes
    ----------
    start, end : float
        Seconds from the session start.
    kind : str
        ``"burst"`` (short noise event) or ``"noise"`` (sustained noise over part of the line).
    snr_db : float
        Speech level over the noise level inside the span, dB.
    """

    start: float
    end: float
    kind: str
    snr_db: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DamageSpan:
        return strict_from_dict(cls, data)


@dataclass(frozen=True)
class DamageReport:
    """Damage assessment of one line.

    Attributes
    ----------
    snr_db : float
        Estimated SNR of the whole line, dB (capped at 60).
    dnsmos : dict of str to float, or None
        DNSMOS scores (``ovrl``, ``sig``, ``bak``, ``p808``) when computed.
    spans : list of DamageSpan
    flagged : bool
        Whether the line needs replacement.
    reason : str
        Human-readable summary, e.g. ``"SNR 8.1 dB; burst 0.80 s at 12.40 s, SNR -3 dB"``;
        ``""`` when not flagged.
    """

    snr_db: float
    dnsmos: dict[str, float] | None = None
    spans: list[DamageSpan] = field(default_factory=list)
    flagged: bool = False
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "snr_db": self.snr_db,
            "dnsmos": None if self.dnsmos is None else dict(self.dnsmos),
            "spans": [s.to_dict() for s in self.spans],
            "flagged": self.flagged,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DamageReport:
        d = dict(data)
        if "spans" in d:
            d["spans"] = [DamageSpan.from_dict(s) for s in d["spans"]]
        return strict_from_dict(cls, d)


def _active_power(x: np.ndarray, sample_rate: int) -> float:
    """Mean power of the 20 ms blocks within 40 dB of the loudest block."""
    w = max(seconds_to_samples(_FRAME, sample_rate), 1)
    n = len(x) // w
    if n == 0:
        return float(np.mean(x**2)) if len(x) else 0.0
    p = (x[: n * w].reshape(n, w) ** 2).mean(axis=1)
    return float(p[p >= p.max() * 1e-4].mean()) if p.max() > 0 else 0.0


def _db(power: float | np.ndarray) -> Any:
    return 10 * np.log10(np.maximum(power, 1e-12))


def estimate_snr(speech: np.ndarray, noise: np.ndarray, sample_rate: int) -> float:
    """SNR in dB from a speech estimate and a noise estimate, both shape (N,).

    Speech power is the active level of ``speech``; noise power is the mean power of ``noise``.
    """
    s = _active_power(np.asarray(speech, dtype=np.float64), sample_rate)
    n = float(np.mean(np.asarray(noise, dtype=np.float64) ** 2)) if len(noise) else 0.0
    if s <= 0:
        return -_SNR_CAP_DB
    return float(min(_db(s) - _db(n), _SNR_CAP_DB)) if n > 0 else _SNR_CAP_DB


def _level_track(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Power in dB of 20 ms frames every 10 ms; frame i covers [i*hop, i*hop + 20 ms)."""
    w = max(seconds_to_samples(_FRAME, sample_rate), 1)
    h = max(seconds_to_samples(_HOP, sample_rate), 1)
    if len(x) < w:
        return np.array([_db(np.mean(x**2))]) if len(x) else np.zeros(0)
    csum = np.concatenate([[0.0], np.cumsum(x * x)])
    starts = np.arange(0, len(x) - w + 1, h)
    return _db((csum[starts + w] - csum[starts]) / w)


def find_spans(
    speech: np.ndarray,
    noise: np.ndarray,
    sample_rate: int,
    *,
    start: float = 0.0,
    thresholds: DamageThresholds | None = None,
) -> list[DamageSpan]:
    """Localized damage from a speech estimate and a noise estimate, both shape (N,).

    Returns
    -------
    list of DamageSpan, sorted, in seconds from the session start.
    """
    th = thresholds or DamageThresholds()
    s = np.asarray(speech, dtype=np.float64)
    level = _level_track(np.asarray(noise, dtype=np.float64), sample_rate)
    if len(level) < 3:
        return []
    # smooth over 3 frames so that single-frame flickers do not split a burst
    smooth = np.convolve(level, np.ones(3) / 3, mode="same")
    floor = float(np.percentile(smooth, 20))
    speech_db = float(_db(_active_power(s, sample_rate)))
    hot = (smooth > floor + th.jump_db) & (smooth > speech_db - th.span_snr_db)
    hop = samples_to_seconds(max(seconds_to_samples(_HOP, sample_rate), 1), sample_rate)
    frame = samples_to_seconds(max(seconds_to_samples(_FRAME, sample_rate), 1), sample_rate)
    total = samples_to_seconds(len(s), sample_rate)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], hot.astype(np.int8), [0]])))
    runs = [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2])]
    merged: list[list[int]] = []
    for a, b in runs:  # bridge gaps shorter than 50 ms
        if merged and (a - merged[-1][1]) * hop < 0.05:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    spans: list[DamageSpan] = []
    for a, b in merged:
        t0 = a * hop + (frame - hop) / 2  # centre the 20 ms frames on their hop
        t1 = min((b - 1) * hop + (frame + hop) / 2, total)
        if t1 - t0 < th.min_span:
            continue
        noise_db = float(_db(np.mean(10 ** (level[a:b] / 10))))
        kind = "burst" if t1 - t0 <= th.burst_max else "noise"
        spans.append(DamageSpan(start + t0, start + t1, kind, round(speech_db - noise_db, 1)))
    return spans


def _dnsmos(audio: np.ndarray, sample_rate: int) -> dict[str, float]:
    from speechmos import dnsmos

    from adr.denoise import resample

    x = np.clip(resample(audio, sample_rate, 16000), -1.0, 1.0)
    r = dnsmos.run(x, 16000)
    return {k: round(float(r[f"{k}_mos"]), 3) for k in ("ovrl", "sig", "bak", "p808")}


def assess(
    audio: np.ndarray,
    sample_rate: int,
    *,
    start: float = 0.0,
    thresholds: DamageThresholds | None = None,
    dnsmos: bool = False,
    denoise: str = "dfn3",
) -> DamageReport:
    """Assess the damage of one production line.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        Mono line in [-1, 1].
    sample_rate : int
        Sample rate in Hz.
    start : float
        Session time of the first sample (span times are offset by it).
    thresholds : DamageThresholds, optional
        Flagging rules; defaults to ``DamageThresholds()``.
    dnsmos : bool
        Also compute DNSMOS (about 2 s per call).
    denoise : str
        :func:`adr.denoise.denoise` method separating speech from noise (``"dfn3"`` or
        ``"noisereduce"``).

    Returns
    -------
    DamageReport
    """
    th = thresholds or DamageThresholds()
    x = np.asarray(audio)
    if x.ndim != 1:
        raise AdrError("damage", f"expected mono audio of shape (N,), got shape {x.shape}")
    if len(x) < 0.1 * sample_rate:
        raise AdrError("damage", f"{len(x) / max(sample_rate, 1):.3f} s of audio is too short to assess")
    if denoise == "none":
        raise AdrError(denoise, "damage assessment needs a denoiser (dfn3 or noisereduce)")
    from adr.denoise import denoise as run_denoise

    speech = run_denoise(x, sample_rate, method=denoise).astype(np.float64)
    noise = x.astype(np.float64) - speech
    snr = round(estimate_snr(speech, noise, sample_rate), 2)
    spans = find_spans(speech, noise, sample_rate, start=start, thresholds=th)
    scores = _dnsmos(x.astype(np.float32), sample_rate) if dnsmos else None
    reasons = []
    if snr < th.snr_db:
        reasons.append(f"SNR {snr:.1f} dB")
    if scores is not None and scores["ovrl"] < th.dnsmos_ovrl:
        reasons.append(f"DNSMOS {scores['ovrl']:.2f}")
    bursts = [s for s in spans if s.kind == "burst"]
    for s in spans:
        if s.kind == "burst" or reasons:
            reasons.append(f"{s.kind} {s.duration:.2f} s at {s.start:.2f} s, SNR {round(s.snr_db):d} dB")
    flagged = bool(snr < th.snr_db or bursts or (scores is not None and scores["ovrl"] < th.dnsmos_ovrl))
    return DamageReport(snr, scores, spans, flagged, "; ".join(reasons) if flagged else "")

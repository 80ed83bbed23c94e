"""Damage assessment of a production line: does it need replacing, and where is it hurt?

The line is split into a speech estimate and a noise estimate with the denoiser
(:mod:`adr.analysis.denoise`, DeepFilterNet3 by default) and a reverberation model:
``residual = line - denoised`` is what the denoiser removed, and the part of it that is
predictable from the denoised speech (per STFT band, 32 ms windows, 16 ms hop: complex least
squares on the current and previous 15 frames of the denoised speech, a convolutive transfer
function as in WPE dereverberation) is reverberation and goes back to the speech
(:func:`separate_reverberation`); the rest is noise. From these:

- **SNR**: active speech level of the speech estimate (mean power of its 20 ms blocks within
  40 dB of the loudest) over the mean power of the noise estimate, in dB.
- **Damage spans**: the noise level is tracked in 20 ms frames (10 ms hop). A **burst** is a
  run at least ``jump_db`` above the *local* noise floor (20th percentile of the level in the
  surrounding ``local_window`` seconds, and at least the line's floor) that comes within
  ``span_snr_db`` of the speech level and lasts at most ``burst_max`` seconds (door, bark,
  bump; not a slow swell of the background, which raises the local floor with it). A
  **noise** span is a run longer than ``burst_max`` at least ``jump_db`` above the line's
  floor (sustained noise over part of the line).
- **DNSMOS** (optional, ``dnsmos=True``): :func:`adr.analysis.dnsmos.score` (the benchmark's
  computation too), as ``{"ovrl": .., "sig": .., "bak": .., "p808": ..}``; reported, not
  part of the default flag rule.

**Flag rule** (:class:`DamageThresholds`): a line needs replacement when its estimated SNR
is below ``snr_db`` (7 dB) or it has a burst (or, if ``dnsmos_ovrl`` is set, DNSMOS OVRL
below it). The denoiser must have settled before the line: callers denoise with a pre-roll
(:mod:`adr.analysis.line`). Why these numbers, and what was measured: docs/decisions.md,
"damage: SNR with reverberation given back to the speech, flag below 7 dB or a burst".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.records import Record
from adr.core.timebase import samples_to_seconds, seconds_to_samples
from adr.core.types import strict_from_dict

__all__ = [
    "DamageThresholds",
    "DamageSpan",
    "DamageReport",
    "assess",
    "estimate_snr",
    "find_spans",
    "separate_reverberation",
]

_FRAME = 0.02  # seconds per noise-level frame
_HOP = 0.01
_SNR_CAP_DB = 60.0
_CTF_WINDOW = 0.032  # STFT of the reverberation model, seconds
_CTF_HOP = 0.016
_CTF_TAPS = 16  # frames of denoised speech that explain the residual (0-240 ms)
_CTF_RIDGE = 1e-3


@dataclass(frozen=True)
class DamageThresholds(Record):
    """When a line counts as damaged.

    Attributes
    ----------
    snr_db : float
        Flag the line when its estimated SNR is below this.
    dnsmos_ovrl : float or None
        Flag the line when DNSMOS OVRL is below this (only when DNSMOS is computed; None:
        DNSMOS is reported but never flags).
    jump_db : float
        A span's noise must rise this far above the noise floor (a burst: the local floor,
        a sustained span: the line's floor) ...
    span_snr_db : float
        ... and come within this many dB of the speech level.
    min_span : float
        Shortest span in seconds (80 ms: see the module notes).
    burst_max : float
        Longest span, in seconds, still called a burst (longer: sustained ``"noise"``).
    local_window : float
        Seconds around each frame over which a burst's local noise floor is taken.
    """

    snr_db: float = 7.0
    dnsmos_ovrl: float | None = None
    jump_db: float = 10.0
    span_snr_db: float = 6.0
    min_span: float = 0.08
    burst_max: float = 2.0
    local_window: float = 1.0


@dataclass(frozen=True)
class DamageSpan(Record):
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
    from scipy.ndimage import percentile_filter

    th = thresholds or DamageThresholds()
    s = np.asarray(speech, dtype=np.float64)
    level = _level_track(np.asarray(noise, dtype=np.float64), sample_rate)
    if len(level) < 3:
        return []
    # smooth over 3 frames so that single-frame flickers do not split a burst
    smooth = np.convolve(level, np.ones(3) / 3, mode="same")
    floor = float(np.percentile(smooth, 20))
    hop = samples_to_seconds(max(seconds_to_samples(_HOP, sample_rate), 1), sample_rate)
    frame = samples_to_seconds(max(seconds_to_samples(_FRAME, sample_rate), 1), sample_rate)
    size = max(int(round(th.local_window / hop)) | 1, 1)
    local = np.maximum(percentile_filter(smooth, 20, size=size, mode="nearest"), floor)
    speech_db = float(_db(_active_power(s, sample_rate)))
    loud = smooth > speech_db - th.span_snr_db
    total = samples_to_seconds(len(s), sample_rate)
    spans: list[DamageSpan] = []
    sustained = np.zeros(len(level), dtype=bool)
    for kind, hot in (
        ("noise", (smooth > floor + th.jump_db) & loud),
        ("burst", (smooth > local + th.jump_db) & loud),
    ):
        for a, b in _runs(hot, hop):
            t0 = a * hop + (frame - hop) / 2  # centre the 20 ms frames on their hop
            t1 = min((b - 1) * hop + (frame + hop) / 2, total)
            if t1 - t0 < th.min_span or (kind == "burst") != (t1 - t0 <= th.burst_max):
                continue
            if kind == "noise":
                sustained[a:b] = True
            elif sustained[a:b].any():  # the onset or end of sustained noise
                continue
            noise_db = float(_db(float(np.mean(10 ** (level[a:b] / 10)))))
            spans.append(DamageSpan(start + t0, start + t1, kind, round(speech_db - noise_db, 1)))
    return sorted(spans, key=lambda sp: sp.start)


def _runs(hot: np.ndarray, hop: float) -> list[list[int]]:
    """Runs of True frames as [first, stop), gaps shorter than 50 ms bridged."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], hot.astype(np.int8), [0]])))
    merged: list[list[int]] = []
    for a, b in zip(edges[::2], edges[1::2]):
        if merged and (a - merged[-1][1]) * hop < 0.05:
            merged[-1][1] = int(b)
        else:
            merged.append([int(a), int(b)])
    return merged


def separate_reverberation(
    audio: np.ndarray, denoised: np.ndarray, sample_rate: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split a line into speech (with its reverberation) and noise, given its denoised version.

    The residual ``audio - denoised`` is regressed, per STFT band, on the current and the
    previous frames of the denoised STFT (complex ridge least squares, 0-240 ms); the
    predictable part (reverberation and denoiser distortion) goes back to the speech.

    Parameters
    ----------
    audio, denoised : np.ndarray, shape (N,)
        The line and its denoised version, sample-aligned.
    sample_rate : int

    Returns
    -------
    speech, noise : np.ndarray, shape (N,), float64
        ``speech + noise == audio``.
    """
    from scipy.signal import istft, stft

    x = np.asarray(audio, dtype=np.float64)
    y = np.asarray(denoised, dtype=np.float64)
    r = x - y
    nper = max(seconds_to_samples(_CTF_WINDOW, sample_rate), 16)
    hop = max(seconds_to_samples(_CTF_HOP, sample_rate), 1)
    if len(x) < 4 * nper:
        return y, r
    kw = {"fs": sample_rate, "nperseg": nper, "noverlap": nper - hop}
    _, _, Y = stft(y, **kw)
    _, _, R = stft(r, **kw)
    n_bins, n_frames = Y.shape
    taps = min(_CTF_TAPS, max(n_frames // 4, 1))
    A = np.zeros((n_bins, n_frames, taps), dtype=complex)
    for k in range(taps):
        A[:, k:, k] = Y[:, : n_frames - k]
    gram = np.einsum("ftk,ftl->fkl", A.conj(), A)
    ridge = _CTF_RIDGE * np.einsum("fkk->f", gram).real / taps + 1e-12
    rhs = np.einsum("ftk,ft->fk", A.conj(), R)
    g = np.linalg.solve(gram + ridge[:, None, None] * np.eye(taps), rhs[..., None])[..., 0]
    _, e = istft(np.einsum("ftk,fk->ft", A, g), **kw)
    e = np.pad(e[: len(x)], (0, max(0, len(x) - len(e))))
    return y + e, r - e


def _dnsmos(audio: np.ndarray, sample_rate: int) -> dict[str, float]:
    from adr.analysis.dnsmos import score

    d = score(audio, sample_rate, p808=True)
    return {k: round(float(v), 3) for k, v in d.to_dict().items()}


def assess(
    audio: np.ndarray,
    sample_rate: int,
    *,
    start: float = 0.0,
    thresholds: DamageThresholds | None = None,
    dnsmos: bool = False,
    denoise: str = "dfn3",
    denoised: np.ndarray | None = None,
    reverb_is_speech: bool = True,
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
        :func:`adr.analysis.denoise.denoise` method separating speech from noise (``"dfn3"`` or
        ``"noisereduce"``).
    denoised : np.ndarray, shape (N,), optional
        ``audio`` already denoised (by a caller that denoises each line once for several
        stages); used as the speech estimate instead of running ``denoise``.
    reverb_is_speech : bool
        Give what the denoiser removed but the speech predicts (reverberation) back to the
        speech (:func:`separate_reverberation`); False: all of it counts as noise.

    Returns
    -------
    DamageReport
    """
    th = thresholds or DamageThresholds()
    x = np.asarray(audio)
    if x.ndim != 1:
        raise AdrError("damage", f"expected mono audio of shape (N,), got shape {x.shape}")
    if len(x) < 0.1 * sample_rate:
        raise AdrError(
            "damage", f"{len(x) / max(sample_rate, 1):.3f} s of audio is too short to assess"
        )
    if denoised is not None:
        speech = np.asarray(denoised, dtype=np.float64)
        if speech.shape != x.shape:
            raise AdrError("damage", f"denoised audio has shape {speech.shape}, audio {x.shape}")
    elif denoise == "none":
        raise AdrError(denoise, "damage assessment needs a denoiser (dfn3 or noisereduce)")
    else:
        from adr.analysis.denoise import denoise as run_denoise

        speech = run_denoise(x, sample_rate, method=denoise).astype(np.float64)
    if reverb_is_speech:
        speech, noise = separate_reverberation(x, speech, sample_rate)
    else:
        noise = x.astype(np.float64) - speech
    snr = round(estimate_snr(speech, noise, sample_rate), 2)
    spans = find_spans(speech, noise, sample_rate, start=start, thresholds=th)
    scores = _dnsmos(x.astype(np.float32), sample_rate) if dnsmos else None
    reasons = []
    if snr < th.snr_db:
        reasons.append(f"SNR {snr:.1f} dB")
    dnsmos_low = (
        scores is not None and th.dnsmos_ovrl is not None and scores["ovrl"] < th.dnsmos_ovrl
    )
    if dnsmos_low and scores is not None:
        reasons.append(f"DNSMOS {scores['ovrl']:.2f}")
    bursts = [s for s in spans if s.kind == "burst"]
    for s in spans:
        if s.kind == "burst" or reasons:
            reasons.append(
                f"{s.kind} {s.duration:.2f} s at {s.start:.2f} s, SNR {round(s.snr_db):d} dB"
            )
    flagged = bool(snr < th.snr_db or bursts or dnsmos_low)
    return DamageReport(snr, scores, spans, flagged, "; ".join(reasons) if flagged else "")

"""Noise-robust prosody of a line: F0, voicing and energy per frame.

Pipeline:

1. Denoise the line (DeepFilterNet3 by default, :mod:`adr.analysis.denoise`).
2. Praat's autocorrelation pitch tracker (parselmouth) with higher silence threshold,
   octave cost and octave-jump cost than Praat's defaults (``ROBUST``): its Viterbi path
   finder over the pitch candidates then avoids most octave errors.
3. Octave-jump correction of what the path finder lets through: a stretch of at most 0.1 s
   that jumps about an octave away from the voiced F0 it touches is halved or doubled.
4. With the default ``tracker="praat+fcpe"``, the pretrained FCPE network
   (:mod:`adr.analysis.pitch_model`, weights in the ``torchfcpe`` wheel) gives F0 and voicing
   on the frames Praat leaves unvoiced. ``tracker="praat"`` stops after step 3;
   ``"fcpe"``/``"swift"`` run a network alone.
5. Voicing cleanup: voiced runs shorter than 30 ms are dropped, unvoiced gaps up to 20 ms
   inside voiced speech are filled (F0 interpolated in log frequency).

Why these steps and what they measure: docs/decisions.md ("prosody: ..." and "F0 from Praat,
with FCPE on the frames Praat leaves unvoiced").

Frames are aligned exactly: frame ``i`` is centred at ``start + i * frame_period`` and the
number of frames is ``round(duration / frame_period)``. Energy is the RMS level of the
(denoised) line in dB re full scale over a 25 ms window centred on each frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adr.core.errors import AdrError
from adr.core.records import Record
from adr.core.timebase import seconds_to_frames, seconds_to_samples
from adr.core.types import Phone, Prosody

__all__ = [
    "PLAIN",
    "ROBUST",
    "TRACKERS",
    "DEFAULT_TRACKER",
    "PraatSettings",
    "extract_prosody",
    "praat_f0",
    "fix_octave_jumps",
    "clean_voicing",
    "frame_energy_db",
    "speaking_rate",
]

_OCTAVE_TOLERANCE = 0.75  # octaves from the local median before a frame is moved
_ENERGY_WINDOW = 0.025  # seconds
_ENERGY_FLOOR_DB = -120.0
_SILENCE_SYMBOLS = frozenset({"", "sil", "sp", "spn", "pau", "_", "SIL", "<sil>"})


@dataclass(frozen=True)
class PraatSettings(Record):
    """Thresholds and path-finder costs of Praat's autocorrelation pitch tracker."""

    silence_threshold: float = 0.05
    voicing_threshold: float = 0.5
    octave_cost: float = 0.05
    octave_jump_cost: float = 0.6
    voiced_unvoiced_cost: float = 0.2


#: Praat's default settings (the benchmark's reference and "plain" baseline).
PLAIN = PraatSettings(0.03, 0.45, 0.01, 0.35, 0.14)
#: Settings tuned on denoised corpus speech under real noise (bench/bench_prosody.py).
ROBUST = PraatSettings()

#: F0 trackers :func:`extract_prosody` can run: ``"praat"`` (tuned Praat with the octave-jump
#: repair), the pretrained networks of :mod:`adr.analysis.pitch_model` (``"fcpe"``,
#: ``"swift"``) and ``"praat+fcpe"``: Praat's F0 where Praat hears voicing, FCPE's F0 and
#: voicing on the frames Praat leaves unvoiced.
TRACKERS = ("praat+fcpe", "praat", "fcpe", "swift")
#: The default tracker (bench/results/results_prosody_estimators.md, docs/decisions.md).
DEFAULT_TRACKER = "praat+fcpe"


def _check(audio: np.ndarray, sample_rate: int, where: str) -> np.ndarray:
    a = np.asarray(audio)
    if a.ndim != 1:
        raise AdrError(where, f"expected mono audio of shape (N,), got shape {a.shape}")
    if int(sample_rate) <= 0:
        raise AdrError(where, f"sample rate must be positive, got {sample_rate}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise AdrError(where, "audio contains NaN or infinite samples")
    return a


def praat_f0(
    audio: np.ndarray,
    sample_rate: int,
    num_frames: int,
    *,
    frame_period: float = 0.01,
    f0_floor: float = 60.0,
    f0_ceiling: float = 500.0,
    settings: PraatSettings = PLAIN,
) -> tuple[np.ndarray, np.ndarray]:
    """Praat autocorrelation pitch, resampled onto the frame grid ``i * frame_period``.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
    sample_rate : int
    num_frames : int
        Number of output frames ``T``.
    settings
        Praat tracker costs and thresholds (``PLAIN``: Praat's defaults; ``ROBUST``).

    Returns
    -------
    f0 : np.ndarray, shape (T,), float64
        Hz, 0 where unvoiced.
    voiced : np.ndarray, shape (T,), bool
    """
    import parselmouth

    f0 = np.zeros(num_frames)
    voiced = np.zeros(num_frames, dtype=bool)
    # Praat needs at least three periods of the floor in one window; pad so that frames
    # also cover the first and last samples of the line.
    half = int(np.ceil(1.5 / f0_floor * sample_rate))
    x = np.concatenate([np.zeros(half), audio, np.zeros(half)])
    if len(audio) == 0 or num_frames == 0:
        return f0, voiced
    snd = parselmouth.Sound(x, sampling_frequency=float(sample_rate))
    pitch = snd.to_pitch_ac(
        time_step=frame_period,
        pitch_floor=f0_floor,
        pitch_ceiling=f0_ceiling,
        silence_threshold=settings.silence_threshold,
        voicing_threshold=settings.voicing_threshold,
        octave_cost=settings.octave_cost,
        octave_jump_cost=settings.octave_jump_cost,
        voiced_unvoiced_cost=settings.voiced_unvoiced_cost,
    )
    times = np.asarray(pitch.xs()) - half / sample_rate
    freq = np.nan_to_num(np.asarray(pitch.selected_array["frequency"], dtype=np.float64))
    if len(times) == 0:
        return f0, voiced
    grid = np.arange(num_frames) * frame_period
    idx = np.clip(np.searchsorted(times, grid), 1, max(len(times) - 1, 1))
    lo = np.maximum(idx - 1, 0)
    hi = np.minimum(idx, len(times) - 1)
    nearest = np.where(np.abs(times[lo] - grid) <= np.abs(times[hi] - grid), lo, hi)
    voiced = (freq[nearest] > 0) & (np.abs(times[nearest] - grid) <= frame_period)
    # interpolate log f0 between the two praat frames around each grid time when both are voiced
    both = (freq[lo] > 0) & (freq[hi] > 0) & (hi > lo)
    w = np.where(hi > lo, (grid - times[lo]) / np.maximum(times[hi] - times[lo], 1e-9), 0.0)
    w = np.clip(w, 0.0, 1.0)
    log_interp = np.exp(
        (1 - w) * np.log(np.maximum(freq[lo], 1e-6)) + w * np.log(np.maximum(freq[hi], 1e-6))
    )
    f0 = np.where(voiced, np.where(both, log_interp, freq[nearest]), 0.0)
    return f0, voiced


def fix_octave_jumps(
    f0: np.ndarray,
    voiced: np.ndarray,
    *,
    max_jump: float = 0.1,
    frame_period: float = 0.01,
) -> np.ndarray:
    """Move short stretches of F0 that jumped about an octave back to their surroundings.

    The voiced frames are cut into pieces wherever F0 changes by more than half an octave
    from one frame to the next. A piece no longer than ``max_jump`` seconds whose median is
    0.75 to 1.5 octaves (or more, in whole octaves) from the median of the longer pieces
    around it is halved or doubled accordingly. Genuine pitch movement is continuous and
    therefore left alone; Praat's path finder already penalizes jumps inside voiced runs, so
    this catches what it lets through (typically at the edge of a noise burst).

    Parameters
    ----------
    f0 : np.ndarray, shape (T,)
        Hz, 0 where unvoiced.
    voiced : np.ndarray, shape (T,), bool
    max_jump : float
        Longest stretch, in seconds, that is treated as an octave error.

    Returns
    -------
    np.ndarray, shape (T,): corrected F0 (unvoiced frames unchanged).
    """
    out = np.asarray(f0, dtype=np.float64).copy()
    idx = np.flatnonzero(np.asarray(voiced, dtype=bool) & (out > 0))
    if len(idx) < 3:
        return out
    logf = np.log2(out[idx])
    cut = (np.abs(np.diff(logf)) > 0.5) | (np.diff(idx) > 1)
    bounds = np.concatenate([[0], np.flatnonzero(cut) + 1, [len(idx)]])
    pieces = list(zip(bounds[:-1], bounds[1:]))
    shortest = max(seconds_to_frames(max_jump, frame_period), 1)
    for a, b in pieces:
        if b - a > shortest:
            continue
        # only stretches that jump inside a voiced run, against the pieces they touch
        near = [
            np.median(logf[c:e])
            for c, e in pieces
            if e - c > b - a
            and ((e == a and idx[a] - idx[e - 1] == 1) or (c == b and idx[c] - idx[b - 1] == 1))
        ]
        if not near:
            continue
        ref = float(np.mean(near))
        d = float(np.median(logf[a:b]) - ref)
        if abs(d) > _OCTAVE_TOLERANCE:
            logf[a:b] -= np.round(d)
    out[idx] = 2.0**logf
    return out


def clean_voicing(
    f0: np.ndarray,
    voiced: np.ndarray,
    *,
    min_voiced: int = 3,
    max_gap: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Drop voiced runs shorter than ``min_voiced`` frames, fill gaps up to ``max_gap`` frames.

    Gaps are filled by interpolating log F0 between the voiced frames on either side.

    Parameters
    ----------
    f0 : np.ndarray, shape (T,)
    voiced : np.ndarray, shape (T,), bool

    Returns
    -------
    f0 : np.ndarray, shape (T,), 0 where unvoiced
    voiced : np.ndarray, shape (T,), bool
    """
    f = np.asarray(f0, dtype=np.float64).copy()
    v = np.asarray(voiced, dtype=bool) & (f > 0)
    runs = _runs(v)
    for a, b, on in runs:  # fill short inner gaps first
        if not on and 0 < a and b < len(v) and b - a <= max_gap:
            t = np.arange(a - 1, b + 1)
            f[a:b] = np.exp(np.interp(np.arange(a, b), [t[0], t[-1]], np.log([f[a - 1], f[b]])))
            v[a:b] = True
    for a, b, on in _runs(v):
        if on and b - a < min_voiced:
            v[a:b] = False
    f[~v] = 0.0
    return f, v


def _runs(mask: np.ndarray) -> list[tuple[int, int, bool]]:
    """Runs of equal values in a boolean array as (start, stop, value)."""
    if len(mask) == 0:
        return []
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    bounds = np.concatenate([[0], edges, [len(mask)]])
    return [(int(a), int(b), bool(mask[a])) for a, b in zip(bounds[:-1], bounds[1:])]


def frame_energy_db(
    audio: np.ndarray, sample_rate: int, num_frames: int, *, frame_period: float = 0.01
) -> np.ndarray:
    """RMS level in dB re full scale over a 25 ms window centred on each frame.

    Returns
    -------
    np.ndarray, shape (T,), float32; at least -120 dB.
    """
    x = np.asarray(audio, dtype=np.float64)
    win = max(seconds_to_samples(_ENERGY_WINDOW, sample_rate), 1)
    csum = np.concatenate([[0.0], np.cumsum(x * x)])
    centres = np.array(
        [seconds_to_samples(i * frame_period, sample_rate) for i in range(num_frames)], dtype=int
    )
    a = np.clip(centres - win // 2, 0, len(x))
    b = np.clip(centres + win - win // 2, 0, len(x))
    power = (csum[b] - csum[a]) / win
    return np.maximum(10 * np.log10(np.maximum(power, 1e-30)), _ENERGY_FLOOR_DB).astype(np.float32)


def extract_prosody(
    audio: np.ndarray,
    sample_rate: int,
    *,
    start: float = 0.0,
    frame_period: float = 0.01,
    f0_floor: float = 60.0,
    f0_ceiling: float = 500.0,
    denoise: str = "dfn3",
    denoised: np.ndarray | None = None,
    tracker: str = DEFAULT_TRACKER,
) -> Prosody:
    """Frame-wise F0, voicing and energy of a (possibly noisy) line.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        Mono audio of one line, in [-1, 1].
    sample_rate : int
        Sample rate in Hz.
    start : float
        Session time of the first sample (time of frame 0).
    frame_period : float
        Seconds between frames.
    f0_floor, f0_ceiling : float
        Search range of F0 in Hz.
    denoise : str
        :func:`adr.analysis.denoise.denoise` method run first (``"dfn3"``, ``"noisereduce"``,
        ``"none"``).
    denoised : np.ndarray, shape (N,), optional
        ``audio`` already denoised (by a caller that denoises each line once for several
        stages); used as is instead of running ``denoise``.
    tracker : str
        F0 tracker run on the denoised line (:data:`TRACKERS`): ``"praat+fcpe"`` (the
        default: Praat's F0 on the frames Praat calls voiced, FCPE's F0 and voicing on the
        others), ``"praat"`` (Praat with ``ROBUST`` settings and the octave-jump repair),
        ``"fcpe"`` or ``"swift"`` (a network alone). Voicing
        cleanup follows every tracker.

    Returns
    -------
    Prosody
        ``T = round(N / sample_rate / frame_period)`` frames; frame ``i`` at
        ``start + i * frame_period``.
    """
    x = _check(audio, sample_rate, "prosody")
    if tracker not in TRACKERS:
        raise AdrError(tracker, f"unknown F0 tracker (known: {', '.join(TRACKERS)})")
    if not 0 < f0_floor < f0_ceiling:
        raise AdrError(f"{f0_floor}..{f0_ceiling}", "F0 range must satisfy 0 < floor < ceiling")
    if frame_period <= 0:
        raise AdrError(str(frame_period), "frame period must be positive")
    n = seconds_to_frames(len(x) / sample_rate, frame_period)
    if denoised is not None:
        y = _check(denoised, sample_rate, "prosody")
        if y.shape != x.shape:
            raise AdrError("prosody", f"denoised audio has shape {y.shape}, audio {x.shape}")
        x = y
    elif denoise != "none" and len(x):
        from adr.analysis.denoise import denoise as run_denoise

        x = run_denoise(x.astype(np.float32), sample_rate, method=denoise).astype(np.float64)
    if tracker.startswith("praat"):
        f0, voiced = praat_f0(
            x,
            sample_rate,
            n,
            frame_period=frame_period,
            f0_floor=f0_floor,
            f0_ceiling=f0_ceiling,
            settings=ROBUST,
        )
        f0 = fix_octave_jumps(f0, voiced, frame_period=frame_period)
    if tracker != "praat":
        from adr.analysis.pitch_model import model_f0

        net = "fcpe" if tracker == "praat+fcpe" else tracker
        mf, mv, _ = model_f0(
            x,
            sample_rate,
            n,
            model=net,
            frame_period=frame_period,
            f0_floor=f0_floor,
            f0_ceiling=f0_ceiling,
        )
        if tracker == "praat+fcpe":  # fill what Praat leaves unvoiced
            f0, voiced = np.where(voiced, f0, mf), voiced | mv
        else:
            f0, voiced = mf, mv
    f0, voiced = clean_voicing(f0, voiced)
    energy = frame_energy_db(x, sample_rate, n, frame_period=frame_period)
    return Prosody(
        start=float(start),
        frame_period=float(frame_period),
        f0=f0.astype(np.float32),
        voiced=voiced,
        energy=energy,
    )


def speaking_rate(phones: Sequence[Phone]) -> float:
    """Phones per second of speech, silences excluded (0.0 when there is no speech).

    Parameters
    ----------
    phones : sequence of Phone
        A line's phones; those with a silence symbol (``""``, ``sil``, ``sp``, ``pau``, ``_``
        ...) are not counted, nor is their duration.
    """
    spoken = [p for p in phones if p.symbol.strip() not in _SILENCE_SYMBOLS]
    total = sum(max(p.end - p.start, 0.0) for p in spoken)
    return len(spoken) / total if total > 0 else 0.0

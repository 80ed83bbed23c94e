"""Speech regions: where in production audio someone is talking.

The detector is Silero VAD 6 (the ONNX model inside the ``silero-vad`` wheel, run through
onnxruntime on one thread; nothing is downloaded). It scores 32 ms windows of 16 kHz audio
with a speech probability; :func:`speech_regions` turns those scores into regions with
hysteresis (enter at ``threshold``, leave below ``threshold - 0.15``), drops short regions,
bridges short pauses and pads the result. It is used to split production audio into lines
when no cue list is given, and by :mod:`adr.analysis.damage` to tell speech frames from noise
frames.

The default is no denoising; pass ``denoise="dfn3"`` for very noisy material (why:
docs/decisions.md, "vad: no denoiser by default").
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from adr.core.errors import AdrError, check_mono
from adr.core.records import Record
from adr.core.timebase import frames_to_seconds, seconds_to_frames

__all__ = [
    "VAD_SAMPLE_RATE",
    "VAD_FRAME_PERIOD",
    "Region",
    "speech_probability",
    "speech_regions",
    "stream_speech_regions",
]

#: Rate the Silero model runs at, in Hz.
VAD_SAMPLE_RATE = 16_000
_WINDOW = 512  # samples per model call at 16 kHz
_CONTEXT = 64  # samples of the previous window the model sees
#: Seconds between speech-probability frames.
VAD_FRAME_PERIOD = _WINDOW / VAD_SAMPLE_RATE
_HYSTERESIS = 0.15
_FRAMES_PER_BLOCK = 8192  # windows scored per block of a long recording (16 MiB)
_FINITE_BLOCK = 1 << 22  # samples checked for NaN at a time

_session: dict[str, Any] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Region(Record):
    """A stretch of speech.

    Attributes
    ----------
    start, end : float
        Seconds from the session start.
    probability : float
        Mean speech probability of the frames inside, in [0, 1].
    """

    start: float
    end: float
    probability: float = 1.0

    @property
    def duration(self) -> float:
        return self.end - self.start


def _model() -> Any:
    """The process-wide onnxruntime session of the bundled Silero model (loaded lazily)."""
    if "session" not in _session:
        from adr.core.fsio import package_file
        from adr.core.threads import onnx_session

        # not through the package: importing silero_vad sets torch to one thread for the
        # rest of the process (every later torch step, a voice's training among them)
        path = package_file(
            "silero_vad", "data", "silero_vad.onnx", install="pip install silero-vad"
        )
        _session["session"] = onnx_session(path)
    return _session["session"]


def _check(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    return check_mono(audio, "vad", sample_rate)


def speech_probability(
    audio: np.ndarray, sample_rate: int, *, denoise: str = "none"
) -> tuple[np.ndarray, float]:
    """Speech probability per 32 ms frame.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        Mono audio in [-1, 1].
    sample_rate : int
        Sample rate in Hz (resampled to 16 kHz internally).
    denoise : str
        Denoiser to run first (an :func:`adr.analysis.denoise.denoise` method; ``"none"`` by
        default).

    Returns
    -------
    probs : np.ndarray, shape (T,), float32
        Probability of speech in frame ``i``, which covers
        ``[i * frame_period, (i + 1) * frame_period)`` seconds of the input.
    frame_period : float
        Seconds per frame (:data:`VAD_FRAME_PERIOD`, 0.032).
    """
    from adr.analysis.denoise import denoise as run_denoise
    from adr.analysis.denoise import resample

    x = np.asarray(audio)
    if x.ndim != 1 or len(x) <= _FINITE_BLOCK:
        x = _check(audio, sample_rate)
    else:  # a long recording: checked block by block (no second full-size array)
        for i in range(0, len(x), _FINITE_BLOCK):
            _check(x[i : i + _FINITE_BLOCK], sample_rate)
    if denoise != "none" and len(x):
        x = run_denoise(x, sample_rate, method=denoise)
    if int(sample_rate) != VAD_SAMPLE_RATE:
        x = resample(x, int(sample_rate), VAD_SAMPLE_RATE)
    n_frames = int(np.ceil(len(x) / _WINDOW))
    if n_frames == 0:
        return np.zeros(0, dtype=np.float32), VAD_FRAME_PERIOD
    probs = np.zeros(n_frames, dtype=np.float32)
    sr = np.array(VAD_SAMPLE_RATE, dtype=np.int64)
    with _lock:
        session = _model()
        state = np.zeros((2, 1, 128), dtype=np.float32)
        # frames in blocks: each block's windows with their context, zero before the start
        # and after the end, as one padded copy of the whole recording would give
        for f0 in range(0, n_frames, _FRAMES_PER_BLOCK):
            f1 = min(n_frames, f0 + _FRAMES_PER_BLOCK)
            padded = np.zeros(_CONTEXT + (f1 - f0) * _WINDOW, dtype=np.float32)
            a = f0 * _WINDOW - _CONTEXT
            part = x[max(a, 0) : min(f1 * _WINDOW, len(x))]
            padded[max(-a, 0) : max(-a, 0) + len(part)] = np.clip(part, -1.0, 1.0)
            for i in range(f1 - f0):
                chunk = padded[i * _WINDOW : i * _WINDOW + _CONTEXT + _WINDOW][None, :]
                out, state = session.run(None, {"input": chunk, "state": state, "sr": sr})
                probs[f0 + i] = float(out[0, 0])
    return probs, VAD_FRAME_PERIOD


def regions_from_probability(
    probs: np.ndarray,
    frame_period: float,
    *,
    threshold: float = 0.5,
    min_silence: float = 0.3,
    min_speech: float = 0.25,
    pad: float = 0.1,
    start: float = 0.0,
    duration: float | None = None,
) -> list[Region]:
    """Turn per-frame speech probabilities into speech regions (pure function).

    Parameters
    ----------
    probs : np.ndarray, shape (T,)
        Speech probability per frame; frame ``i`` starts at ``start + i * frame_period``.
    frame_period : float
        Seconds per frame.
    threshold, min_silence, min_speech, pad, start
        See :func:`speech_regions`.
    duration : float, optional
        Length of the audio in seconds (regions are clipped to it); ``T * frame_period``
        by default.

    Returns
    -------
    list of Region, sorted and non-overlapping.
    """
    p = np.asarray(probs, dtype=np.float64)
    total = len(p) * frame_period if duration is None else float(duration)
    low = max(threshold - _HYSTERESIS, 0.01)
    runs: list[list[int]] = []
    active = False
    for i, v in enumerate(p):
        if not active and v >= threshold:
            active = True
            runs.append([i, len(p)])
        elif active and v < low:
            active = False
            runs[-1][1] = i
    gap = seconds_to_frames(min_silence, frame_period)
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] < gap:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    shortest = seconds_to_frames(min_speech, frame_period)
    out: list[Region] = []
    for a, b in merged:
        if b - a < max(shortest, 1):
            continue
        t0 = max(frames_to_seconds(a, frame_period) - pad, 0.0)
        t1 = min(frames_to_seconds(b, frame_period) + pad, total)
        if out and start + t0 <= out[-1].end:
            prev = out.pop()
            first = seconds_to_frames(prev.start - start, frame_period)
            out.append(Region(prev.start, start + t1, float(np.mean(p[first:b]))))
        else:
            out.append(Region(start + t0, start + t1, float(np.mean(p[a:b]))))
    return out


def speech_regions(
    audio: np.ndarray,
    sample_rate: int,
    *,
    threshold: float = 0.5,
    min_silence: float = 0.3,
    min_speech: float = 0.25,
    pad: float = 0.1,
    start: float = 0.0,
    denoise: str = "none",
) -> list[Region]:
    """Find the stretches of speech in a recording.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        Mono audio in [-1, 1].
    sample_rate : int
        Sample rate in Hz.
    threshold : float
        Speech probability that opens a region (it closes below ``threshold - 0.15``).
    min_silence : float
        Pauses shorter than this many seconds do not split a region.
    min_speech : float
        Regions shorter than this many seconds are dropped.
    pad : float
        Seconds added on both sides of each region (clipped to the audio; regions that
        then touch are merged).
    start : float
        Session time of the first sample, added to every region.
    denoise : str
        Denoiser to run first (:func:`adr.analysis.denoise.denoise` method), ``"none"`` by default.

    Returns
    -------
    list of Region
        Sorted, non-overlapping, in seconds from the session start.
    """
    if not 0.0 < threshold < 1.0:
        raise AdrError(str(threshold), "VAD threshold must be between 0 and 1")
    x = _check(audio, sample_rate)
    probs, period = speech_probability(x, sample_rate, denoise=denoise)
    return regions_from_probability(
        probs,
        period,
        threshold=threshold,
        min_silence=min_silence,
        min_speech=min_speech,
        pad=pad,
        start=start,
        duration=len(x) / int(sample_rate),
    )


def stream_speech_regions(
    blocks: Iterable[np.ndarray],
    *,
    threshold: float = 0.5,
    min_silence: float = 0.3,
    min_speech: float = 0.25,
    pad: float = 0.1,
    start: float = 0.0,
) -> list[Region]:
    """:func:`speech_regions` of a long recording given as consecutive 16 kHz blocks.

    The model sees the same windows, context and state as on the whole array (the result
    is identical), but memory holds one block and the per-frame probabilities (4 bytes per
    32 ms: 1.3 MB for 3 hours), not the recording.

    Parameters
    ----------
    blocks : iterable of np.ndarray, each shape (n_i,)
        Mono audio at :data:`VAD_SAMPLE_RATE` in order (any block lengths).
    threshold, min_silence, min_speech, pad, start
        As :func:`speech_regions`.

    Returns
    -------
    list of Region
    """
    if not 0.0 < threshold < 1.0:
        raise AdrError(str(threshold), "VAD threshold must be between 0 and 1")
    probs: list[np.ndarray] = []
    sr = np.array(VAD_SAMPLE_RATE, dtype=np.int64)
    carry = np.zeros(_CONTEXT, np.float32)  # the context before the next window, then the rest
    total = 0
    with _lock:
        session = _model()
        state = np.zeros((2, 1, 128), dtype=np.float32)

        def score(buf: np.ndarray, n: int) -> np.ndarray:
            nonlocal state
            out_p = np.zeros(n, np.float32)
            for i in range(n):
                chunk = buf[i * _WINDOW : i * _WINDOW + _CONTEXT + _WINDOW][None, :]
                out, state = session.run(None, {"input": chunk, "state": state, "sr": sr})
                out_p[i] = float(out[0, 0])
            return out_p

        for block in blocks:
            x = np.clip(_check(block, VAD_SAMPLE_RATE), -1.0, 1.0)
            total += len(x)
            buf = np.concatenate([carry, x])
            n = (len(buf) - _CONTEXT) // _WINDOW
            if n:
                probs.append(score(buf, n))
            carry = buf[n * _WINDOW :]
        rest = len(carry) - _CONTEXT
        if rest > 0:  # the last partial window, zero-padded
            buf = np.concatenate([carry, np.zeros(_WINDOW - rest, np.float32)])
            probs.append(score(buf, 1))
    p = np.concatenate(probs) if probs else np.zeros(0, np.float32)
    return regions_from_probability(
        p,
        VAD_FRAME_PERIOD,
        threshold=threshold,
        min_silence=min_silence,
        min_speech=min_speech,
        pad=pad,
        start=start,
        duration=total / VAD_SAMPLE_RATE,
    )

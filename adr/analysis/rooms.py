"""Synthetic rooms: impulse responses with a chosen RT60, and speech put through them.

Production dialogue is recorded in rooms; enrollment recordings usually are not. The demo
production uses these rooms for its scene (:mod:`adr.demo.scene`), and actor identification
uses them to enroll each actor's voiceprint in several rooms as well as dry
(:func:`adr.analysis.speakers.make_voiceprint`), so that a reverberant production line still scores
high against its own actor.

Pure functions of arrays and a seeded ``numpy.random.Generator``.
"""

from __future__ import annotations

import numpy as np

from adr.core.timebase import seconds_to_samples

__all__ = ["lowpass", "reverberate", "room_impulse_response"]


def lowpass(x: np.ndarray, cutoff: float, sr: int, order: int = 4) -> np.ndarray:
    """Butterworth low-pass of ``x`` (shape (N,)) at ``cutoff`` Hz (capped at 0.45 ``sr``)."""
    from scipy.signal import butter, sosfilt

    sos = butter(order, min(cutoff, 0.45 * sr), btype="low", fs=sr, output="sos")
    return sosfilt(sos, x)


def room_impulse_response(
    rt60: float, sample_rate: int, rng: np.random.Generator, *, drr_db: float = 4.0
) -> np.ndarray:
    """A synthetic room impulse response.

    Parameters
    ----------
    rt60 : float
        Time for the tail to decay by 60 dB, seconds (0.2--0.5 for the demo's locations).
    sample_rate : int
        Output rate in Hz.
    rng : np.random.Generator
        Source of the reflections and the tail.
    drr_db : float
        Direct-to-reverberant energy ratio in dB.

    Returns
    -------
    np.ndarray, shape (L,), float32
        Sample 0 is the direct sound with value 1 (the line keeps its timing).
    """
    n = seconds_to_samples(1.2 * rt60, sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    # high frequencies die away faster: blend a dull, slower tail with a bright, quicker one
    dull = lowpass(tail, 2500.0, sample_rate)
    bright = tail * np.exp(-6.9078 * t / (0.6 * rt60))
    tail = dull + 0.35 * bright
    onset = seconds_to_samples(0.004, sample_rate)
    tail[:onset] *= np.linspace(0.0, 1.0, onset)
    early = np.zeros(n)
    for _ in range(6):
        k = seconds_to_samples(float(rng.uniform(0.002, 0.03)), sample_rate)
        early[k] += float(rng.uniform(0.1, 0.35)) * float(rng.choice([-1.0, 1.0]))
    reverb = tail * np.sqrt(1.0 / np.sum(tail**2) * 10 ** (-drr_db / 10)) + early
    reverb[0] = 1.0
    return reverb.astype(np.float32)


def reverberate(
    audio: np.ndarray, sample_rate: int, rt60: float, rng: np.random.Generator
) -> np.ndarray:
    """``audio`` (shape (N,)) in a synthetic room of ``rt60`` seconds, same length and peak.

    The direct sound keeps its timing; the tail past the end of ``audio`` is cut.
    """
    from scipy.signal import fftconvolve

    x = np.asarray(audio, dtype=np.float32)
    if len(x) == 0:
        return x
    y = fftconvolve(x, room_impulse_response(rt60, sample_rate, rng))[: len(x)]
    peak_in, peak_out = float(np.max(np.abs(x))), float(np.max(np.abs(y)))
    return (y * (peak_in / peak_out) if peak_out > 0 else y).astype(np.float32)

"""A bench ablation (rejected, docs/decisions.md): the actor's timbre as the long-term average
of their log-mel, and a take moved toward it.

A restorer that speaks mostly from the script's donor (a damaged take gives it little of the
actor) keeps some of the donor's colour: its long-term spectrum, which speaker encoders and
listeners weigh heavily. :func:`timbre_of` measures an actor's long-term log-mel over the
speech frames of their clean enrollment lines; :func:`match_timbre` shifts a predicted
log-mel, bin by bin, so that its speech frames average to the actor's. The shift is the same
for every frame of a line (a fixed equaliser, not a per-frame change), weighted toward zero
in pauses, and bounded, so it colours the line without touching its words or timing.

Pure functions on arrays; the mel grid is :data:`adr.voice.vocoder.MEL`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["SPEECH_RANGE_DB", "MAX_SHIFT", "speech_weights", "timbre_of", "match_timbre"]

#: Frames within this many dB of a line's loud frames (95th percentile of frame level)
#: count as speech; the weight falls linearly to 0 over the 10 dB below.
SPEECH_RANGE_DB = 30.0
#: Largest shift of one mel bin, natural-log units (about +-10 dB).
MAX_SHIFT = 1.15


def _frame_db(mel: np.ndarray) -> np.ndarray:
    """Frame level in dB of a log-magnitude mel ``(n_mels, T)``: shape (T,)."""
    power = np.exp(2.0 * np.asarray(mel, dtype=np.float64)).sum(axis=0)
    return 10.0 * np.log10(power + 1e-12)


def speech_weights(mel: np.ndarray) -> np.ndarray:
    """Per-frame weight in [0, 1] that a frame of ``mel`` (n_mels, T) is speech: 1 within
    :data:`SPEECH_RANGE_DB` of the line's 95th-percentile frame level, falling to 0 over the
    next 10 dB; shape (T,)."""
    db = _frame_db(mel)
    if not db.size:
        return np.zeros(0, dtype=np.float64)
    top = float(np.percentile(db, 95))
    return np.clip((db - (top - SPEECH_RANGE_DB - 10.0)) / 10.0, 0.0, 1.0)


def _weighted_mean(mel: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
    m = np.asarray(mel, dtype=np.float64)
    total = float(w.sum())
    if total <= 0:
        return np.zeros(m.shape[0]), 0.0
    return (m * w[None, :]).sum(axis=1) / total, total


def timbre_of(mels: Sequence[np.ndarray]) -> np.ndarray:
    """The actor's long-term log-mel: per bin, the mean over the speech frames of ``mels``.

    Parameters
    ----------
    mels : sequence of np.ndarray, shape (n_mels, T_i)
        Log-mel of clean lines (:func:`adr.voice.vocoder.log_mel`).

    Returns
    -------
    np.ndarray, shape (n_mels,), float32
        Frames are weighted by :func:`speech_weights` (each line's own loud frames).

    Raises
    ------
    ValueError
        No line holds a speech frame.
    """
    sums, total = None, 0.0
    for mel in mels:
        mean, weight = _weighted_mean(mel, speech_weights(mel))
        if weight > 0:
            sums = mean * weight if sums is None else sums + mean * weight
            total += weight
    if sums is None or total <= 0:
        raise ValueError("timbre_of: no speech frame in the lines given")
    return (sums / total).astype(np.float32)


def match_timbre(mel: np.ndarray, timbre: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """``mel`` (n_mels, T) shifted bin by bin so its speech frames average to ``timbre``.

    Parameters
    ----------
    mel : np.ndarray, shape (n_mels, T)
        A predicted log-mel.
    timbre : np.ndarray, shape (n_mels,)
        The actor's long-term log-mel (:func:`timbre_of`).
    strength : float
        Share of the shift applied (0: ``mel`` unchanged, 1: the whole shift).

    Returns
    -------
    np.ndarray, shape (n_mels, T), float32
        Each frame moves by ``strength * shift * w_t``: ``shift`` (n_mels,) is the difference
        of the means, clipped to +-:data:`MAX_SHIFT`, with its average over bins removed (the
        line's loudness is the render's, not the enrollment's); ``w_t`` is the frame's speech
        weight, so pauses stay as they are.
    """
    m = np.asarray(mel, dtype=np.float32)
    t = np.asarray(timbre, dtype=np.float64).reshape(-1)
    if m.ndim != 2 or m.shape[0] != t.shape[0]:
        raise ValueError(f"match_timbre: mel {m.shape} does not fit a timbre of {t.shape[0]} bins")
    w = speech_weights(m)
    mean, total = _weighted_mean(m, w)
    if total <= 0 or strength == 0:
        return m.copy()
    shift = t - mean
    shift -= shift.mean()
    shift = np.clip(shift, -MAX_SHIFT, MAX_SHIFT) * float(strength)
    return (m + shift[:, None] * w[None, :]).astype(np.float32)

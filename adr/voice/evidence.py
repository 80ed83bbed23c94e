"""A line's evidence on the restorer's mel frame grid (:class:`~adr.voice.restorer.RestorerInputs`).

The same functions build the inputs at enrollment (from damaged copies of the actor's clean
lines) and at render (from the production line), so the model is trained on exactly what it
will be given:

* :func:`take_evidence`: the line denoised (DeepFilterNet3 by default), its log-mel frames,
  and a reliability per frame: the local SNR of the denoised signal against what the
  denoiser removed, mapped through a logistic curve (0 dB -> 0.27, 3 dB -> 0.5, 10 dB ->
  0.91). Computable at render, where the clean line is not known.
* :func:`controls_on_grid`: F0 (interpolated through unvoiced frames), voicing and energy
  from a :class:`~adr.core.types.Prosody`, sampled at the mel frames' centres.

Time is seconds; frame ``i`` of a line starting at ``start`` covers
``start + i * MEL.frame_period``.
"""

from __future__ import annotations

import numpy as np

from adr.core.types import Prosody
from adr.voice.vocoder import MEL, MelSpec, log_mel, mel_frames

__all__ = [
    "REFERENCE_LEVEL_DB",
    "active_level_db",
    "reference_gain_db",
    "speech_level_db",
    "SPEECH_BELOW_LINE_DB",
    "RELIABILITY_MID_DB",
    "take_evidence",
    "local_snr_db",
    "reliability_of",
    "noisy_mel",
    "controls_on_grid",
    "fit_frames",
    "line_frames",
    "frame_times",
]

#: Level (dBFS over active frames) every take and every training target is scaled to.
REFERENCE_LEVEL_DB = -26.0
#: Local SNR (dB) at which the take counts as half reliable.
RELIABILITY_MID_DB = 3.0
_RELIABILITY_SLOPE_DB = 3.0


def frame_times(n_frames: int, start: float = 0.0, spec: MelSpec = MEL) -> np.ndarray:
    """Centre times (T,) in seconds of ``n_frames`` mel frames from ``start``."""
    return start + (np.arange(n_frames) + 0.5) * spec.frame_period


def fit_frames(a: np.ndarray, n_frames: int) -> np.ndarray:
    """``a`` (..., T') cut or edge-padded to (..., n_frames)."""
    a = np.asarray(a)[..., :n_frames]
    short = n_frames - a.shape[-1]
    if short > 0:
        a = np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, short)], mode="edge")
    return a


def active_level_db(audio: np.ndarray, sample_rate: int) -> float:
    """Level of ``audio`` (N,) in dBFS over its active 20 ms frames (those within 30 dB of
    the 95th-percentile frame); -120 for silence."""
    x = np.asarray(audio, dtype=np.float64)
    hop = max(1, int(0.02 * sample_rate))
    n = len(x) // hop
    if n == 0:
        return -120.0
    power = np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1)
    top = float(np.percentile(power, 95))
    if top <= 1e-12:
        return -120.0
    return float(10.0 * np.log10(np.mean(power[power >= top * 1e-3])))


#: How far (dB) the speech of a production line may lie below the line's own level: the
#: restorer is trained down to -10 dB SNR, where speech is 10.4 dB under the mixture.
SPEECH_BELOW_LINE_DB = 12.0


def speech_level_db(noisy: np.ndarray, denoised: np.ndarray, sample_rate: int) -> float:
    """The level (dBFS over active frames) a take of this line is delivered at.

    The denoised line's level, kept within ``[L - SPEECH_BELOW_LINE_DB, L]`` where ``L`` is
    the production line's own level: a denoiser that removed the speech with the noise (a
    -5 dB line measured 38 dB under the speech it held) must not make the take inaudible, and
    speech is never louder than the line that carries it. -120 for a silent line.

    Parameters
    ----------
    noisy, denoised : np.ndarray, shape (N,)
        The production line and its denoised version, at ``sample_rate``.
    """
    line = active_level_db(noisy, sample_rate)
    if line <= -120.0:
        return -120.0
    return float(np.clip(active_level_db(denoised, sample_rate), line - SPEECH_BELOW_LINE_DB, line))


def reference_gain_db(audio: np.ndarray, sample_rate: int) -> float:
    """Gain (dB) that brings ``audio`` (N,) to :data:`REFERENCE_LEVEL_DB` over its active
    frames, within -40..+60 dB; 0 for silence (nothing to scale)."""
    level = active_level_db(audio, sample_rate)
    return float(np.clip(REFERENCE_LEVEL_DB - level, -40, 60)) if level > -120 else 0.0


def take_evidence(
    noisy: np.ndarray,
    sample_rate: int,
    n_frames: int,
    *,
    denoised: np.ndarray | None = None,
    method: str = "dfn3",
) -> tuple[np.ndarray, np.ndarray, float]:
    """Log-mel of the denoised line and its per-frame reliability.

    Parameters
    ----------
    noisy : np.ndarray, shape (N,)
        The production line at ``sample_rate``.
    n_frames : int
        Frames wanted (the line's length on the mel grid).
    denoised : np.ndarray, shape (N,), optional
        The line already denoised (as the analysis did); else it is denoised here.
    method : str
        Denoiser (:func:`adr.analysis.denoise.denoise`).

    Returns
    -------
    take_mel : np.ndarray, shape (n_mels, n_frames), float32
        Of the denoised line scaled to :data:`REFERENCE_LEVEL_DB`.
    reliability : np.ndarray, shape (n_frames,), float32, in [0, 1]
    gain_db : float
        The gain that scaling applied (:func:`reference_gain_db` of the denoised line).
    """
    from adr.analysis.denoise import denoise, resample

    x = np.asarray(noisy, dtype=np.float32)
    d = (
        denoise(x, sample_rate, method=method)
        if denoised is None
        else np.asarray(denoised, dtype=np.float32)
    )
    n = min(len(x), len(d))
    gain_db = reference_gain_db(d[:n], sample_rate)
    g = np.float32(10.0 ** (gain_db / 20.0))
    x22 = resample(x[:n] * g, sample_rate, MEL.sample_rate)
    d22 = resample(d[:n] * g, sample_rate, MEL.sample_rate)
    take = log_mel(d22).numpy()
    rel = reliability_of(local_snr_db(take, log_mel(x22 - d22).numpy()))
    return (
        fit_frames(take, n_frames).astype(np.float32),
        fit_frames(rel, n_frames).astype(np.float32),
        gain_db,
    )


def local_snr_db(take_mel: np.ndarray, removed_mel: np.ndarray) -> np.ndarray:
    """Per-frame SNR (T,) in dB of the denoised take against what the denoiser removed,
    from their log-mel frames (n_mels, T) (the power summed over the bands)."""
    e_take = np.log(np.exp(2.0 * np.asarray(take_mel, np.float64)).sum(axis=0) + 1e-9)
    e_removed = np.log(np.exp(2.0 * np.asarray(removed_mel, np.float64)).sum(axis=0) + 1e-9)
    return 10.0 / np.log(10.0) * (e_take - e_removed)


def reliability_of(snr_db: np.ndarray) -> np.ndarray:
    """The take's reliability (T,) in [0, 1] from its local SNR (T,) in dB: a logistic,
    0.5 at :data:`RELIABILITY_MID_DB`, 3 dB per unit of logit."""
    z = (np.asarray(snr_db, np.float64) - RELIABILITY_MID_DB) / _RELIABILITY_SLOPE_DB
    return 1.0 / (1.0 + np.exp(-z))


def noisy_mel(noisy: np.ndarray, sample_rate: int, n_frames: int, gain_db: float) -> np.ndarray:
    """Log-mel (n_mels, n_frames), float32, of the production line before denoising,
    scaled by ``gain_db`` (the take's gain from :func:`take_evidence`)."""
    from adr.analysis.denoise import resample

    x = np.asarray(noisy, dtype=np.float32) * np.float32(10.0 ** (gain_db / 20.0))
    return fit_frames(log_mel(resample(x, sample_rate, MEL.sample_rate)).numpy(), n_frames).astype(
        np.float32
    )


def controls_on_grid(
    prosody: Prosody, start: float, n_frames: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F0 (Hz, interpolated through unvoiced frames; 0 if no voiced frame), voicing (0/1)
    and energy (dB), each shape (n_frames,), on the mel grid of a line starting at ``start``."""
    t = frame_times(n_frames, start)
    pt = prosody.start + np.arange(prosody.num_frames) * prosody.frame_period
    if prosody.num_frames == 0:
        z = np.zeros(n_frames, dtype=np.float32)
        return z, z.copy(), np.full(n_frames, -80.0, dtype=np.float32)
    voiced = np.asarray(prosody.voiced, dtype=bool) & (np.asarray(prosody.f0) > 0)
    if voiced.any():
        f0 = np.interp(t, pt[voiced], np.asarray(prosody.f0)[voiced])
    else:
        f0 = np.zeros(n_frames)
    v = np.interp(t, pt, voiced.astype(np.float64)) >= 0.5
    e = np.interp(t, pt, np.asarray(prosody.energy, dtype=np.float64))
    return f0.astype(np.float32), v.astype(np.float32), e.astype(np.float32)


def line_frames(duration: float) -> int:
    """Mel frames of a line of ``duration`` seconds (at least 1)."""
    return max(1, mel_frames(int(round(duration * MEL.sample_rate))))

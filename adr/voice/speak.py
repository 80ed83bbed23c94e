"""Speak a line through an actor's restorer: evidence -> clean mel -> HiFi-GAN audio.

:func:`line_inputs` gathers a line's evidence (:class:`~adr.voice.restorer.RestorerInputs`)
from the script, the analysed alignment and prosody and, when given, the production audio;
it is used alike to build training pairs at enrollment and to render, so the restorer always
sees the same kind of input. :func:`speak` runs the restorer and the vocoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from adr.core.types import Prosody, Word
from adr.voice.evidence import (
    controls_on_grid,
    fit_frames,
    frame_times,
    line_frames,
    noisy_mel,
    take_evidence,
)
from adr.voice.restorer import Restorer, RestorerConfig, RestorerInputs
from adr.voice.vocoder import MEL, load_vocoder, log_mel

__all__ = ["line_inputs", "speak", "distrust_spans"]


def distrust_spans(
    reliability: np.ndarray, start: float, spans: Sequence[tuple[float, float]]
) -> np.ndarray:
    """``reliability`` (T,) with 0 inside ``spans`` (session seconds): the take says
    something else there (a text edit), so only the donor may speak."""
    rel = np.array(reliability, dtype=np.float32)
    t = frame_times(len(rel), start)
    for a, b in spans:
        rel[(t >= a) & (t < b)] = 0.0
    return rel


def line_inputs(
    text: str,
    words: Sequence[Word],
    phones: Sequence,
    prosody: Prosody,
    start: float,
    end: float,
    config: RestorerConfig,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    denoised: np.ndarray | None = None,
    cue_id: str = "",
    distrust: Sequence[tuple[float, float]] = (),
) -> RestorerInputs:
    """A line's evidence on the mel grid of ``[start, end)``.

    Parameters
    ----------
    text : str
        What to say (the script, after any edit).
    words, phones : sequences of Word and Phone
        The alignment of ``text``, session seconds.
    prosody : Prosody
        The line's F0, voicing and energy.
    start, end : float
        The line's span, session seconds.
    config : RestorerConfig
        Picks the donor voice and the F0 fallback.
    audio : np.ndarray, shape (N,), optional
        The production line over ``[start, end)`` at ``sample_rate``; without it the take
        is absent (reliability 0 everywhere).
    denoised : np.ndarray, shape (N,), optional
        ``audio`` already denoised.
    distrust : sequence of (float, float)
        Spans where the take must not be used (edited words).

    Returns
    -------
    RestorerInputs
        ``T = line_frames(end - start)`` frames.
    """
    from adr.analysis.align import Alignment
    from adr.voice.donor import donor_line

    n = line_frames(end - start)
    alignment = Alignment(tuple(words), tuple(phones), 0.0, 1.0, "given")
    donor = donor_line(
        text,
        alignment,
        prosody,
        start,
        end,
        MEL.sample_rate,
        donor=config.donor,
        median_f0=config.f0_median or None,
        cue_id=cue_id,
    )
    donor_mel = fit_frames(log_mel(donor.audio).numpy(), n)
    noisy = None
    if audio is not None and config.use_take:
        take_mel, rel, gain_db = take_evidence(audio, sample_rate, n, denoised=denoised)
        if distrust:  # neither the take's weight nor (for an ungated restorer) its mel may
            # carry the old words
            kept = distrust_spans(np.ones(n, dtype=np.float32), start, distrust) > 0
            rel = np.where(kept, rel, np.float32(0.0))
            take_mel = np.where(kept[None, :], take_mel, np.float32(MEL.log_floor))
        if config.use_noisy:
            noisy = noisy_mel(audio, sample_rate, n, gain_db)
    else:
        take_mel = np.full((MEL.n_mels, n), MEL.log_floor, dtype=np.float32)
        rel = np.zeros(n, dtype=np.float32)
    f0, voiced, energy = controls_on_grid(prosody, start, n)
    return RestorerInputs(donor_mel.astype(np.float32), take_mel, rel, f0, voiced, energy, noisy)


def speak(restorer: Restorer, inputs: RestorerInputs) -> np.ndarray:
    """The restored line as audio, shape (T * hop,) at 22.05 kHz, float32."""
    mel = restorer.restore(inputs)  # (n_mels, T)
    return load_vocoder()(mel)

"""Re-speak one clip of production audio in an enrolled voice, without a session.

:func:`respeak` is ``adr analyze`` plus ``adr render`` for a single line held in memory: the
clip becomes one cue from its first to its last sample, is analysed the way a session's
line is (:func:`adr.analysis.analyze.analyze_line`: denoiser, Whisper, forced alignment, prosody,
damage; no picture), and the analysis is spoken by the voice (:func:`adr.voice.render.render_line`).
Script mode gives the line's text (Whisper only checks it); blind mode gives none (Whisper's
text is aligned and spoken). The take comes back at the clip's sample rate and length, so it
can be compared sample-for-sample in time with the clip (the benchmark does this).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from adr.analysis.analyze import ANALYSIS_RATE, AnalysisOptions, LineAnalysis, analyze_line
from adr.core.errors import AdrError
from adr.core.names import as_name
from adr.core.types import Cue

if TYPE_CHECKING:
    from adr.voice.render import RenderedLine
    from adr.voice.voicefile import LoadedVoice

__all__ = ["Respoken", "RESPEAK_OPTIONS", "respeak"]

#: Analysis options of :func:`respeak`: those of ``adr analyze`` without lips (no picture).
RESPEAK_OPTIONS = AnalysisOptions(lips=False)


@dataclass(frozen=True, eq=False)
class Respoken:
    """A clip re-spoken by :func:`respeak`.

    Attributes
    ----------
    audio : np.ndarray, shape (N,), float32
        The take at ``sample_rate``, as long as the clip.
    sample_rate : int
    analysis : LineAnalysis
        What the analysis found (text, alignment, prosody, damage, warnings).
    rendered : RenderedLine
        The 48 kHz take and the features the model was given.
    timings : dict of str to float
        Seconds spent: ``"analyze"`` and ``"render"`` (synthesis and resampling).
    """

    audio: np.ndarray
    sample_rate: int
    analysis: LineAnalysis
    rendered: RenderedLine
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """What the take says."""
        return self.rendered.text


def respeak(
    audio: np.ndarray,
    sample_rate: int,
    voice: LoadedVoice,
    *,
    text: str | None = None,
    options: AnalysisOptions = RESPEAK_OPTIONS,
    cue_id: str = "line",
    seed: int = 0,
) -> Respoken:
    """Analyse a clip of production audio and speak it again in ``voice``.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        The noisy line, mono, at ``sample_rate``; the whole clip is the cue.
    sample_rate : int
        Rate of ``audio`` and of the returned take, in Hz.
    voice : LoadedVoice
        The actor's voice (:func:`adr.voice.voicefile.load_voice`).
    text : str, optional
        Script mode: what the line says. ``None`` or blank: blind mode (Whisper's text).
    options : AnalysisOptions
        Analysis choices (default :data:`RESPEAK_OPTIONS`; a picture is never used).
    cue_id : str
        Name of the line in errors and in the analysis (made a valid cue id by
        :func:`adr.core.names.as_name`).
    seed : int
        Seed of the voice model's noise.

    Returns
    -------
    Respoken
        The take, shape (N,) at ``sample_rate``, with the analysis and timings.

    Raises
    ------
    AdrError
        Naming the cue, when the clip is silent, has no speech, nothing is recognized in
        blind mode, or the text has no words to speak.
    """
    from adr.analysis.denoise import resample
    from adr.voice.render import render_line

    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    if x.size == 0:
        raise AdrError(f"cue {cue_id}", "the clip is empty")
    clock = time.perf_counter()
    x16 = resample(x, sample_rate, ANALYSIS_RATE) if sample_rate != ANALYSIS_RATE else x
    duration = len(x) / sample_rate
    cue = Cue(
        id=as_name(cue_id),
        character="",
        actor=voice.record.actor,
        start=0.0,
        end=duration,
        text=(text or "").strip(),
    )
    analysis = analyze_line(cue, x16, ANALYSIS_RATE, picture=None, voiceprints=(), options=options)
    t_analyze = time.perf_counter() - clock
    clock = time.perf_counter()
    said = None if cue.text else (analysis.transcript.text.strip() or analysis.text)
    rendered = render_line(
        analysis, voice, text=said, seed=seed, audio=x16, sample_rate=ANALYSIS_RATE
    )
    y = resample(rendered.audio, rendered.sample_rate, sample_rate)
    y = np.pad(y[: len(x)], (0, max(0, len(x) - len(y)))).astype(np.float32)
    t_render = time.perf_counter() - clock
    return Respoken(y, sample_rate, analysis, rendered, {"analyze": t_analyze, "render": t_render})

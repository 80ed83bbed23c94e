"""One analysed line re-spoken in a voice, in memory (:func:`render_line`; no files).

The line's phones, prosody and (when the voice uses them) lips become frame features on the
model's grid from ``cue.start`` to ``cue.end``; the voice model speaks them at its own rate;
the result is resampled to 48 kHz and is exactly the cue's length there, so every word sits
where it was. The model hears the line at its training level (the line's loudness shifted so
that its voiced frames' median is the voice's ``record.loudness_db``); the take is then scaled
back by the same number of dB, so it keeps the production line's level. Outside the words
(before the first, after the last, in pauses of 0.15 s or more) the take is silent: 50 ms
margins around the words, 10 ms raised-cosine fades. A text that differs from the analysed
one is edited in first (:mod:`adr.voice.text_edit`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.timebase import DELIVERY_RATE, seconds_to_samples
from adr.core.types import Word, strict_from_dict
from adr.voice.features import SILENCE_DB, FrameFeatures
from adr.voice.text_edit import edit_alignment, edited_spans
from adr.voice.vocoder import MEL

if TYPE_CHECKING:
    from adr.analysis.align import Alignment
    from adr.analysis.analyze import LineAnalysis
    from adr.voice.voicefile import LoadedVoice

__all__ = ["RenderedLine", "render_line"]

_MARGIN, _FADE, _MIN_PAUSE = 0.05, 0.01, 0.15  # seconds (see the module docstring)


@dataclass(frozen=True, eq=False)
class RenderedLine:
    """A re-spoken line.

    Attributes
    ----------
    cue_id, actor, text : str
        The cue, the voice that spoke and what it said.
    start, end : float
        Session seconds of the first sample and of the end of the take (the cue's).
    sample_rate : int
        48000 (:data:`adr.core.timebase.DELIVERY_RATE`).
    audio : np.ndarray, shape (N,), float32
        ``N = seconds_to_samples(end) - seconds_to_samples(start)`` at ``sample_rate``.
    alignment : Alignment
        The words and phones spoken (after any text edit), session seconds.
    features : FrameFeatures
        What the model was given, T frames from ``start``.
    """

    cue_id: str
    actor: str
    text: str
    start: float
    end: float
    sample_rate: int
    audio: np.ndarray
    alignment: Alignment
    features: FrameFeatures

    def to_dict(self) -> dict[str, Any]:
        return {
            "cue_id": self.cue_id,
            "actor": self.actor,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "sample_rate": self.sample_rate,
            "audio": np.asarray(self.audio, dtype=np.float64).tolist(),
            "alignment": self.alignment.to_dict(),
            "features": self.features.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderedLine:
        from adr.analysis.align import Alignment

        d = dict(data)
        d["audio"] = np.asarray(d.get("audio", ()), dtype=np.float32)
        d["alignment"] = Alignment.from_dict(d["alignment"])
        d["features"] = FrameFeatures.from_dict(d["features"])
        return strict_from_dict(cls, d)


def _gate(words: Sequence[Word], start: float, n: int, sr: int) -> np.ndarray:
    """Gain (N,): 1 around the words, 0 elsewhere, with raised-cosine fades."""
    spans: list[list[float]] = []
    for w in sorted(words, key=lambda w: w.start):
        a, b = w.start - _MARGIN - start, w.end + _MARGIN - start
        if spans and a - spans[-1][1] < _MIN_PAUSE - 2 * _MARGIN:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    gain = np.zeros(n, dtype=np.float32)
    r = max(1, seconds_to_samples(_FADE, sr))
    ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(r) + 0.5) / r)).astype(np.float32)
    for a, b in spans:
        i, j = max(0, seconds_to_samples(a, sr)), min(n, seconds_to_samples(b, sr))
        if j <= i:
            continue
        gain[i:j] = 1.0
        lo = max(0, i - r)
        gain[lo:i] = np.maximum(gain[lo:i], ramp[r - (i - lo) :])
        hi = min(n, j + r)
        gain[j:hi] = np.maximum(gain[j:hi], ramp[::-1][: hi - j])
    return gain


def _level_shift(feats: FrameFeatures, target_db: float | None) -> float:
    """dB to add to a line's loudness so its voiced frames sit at the voice's training
    level (0 when either is unknown), at most 30 dB either way."""
    voiced = feats.loudness[(feats.voiced > 0) & (feats.loudness > SILENCE_DB)]
    if target_db is None or not voiced.size:
        return 0.0
    return float(np.clip(target_db - np.median(voiced), -30.0, 30.0))


def _restore(
    line: LineAnalysis,
    voice: LoadedVoice,
    said: str,
    alignment: Alignment,
    audio: np.ndarray | None,
    sample_rate: int,
) -> np.ndarray:
    """The restorer's take at 22.05 kHz (N,), at the production line's level."""
    from adr.voice.evidence import REFERENCE_LEVEL_DB, speech_level_db
    from adr.voice.speak import line_inputs, speak

    assert voice.restorer is not None
    cue = line.cue
    denoised = None
    if audio is not None and len(audio):
        from adr.analysis.denoise import denoise

        denoised = denoise(np.asarray(audio, dtype=np.float32), sample_rate)
    inputs = line_inputs(
        said,
        alignment.words,
        alignment.phones,
        line.prosody,
        cue.start,
        cue.end,
        voice.restorer.config,
        audio=audio,
        sample_rate=sample_rate,
        denoised=denoised,
        cue_id=cue.id,
        distrust=edited_spans(line, alignment),
    )
    y = speak(voice.restorer, inputs)
    if denoised is not None:
        level = speech_level_db(np.asarray(audio, dtype=np.float32), denoised, sample_rate)
        if level > -90.0:
            y = y * np.float32(10.0 ** ((level - REFERENCE_LEVEL_DB) / 20.0))
    return y.astype(np.float32)


def render_line(
    line: LineAnalysis,
    voice: LoadedVoice,
    *,
    text: str | None = None,
    seed: int = 0,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
) -> RenderedLine:
    """Re-speak one analysed line in a voice (pure: no files).

    Parameters
    ----------
    line : LineAnalysis
        The cue (its ``start``/``end`` are the take's), alignment, prosody and lips.
    voice : LoadedVoice
        The actor's voice (:func:`adr.voice.voicefile.load_voice`).
    text : str, optional
        What to say; default the cue's text, else the analysed text. A text differing
        from the analysed one is edited in (:func:`edit_alignment`).
    seed : int
        Seed of the model's noise (same seed, same samples).
    audio : np.ndarray, shape (N,), optional
        The production line over ``[cue.start, cue.end)`` at ``sample_rate``: the take's
        own evidence for a voice with a restorer (ignored by the harmonic-plus-noise model).
        Without it the restorer speaks from the script, the prosody and the donor alone.
    sample_rate : int
        Rate of ``audio``.

    Returns
    -------
    RenderedLine
        48 kHz audio (N,), ``N`` the cue's length in samples at 48 kHz.
    """
    from adr.analysis.denoise import resample
    from adr.voice.features import frame_features

    cue, vc = line.cue, voice.config
    said = text if text is not None else (cue.text.strip() or line.text)
    alignment = edit_alignment(line.alignment, said)
    lips = line.lips.track if (vc.lips and line.lips is not None) else None
    feats = frame_features(
        alignment.phones,
        line.prosody,
        lips,
        start=cue.start,
        end=cue.end,
        frame_period=vc.frame_period,
        phone_inventory=vc.phone_inventory,
    )
    if voice.restorer is not None:
        y = resample(
            _restore(line, voice, said, alignment, audio, sample_rate),
            MEL.sample_rate,
            DELIVERY_RATE,
        )
        if voice.restorer.config.high_band:  # the band above 11 kHz, learned at enrollment
            from adr.voice.bandext import extend_band, profile_of

            y = extend_band(y, profile_of(voice.restorer.config))
    else:
        if voice.model is None:
            raise AdrError(voice.record.actor, "the voice has no model to speak with")
        shift = _level_shift(feats, voice.record.loudness_db)
        model_feats = dataclasses.replace(
            feats, loudness=np.maximum(feats.loudness + shift, SILENCE_DB)
        )
        y = voice.model.render(model_feats, seed=seed) * np.float32(10 ** (-shift / 20))
        y = resample(y, vc.sample_rate, DELIVERY_RATE)
    n = seconds_to_samples(cue.end, DELIVERY_RATE) - seconds_to_samples(cue.start, DELIVERY_RATE)
    y = np.pad(y[:n], (0, max(0, n - len(y))))
    y = (y * _gate(alignment.words, cue.start, n, DELIVERY_RATE)).astype(np.float32)
    return RenderedLine(
        cue.id, voice.record.actor, said, cue.start, cue.end, DELIVERY_RATE, y, alignment, feats
    )

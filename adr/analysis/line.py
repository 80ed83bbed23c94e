"""Analysis of lines' audio: cut, denoise (once per stretch), speech check, recognition
(packed over lines), then alignment, prosody, speaker and damage per line.

:func:`analyze_line` runs them on one cue outside a session; :mod:`adr.analysis.analyze`
runs them over a session's cues. Every stage of a line takes the one denoised signal.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from adr.analysis.asr import Transcript
from adr.analysis.result import AnalysisOptions, LineAnalysis
from adr.analysis.speakers import SpeakerMatch, Voiceprint
from adr.core.errors import AdrError
from adr.core.timebase import seconds_to_samples
from adr.core.types import Cue

if TYPE_CHECKING:
    from adr.ingest.media import MonoSource

__all__ = ["analyze_line"]

#: The production audio at the analysis rate: in memory, or read from its file as sliced.
AudioSource = Union[np.ndarray, "MonoSource"]

#: Seconds of audio before a line that the denoiser runs over first (its state settles).
_DENOISE_PREROLL = 0.5
#: Lines closer than this (seconds) are denoised in one pass.
_DENOISE_BRIDGE = 2.0
#: A line whose denoised audio never reaches this speech probability has no speech.
_MIN_SPEECH_PROBABILITY = 0.3
#: Script mode: Whisper disagreeing with more than this share of the script's words warns.
_SCRIPT_CHECK_WER = 0.5


def _window(cue: Cue, duration: float, context: float) -> tuple[float, float]:
    return max(0.0, cue.start - context), min(duration, cue.end + context)


def _segment(audio: AudioSource, sample_rate: int, t0: float, t1: float) -> np.ndarray:
    return audio[seconds_to_samples(t0, sample_rate) : seconds_to_samples(t1, sample_rate)]


def _in_cue(cue: Cue, exc: AdrError) -> AdrError:
    """``exc`` reworded to name the cue."""
    if exc.where.startswith("cue "):
        return exc
    return AdrError(f"cue {cue.id}", f"{exc.where}: {exc.problem}")


@dataclass
class _Work:
    """A line in progress (audio stages); ``denoised`` is kept for the scene A/V offset."""

    cue: Cue
    t0: float
    seg: np.ndarray
    denoised: np.ndarray
    timings: dict[str, float]
    transcript: Transcript | None = None
    notes: list[str] = field(default_factory=list)


def _denoise_lines(
    audio: AudioSource, sample_rate: int, windows: Sequence[tuple[float, float]], method: str
) -> list[np.ndarray]:
    """Each window ``(t0, t1)`` of ``audio`` denoised, shape (N_i,).

    The denoiser runs once over each stretch of audio that holds windows less than
    ``_DENOISE_BRIDGE`` seconds apart, starting ``_DENOISE_PREROLL`` seconds before the first.
    DeepFilterNet3 starts from a fresh state on every call (0.25 s of CPU to build): one call
    per stretch instead of one per line saves that, and the pre-roll lets its noise estimate
    settle before the first word (cut right at a line, it treated the first word unevenly:
    on the demo a 10 dB line's SNR estimate moved between 4 and 8 dB with where the cut fell).
    A line's result therefore depends a little on the audio before it, as in any causal
    denoiser, but not on which other cues are analyzed with it beyond their stretch.
    """
    from adr.analysis.denoise import denoise

    order = sorted(range(len(windows)), key=lambda i: windows[i][0])
    blocks: list[list[Any]] = []  # [start sample, end sample, [window indices]]
    bridge = seconds_to_samples(_DENOISE_BRIDGE, sample_rate)
    for i in order:
        a = seconds_to_samples(windows[i][0], sample_rate)
        b = seconds_to_samples(windows[i][1], sample_rate)
        if blocks and a - blocks[-1][1] < bridge:
            blocks[-1][1] = max(blocks[-1][1], b)
            blocks[-1][2].append(i)
        else:
            blocks.append([a, b, [i]])
    out: list[np.ndarray] = [np.zeros(0, np.float32)] * len(windows)
    for a, b, members in blocks:
        first = max(0, a - seconds_to_samples(_DENOISE_PREROLL, sample_rate))
        clean = denoise(audio[first:b], sample_rate, method=method)
        for i in members:
            i0 = seconds_to_samples(windows[i][0], sample_rate)
            i1 = seconds_to_samples(windows[i][1], sample_rate)
            out[i] = clean[i0 - first : i1 - first]
    return out


def _prepare(
    cues: Sequence[Cue],
    audio: AudioSource,
    sample_rate: int,
    options: AnalysisOptions,
    errors: dict[str, AdrError],
) -> list[_Work]:
    """Cut the lines, refuse silent ones, denoise them (once), refuse lines without speech."""
    from adr.analysis.vad import speech_probability

    live: list[tuple[Cue, float, np.ndarray]] = []
    windows = []
    for cue in cues:
        t0, t1 = _window(cue, len(audio) / sample_rate, options.context)
        seg = _segment(audio, sample_rate, t0, t1)
        if seg.size == 0 or float(np.max(np.abs(seg))) < 1e-5:
            errors[cue.id] = AdrError(f"cue {cue.id}", "the line is silent in the production audio")
            continue
        live.append((cue, t0, seg))
        windows.append((t0, t1))
    clock = time.perf_counter()
    denoised = _denoise_lines(audio, sample_rate, windows, options.denoise)
    seconds = time.perf_counter() - clock
    total = sum(len(seg) for _, _, seg in live) or 1
    works = []
    for (cue, t0, seg), den in zip(live, denoised):
        timings = {"denoise": seconds * len(seg) / total}
        clock = time.perf_counter()
        probs, _ = speech_probability(den, sample_rate)
        timings["vad"] = time.perf_counter() - clock
        notes = []
        if len(probs) == 0 or float(np.max(probs)) < _MIN_SPEECH_PROBABILITY:
            if not cue.text.strip():
                errors[cue.id] = AdrError(
                    f"cue {cue.id}",
                    "no speech in the line (only noise or silence between its in and out points)",
                )
                continue
            # script mode: the words are known, so the line is analysed anyway and the take
            # will come from the script (the voice's donor) where the production has nothing
            notes.append(
                "no speech detected under the noise: timing and pitch are estimates, "
                "the take follows the script"
            )
        works.append(_Work(cue, t0, seg, den, timings, notes=notes))
    return works


def _recognize(
    works: Sequence[_Work], sample_rate: int, options: AnalysisOptions, errors: dict[str, AdrError]
) -> None:
    """Fill ``transcript`` of each work: script lines in English, blind lines with language
    identification (a line confidently not English goes to ``errors``)."""
    from adr.analysis.asr import detect_language, transcribe, transcribe_lines

    for blind in (False, True):
        group = [w for w in works if bool(w.cue.text.strip()) != blind]
        if not group:
            continue
        clock = time.perf_counter()
        found = transcribe_lines(
            [(w.seg, w.t0) for w in group],
            model=options.whisper_model,
            language=None if blind else "en",
        )
        seconds = time.perf_counter() - clock
        total = sum(len(w.seg) for w in group)
        for w, tr in zip(group, found):
            w.timings["asr"] = seconds * len(w.seg) / total
            if blind and tr.words and tr.language != "en":
                clock = time.perf_counter()
                code, prob = detect_language(w.seg, model=None)
                if code != "en" and prob >= 0.8:
                    errors[w.cue.id] = AdrError(
                        f"cue {w.cue.id}", f"line is not English (detected {code}, p={prob:.2f})"
                    )
                else:
                    tr = transcribe(w.seg, model=options.whisper_model, language="en", start=w.t0)
                w.timings["asr"] += time.perf_counter() - clock
            w.transcript = tr


def _finish(
    w: _Work, sample_rate: int, voiceprints: Sequence[Voiceprint], options: AnalysisOptions
) -> LineAnalysis:
    """Alignment, prosody, speaker and damage of a prepared, recognized line."""
    from adr.analysis.align import align, uniform_alignment
    from adr.analysis.damage import assess
    from adr.analysis.prosody import extract_prosody, speaking_rate
    from adr.analysis.speakers import identify

    cue, seg, den, t0 = w.cue, w.seg, w.denoised, w.t0
    transcript = w.transcript or Transcript("", "", 0.0)
    warnings: list[str] = list(w.notes)
    if cue.text.strip():
        text, source = cue.text, "script"
        warnings += _script_check(cue.text, transcript)
    else:
        text, source = transcript.text, "recognized"
    if not text.strip():
        raise AdrError(
            f"cue {cue.id}",
            "no speech recognized and no script text given (the "
            "line may be too damaged to recognize: add its text "
            "to the cue sheet)",
        )
    timings = w.timings
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    try:
        alignment = align(seg, text, start=t0, denoised=den)
    except AdrError as exc:
        if not (w.notes and source == "script" and exc.problem.startswith("no speech")):
            raise
        alignment = uniform_alignment(text, cue.start, cue.end)  # nothing audible to align
    lap("align")
    prosody = extract_prosody(seg, sample_rate, start=t0, denoised=den)
    lap("prosody")
    if voiceprints:
        speaker = identify(seg, sample_rate, voiceprints, start=t0, denoised=den)
    else:
        speaker = SpeakerMatch(
            actor="unknown", score=0.0, start=t0, end=t0 + len(seg) / sample_rate
        )
    lap("speaker")
    damage = assess(seg, sample_rate, start=t0, dnsmos=options.dnsmos, denoised=den)
    lap("damage")
    if alignment.method.endswith("(uniform)"):
        warnings.append(
            "the aligner found no path through the text: word and phone times are spread evenly"
        )
    return LineAnalysis(
        cue=cue,
        text=text,
        text_source=source,
        transcript=transcript,
        alignment=alignment,
        prosody=prosody,
        speaking_rate=speaking_rate(alignment.phones),
        speaker=speaker,
        lips=None,
        av=None,
        damage=damage,
        warnings=tuple(warnings),
        timings=timings,
    )


def _script_check(script: str, transcript: Transcript) -> list[str]:
    from adr.metrics import word_errors

    if not transcript.text.strip():
        return ["Whisper heard no words (the line may be too damaged to check the script)"]
    errors = word_errors(script, transcript.text)
    if errors.rate > _SCRIPT_CHECK_WER:
        return [
            f"Whisper heard {transcript.text!r}: {errors.rate:.0%} of the script's words "
            "differ (check the script, or the line is badly damaged)"
        ]
    return []


def analyze_line(
    cue: Cue,
    audio: np.ndarray,
    sample_rate: int,
    *,
    picture: str | Path | None,
    voiceprints: Sequence[Voiceprint],
    options: AnalysisOptions = AnalysisOptions(),
) -> LineAnalysis:
    """Analyze one cue on its own (a session is analyzed with :func:`analyze_session`).

    Parameters
    ----------
    cue : Cue
        The line, times in session seconds.
    audio : np.ndarray, shape (N,)
        The session's production audio at ``sample_rate`` (16 kHz), from session time 0.
    picture : path or None
        Picture file for the lip track (None: no lips). The A/V offset then comes from this
        line alone, which is less reliable than the scene-wide estimate of a session.
    voiceprints : sequence of Voiceprint
        Enrolled actors to identify against.

    Raises
    ------
    AdrError
        Naming the cue, when the line is silent, has no speech, or cannot be analyzed.
    """
    errors: dict[str, AdrError] = {}
    try:
        works = _prepare([cue], audio, sample_rate, options, errors)
        if works:
            _recognize(works, sample_rate, options, errors)
        if cue.id in errors:
            raise errors[cue.id]
        work = works[0]
        line = _finish(work, sample_rate, voiceprints, options)
    except AdrError as exc:
        raise _in_cue(cue, exc) from None
    if picture is None or not options.lips:
        return line
    from adr.analysis.scene import LIPS_MARGIN, _with_lips, scene_av_offset

    try:
        from adr.analysis.lips import track_lips

        t0, t1 = _window(cue, len(audio) / sample_rate, options.context + LIPS_MARGIN)
        scene = track_lips(picture, start=t0, end=t1)
    except AdrError as exc:
        return dataclasses.replace(line, warnings=line.warnings + (f"lips: {exc}",))
    av = scene_av_offset(scene, [(work.t0, work.denoised)], sample_rate)
    return _with_lips(line, scene, av)

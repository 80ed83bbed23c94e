"""``adr analyze``: every cue of a session, from noisy production audio and picture.

Per cue it computes what the resynthesis and the editor need: what was said (the script's
text, checked against Whisper; Whisper's text where no script is given), when each word and
phone is (forced alignment), how it was said (prosody), who said it (actor identification
against the enrolled voiceprints), how the lips move (lip track and A/V offset) and what is
damaged (SNR, bursts; DNSMOS on request). Each result is written to ``analysis/<cue>.json``
(atomically) as soon as its audio stages are done, and again with the scene's lip track and
A/V offset at the end; an interrupted run keeps its finished lines, and a rerun reuses
results whose inputs have not changed (a progress event with ``info["saved"]`` follows each
write). The cue sheet gets each line's status, actor and reason for replacement.

How the work is shared (each expensive step runs once):

- **Denoising**: each line (with ``context`` seconds either side) is denoised once
  (DeepFilterNet3, :mod:`adr.analysis.denoise`); the aligner, the pitch tracker, the speaker encoder
  and the damage assessment all take that one denoised signal.
- **Recognition**: Whisper reads 30 s windows, so the session's lines are packed into
  windows (:func:`adr.analysis.asr.transcribe_lines`): one decoder pass per ~6 lines instead of one
  (or two, with language identification) per line.
- **Lips**: the picture is tracked once per session over the cues' time ranges (one model
  load; cached in ``analysis/scene/lips.json``). The audio/video offset is estimated once for
  the whole scene: every line's denoised speech envelope against the mouth track over all
  cues together (``analysis/scene/av.json``); each line stores that offset. Per-line
  estimates on 3 s were fragile (a competing correlation peak half a second away in one clip
  of six, bench/results_lips.json).

Errors: a cue that cannot be analyzed (silent, no speech, not English ...) does not stop the
others; after the rest are written, :class:`AdrError` names the cue(s). A picture without a
face, or one that cannot be read, is reported in each line's ``warnings``, not raised.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adr.analysis.align import Alignment
from adr.analysis.asr import Transcript
from adr.analysis.avsync import AvOffset
from adr.analysis.damage import DamageReport
from adr.analysis.lips import LipResult
from adr.analysis.speakers import SpeakerMatch, Voiceprint
from adr.core.cache import cache_key
from adr.core.errors import AdrError
from adr.core.fsio import read_json, write_json
from adr.core.names import child_path
from adr.core.progress import ProgressEvent, ProgressHook, null_progress
from adr.core.records import Record
from adr.core.timebase import seconds_to_samples
from adr.core.types import Cue, Prosody, strict_from_dict
from adr.ingest.lock import session_lock
from adr.ingest.session import Session

__all__ = [
    "ANALYSIS_FORMAT_VERSION",
    "ANALYSIS_RATE",
    "AnalysisOptions",
    "LineAnalysis",
    "analyze_line",
    "analyze_session",
    "damage_reason",
    "load_analysis",
    "load_voiceprints",
    "scene_av_offset",
]

ANALYSIS_FORMAT_VERSION = 2
#: Sample rate of the analysis front end (Whisper, aligner, speaker encoder, DNSMOS).
ANALYSIS_RATE = 16_000
#: Changes whenever what the analysis computes changes (part of every cache key).
_PIPELINE_VERSION = 2
#: Seconds of picture tracked around each cue's audio window.
_LIPS_MARGIN = 0.1
#: Cue windows closer than this are tracked as one stretch of picture.
_LIPS_BRIDGE = 1.0
#: Face detector period (frames) of the scene's lip tracking; landmarks follow every frame.
_LIPS_DETECT_EVERY = 25
#: Seconds of audio before a line that the denoiser runs over first (its state settles).
_DENOISE_PREROLL = 0.5
#: Lines closer than this (seconds) are denoised in one pass.
_DENOISE_BRIDGE = 2.0
#: Below this A/V confidence a line gets a warning.
_AV_CONFIDENT = 0.3
#: A line whose denoised audio never reaches this speech probability has no speech.
_MIN_SPEECH_PROBABILITY = 0.3
#: Script mode: Whisper disagreeing with more than this share of the script's words warns.
_SCRIPT_CHECK_WER = 0.5
#: Hex digits of the analysis cache keys (:func:`adr.core.cache.cache_key`).
_KEY_DIGITS = 16


@dataclass(frozen=True)
class AnalysisOptions(Record):
    """Choices for ``adr analyze``.

    Attributes
    ----------
    whisper_model : str or None
        Whisper model name or path (None: the default shipped model).
    context : float
        Seconds of audio kept around each cue for recognition and alignment.
    lips : bool
        Track the lips in the picture and estimate the A/V offset.
    dnsmos : bool
        Also score each line with DNSMOS (1-3 s per line; reported, not used to flag).
    denoise : str
        The :func:`adr.analysis.denoise.denoise` method every stage works on (``"dfn3"``).
    """

    whisper_model: str | None = None
    context: float = 0.15
    lips: bool = True
    dnsmos: bool = False
    denoise: str = "dfn3"


@dataclass(frozen=True, eq=False)
class LineAnalysis:
    """Everything ``adr analyze`` found about one cue.

    Attributes
    ----------
    cue : Cue
        The cue as analyzed.
    text : str
        The text the line is aligned to (the script's when given, else recognized).
    text_source : str
        ``"script"`` or ``"recognized"``.
    transcript : Transcript
        What Whisper heard (kept even in script mode: it checks the script).
    alignment : Alignment
        Word and phone times of ``text``.
    prosody : Prosody
        Pitch, voicing and energy per 10 ms frame.
    speaking_rate : float
        Phones per second.
    speaker : SpeakerMatch
        The identified actor (``"unknown"`` when no enrolled actor matches).
    lips : LipResult or None
        Lip track of the cue's picture span (``track.av_offset`` set from ``av``).
    av : AvOffset or None
        Audio-minus-picture offset, estimated over the whole scene (all cues together).
    damage : DamageReport
        SNR, DNSMOS and damaged spans.
    key : str
        Hash of the inputs; a rerun reuses this result while the key matches.
    warnings : tuple of str
        Things the editor should know (no face in the picture, uncertain A/V offset, Whisper
        disagreeing with the script ...).
    timings : dict of str to float
        Seconds spent per stage on this line (shared stages: this line's share).
    """

    cue: Cue
    text: str
    text_source: str
    transcript: Transcript
    alignment: Alignment
    prosody: Prosody
    speaking_rate: float
    speaker: SpeakerMatch
    lips: LipResult | None
    av: AvOffset | None
    damage: DamageReport
    key: str = ""
    warnings: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    format_version: int = ANALYSIS_FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "key": self.key,
            "cue": self.cue.to_dict(),
            "text": self.text,
            "text_source": self.text_source,
            "transcript": self.transcript.to_dict(),
            "alignment": self.alignment.to_dict(),
            "prosody": self.prosody.to_dict(),
            "speaking_rate": self.speaking_rate,
            "speaker": self.speaker.to_dict(),
            "lips": None if self.lips is None else self.lips.to_dict(),
            "av": None if self.av is None else self.av.to_dict(),
            "damage": self.damage.to_dict(),
            "warnings": list(self.warnings),
            "timings": {k: round(float(v), 4) for k, v in self.timings.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LineAnalysis:
        d = dict(data)
        if d.get("format_version") != ANALYSIS_FORMAT_VERSION:
            raise ValueError(f"unsupported analysis format version {d.get('format_version')!r}")
        d["cue"] = Cue.from_dict(d["cue"])
        d["transcript"] = Transcript.from_dict(d["transcript"])
        d["alignment"] = Alignment.from_dict(d["alignment"])
        d["prosody"] = Prosody.from_dict(d["prosody"])
        d["speaker"] = SpeakerMatch.from_dict(d["speaker"])
        d["lips"] = None if d.get("lips") is None else LipResult.from_dict(d["lips"])
        d["av"] = None if d.get("av") is None else AvOffset.from_dict(d["av"])
        d["damage"] = DamageReport.from_dict(d["damage"])
        d["warnings"] = tuple(str(w) for w in d.get("warnings", ()))
        d["timings"] = {str(k): float(v) for k, v in d.get("timings", {}).items()}
        return strict_from_dict(cls, d)


def load_voiceprints(voices_root: str | Path) -> list[Voiceprint]:
    """Voiceprints of every actor enrolled under ``voices_root`` (``ACTOR/voiceprint.json``)."""
    prints = []
    for path in sorted(Path(voices_root).glob("*/voiceprint.json")):
        try:
            prints.append(Voiceprint.from_dict(read_json(path)))
        except (ValueError, KeyError, TypeError) as exc:
            raise AdrError(path, f"invalid voiceprint ({exc})") from None
    return prints


def load_analysis(session: Session, cue_id: str) -> LineAnalysis:
    """Read ``analysis/<cue>.json`` of a session."""
    path = child_path(session.analysis_dir, cue_id, ".json", "cue id")
    data = read_json(path)
    try:
        return LineAnalysis.from_dict(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise AdrError(path, f"invalid analysis file ({exc}); delete it and run adr analyze") from None


def _line_key(cue: Cue, options: AnalysisOptions, voiceprints: Sequence[Voiceprint],
              session: Session) -> str:
    """Inputs of a line's audio analysis (the scene-wide lips and A/V are keyed apart)."""
    return cache_key({
        "cue": {k: v for k, v in cue.to_dict().items() if k not in ("status", "notes", "reason", "actor", "character")},
        "options": {k: v for k, v in options.to_dict().items() if k != "lips"},
        "voices": sorted((v.actor, round(float(np.sum(v.embedding)), 5)) for v in voiceprints),
        "audio": session.audio[0].to_dict(),
        "format": ANALYSIS_FORMAT_VERSION,
        "pipeline": _PIPELINE_VERSION,
    }, length=_KEY_DIGITS)


# --------------------------------------------------------------------------- one line


def _window(cue: Cue, duration: float, context: float) -> tuple[float, float]:
    return max(0.0, cue.start - context), min(duration, cue.end + context)


def _segment(audio: np.ndarray, sample_rate: int, t0: float, t1: float) -> np.ndarray:
    return audio[seconds_to_samples(t0, sample_rate):seconds_to_samples(t1, sample_rate)]


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


def _denoise_lines(audio: np.ndarray, sample_rate: int, windows: Sequence[tuple[float, float]],
                   method: str) -> list[np.ndarray]:
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
            out[i] = clean[i0 - first:i1 - first]
    return out


def _prepare(cues: Sequence[Cue], audio: np.ndarray, sample_rate: int,
             options: AnalysisOptions, errors: dict[str, AdrError]) -> list[_Work]:
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
                errors[cue.id] = AdrError(f"cue {cue.id}", "no speech in the line (only noise "
                                          "or silence between its in and out points)")
                continue
            # script mode: the words are known, so the line is analysed anyway and the take
            # will come from the script (the voice's donor) where the production has nothing
            notes.append("no speech detected under the noise: timing and pitch are estimates, "
                         "the take follows the script")
        works.append(_Work(cue, t0, seg, den, timings, notes=notes))
    return works


def _recognize(works: Sequence[_Work], sample_rate: int, options: AnalysisOptions,
               errors: dict[str, AdrError]) -> None:
    """Fill ``transcript`` of each work: script lines in English, blind lines with language
    identification (a line confidently not English goes to ``errors``)."""
    from adr.analysis.asr import detect_language, transcribe, transcribe_lines

    for blind in (False, True):
        group = [w for w in works if bool(w.cue.text.strip()) != blind]
        if not group:
            continue
        clock = time.perf_counter()
        found = transcribe_lines([(w.seg, w.t0) for w in group], model=options.whisper_model,
                                 language=None if blind else "en")
        seconds = time.perf_counter() - clock
        total = sum(len(w.seg) for w in group)
        for w, tr in zip(group, found):
            w.timings["asr"] = seconds * len(w.seg) / total
            if blind and tr.words and tr.language != "en":
                clock = time.perf_counter()
                code, prob = detect_language(w.seg, model=None)
                if code != "en" and prob >= 0.8:
                    errors[w.cue.id] = AdrError(f"cue {w.cue.id}", f"line is not English "
                                                                   f"(detected {code}, p={prob:.2f})")
                else:
                    tr = transcribe(w.seg, model=options.whisper_model, language="en", start=w.t0)
                w.timings["asr"] += time.perf_counter() - clock
            w.transcript = tr


def _finish(w: _Work, sample_rate: int, voiceprints: Sequence[Voiceprint],
            options: AnalysisOptions) -> LineAnalysis:
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
        raise AdrError(f"cue {cue.id}", "no speech recognized and no script text given (the "
                                        "line may be too damaged to recognize: add its text "
                                        "to the cue sheet)")
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
        speaker = SpeakerMatch(actor="unknown", score=0.0, start=t0,
                               end=t0 + len(seg) / sample_rate)
    lap("speaker")
    damage = assess(seg, sample_rate, start=t0, dnsmos=options.dnsmos, denoised=den)
    lap("damage")
    if alignment.method.endswith("(uniform)"):
        warnings.append("the aligner found no path through the text: word and phone times "
                        "are spread evenly")
    return LineAnalysis(
        cue=cue, text=text, text_source=source, transcript=transcript, alignment=alignment,
        prosody=prosody, speaking_rate=speaking_rate(alignment.phones), speaker=speaker,
        lips=None, av=None, damage=damage, warnings=tuple(warnings), timings=timings,
    )


def _script_check(script: str, transcript: Transcript) -> list[str]:
    from adr.metrics import word_errors

    if not transcript.text.strip():
        return ["Whisper heard no words (the line may be too damaged to check the script)"]
    errors = word_errors(script, transcript.text)
    if errors.rate > _SCRIPT_CHECK_WER:
        return [f"Whisper heard {transcript.text!r}: {errors.rate:.0%} of the script's words "
                "differ (check the script, or the line is badly damaged)"]
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
    try:
        from adr.analysis.lips import track_lips

        t0, t1 = _window(cue, len(audio) / sample_rate, options.context + _LIPS_MARGIN)
        scene = track_lips(picture, start=t0, end=t1)
    except AdrError as exc:
        return dataclasses.replace(line, warnings=line.warnings + (f"lips: {exc}",))
    av = scene_av_offset(scene, [(work.t0, work.denoised)], sample_rate)
    return _with_lips(line, scene, av)


# --------------------------------------------------------------------------- the scene


def _lip_windows(cues: Sequence[Cue], duration: float,
                 context: float) -> list[tuple[float, float]]:
    """Stretches of picture to track: each cue's audio window +- margin, merged when close."""
    out: list[list[float]] = []
    for c in sorted(cues, key=lambda c: c.start):
        pad = context + _LIPS_MARGIN
        a, b = max(0.0, c.start - pad), min(duration, c.end + pad)
        if out and a - out[-1][1] < _LIPS_BRIDGE:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out if b > a]


def _stitch(blocks: Sequence[LipResult]) -> LipResult:
    """One lip result over the frames of ``blocks`` (same fps), frames between them empty."""
    from adr.analysis.lips import LipReport
    from adr.core.types import LipTrack

    blocks = sorted(blocks, key=lambda b: b.track.start)
    fps = float(blocks[0].track.fps)
    first = int(round(blocks[0].track.start * fps))
    last = max(int(round(b.track.start * fps)) + b.track.num_frames for b in blocks)
    n = last - first
    opening = np.full(n, np.nan, np.float32)
    width = np.full(n, np.nan, np.float32)
    face = np.zeros(n, bool)
    boxes = np.full((n, 4), np.nan, np.float32)
    faces = np.zeros(n, np.int16)
    events = np.zeros(n, np.uint8)
    for b in blocks:
        i = int(round(b.track.start * fps)) - first
        k = b.track.num_frames
        opening[i:i + k] = b.track.opening
        width[i:i + k] = b.track.width
        face[i:i + k] = b.track.face
        if len(b.boxes) == k:
            boxes[i:i + k] = b.boxes
        if len(b.faces) == k:
            faces[i:i + k] = b.faces
        if len(b.events) == k:
            events[i:i + k] = b.events
    track = LipTrack(start=first / fps, fps=fps, opening=opening, width=width, face=face)
    report = LipReport(n, int(face.sum()), sum(b.report.multi_face_frames for b in blocks),
                       max(b.report.max_faces for b in blocks),
                       sum(b.report.detections for b in blocks),
                       sum(b.report.track_losses for b in blocks))
    return LipResult(track, report, boxes, faces, events)


def _scene_lips(session: Session, cues: Sequence[Cue], context: float,
                progress: ProgressHook) -> tuple[LipResult | None, str, list[str]]:
    """The lip track over the cues' picture (cached per stretch in ``analysis/scene``).

    Returns the stitched result (None if the picture cannot be read), the cache key of the
    stretches used, and warnings.
    """
    from adr.analysis.lips import track_lips

    path = session.analysis_dir / "scene" / "lips.json"
    key = cache_key({"picture": session.picture.to_dict(), "pipeline": _PIPELINE_VERSION,
                     "format": ANALYSIS_FORMAT_VERSION, "detect_every": _LIPS_DETECT_EVERY},
                    length=_KEY_DIGITS)
    cached: list[dict[str, Any]] = []
    if path.exists():
        try:
            data = read_json(path)
            if data.get("key") == key:
                cached = list(data["blocks"])
        except (AdrError, KeyError, TypeError, ValueError):
            cached = []
    windows = _lip_windows(cues, session.picture.duration, context)
    blocks: list[LipResult] = []
    used: list[tuple[float, float]] = []
    changed = False
    for a, b in windows:
        hit = next((c for c in cached if c["start"] <= a + 1e-6 and c["end"] >= b - 1e-6), None)
        if hit is None:
            try:
                result = track_lips(session.picture.path, start=a, end=b,
                                    detect_every=_LIPS_DETECT_EVERY, progress=progress)
            except AdrError as exc:
                return None, key, [f"lips: {exc}"]
            hit = {"start": a, "end": b, "lips": result.to_dict()}
            cached.append(hit)
            changed = True
        blocks.append(LipResult.from_dict(hit["lips"]))
        used.append((hit["start"], hit["end"]))
    if changed:
        write_json(path, {"key": key, "blocks": cached})
    if not blocks:
        return None, key, []
    return _stitch(blocks), cache_key([key, sorted(set(used))], length=_KEY_DIGITS), []


def scene_av_offset(lips: LipResult, lines: Sequence[tuple[float, np.ndarray]],
                    sample_rate: int) -> AvOffset:
    """Audio/video offset of a scene from all its lines at once.

    Parameters
    ----------
    lips : LipResult
        Mouth track over the lines' picture (frames outside the lines are ignored).
    lines : sequence of (float, np.ndarray)
        Each line's session start time and its (denoised) audio, shape (N_i,).
    sample_rate : int

    Returns
    -------
    AvOffset
        Positive: the audio is late. Correlation of the mouth opening with the speech
        envelope over every line together (:func:`adr.analysis.avsync.estimate_av_offset` with spans).
    """
    from adr.analysis.avsync import estimate_av_offset

    if not lines:
        return AvOffset(0.0, 0.0, 0.0, 0.0)
    end = max(t + len(x) / sample_rate for t, x in lines)
    scene = np.zeros(seconds_to_samples(end, sample_rate) + 1, dtype=np.float32)
    spans = []
    for t, x in lines:
        i = seconds_to_samples(t, sample_rate)
        scene[i:i + len(x)] = x[: len(scene) - i]
        spans.append((t, t + len(x) / sample_rate))
    return estimate_av_offset(lips.track, scene, sample_rate, audio_start=0.0, spans=spans)


def _with_lips(line: LineAnalysis, scene: LipResult | None, av: AvOffset | None,
               warnings: Sequence[str] = ()) -> LineAnalysis:
    """``line`` with its slice of the scene's lip track and the scene's A/V offset."""
    notes = [w for w in line.warnings if not w.startswith(("lips:", "A/V offset", "no face"))]
    notes += list(warnings)
    lips = None
    if scene is not None and av is not None:
        lips = scene.slice(line.cue.start, line.cue.end)
        lips = dataclasses.replace(lips, track=av.apply(lips.track))
        if lips.report.face_frames == 0:
            notes.append("no face found in the picture during the line (no lip track)")
        elif av.confidence < _AV_CONFIDENT:
            notes.append(f"A/V offset uncertain (confidence {av.confidence:.2f}; the scene's "
                         "mouth movement and speech do not correlate clearly)")
    return dataclasses.replace(line, lips=lips, av=av, warnings=tuple(notes))


def _same_lips(a: LineAnalysis, b: LineAnalysis) -> bool:
    da = None if a.lips is None else a.lips.to_dict()
    db = None if b.lips is None else b.lips.to_dict()
    return (da == db and (a.av is None) == (b.av is None)
            and (a.av is None or a.av.to_dict() == b.av.to_dict()) and a.warnings == b.warnings)


# --------------------------------------------------------------------------- the session


def damage_reason(damage: DamageReport, to_timecode: Callable[[float], str]) -> str:
    """Cue-sheet wording of a damage report, with record timecodes.

    For example ``"SNR 4 dB; burst 0.8 s at 01:00:12:04 (SNR -3 dB)"``.
    """
    parts = [f"SNR {damage.snr_db:.0f} dB"]
    if damage.dnsmos:
        parts.append(f"DNSMOS {damage.dnsmos.get('ovrl', float('nan')):.1f}")
    for span in damage.spans:
        parts.append(f"{span.kind} {span.duration:.1f} s at {to_timecode(span.start)} "
                     f"(SNR {span.snr_db:.0f} dB)")
    return "; ".join(parts)


def _updated_cue(session: Session, line: LineAnalysis) -> Cue:
    cue = line.cue
    actor = cue.actor or (line.speaker.actor if line.speaker.actor != "unknown" else "")
    status = cue.status
    if status in ("pending", "flagged", "analyzed"):
        status = "flagged" if line.damage.flagged else "analyzed"
    reason = cue.reason
    if line.damage.flagged and not reason:
        reason = damage_reason(line.damage, session.to_timecode)
    return dataclasses.replace(cue, actor=actor, status=status, reason=reason)


def analyze_session(
    session: Session,
    *,
    voices_root: str | Path = "voices",
    cue_ids: Sequence[str] | None = None,
    options: AnalysisOptions = AnalysisOptions(),
    progress: ProgressHook | None = None,
) -> list[LineAnalysis]:
    """Analyze a session's cues (``adr analyze``); see the module docstring.

    When the session has no cue sheet yet, speech regions of the production audio become
    the cues (``L001``, ``L002`` ...). Results already on disk with a matching input key are
    reused. Returns the analyses in cue order and rewrites the cue sheet with each line's
    status, actor and reason.

    Holds the session lock (:func:`adr.ingest.lock.session_lock`, re-entrant) throughout.

    Raises
    ------
    AdrError
        An unknown cue id (before any work); cues that could not be analyzed (after the
        others are written), naming them; the session in use by another writer.
    """
    with session_lock(session.root, "analyze"):  # re-entrant: the CLI holds it too
        return _analyze_session_locked(session, voices_root=voices_root, cue_ids=cue_ids,
                                       options=options, progress=progress)


def _analyze_session_locked(
    session: Session,
    *,
    voices_root: str | Path = "voices",
    cue_ids: Sequence[str] | None = None,
    options: AnalysisOptions = AnalysisOptions(),
    progress: ProgressHook | None = None,
) -> list[LineAnalysis]:
    from adr.ingest.media import MonoSource

    progress = progress or null_progress
    session.check_audio()  # gone, replaced or cut short since the session was made
    # the production mixed to mono at the analysis rate, read from the file as each line
    # needs it (a long reel is streamed once, never held: memory does not grow with it)
    audio = MonoSource(session.audio[0].path, ANALYSIS_RATE)
    cues = session.read_cues()
    if not cues:
        from adr.analysis.vad import stream_speech_regions

        regions = stream_speech_regions(audio.blocks())
        if not regions:
            raise AdrError(session.audio[0].path, "no speech found in the production audio")
        cues = [Cue(id=f"L{i + 1:03d}", character="", actor="", start=r.start, end=r.end)
                for i, r in enumerate(regions)]
        session.write_cues(cues)
    known = {c.id for c in cues}
    wanted = list(cue_ids) if cue_ids else [c.id for c in cues]
    for cid in wanted:
        if cid not in known:
            raise AdrError(session.cues_path, f"no cue {cid!r} in the cue sheet")
    voiceprints = load_voiceprints(voices_root)
    todo = [c for c in cues if c.id in wanted]
    results: dict[str, LineAnalysis] = {}
    stored: dict[str, LineAnalysis] = {}
    keys: dict[str, str] = {}
    errors: dict[str, AdrError] = {}
    fresh: list[Cue] = []

    # 1. reuse what is on disk; cut, denoise and check the rest
    for i, cue in enumerate(todo):
        progress(ProgressEvent("analyze", i, len(todo), "line", {"cue": cue.id}))
        keys[cue.id] = key = _line_key(cue, options, voiceprints, session)
        path = child_path(session.analysis_dir, cue.id, ".json", "cue id")
        if path.exists():
            try:
                previous = LineAnalysis.from_dict(read_json(path))
            except (AdrError, ValueError, KeyError, TypeError):
                previous = None
            if previous is not None and previous.key == key:
                results[cue.id] = stored[cue.id] = previous
                continue
        fresh.append(cue)
    works = _prepare(fresh, audio, ANALYSIS_RATE, options, errors) if fresh else []
    # 2. recognition, packed over all new lines; 3. the other audio stages per line
    if works:
        try:
            _recognize(works, ANALYSIS_RATE, options, errors)
        except AdrError as exc:  # the model itself failed: every line needs it
            raise AdrError("analyze", f"speech recognition failed ({exc})") from None
    denoised: dict[str, tuple[float, np.ndarray]] = {}
    for w in works:
        if w.cue.id in errors:
            continue
        progress(ProgressEvent("analyze", len(results), len(todo), "line", {"cue": w.cue.id}))
        try:
            line = _finish(w, ANALYSIS_RATE, voiceprints, options)
        except AdrError as exc:
            errors[w.cue.id] = _in_cue(w.cue, exc)
            continue
        line = dataclasses.replace(line, key=keys[w.cue.id])
        results[w.cue.id] = stored[w.cue.id] = line
        denoised[w.cue.id] = (w.t0, w.denoised)
        # kept at once (atomically): an interruption loses at most the line in progress
        write_json(child_path(session.analysis_dir, w.cue.id, ".json", "cue id"), line.to_dict())
        progress(ProgressEvent("analyze", len(results), len(todo), "line",
                               {"cue": w.cue.id, "saved": True}))
    # 4. lips over the scene, one A/V offset for all lines: the analyzed cues and any other
    # cue of the sheet whose analysis on disk is current (a rerun of a few cues keeps the
    # scene's estimate)
    for cue in cues:
        if cue.id in wanted or cue.id in errors:
            continue
        path = child_path(session.analysis_dir, cue.id, ".json", "cue id")
        if path.exists():
            try:
                other = LineAnalysis.from_dict(read_json(path))
            except (AdrError, ValueError, KeyError, TypeError):
                continue
            if other.key == _line_key(cue, options, voiceprints, session):
                results[cue.id] = stored[cue.id] = other
    scene_cues = [c for c in cues if c.id in results]
    if options.lips and scene_cues:
        _add_lips(session, scene_cues, results, denoised, audio, options, progress)
    else:
        for c in scene_cues:
            results[c.id] = _with_lips(results[c.id], None, None)
    for c in scene_cues:
        line = results[c.id]
        if c.id not in stored or not _same_lips(line, stored[c.id]):
            write_json(child_path(session.analysis_dir, c.id, ".json", "cue id"), line.to_dict())
    progress(ProgressEvent("analyze", len(todo), len(todo), "line"))
    session.write_cues([_updated_cue(session, results[c.id]) if c.id in results else c
                        for c in cues])
    if errors:
        failed = [c.id for c in todo if c.id in errors]
        first = errors[failed[0]]
        more = f" (and {len(failed) - 1} more: {', '.join(failed[1:])})" if len(failed) > 1 else ""
        raise AdrError(first.where, first.problem + more)
    return [results[c.id] for c in todo]


def _add_lips(session: Session, done: Sequence[Cue], results: dict[str, LineAnalysis],
              denoised: dict[str, tuple[float, np.ndarray]], audio: np.ndarray,
              options: AnalysisOptions, progress: ProgressHook) -> None:
    """Put the scene's lip track slices and its A/V offset into ``results`` (in place)."""
    clock = time.perf_counter()
    scene, lips_key, warnings = _scene_lips(session, done, options.context, progress)
    lips_seconds = time.perf_counter() - clock
    av = None
    av_seconds = 0.0
    if scene is not None:
        clock = time.perf_counter()
        spans = [list(_window(c, len(audio) / ANALYSIS_RATE, options.context)) for c in done]
        av_key = cache_key([lips_key, session.audio[0].to_dict(), spans, options.denoise,
                            _PIPELINE_VERSION], length=_KEY_DIGITS)
        path = session.analysis_dir / "scene" / "av.json"
        try:
            data = read_json(path) if path.exists() else {}
            if data.get("key") == av_key:
                av = AvOffset.from_dict(data["av"])
        except (AdrError, KeyError, TypeError, ValueError):
            av = None
        if av is None:
            missing = [c for c in done if c.id not in denoised]  # reused lines
            windows = [_window(c, len(audio) / ANALYSIS_RATE, options.context) for c in missing]
            for c, w, den in zip(missing, windows, _denoise_lines(audio, ANALYSIS_RATE, windows,
                                                                 options.denoise)):
                denoised[c.id] = (w[0], den)
            lines = [denoised[c.id] for c in done]
            av = scene_av_offset(scene, lines, ANALYSIS_RATE)
            write_json(path, {"key": av_key, "av": av.to_dict(), "cues": [c.id for c in done]})
        av_seconds = time.perf_counter() - clock
    total = sum(c.end - c.start for c in done) or 1.0
    for c in done:
        line = _with_lips(results[c.id], scene, av, warnings)
        if results[c.id].timings and "lips" not in results[c.id].timings:
            share = (c.end - c.start) / total
            timings = dict(line.timings, lips=lips_seconds * share, av=av_seconds * share)
            line = dataclasses.replace(line, timings=timings)
        results[c.id] = line

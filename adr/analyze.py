"""``adr analyze``: every cue of a session, from noisy production audio and picture.

Per cue it computes what the resynthesis and the editor need: what was said (the script's
text, checked against Whisper; Whisper's text where no script is given), when each word and
phone is (forced alignment), how it was said (prosody), who said it (actor identification
against the enrolled voiceprints), how the lips move (lip track and A/V offset) and what is
damaged (SNR, DNSMOS, bursts). Each result is written to ``analysis/<cue>.json``; a rerun
reuses results whose inputs have not changed. The cue sheet gets each line's status, actor
and reason for replacement.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adr.align import Alignment
from adr.asr import Transcript
from adr.damage import DamageReport
from adr.errors import AdrError
from adr.fsio import read_json, write_json
from adr.lips import AvOffset, LipResult
from adr.progress import ProgressEvent, ProgressHook, null_progress
from adr.session import Session
from adr.speakers import SpeakerMatch, Voiceprint
from adr.timebase import seconds_to_samples
from adr.types import Cue, Prosody, strict_from_dict

__all__ = [
    "ANALYSIS_FORMAT_VERSION",
    "ANALYSIS_RATE",
    "AnalysisOptions",
    "LineAnalysis",
    "analyze_session",
    "load_analysis",
    "load_voiceprints",
]

ANALYSIS_FORMAT_VERSION = 1
#: Sample rate of the analysis front end (Whisper, aligner, speaker encoder, DNSMOS).
ANALYSIS_RATE = 16_000


@dataclass(frozen=True)
class AnalysisOptions:
    """Choices for ``adr analyze``.

    Attributes
    ----------
    whisper_model : str or None
        Whisper model name or path (None: the default shipped model).
    context : float
        Seconds of audio kept around each cue for recognition and alignment.
    lips : bool
        Track the lips in the picture.
    dnsmos : bool
        Score each line with DNSMOS (about 2 s per line).
    """

    whisper_model: str | None = None
    context: float = 0.15
    lips: bool = True
    dnsmos: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
        Lip track of the line's picture span, with ``av`` its A/V offset.
    av : AvOffset or None
        Audio-minus-picture offset estimated from the lips.
    damage : DamageReport
        SNR, DNSMOS and damaged spans.
    key : str
        Hash of the inputs; a rerun reuses this result while the key matches.
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
    path = session.analysis_dir / f"{cue_id}.json"
    data = read_json(path)
    try:
        return LineAnalysis.from_dict(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise AdrError(path, f"invalid analysis file ({exc}); delete it and run adr analyze") from None


def _line_key(cue: Cue, options: AnalysisOptions, voiceprints: Sequence[Voiceprint],
              session: Session) -> str:
    payload = {
        "cue": {k: v for k, v in cue.to_dict().items() if k not in ("status", "notes", "reason", "actor", "character")},
        "options": options.to_dict(),
        "voices": sorted((v.actor, round(float(np.sum(v.embedding)), 5)) for v in voiceprints),
        "audio": session.audio[0].to_dict(),
        "format": ANALYSIS_FORMAT_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def analyze_line(
    cue: Cue,
    audio: np.ndarray,
    sample_rate: int,
    *,
    picture: str | Path | None,
    voiceprints: Sequence[Voiceprint],
    options: AnalysisOptions = AnalysisOptions(),
) -> LineAnalysis:
    """Analyze one cue.

    Parameters
    ----------
    cue : Cue
        The line, times in session seconds.
    audio : np.ndarray, shape (N,)
        The session's production audio at ``sample_rate`` (16 kHz), from session time 0.
    picture : path or None
        Picture file for the lip track (None: no lips).
    voiceprints : sequence of Voiceprint
        Enrolled actors to identify against.
    """
    from adr.align import align
    from adr.asr import check_english, transcribe
    from adr.damage import assess
    from adr.prosody import extract_prosody, speaking_rate
    from adr.speakers import identify

    t0 = max(0.0, cue.start - options.context)
    t1 = min(len(audio) / sample_rate, cue.end + options.context)
    seg = audio[seconds_to_samples(t0, sample_rate):seconds_to_samples(t1, sample_rate)]
    if seg.size == 0 or float(np.max(np.abs(seg))) < 1e-5:
        raise AdrError(f"cue {cue.id}", "the line is silent in the production audio")
    transcript = transcribe(seg, model=options.whisper_model, start=t0, language=None)
    if cue.text.strip():
        text, source = cue.text, "script"
    else:
        check_english(seg, f"cue {cue.id}")
        text, source = transcript.text, "recognized"
    if not text.strip():
        raise AdrError(f"cue {cue.id}", "no speech recognized and no script text given")
    alignment = align(seg, text, start=t0)
    prosody = extract_prosody(seg, sample_rate, start=t0)
    if voiceprints:
        speaker = identify(seg, sample_rate, voiceprints, start=t0)
    else:
        speaker = SpeakerMatch(actor="unknown", score=0.0, start=t0, end=t1)
    lips = av = None
    if picture is not None and options.lips:
        from adr.lips import estimate_av_offset, track_lips

        lips = track_lips(picture, start=cue.start, end=cue.end)
        av = estimate_av_offset(lips.track, seg, sample_rate, audio_start=t0)
        lips = dataclasses.replace(lips, track=av.apply(lips.track))
    damage = assess(seg, sample_rate, start=t0, dnsmos=options.dnsmos)
    return LineAnalysis(
        cue=cue, text=text, text_source=source, transcript=transcript, alignment=alignment,
        prosody=prosody, speaking_rate=speaking_rate(alignment.phones), speaker=speaker,
        lips=lips, av=av, damage=damage,
    )


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
    """
    from adr.media import read_audio

    progress = progress or null_progress
    audio = read_audio(session.audio[0].path, sample_rate=ANALYSIS_RATE).mono()
    cues = session.read_cues()
    if not cues:
        from adr.vad import speech_regions

        regions = speech_regions(audio, ANALYSIS_RATE)
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
    results: dict[str, LineAnalysis] = {}
    todo = [c for c in cues if c.id in wanted]
    for i, cue in enumerate(todo):
        progress(ProgressEvent("analyze", i, len(todo), "line", {"cue": cue.id}))
        key = _line_key(cue, options, voiceprints, session)
        path = session.analysis_dir / f"{cue.id}.json"
        if path.exists():
            try:
                previous = LineAnalysis.from_dict(read_json(path))
            except (AdrError, ValueError, KeyError, TypeError):
                previous = None
            if previous is not None and previous.key == key:
                results[cue.id] = previous
                continue
        line = analyze_line(cue, audio, ANALYSIS_RATE, picture=session.picture.path,
                            voiceprints=voiceprints, options=options)
        line = dataclasses.replace(line, key=key)
        write_json(path, line.to_dict())
        results[cue.id] = line
    progress(ProgressEvent("analyze", len(todo), len(todo), "line"))
    session.write_cues([_updated_cue(session, results[c.id]) if c.id in results else c
                        for c in cues])
    return [results[c.id] for c in todo]

"""Analysis: the result of ``adr analyze`` for one line, its options and how it is stored.

:class:`LineAnalysis` is what the analysis gives the voice and delivery stages (text, words,
phones, prosody, speaker, lips, A/V offset, damage), stored as ``analysis/<cue>.json`` with
the key of its inputs (:func:`adr.core.cache.cache_key` of cue, options, voiceprints, audio,
format and :data:`PIPELINE_VERSION`); loading is strict and refuses other format versions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adr.analysis.align import Alignment
from adr.analysis.asr import Transcript
from adr.analysis.avsync import AvOffset
from adr.analysis.damage import DamageReport
from adr.analysis.lip_records import LipResult
from adr.analysis.speakers import SpeakerMatch, Voiceprint
from adr.core.errors import AdrError
from adr.core.fsio import read_json
from adr.core.names import child_path
from adr.core.records import Record
from adr.core.types import Cue, Prosody, strict_from_dict
from adr.ingest.session import Session

__all__ = [
    "ANALYSIS_FORMAT_VERSION",
    "ANALYSIS_RATE",
    "PIPELINE_VERSION",
    "KEY_DIGITS",
    "AnalysisOptions",
    "LineAnalysis",
    "load_voiceprints",
    "load_analysis",
    "damage_reason",
]

ANALYSIS_FORMAT_VERSION = 2
#: Sample rate of the analysis front end (Whisper, aligner, speaker encoder, DNSMOS).
ANALYSIS_RATE = 16_000
#: Changes whenever what the analysis computes changes (part of every cache key).
PIPELINE_VERSION = 2
#: Hex digits of the analysis cache keys (:func:`adr.core.cache.cache_key`).
KEY_DIGITS = 16


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
        raise AdrError(
            path, f"invalid analysis file ({exc}); delete it and run adr analyze"
        ) from None


def damage_reason(damage: DamageReport, to_timecode: Callable[[float], str]) -> str:
    """Cue-sheet wording of a damage report, with record timecodes.

    For example ``"SNR 4 dB; burst 0.8 s at 01:00:12:04 (SNR -3 dB)"``.
    """
    parts = [f"SNR {damage.snr_db:.0f} dB"]
    if damage.dnsmos:
        parts.append(f"DNSMOS {damage.dnsmos.get('ovrl', float('nan')):.1f}")
    for span in damage.spans:
        parts.append(
            f"{span.kind} {span.duration:.1f} s at {to_timecode(span.start)} "
            f"(SNR {span.snr_db:.0f} dB)"
        )
    return "; ".join(parts)

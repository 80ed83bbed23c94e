"""Typed records that flow between the pipeline stages.

Every stage takes and returns these frozen dataclasses, never bare dicts or tuples. Each is a
:class:`adr.core.records.Record`: ``to_dict`` (JSON-ready) and ``from_dict`` (strict: unknown
or missing keys raise). Time is
in seconds from the start of the session's media (the picture's first frame); convert it to
samples or frames only through :mod:`adr.core.timebase` and :mod:`adr.core.timecode`.

Stage-specific records (an analysis result, a voice-model config) live in their own stage
modules and follow the same rules.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adr.core.names import is_valid_name
from adr.core.records import Record, strict_from_dict

__all__ = [
    "CUE_STATUSES",
    "Cue",
    "Word",
    "Phone",
    "Prosody",
    "LipTrack",
    "Take",
    "strict_from_dict",
]

#: The states of a cue on an ADR cue sheet, in workflow order.
CUE_STATUSES = ("pending", "flagged", "analyzed", "rendered", "approved", "rejected", "delivered")


@dataclass(frozen=True)
class Cue(Record):
    """One line on the ADR cue sheet.

    Attributes
    ----------
    id : str
        Cue number as the cue sheet names it (for example ``"101"`` or ``"MAYA-03"``).
    character : str
        Character name in the script.
    actor : str
        Enrolled actor id that voices the character (``""`` when not known yet).
    start, end : float
        Line in and out, seconds from the start of the session's media.
    text : str
        The line as scripted (the text to re-speak); ``""`` when unknown.
    reason : str
        Why the line is replaced (noise, performance, script change ...).
    notes : str
        Free notes for the editor or the actor.
    status : str
        One of :data:`CUE_STATUSES`.
    """

    id: str
    character: str
    actor: str
    start: float
    end: float
    text: str = ""
    reason: str = ""
    notes: str = ""
    status: str = "pending"

    def __post_init__(self) -> None:
        if not self.id.strip():
            raise ValueError("cue id is empty")
        if not is_valid_name(self.id):
            raise ValueError(
                f"cue id {self.id!r} is not allowed: use 1-64 letters, digits, "
                "'.', '_' or '-', starting with a letter or digit"
            )
        if self.actor and not is_valid_name(self.actor):
            raise ValueError(f"cue {self.id}: actor id {self.actor!r} is not allowed")
        if not (self.end > self.start >= 0.0):
            raise ValueError(f"cue {self.id}: out {self.end} must be after in {self.start} >= 0")
        if self.status not in CUE_STATUSES:
            raise ValueError(f"cue {self.id}: unknown status {self.status!r}")

    @property
    def duration(self) -> float:
        """Length of the line in seconds."""
        return self.end - self.start


@dataclass(frozen=True)
class Phone(Record):
    """One phone with its timing, in seconds from the session start.

    ``symbol`` is an IPA phone as phonemizer (espeak-ng) writes it; ``word`` is the index of
    the word it belongs to in the line's word list (``-1`` for silence).
    """

    symbol: str
    start: float
    end: float
    word: int = -1


@dataclass(frozen=True)
class Word(Record):
    """One word with its timing and the recognizer's or aligner's confidence in [0, 1]."""

    text: str
    start: float
    end: float
    confidence: float = 1.0


def _array_field() -> Any:
    return field(default_factory=lambda: np.zeros(0, dtype=np.float32), compare=False)


@dataclass(frozen=True, eq=False)
class Prosody:
    """Frame-wise prosody of a line.

    Attributes
    ----------
    start : float
        Time of frame 0, seconds from the session start.
    frame_period : float
        Seconds between frames (0.01 by default).
    f0 : np.ndarray, shape (T,)
        Fundamental frequency in Hz; 0 where unvoiced.
    voiced : np.ndarray, shape (T,), bool
        Voicing decision per frame.
    energy : np.ndarray, shape (T,)
        Frame energy in dB relative to full scale.
    """

    start: float
    frame_period: float
    f0: np.ndarray = _array_field()
    voiced: np.ndarray = _array_field()
    energy: np.ndarray = _array_field()

    def __post_init__(self) -> None:
        n = len(self.f0)
        if len(self.voiced) != n or len(self.energy) != n:
            raise ValueError("Prosody: f0, voiced and energy must have the same length")

    @property
    def num_frames(self) -> int:
        return len(self.f0)

    @property
    def times(self) -> np.ndarray:
        """Frame times in seconds, shape (T,)."""
        return self.start + self.frame_period * np.arange(self.num_frames)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "frame_period": self.frame_period,
            "f0": np.round(np.asarray(self.f0, dtype=np.float64), 3).tolist(),
            "voiced": np.asarray(self.voiced, dtype=bool).astype(int).tolist(),
            "energy": np.round(np.asarray(self.energy, dtype=np.float64), 3).tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Prosody:
        d = dict(data)
        for key, dtype in (("f0", np.float32), ("energy", np.float32), ("voiced", bool)):
            if key in d:
                d[key] = np.asarray(d[key], dtype=dtype)
        return strict_from_dict(cls, d)


@dataclass(frozen=True, eq=False)
class LipTrack:
    """Mouth measurements per picture frame.

    Attributes
    ----------
    start : float
        Time of frame 0, seconds from the session start.
    fps : float
        Picture frame rate (frames per second; exact rationals live in the session).
    opening : np.ndarray, shape (F,)
        Inner-lip opening divided by mouth width (0 closed); NaN where no face.
    width : np.ndarray, shape (F,)
        Mouth width in pixels; NaN where no face.
    face : np.ndarray, shape (F,), bool
        Whether exactly one face was found in the frame.
    av_offset : float
        Estimated audio-minus-video offset in seconds (positive: audio late).
    av_confidence : float
        Confidence of ``av_offset`` in [0, 1].
    """

    start: float
    fps: float
    opening: np.ndarray = _array_field()
    width: np.ndarray = _array_field()
    face: np.ndarray = _array_field()
    av_offset: float = 0.0
    av_confidence: float = 0.0

    @property
    def num_frames(self) -> int:
        return len(self.opening)

    def to_dict(self) -> dict[str, Any]:
        def clean(a: np.ndarray) -> list[float | None]:
            return [None if not np.isfinite(v) else round(float(v), 4) for v in a]

        return {
            "start": self.start,
            "fps": self.fps,
            "opening": clean(np.asarray(self.opening, dtype=np.float64)),
            "width": clean(np.asarray(self.width, dtype=np.float64)),
            "face": np.asarray(self.face, dtype=bool).astype(int).tolist(),
            "av_offset": self.av_offset,
            "av_confidence": self.av_confidence,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LipTrack:
        d = dict(data)
        for key in ("opening", "width"):
            if key in d:
                d[key] = np.array([np.nan if v is None else v for v in d[key]], dtype=np.float32)
        if "face" in d:
            d["face"] = np.asarray(d["face"], dtype=bool)
        return strict_from_dict(cls, d)


@dataclass(frozen=True)
class Take:
    """A rendered replacement of one cue.

    Attributes
    ----------
    cue_id : str
        The cue it replaces.
    actor : str
        The voice that spoke it.
    path : str
        Audio file, relative to the session folder.
    start, end : float
        Where the take sits, seconds from the session start.
    sample_rate : int
        Sample rate of ``path``.
    text : str
        What the take says.
    mode : str
        ``"script"`` (text from the cue sheet) or ``"blind"`` (text recognized).
    provenance : adr.core.consent.Provenance or None
        What the take says about itself (synthetic, voice, consent, adr version, date,
        watermark); None only for takes rendered before adr recorded it.
    """

    cue_id: str
    actor: str
    path: str
    start: float
    end: float
    sample_rate: int
    text: str = ""
    mode: str = "script"
    provenance: Any = None

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["provenance"] = None if self.provenance is None else self.provenance.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Take:
        from adr.core.consent import Provenance

        d = dict(data)
        if d.get("provenance") is not None:
            d["provenance"] = Provenance.from_dict(d["provenance"])
        return strict_from_dict(cls, d)

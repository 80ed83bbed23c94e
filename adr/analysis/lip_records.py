"""Lip tracking's records: face boxes, mouth shapes, the per-frame result and its report.

:class:`LipResult` is what :func:`adr.analysis.lips.track_lips` gives: the mouth track
(:class:`adr.core.types.LipTrack`, one entry per picture frame), a :class:`LipReport`, and
per frame the face box, the number of faces and the detector events.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adr.core.records import Record
from adr.core.timebase import frames_to_seconds
from adr.core.types import LipTrack, strict_from_dict

__all__ = [
    "EVENT_DETECTED",
    "EVENT_LOST",
    "FaceBox",
    "MouthShape",
    "TimeSpan",
    "LipReport",
    "LipResult",
]


@dataclass(frozen=True)
class FaceBox(Record):
    """A face rectangle in pixels (``right``/``bottom`` exclusive)."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def center(self) -> tuple[float, float]:
        return (0.5 * (self.left + self.right), 0.5 * (self.top + self.bottom))


@dataclass(frozen=True)
class MouthShape:
    """Mouth measured in one frame; NaN measurements and ``valid=False`` when the fit is bad.

    ``opening`` is the mean inner-lip gap (points 61-63 vs 67-65) over the mouth width
    (points 48-54); ``width`` and ``gap`` are in pixels, ``center`` is the mouth centre.
    """

    opening: float
    width: float
    gap: float
    center_x: float
    center_y: float
    valid: bool

    @classmethod
    def missing(cls) -> MouthShape:
        nan = float("nan")
        return cls(nan, nan, nan, nan, nan, False)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MouthShape:
        d = {k: (float("nan") if v is None else v) for k, v in data.items()}
        return strict_from_dict(cls, d)


@dataclass(frozen=True)
class TimeSpan(Record):
    """A time range ``[start, end)`` in seconds from the session start."""

    start: float
    end: float


@dataclass(frozen=True)
class LipReport:
    """What the tracker saw.

    Attributes
    ----------
    num_frames, face_frames : int
        Frames processed, and frames with a measured mouth.
    multi_face_frames : int
        Frames whose most recent detection found several faces (the largest, most central
        one, or the one continuing the track, was measured).
    max_faces : int
        Most faces found by one detection.
    detections, track_losses : int
        Detector runs, and landmark fits rejected as degenerate (each triggers a detection).
    lost_spans : tuple of TimeSpan
        Runs of frames without a measured face (face out of frame or not found).
    """

    num_frames: int
    face_frames: int
    multi_face_frames: int
    max_faces: int
    detections: int
    track_losses: int
    lost_spans: tuple[TimeSpan, ...] = ()

    @property
    def no_face_frames(self) -> int:
        return self.num_frames - self.face_frames

    @property
    def detection_rate(self) -> float:
        return self.face_frames / self.num_frames if self.num_frames else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["lost_spans"] = [s.to_dict() for s in self.lost_spans]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LipReport:
        d = dict(data)
        d["lost_spans"] = tuple(TimeSpan.from_dict(s) for s in d.get("lost_spans", ()))
        return strict_from_dict(cls, d)


#: Bits of :attr:`LipResult.events`: the face detector ran on the frame / the landmark fit
#: from the previous frame's box was rejected (track lost).
EVENT_DETECTED, EVENT_LOST = 1, 2


@dataclass(frozen=True, eq=False)
class LipResult:
    """A lip track with the tracker's report and the chosen face box per frame.

    ``boxes`` has shape (F, 4) as (left, top, right, bottom) pixels, NaN where no face.
    ``faces`` (F,) is the number of faces the most recent detection found, for frames with a
    measured mouth (0 elsewhere); ``events`` (F,) holds :data:`EVENT_DETECTED` /
    :data:`EVENT_LOST` bits. Both are empty for results made before they existed; they let
    :meth:`slice` rebuild the report of a part of the track.
    """

    track: LipTrack
    report: LipReport
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    faces: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    events: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))

    def slice(self, start: float, end: float) -> LipResult:
        """The frames whose times fall in ``[start, end)`` (session seconds), with their report.

        Frame ``i`` is at ``track.start + i / fps``. ``av_offset``/``av_confidence`` are kept.
        """
        tr = self.track
        period = 1.0 / tr.fps
        n = tr.num_frames
        a = int(np.clip(math.ceil((start - tr.start) / period - 1e-6), 0, n))
        b = int(np.clip(math.ceil((end - tr.start) / period - 1e-6), a, n))
        face = np.asarray(tr.face, dtype=bool)[a:b]
        t0 = tr.start + frames_to_seconds(a, period)
        track = dataclasses.replace(
            tr,
            start=t0,
            opening=np.asarray(tr.opening)[a:b],
            width=np.asarray(tr.width)[a:b],
            face=face,
        )
        faces = np.asarray(self.faces)[a:b] if len(self.faces) == n else np.zeros(0, np.int16)
        events = np.asarray(self.events)[a:b] if len(self.events) == n else np.zeros(0, np.uint8)
        report = LipReport(
            num_frames=b - a,
            face_frames=int(face.sum()),
            multi_face_frames=int(np.sum(face & (faces > 1))) if len(faces) else 0,
            max_faces=int(faces.max()) if len(faces) else 0,
            detections=int(np.sum(events & EVENT_DETECTED > 0)) if len(events) else 0,
            track_losses=int(np.sum(events & EVENT_LOST > 0)) if len(events) else 0,
            lost_spans=_spans(~face, t0, period),
        )
        boxes = np.asarray(self.boxes).reshape(-1, 4)
        return LipResult(track, report, boxes[a:b] if len(boxes) == n else boxes[:0], faces, events)

    def to_dict(self) -> dict[str, Any]:
        b = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        d: dict[str, Any] = {
            "track": self.track.to_dict(),
            "report": self.report.to_dict(),
            "boxes": [None if not np.isfinite(r).all() else np.round(r, 1).tolist() for r in b],
        }
        if len(self.faces) or len(self.events):
            d["faces"] = np.asarray(self.faces, dtype=int).tolist()
            d["events"] = np.asarray(self.events, dtype=int).tolist()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LipResult:
        d = dict(data)
        d["track"] = LipTrack.from_dict(d["track"])
        d["report"] = LipReport.from_dict(d["report"])
        rows = [[np.nan] * 4 if r is None else r for r in d.get("boxes", [])]
        d["boxes"] = np.asarray(rows, dtype=np.float32).reshape(-1, 4)
        d["faces"] = np.asarray(d.get("faces", []), dtype=np.int16)
        d["events"] = np.asarray(d.get("events", []), dtype=np.uint8)
        return strict_from_dict(cls, d)


def _spans(mask: np.ndarray, t0: float, period: float) -> tuple[TimeSpan, ...]:
    """Runs of True in ``mask`` (F,) as time spans."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return tuple(
        TimeSpan(t0 + frames_to_seconds(int(a), period), t0 + frames_to_seconds(int(b), period))
        for a, b in zip(starts, ends)
    )

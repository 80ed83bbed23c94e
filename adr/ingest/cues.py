"""The ADR cue sheet as CSV.

A cue sheet is what the dialogue editor, the ADR mixer and the actor all read: one row per
line to replace, with its timecode in and out. The CSV columns are those of a conventional
ADR cue sheet::

    cue_id, character, actor, tc_in, tc_out, text, reason, notes, status

Timecodes are SMPTE at the session's frame rate (``;`` before the frames for drop-frame).
In memory a cue is an :class:`adr.core.types.Cue` with times in seconds from the first picture
frame; the conversion needs the session's frame rate and start timecode
(:class:`TimecodeMap`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from adr.core.errors import AdrError
from adr.core.fsio import write_text
from adr.core.names import check_name
from adr.core.timecode import FrameRate, format_timecode, parse_timecode
from adr.core.types import CUE_STATUSES, Cue

__all__ = ["CUE_COLUMNS", "TimecodeMap", "read_cues", "write_cues", "cues_to_csv", "check_cues"]

CUE_COLUMNS = (
    "cue_id",
    "character",
    "actor",
    "tc_in",
    "tc_out",
    "text",
    "reason",
    "notes",
    "status",
)
_REQUIRED = ("cue_id", "tc_in", "tc_out")


@dataclass(frozen=True)
class TimecodeMap:
    """Maps session seconds to record timecode and back.

    Attributes
    ----------
    frame_rate : FrameRate
        Picture frame rate (exact).
    start_frame : int
        Timecode of the first picture frame, as a frame count since 00:00:00:00.
    """

    frame_rate: FrameRate
    start_frame: int

    @classmethod
    def from_timecode(cls, frame_rate: FrameRate, start_timecode: str) -> TimecodeMap:
        return cls(frame_rate, parse_timecode(start_timecode, frame_rate))

    def to_timecode(self, seconds: float) -> str:
        """Record timecode of the picture frame at ``seconds`` (nearest frame)."""
        frames = round(seconds * self.frame_rate.rate)
        return format_timecode(self.start_frame + frames, self.frame_rate)

    def to_seconds(self, timecode: str) -> float:
        """Seconds from the first picture frame of a record timecode."""
        frames = parse_timecode(timecode, self.frame_rate) - self.start_frame
        return float(frames / self.frame_rate.rate)


def _clean(value: str | None) -> str:
    return " ".join((value or "").split())


def read_cues(path: str | Path, tc: TimecodeMap) -> list[Cue]:
    """Read a cue sheet CSV.

    Parameters
    ----------
    path : str or Path
        CSV file with at least the columns ``cue_id, tc_in, tc_out``.
    tc : TimecodeMap
        The session's timecode mapping.

    Returns
    -------
    list of Cue
        In file order.

    Raises
    ------
    AdrError
        Missing file, missing column, bad timecode, duplicate cue id, or a cue whose out is
        not after its in; the message names the file and the row.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AdrError(p, "cue sheet not found") from None
    except IsADirectoryError:
        raise AdrError(p, "is a folder, not a cue sheet (give the CSV file)") from None
    except UnicodeDecodeError as exc:
        raise AdrError(
            p, f"cannot read cue sheet: not UTF-8 text (byte {exc.start}); save it as CSV (UTF-8)"
        ) from None
    except OSError as exc:
        raise AdrError(p, f"cannot read cue sheet ({exc})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise AdrError(p, f"cue sheet lacks column(s) {', '.join(missing)}")
    reader.fieldnames = header
    cues: list[Cue] = []
    seen: set[str] = set()
    for row_no, row in enumerate(reader, start=2):
        where = f"{p}:{row_no}"
        cue_id = _clean(row.get("cue_id"))
        if not cue_id:
            raise AdrError(where, "empty cue_id")
        check_name(cue_id, "cue id", where)
        actor = _clean(row.get("actor"))
        if actor:
            check_name(actor, "actor id", where)
        if cue_id in seen:
            raise AdrError(where, f"duplicate cue id {cue_id!r}")
        seen.add(cue_id)
        try:
            start = tc.to_seconds(_clean(row.get("tc_in")))
            end = tc.to_seconds(_clean(row.get("tc_out")))
        except AdrError as exc:
            raise AdrError(where, f"cue {cue_id}: {exc}") from None
        status = _clean(row.get("status")).lower() or "pending"
        if status not in CUE_STATUSES:
            raise AdrError(
                where, f"cue {cue_id}: unknown status {status!r} (one of {', '.join(CUE_STATUSES)})"
            )
        if start < 0:
            raise AdrError(where, f"cue {cue_id}: in point is before the start of the picture")
        if end <= start:
            raise AdrError(
                where, f"cue {cue_id}: out {row.get('tc_out')} is not after in {row.get('tc_in')}"
            )
        cues.append(
            Cue(
                id=cue_id,
                character=_clean(row.get("character")),
                actor=_clean(row.get("actor")),
                start=start,
                end=end,
                text=(row.get("text") or "").strip(),
                reason=_clean(row.get("reason")),
                notes=(row.get("notes") or "").strip(),
                status=status,
            )
        )
    return cues


def cues_to_csv(cues: Iterable[Cue], tc: TimecodeMap) -> str:
    """Render cues as cue-sheet CSV text (header + one row per cue)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CUE_COLUMNS)
    for c in cues:
        writer.writerow(
            [
                c.id,
                c.character,
                c.actor,
                tc.to_timecode(c.start),
                tc.to_timecode(c.end),
                c.text,
                c.reason,
                c.notes,
                c.status,
            ]
        )
    return buf.getvalue()


def write_cues(path: str | Path, cues: Iterable[Cue], tc: TimecodeMap) -> Path:
    """Write a cue sheet CSV atomically."""
    return write_text(path, cues_to_csv(cues, tc))


def check_cues(cues: Sequence[Cue], duration: float, where: str | Path) -> None:
    """Raise :class:`AdrError` for the first cue that lies outside media of ``duration`` s."""
    for c in cues:
        if c.start < 0 or c.end > duration + 1e-6:
            raise AdrError(
                where,
                f"cue {c.id} ({c.start:.2f}-{c.end:.2f} s) is outside the media "
                f"(0-{duration:.2f} s)",
            )

"""The session as a timeline: OpenTimelineIO, CMX 3600 EDL and the printable cue sheet.

The OTIO timeline starts at the session's start timecode (``global_start_time``) and has a
picture track, the production audio track and the ADR track(s): one clip per delivered cue
at its record timecode, pointing at the cue's Broadcast WAV (absolute ``file://`` URLs), with
the cue's metadata under ``metadata["adr"]`` (with ``"synthetic": True`` and the take's
provenance: voice, consent id, adr version, date, watermark). Overlapping cues go to further
ADR tracks. Each EDL event of a synthetic line is followed by a ``* ADR SYNTHETIC ...``
comment, and the printable cue sheet has a Synthetic column.

The EDL of each ADR track is written by the ``otio-cmx3600-adapter`` from a timeline whose
ADR track starts at 00:00:00:00, so record timecodes are the cues' timecodes; source
timecodes are the files' (the same, from their bext TimeReference). An ``FCM`` line is
added, and since the adapter infers drop frame from the rate, the timecodes of a 29.97 or
59.94 non-drop session are rewritten non-drop. Reel names are the cue ids (8 characters).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from adr.core.timecode import FrameRate, format_timecode, parse_timecode, seconds_to_picture_frames
from adr.core.types import Cue
from adr.ingest.session import Session

__all__ = ["session_timeline", "cue_sheet_html", "lanes"]


def lanes(items: Sequence[tuple[int, int, Any]]) -> list[list[tuple[int, int, Any]]]:
    """Greedy assignment of (start, end, x) ranges to non-overlapping lanes, by start."""
    lanes: list[list[tuple[int, int, Any]]] = []
    for item in sorted(items, key=lambda r: (r[0], r[1])):
        for lane in lanes:
            if lane[-1][1] <= item[0]:
                lane.append(item)
                break
        else:
            lanes.append([item])
    return lanes


def session_timeline(
    session: Session,
    cues: Sequence[Cue],
    delivered: Mapping[str, tuple[str, str]],
    stem_name: str = "",
    provenance: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[str, list[str]]:
    """The session's OTIO timeline (JSON) and one CMX 3600 EDL per ADR lane.

    Parameters
    ----------
    session : Session
    cues : sequence of Cue
        The cue sheet.
    delivered : mapping of cue id to (file, repair mode)
        Per-cue files (relative to the session folder) of the delivered cues.
    stem_name : str
        File name of the dialog stem, recorded in the timeline's metadata.
    provenance : mapping of cue id to dict, optional
        The delivered takes' provenance (:meth:`adr.core.consent.Provenance.fields`).

    Returns
    -------
    otio_json : str
    edls : list of str
        One EDL per ADR lane (one lane unless cues overlap).
    """
    import opentimelineio as otio
    from opentimelineio import opentime, schema

    rate = session.frame_rate
    fps = float(rate.rate)
    start = session.timecode.start_frame
    frames = seconds_to_picture_frames(session.picture.duration, rate)

    def rt(v: float) -> Any:
        return opentime.RationalTime(v, fps)

    def media_clip(name: str, path: str | Path, first: int, length: int) -> Any:
        rng = opentime.TimeRange(rt(first), rt(length))
        ref = schema.ExternalReference(
            target_url=Path(path).resolve().as_uri(), available_range=rng
        )
        return schema.Clip(name=name, media_reference=ref, source_range=rng)

    tl = schema.Timeline(name=session.name, global_start_time=rt(start))
    tl.metadata["adr"] = {
        "session": session.name,
        "frame_rate": str(rate),
        "start_timecode": session.start_timecode,
        "dialog_stem": stem_name,
    }
    picture = schema.Track(name="Picture", kind=schema.TrackKind.Video)
    picture.append(media_clip(Path(session.picture.path).name, session.picture.path, start, frames))
    production = schema.Track(name="Production", kind=schema.TrackKind.Audio)
    production.append(
        media_clip(Path(session.audio[0].path).name, session.audio[0].path, start, frames)
    )
    tl.tracks.extend([picture, production])
    by_id = {c.id: c for c in cues}
    items = []
    for cid in delivered:
        c = by_id[cid]
        items.append(
            (seconds_to_picture_frames(c.start, rate), seconds_to_picture_frames(c.end, rate), c)
        )
    edls = []
    for n, lane in enumerate(lanes(items), start=1):
        track = schema.Track(name="ADR" if n == 1 else f"ADR {n}", kind=schema.TrackKind.Audio)
        edl_track = schema.Track(name=track.name, kind=schema.TrackKind.Audio)
        pos = 0
        for a, b, c in lane:
            file, mode = delivered[c.id]
            for t, gap in ((track, a - pos), (edl_track, a - pos + (start if pos == 0 else 0))):
                if gap > 0:
                    t.append(schema.Gap(source_range=opentime.TimeRange(rt(0), rt(gap))))
            for t in (track, edl_track):
                clip = media_clip(
                    f"{c.id} {c.character or c.actor}".strip(),
                    session.root / file,
                    start + a,
                    b - a,
                )
                clip.metadata["cmx_3600"] = {
                    "reel": re.sub(r"[^A-Za-z0-9_]", "", c.id)[:8] or "ADR"
                }
                clip.metadata["adr"] = {
                    "cue_id": c.id,
                    "character": c.character,
                    "actor": c.actor,
                    "text": c.text,
                    "repair": mode,
                }
                prov = (provenance or {}).get(c.id)
                if prov:
                    clip.metadata["adr"].update(synthetic=True, provenance=dict(prov))
                t.append(clip)
            pos = b
        tl.tracks.append(track)
        edl_tl = schema.Timeline(name=f"{session.name} {track.name}")
        edl_tl.tracks.extend([edl_track, schema.Track(name="V", kind=schema.TrackKind.Video)])
        edl = _edl_text(otio.adapters.write_to_string(edl_tl, "cmx_3600", rate=fps), session)
        edls.append(_mark_edl(edl, [c for _, _, c in lane], provenance or {}))
    return otio.adapters.write_to_string(tl, "otio_json"), edls


_EDL_TC = re.compile(r"\b\d{2}:\d{2}:\d{2}[:;]\d{2}\b")


def _edl_text(text: str, session: Session) -> str:
    """Add the FCM line; rewrite timecodes when the session counts 29.97/59.94 non-drop
    (the adapter infers drop frame from the rate)."""
    rate = session.frame_rate
    lines = text.splitlines()
    if rate.rate.denominator == 1001 and rate.rate.numerator != 24000 and not rate.drop_frame:
        df = FrameRate(rate.rate, True)
        lines = [
            _EDL_TC.sub(lambda m: format_timecode(parse_timecode(m.group(0), df), rate), ln)
            if re.match(r"^\d{3}\s", ln)
            else ln
            for ln in lines
        ]
    fcm = "FCM: DROP FRAME" if rate.drop_frame else "FCM: NON-DROP FRAME"
    out = [lines[0], fcm] + lines[1:] if lines and lines[0].startswith("TITLE") else [fcm] + lines
    return "\n".join(out) + "\n"


def _mark_edl(text: str, events: Sequence[Cue], provenance: Mapping[str, Mapping[str, str]]) -> str:
    """Add a ``* ADR SYNTHETIC ...`` comment after the lines of each synthetic event
    (events in order: the n-th event line is ``events[n]``)."""
    out: list[str] = []
    pending = ""
    n = 0
    for ln in text.splitlines():
        if re.match(r"^\d{3}\s", ln):
            if pending:
                out.append(pending)
            prov = provenance.get(events[n].id) if n < len(events) else None
            pending = (
                (
                    f"* ADR SYNTHETIC VOICE {prov['VOICE']} {prov['CONSENT_ID']} "
                    f"ADR {prov['ADR_VERSION']}"
                )
                if prov
                else ""
            )
            n += 1
        out.append(ln)
    if pending:
        out.append(pending)
    return "\n".join(out) + "\n"


def cue_sheet_html(
    session: Session,
    cues: Sequence[Cue],
    delivered: Mapping[str, tuple[str, str]],
    provenance: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """The ADR cue sheet as a printable HTML page (``delivered``, ``provenance``: as for
    :func:`session_timeline`); a Synthetic column names each synthetic line's voice and consent."""
    esc = html.escape
    rows = []
    for c in cues:
        file, mode = delivered.get(c.id, ("", "production"))
        prov = (provenance or {}).get(c.id)
        synthetic = f"SYNTHETIC: voice {prov['VOICE']}, {prov['CONSENT_ID']}" if prov else "no"
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{esc(str(v))}</td>"
                for v in (
                    c.id,
                    c.character,
                    c.actor,
                    session.to_timecode(c.start),
                    session.to_timecode(c.end),
                    f"{c.duration:.2f}",
                    c.text,
                    c.reason,
                    c.notes,
                    c.status,
                    mode,
                    synthetic,
                    file,
                )
            )
            + "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "Cue",
            "Character",
            "Actor",
            "TC in",
            "TC out",
            "Dur (s)",
            "Line",
            "Reason",
            "Notes",
            "Status",
            "Delivered",
            "Synthetic",
            "File",
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ADR cue sheet - {esc(session.name)}</title>
<style>
body{{font-family:sans-serif;margin:1.5em}} \
table{{border-collapse:collapse;width:100%;font-size:10pt}}
th,td{{border:1px solid #888;padding:4px 6px;vertical-align:top;text-align:left}}
th{{background:#eee}} td:nth-child(7){{width:30%}}
@media print{{body{{margin:0}} @page{{size:landscape;margin:1cm}} tr{{page-break-inside:avoid}}}}
</style></head><body>
<h1>ADR cue sheet: {esc(session.name)}</h1>
<p>Frame rate {esc(str(session.frame_rate))}, \
start timecode {esc(session.start_timecode)}, {len(cues)} cues.</p>
<table><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""

"""The files of ``adr export``: Broadcast WAV with bext and iXML, text outputs, the cue sheet.

Every write is atomic (:mod:`adr.core.fsio`); a text output is rewritten only when its
content changes, so an up-to-date rerun writes nothing.
"""

from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from adr.core.fsio import write_text
from adr.core.timebase import DELIVERY_RATE
from adr.core.types import Cue
from adr.ingest.session import Session

__all__ = ["file_stat", "marked_csv", "write_if_changed", "write_wav"]

_SR = DELIVERY_RATE


def file_stat(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _ascii(text: str, limit: int) -> str:
    s = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(s.split())[:limit]


def write_if_changed(path: Path, text: str) -> bool:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_text(path, text)
    return True


def _ixml(
    session: Session,
    track: str,
    take: str,
    note: str,
    time_reference: int,
    provenance: dict[str, str] | None = None,
) -> str:
    from adr.ingest.bwf import make_ixml

    root = ET.fromstring(
        make_ixml([track], project=session.name, take=take, note=note, provenance=provenance).split(
            "\n", 1
        )[1]
    )
    rate = session.frame_rate
    speed = ET.SubElement(root, "SPEED")
    for tag, value in (
        ("MASTER_SPEED", f"{rate.rate.numerator}/{rate.rate.denominator}"),
        ("CURRENT_SPEED", f"{rate.rate.numerator}/{rate.rate.denominator}"),
        ("TIMECODE_RATE", f"{rate.rate.numerator}/{rate.rate.denominator}"),
        ("TIMECODE_FLAG", "DF" if rate.drop_frame else "NDF"),
        ("FILE_SAMPLE_RATE", str(_SR)),
        ("AUDIO_BIT_DEPTH", "24"),
        ("DIGITIZER_SAMPLE_RATE", str(_SR)),
        ("TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_HI", str(time_reference >> 32)),
        ("TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_LO", str(time_reference & 0xFFFFFFFF)),
        ("TIMESTAMP_SAMPLE_RATE", str(_SR)),
    ):
        ET.SubElement(speed, tag).text = value
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_wav(
    session: Session,
    path: Path,
    samples: np.ndarray,
    time_reference: int,
    description: str,
    track: str,
    take: str,
    note: str,
    history: str,
    gain: float = 1.0,
    provenance: dict[str, str] | None = None,
) -> None:
    from adr.ingest.bwf import BextInfo, write_bwf

    bext = BextInfo.now(
        _ascii(description, 256),
        time_reference,
        originator_reference=_ascii(f"{session.name}-{take}", 32),
        coding_history=f"A=PCM,F={_SR},W=24,M=mono,T={_ascii(history, 60)}\r\n",
    )
    write_bwf(
        path,
        samples,
        _SR,
        bext=bext,
        bits=24,
        gain=gain,
        ixml=_ixml(
            session,
            _ascii(track, 64),
            _ascii(take, 64),
            _ascii(note, 200),
            time_reference,
            provenance,
        ),
    )


def marked_csv(text: str, cues: Sequence[Cue], provs: dict[str, dict[str, str]]) -> str:
    """The cue sheet CSV with ``synthetic``, ``voice`` and ``consent_id`` columns."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*rows[0], "synthetic", "voice", "consent_id"])
    for cue, row in zip(cues, rows[1:]):
        p = provs.get(cue.id)
        writer.writerow(
            [*row, "yes" if p else "no", p["VOICE"] if p else "", p["CONSENT_ID"] if p else ""]
        )
    return out.getvalue()

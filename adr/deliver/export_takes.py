"""What ``adr export`` delivers: the rendered takes, checked, and where they sit in time.

:func:`load_takes` reads ``renders/<cue>.json`` and checks each take against its cue and its
audio; :func:`check_consent` refuses a take its consent does not cover (the rules of
:func:`adr.core.consent.check_scope`); :func:`cue_time_reference` and
:func:`picture_samples` are the 48 kHz sample positions the deliverables are stamped with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from adr.core.errors import AdrError
from adr.core.fsio import read_json
from adr.core.names import child_path
from adr.core.outputs import check_take_file
from adr.core.timebase import DELIVERY_RATE
from adr.core.timecode import frames_to_samples, seconds_to_picture_frames
from adr.core.types import Cue, Take
from adr.ingest.session import Session

__all__ = ["check_consent", "cue_time_reference", "load_takes", "picture_samples"]

_SR = DELIVERY_RATE


def cue_time_reference(session: Session, seconds: float) -> int:
    """Samples since midnight (48 kHz) of session time ``seconds``: exact for times on a
    frame boundary (``timecode_to_samples`` of the cue's timecode), else rounded once."""
    tc = session.timecode
    rate = tc.frame_rate.rate
    frames = Fraction(seconds) * rate
    k = round(frames)
    if abs(frames - k) < Fraction(1, 10**6):
        return frames_to_samples(tc.start_frame + k, tc.frame_rate, _SR)
    return math.floor(
        Fraction(tc.start_frame * _SR) / rate + Fraction(seconds) * _SR + Fraction(1, 2)
    )


def picture_samples(session: Session) -> int:
    """Length of the picture in 48 kHz samples (frame count / rate, rounded once)."""
    frames = seconds_to_picture_frames(session.picture.duration, session.frame_rate)
    return frames_to_samples(frames, session.frame_rate, _SR)


def load_takes(session: Session, cues: Sequence[Cue]) -> dict[str, Take]:
    """The rendered takes of ``cues`` (``renders/<cue>.json``), checked against the cues.

    Raises
    ------
    AdrError
        Invalid take file, a take path that is not ``renders/<cue>.wav``, missing or cut-short
        audio, a take that no longer matches its cue, or no rendered cue at all.
    """
    takes: dict[str, Take] = {}
    for cue in cues:
        path = child_path(session.renders_dir, cue.id, ".json", "cue id")
        if not path.exists():
            continue
        try:
            take = Take.from_dict(read_json(path))
        except (ValueError, TypeError) as exc:
            raise AdrError(path, f"invalid take file ({exc})") from None
        wav = child_path(session.renders_dir, cue.id, ".wav", "cue id")
        if (session.root / take.path).resolve() != wav.resolve():  # names are data, not paths
            raise AdrError(
                path,
                f"take path {take.path!r} is not renders/{cue.id}.wav; render "
                f"it again (adr render --cue {cue.id} --force)",
            )
        if not wav.is_file():
            raise AdrError(wav, "rendered audio is missing; run adr render")
        if abs(take.start - cue.start) > 1e-3 or abs(take.end - cue.end) > 1e-3:
            raise AdrError(
                path, f"render of cue {cue.id} is out of date (the cue moved); run adr render"
            )
        check_take_file(take, wav)  # a take cut short is named, not found "silent" later
        takes[cue.id] = take
    if not takes:
        raise AdrError(session.renders_dir, "no rendered cues; run adr render")
    return takes


def check_consent(
    session: Session,
    cues: Sequence[Cue],
    takes: dict[str, Take],
    voices_root: str | Path | None = None,
) -> None:
    """Refuse to deliver a take its consent does not cover (:mod:`adr.deliver.export`).

    Raises
    ------
    AdrError
        A take without provenance (naming its JSON), or one outside its consent (naming the
        voice and the rule).
    """
    from adr.core.consent import check_scope
    from adr.voice.voicefile import VOICE_FILE, load_consent

    current: dict[str, Any] = {}
    for cue in cues:
        take = takes.get(cue.id)
        if take is None:
            continue
        prov = take.provenance
        if prov is None:
            raise AdrError(
                child_path(session.renders_dir, cue.id, ".json", "cue id"),
                f"take of cue {cue.id} has no provenance (rendered before adr "
                "recorded consent and marked takes); render it again: adr render "
                f"{session.name} --cue {cue.id} --force",
            )
        check_scope(prov.consent, voice=prov.voice, session=session.name, use=prov.use, cue=cue.id)
        if voices_root is not None:
            folder = child_path(voices_root, take.actor, kind="actor id")
            if (folder / VOICE_FILE).is_file():
                if take.actor not in current:
                    current[take.actor] = load_consent(folder)[0]
                check_scope(
                    current[take.actor],
                    voice=prov.voice,
                    session=session.name,
                    use=prov.use,
                    cue=cue.id,
                )  # a voice swapped since: another actor

"""A reel's analysis in chunks for ``adr batch``: which lines are due, how they are cut, and
the analysis of one chunk, each line exactly as one ``adr analyze`` of the reel makes it.

Some of the analysis looks beyond one line (denoise stretches, Whisper's packed windows, the
language carried between blind lines): a reel is cut into *line groups*
(:func:`adr.analysis.groups.line_groups`) that none of it crosses, and every group is
analysed whole, alone, as ``adr analyze`` of the whole reel treats it:

- a chunk (:func:`plan_chunks`) is made of whole groups; chunks run at the same time;
- a group with any line that is not current (:func:`stale_lines`) is analysed again whole
  (:func:`analyze_lines`), its current lines with it, so that a batch interrupted in the
  middle of a group (Ctrl-C, a dead worker retried by Ray) ends with the lines of an
  uninterrupted run, not with the rest of the group analysed on its own;
- a group whose lines are all current is not touched.

The one exception: a line refused before recognition (silent, or blind with no speech) is
left out of Whisper's windows, which can shift the packing of the lines after it in its
group; its group is still analysed together, as in ``adr analyze``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adr.analysis.groups import line_groups
from adr.core.errors import AdrError
from adr.core.types import Cue

__all__ = ["analyze_lines", "plan_chunks", "stale_lines"]


def _options(options: Any) -> Any:
    from adr.analysis.result import AnalysisOptions

    return options if isinstance(options, AnalysisOptions) else AnalysisOptions(**options)


def stale_lines(session: Any, voices_root: str | Path, options: Any) -> list[str]:
    """Cue ids whose analysis on disk is missing or not for the current inputs (the
    ones ``adr analyze`` would redo), in cue-sheet order."""
    from adr.analysis.analyze import _line_key
    from adr.analysis.result import LineAnalysis, load_voiceprints
    from adr.core.fsio import read_json
    from adr.core.names import child_path

    options = _options(options)
    prints = load_voiceprints(voices_root)
    out = []
    for cue in session.read_cues():
        path = child_path(session.analysis_dir, cue.id, ".json", "cue id")
        try:
            key = LineAnalysis.from_dict(read_json(path)).key if path.exists() else None
        except (AdrError, ValueError, KeyError, TypeError):
            key = None
        if key != _line_key(cue, options, prints, session):
            out.append(cue.id)
    return out


def plan_chunks(
    cues: Sequence[Cue],
    duration: float,
    context: float,
    size: int,
    due: Sequence[str] | None = None,
) -> list[list[str]]:
    """A reel's line groups (:func:`~adr.analysis.groups.line_groups`, over all of ``cues``)
    that hold a ``due`` cue (default: all), joined in order into chunks of at least ``size``
    cues (one group may be more): chunks that ``adr analyze`` would also have treated apart."""
    wanted = None if due is None else set(due)
    chunks: list[list[str]] = []
    for group in line_groups(cues, duration, context):
        if wanted is not None and not wanted.intersection(group):
            continue
        if chunks and len(chunks[-1]) < size:
            chunks[-1].extend(group)
        else:
            chunks.append(list(group))
    return chunks


def analyze_lines(
    session: Any, cue_ids: Sequence[str], *, voices_root: str | Path, options: Any
) -> tuple[int, dict[str, AdrError]]:
    """The audio stages of ``adr analyze`` (steps 1-3 of
    :func:`adr.analysis.analyze.analyze_session`) for some cues of a session.

    ``cue_ids`` are cut into the reel's line groups; each group with a line that is not
    current is cut, denoised, recognized (packed), aligned, measured and written to
    ``analysis/<cue>.json`` with its input key, whole and on its own, exactly as
    ``analyze_session`` of the reel writes it before its scene pass. The cue sheet and the
    scene (lips, A/V offset) are left to :func:`analyze_session` over the whole reel, so that
    chunks of one reel can run at the same time. Returns the number of lines written and the
    lines that could not be analysed.
    """
    options = _options(options)
    session.check_audio()
    cues = session.read_cues()
    known = {c.id: c for c in cues}
    for cid in cue_ids:
        if cid not in known:
            raise AdrError(session.cues_path, f"no cue {cid!r} in the cue sheet")
    stale = set(stale_lines(session, voices_root, options))
    wanted = set(cue_ids)
    todo = []
    for group in line_groups(cues, session.audio[0].duration, options.context):
        members = [known[cid] for cid in group if cid in wanted]
        if any(c.id in stale for c in members):
            todo.append(members)
    errors: dict[str, AdrError] = {}
    written = sum(_analyze_group(session, g, voices_root, options, errors) for g in todo)
    return written, errors


def _analyze_group(
    session: Any,
    cues: Sequence[Cue],
    voices_root: str | Path,
    options: Any,
    errors: dict[str, AdrError],
) -> int:
    """One line group through the audio stages, each line written as it is finished."""
    from adr.analysis.analyze import _line_key
    from adr.analysis.line import _finish, _in_cue, _prepare, _recognize
    from adr.analysis.result import ANALYSIS_RATE, load_voiceprints
    from adr.core.fsio import ensure_dir, write_json
    from adr.core.names import child_path
    from adr.ingest.media import MonoSource

    ensure_dir(session.analysis_dir)
    prints = load_voiceprints(voices_root)
    audio = MonoSource(session.audio[0].path, ANALYSIS_RATE)
    works = _prepare(cues, audio, ANALYSIS_RATE, options, errors)
    if works:
        try:
            _recognize(works, ANALYSIS_RATE, options, errors)
        except AdrError as exc:
            raise AdrError("analyze", f"speech recognition failed ({exc})") from None
    written = 0
    for w in works:
        if w.cue.id in errors:
            continue
        try:
            line = _finish(w, ANALYSIS_RATE, prints, options)
        except AdrError as exc:
            errors[w.cue.id] = _in_cue(w.cue, exc)
            continue
        line = dataclasses.replace(line, key=_line_key(w.cue, options, prints, session))
        write_json(child_path(session.analysis_dir, w.cue.id, ".json", "cue id"), line.to_dict())
        written += 1
    return written

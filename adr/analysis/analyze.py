"""``adr analyze``: every cue of a session, from noisy production audio and picture.

Per cue it computes what the resynthesis and the editor need: what was said (the script's
text, checked against Whisper; Whisper's text where no script is given), when each word and
phone is (forced alignment), how it was said (prosody), who said it (actor identification
against the enrolled voiceprints), how the lips move (lip track and A/V offset) and what is
damaged (SNR, bursts; DNSMOS on request). Each result is written to ``analysis/<cue>.json``
(atomically) as soon as its audio stages are done, and again with the scene's lip track and
A/V offset at the end; an interrupted run keeps its finished lines, and a rerun reuses
results whose inputs have not changed (a progress event with ``info["saved"]`` follows each
write). A line group (:func:`adr.analysis.groups.line_groups`: lines that share a denoise
stretch, a Whisper window or a run of blind lines) is reused only whole: one with any line
missing or stale is analysed again whole, so that a rerun after an interruption in the middle
of a group gives the lines of an uninterrupted run, as ``adr batch`` does. The cue sheet gets
each line's status, actor and reason for replacement.

How the work is shared (each expensive step runs once):

- **Denoising**: each line (with ``context`` seconds either side) is denoised once
  (DeepFilterNet3, :mod:`adr.analysis.denoise`); the aligner, the pitch tracker, the
  speaker encoder and the damage assessment all take that one denoised signal.
- **Recognition**: Whisper reads 30 s windows, so the session's lines are packed into
  windows (:func:`adr.analysis.asr.transcribe_lines`): one decoder pass per ~6 lines
  instead of one (or two, with language identification) per line.
- **Lips**: the picture is tracked once per session over the cues' time ranges (one model
  load; cached in ``analysis/scene/lips.json``). The audio/video offset is estimated once for
  the whole scene: every line's denoised speech envelope against the mouth track over all
  cues together (``analysis/scene/av.json``); each line stores that offset (why:
  docs/decisions.md, "lips: one A/V offset per scene").

Errors: a cue that cannot be analyzed (silent, no speech, not English ...) does not stop the
others; after the rest are written, :class:`AdrError` names the cue(s). A picture without a
face, or one that cannot be read, is reported in each line's ``warnings``, not raised.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from adr.analysis.groups import line_groups
from adr.analysis.line import _finish, _in_cue, _prepare, _recognize, analyze_line
from adr.analysis.result import (
    ANALYSIS_FORMAT_VERSION,
    ANALYSIS_RATE,
    KEY_DIGITS,
    PIPELINE_VERSION,
    AnalysisOptions,
    LineAnalysis,
    damage_reason,
    load_analysis,
    load_voiceprints,
)
from adr.analysis.scene import _add_lips, _same_lips, _with_lips, scene_av_offset
from adr.analysis.speakers import Voiceprint
from adr.core.cache import cache_key
from adr.core.errors import AdrError
from adr.core.fsio import ensure_dir, read_json, write_json
from adr.core.names import child_path
from adr.core.progress import ProgressEvent, ProgressHook, null_progress
from adr.core.types import Cue
from adr.ingest.locked import holds_session_lock
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


def _line_key(
    cue: Cue, options: AnalysisOptions, voiceprints: Sequence[Voiceprint], session: Session
) -> str:
    """Inputs of a line's audio analysis (the scene-wide lips and A/V are keyed apart)."""
    return cache_key(
        {
            "cue": {
                k: v
                for k, v in cue.to_dict().items()
                if k not in ("status", "notes", "reason", "actor", "character")
            },
            "options": {k: v for k, v in options.to_dict().items() if k != "lips"},
            "voices": sorted((v.actor, round(float(np.sum(v.embedding)), 5)) for v in voiceprints),
            "audio": session.audio[0].to_dict(),
            "format": ANALYSIS_FORMAT_VERSION,
            "pipeline": PIPELINE_VERSION,
        },
        length=KEY_DIGITS,
    )


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


@holds_session_lock("analyze")  # re-entrant: the CLI holds it too
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
    from adr.ingest.media import MonoSource

    progress = progress or null_progress
    session.check_audio()  # gone, replaced or cut short since the session was made
    ensure_dir(session.analysis_dir)  # an unusable output folder is refused before the work
    # the production mixed to mono at the analysis rate, read from the file as each line
    # needs it (a long reel is streamed once, never held: memory does not grow with it)
    audio = MonoSource(session.audio[0].path, ANALYSIS_RATE)
    cues = session.read_cues()
    if not cues:
        from adr.analysis.vad import stream_speech_regions

        regions = stream_speech_regions(audio.blocks())
        if not regions:
            raise AdrError(session.audio[0].path, "no speech found in the production audio")
        cues = [
            Cue(id=f"L{i + 1:03d}", character="", actor="", start=r.start, end=r.end)
            for i, r in enumerate(regions)
        ]
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

    # 1. reuse what is on disk, by whole line groups (a group with a line not current is
    # redone whole, its current lines with it); cut, denoise and check the rest
    current: dict[str, LineAnalysis] = {}
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
                current[cue.id] = previous
    due = {c.id for c in todo}
    redo: set[str] = set()
    for group in line_groups(cues, len(audio) / ANALYSIS_RATE, options.context):
        members = [cid for cid in group if cid in due]
        if any(cid not in current for cid in members):
            redo.update(members)
    for cue in todo:
        if cue.id in redo:
            fresh.append(cue)
        else:
            results[cue.id] = stored[cue.id] = current[cue.id]
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
        progress(
            ProgressEvent(
                "analyze", len(results), len(todo), "line", {"cue": w.cue.id, "saved": True}
            )
        )
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
    session.write_cues(
        [_updated_cue(session, results[c.id]) if c.id in results else c for c in cues]
    )
    if errors:
        failed = [c.id for c in todo if c.id in errors]
        first = errors[failed[0]]
        more = f" (and {len(failed) - 1} more: {', '.join(failed[1:])})" if len(failed) > 1 else ""
        raise AdrError(first.where, first.problem + more)
    return [results[c.id] for c in todo]

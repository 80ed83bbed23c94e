"""The units of work of a film batch, as plain functions over the session and voice folders.

Each unit calls the library exactly as the single command does (same caches, same atomic
writes), so a unit that finds its work done writes nothing, an interrupted unit leaves only
whole files, and units and single commands can be mixed:

=================  ===========================================================================
unit               what it runs
=================  ===========================================================================
``enroll_unit``    :func:`adr.voice.enroll.enroll_actor` for one cast member
``analyze_unit``   the audio stages of a chunk of one reel's cues (:func:`analyze_lines`)
``scene_unit``     :func:`adr.analysis.analyze.analyze_session` over the reel: every line is
                   current by then, so this is the scene pass (lips, one A/V offset) and
                   the cue sheet, as at the end of ``adr analyze``
``render_unit``    :func:`adr.voice.render.render_session` for one cue
``settle_unit``    :func:`adr.voice.render.render_session` over the reel: every take is
                   current, so it only marks the cue sheet (parallel renders of one reel
                   may each have overwritten the others' status)
``export_unit``    :func:`adr.deliver.export.export_session` for the reel
=================  ===========================================================================

Units that write a session run under the batch's session lock (:func:`joined_lock`: the
driver holds ``sessions/NAME/.lock``, the unit checks it still does and works under it).
Each unit returns a :class:`UnitResult`; a user error (:class:`AdrError`) is returned, not
raised, so that units depending on it are reported as blocked and the others go on.
Nothing here imports Ray.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adr.core.errors import AdrError
from adr.core.records import Record
from adr.core.types import Cue

__all__ = [
    "UnitResult",
    "analyze_lines",
    "plan_chunks",
    "enroll_unit",
    "analyze_unit",
    "scene_unit",
    "render_unit",
    "settle_unit",
    "export_unit",
    "stale_lines",
    "TORCH_THREADS_ENV",
]

#: Environment variable through which the batch's driver gives every unit the torch thread
#: count a single command would use (Ray starts its workers on one thread).
TORCH_THREADS_ENV = "ADR_TORCH_THREADS"


@dataclass(frozen=True)
class UnitResult(Record):
    """What one unit did.

    Attributes
    ----------
    stage : str
        ``"enroll"``, ``"analyze"``, ``"scene"``, ``"render"``, ``"settle"`` or ``"export"``.
    reel, unit : str
        The reel (``""`` for an enrollment) and the unit's name (actor, cues, cue, reel).
    status : str
        ``"done"`` (work was done and written), ``"current"`` (found done: nothing
        written), ``"failed"`` (``where``/``problem`` say why) or ``"blocked"`` (a unit it
        needs failed).
    items : int
        Lines analysed, takes rendered ... (0 when current).
    seconds, cpu_seconds : float
        Wall and CPU time of the unit in its worker.
    peak_mb : float
        Peak resident memory of the worker process so far (MiB).
    host : str
        Where it ran (``host:pid``).
    """

    stage: str
    reel: str
    unit: str
    status: str
    items: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_mb: float = 0.0
    host: str = ""
    where: str = ""
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("done", "current")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _unit(
    stage: str, reel: str, name: str, upstream: Sequence[Any], body: Callable[[], tuple[str, int]]
) -> UnitResult:
    """Run ``body`` (-> status, items) as a unit: blocked when an upstream unit failed,
    timed, and with a user error turned into a failed result."""
    import socket

    host = f"{socket.gethostname()}:{os.getpid()}"
    for up in upstream:
        if isinstance(up, UnitResult) and not up.ok:
            return UnitResult(
                stage,
                reel,
                name,
                "blocked",
                host=host,
                where=up.where,
                problem=f"needs {up.stage} {up.unit}, which did not finish",
            )
    threads = int(os.environ.get(TORCH_THREADS_ENV, "0") or 0)
    if threads > 0:  # as many as the single command would use (set by the batch's driver)
        import torch

        torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), _cpu()
    try:
        status, items = body()
        where = problem = ""
    except AdrError as exc:
        status, items, where, problem = "failed", 0, exc.where, exc.problem
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return UnitResult(
        stage,
        reel,
        name,
        status,
        items,
        time.perf_counter() - wall,
        _cpu() - cpu,
        peak,
        host,
        where,
        problem,
    )


@contextmanager
def _session(root: str | Path, token: str) -> Iterator[Any]:
    """The session at ``root``, worked on under the batch's lock (``token``)."""
    from adr.ingest.lock import joined_lock
    from adr.ingest.session import load_session

    with joined_lock(root, token):
        yield load_session(Path(root))


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return -1


# --------------------------------------------------------------------------- enroll


def enroll_unit(
    project: Any, actor: str, voices_root: str, overrides: dict[str, Any], *upstream: Any
) -> UnitResult:
    """Enroll one cast member as ``adr enroll`` does (a finished voice is reused)."""

    def body() -> tuple[str, int]:
        from adr.core.consent import read_consent
        from adr.voice.enroll import enroll_actor

        member = project.member(actor)
        files = project.audio_files(member)
        consent = read_consent(project.resolve(member.consent))
        kwargs: dict[str, Any] = dict(overrides)
        quality = project.quality(member)
        if member.steps and "restorer_train_config" not in kwargs:
            from adr.voice.train_restorer import restorer_preset

            kwargs["restorer_train_config"] = dataclasses.replace(
                restorer_preset(quality), steps=member.steps
            )
        result = enroll_actor(
            actor,
            files,
            texts=str(project.resolve(member.text)) if member.text else None,
            voices_root=voices_root,
            quality=quality,
            consent=consent,
            **kwargs,
        )
        return ("current", 0) if result.reused else ("done", 1)

    return _unit("enroll", "", actor, upstream, body)


# --------------------------------------------------------------------------- analyze


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


def plan_chunks(cues: Sequence[Cue], duration: float, context: float, size: int) -> list[list[str]]:
    """Split a reel's cues (in cue-sheet order) into chunks of about ``size`` cues that
    ``adr analyze`` would also have treated apart.

    Two things in the analysis look beyond one line: the denoiser runs once over each
    stretch of lines less than 2 s apart, and Whisper reads lines packed into 28 s windows
    (script lines and blind lines packed separately, in order). A chunk boundary is placed
    only where neither a stretch nor a window crosses it, so each line gets the same denoised
    audio and the same recognition as in one ``adr analyze`` of the same lines (as long as
    no line is refused as silent or speechless: such a line is left out of the windows).
    """
    from adr.analysis.asr import _pack
    from adr.analysis.line import _DENOISE_BRIDGE, _window

    n = len(cues)
    if n == 0:
        return []
    windows = [_window(c, duration, context) for c in cues]
    tied = [False] * n  # tied[k]: cue k must be in the chunk of cue k - 1

    def tie(members: Sequence[int]) -> None:
        lo, hi = min(members), max(members)
        for k in range(lo + 1, hi + 1):
            tied[k] = True

    order = sorted(range(n), key=lambda i: windows[i][0])
    block: list[int] = []
    end = None
    for i in order:  # the denoiser's stretches
        if block and end is not None and windows[i][0] - end < _DENOISE_BRIDGE:
            block.append(i)
            end = max(end, windows[i][1])
        else:
            if len(block) > 1:
                tie(block)
            block, end = [i], windows[i][1]
    if len(block) > 1:
        tie(block)
    for blind in (False, True):  # Whisper's packed windows
        group = [i for i in range(n) if bool(cues[i].text.strip()) != blind]
        for members in _pack([windows[i][1] - windows[i][0] for i in group], 1.0, 28.0):
            if len(members) > 1:
                tie([group[k] for k in members])
    chunks: list[list[str]] = []
    for k, cue in enumerate(cues):
        if chunks and (tied[k] or len(chunks[-1]) < size):
            chunks[-1].append(cue.id)
        else:
            chunks.append([cue.id])
    return chunks


def analyze_lines(
    session: Any, cue_ids: Sequence[str], *, voices_root: str | Path, options: Any
) -> tuple[int, dict[str, AdrError]]:
    """The audio stages of ``adr analyze`` (steps 1-3 of
    :func:`adr.analysis.analyze.analyze_session`) for some cues of a session.

    Each line whose analysis is not current is cut, denoised, recognized (packed), aligned,
    measured and written to ``analysis/<cue>.json`` with its input key, exactly as
    ``analyze_session`` writes it before its scene pass. The cue sheet and the scene (lips,
    A/V offset) are left to :func:`analyze_session` over the whole reel, so that chunks of
    one reel can run at the same time. Returns the number of lines written and the lines
    that could not be analysed.
    """
    from adr.analysis.analyze import _line_key
    from adr.analysis.line import _finish, _in_cue, _prepare, _recognize
    from adr.analysis.result import ANALYSIS_RATE, load_voiceprints
    from adr.core.fsio import ensure_dir, write_json
    from adr.core.names import child_path
    from adr.ingest.media import MonoSource

    options = _options(options)
    session.check_audio()
    ensure_dir(session.analysis_dir)
    known = {c.id: c for c in session.read_cues()}
    for cid in cue_ids:
        if cid not in known:
            raise AdrError(session.cues_path, f"no cue {cid!r} in the cue sheet")
    prints = load_voiceprints(voices_root)
    stale = set(stale_lines(session, voices_root, options))
    fresh = [known[cid] for cid in known if cid in set(cue_ids) and cid in stale]
    errors: dict[str, AdrError] = {}
    if not fresh:
        return 0, errors
    audio = MonoSource(session.audio[0].path, ANALYSIS_RATE)
    works = _prepare(fresh, audio, ANALYSIS_RATE, options, errors)
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
    return written, errors


def _raise_first(errors: dict[str, AdrError], order: Sequence[str]) -> None:
    failed = [c for c in order if c in errors]
    if failed:
        first = errors[failed[0]]
        more = f" (and {len(failed) - 1} more: {', '.join(failed[1:])})" if len(failed) > 1 else ""
        raise AdrError(first.where, first.problem + more)


def analyze_unit(
    root: str, token: str, cue_ids: list[str], voices_root: str, options: Any, *upstream: Any
) -> UnitResult:
    """One chunk of a reel's analysis (:func:`analyze_lines`)."""
    name = cue_ids[0] if len(cue_ids) == 1 else f"{cue_ids[0]}-{cue_ids[-1]}"

    def body() -> tuple[str, int]:
        with _session(root, token) as session:
            written, errors = analyze_lines(
                session, cue_ids, voices_root=voices_root, options=options
            )
        _raise_first(errors, cue_ids)
        return ("done" if written else "current"), written

    return _unit("analyze", Path(root).name, name, upstream, body)


def scene_unit(root: str, token: str, voices_root: str, options: Any, *upstream: Any) -> UnitResult:
    """The end of ``adr analyze`` for a reel whose lines are analysed: lips, the A/V offset,
    the cue sheet (the whole analysis when the reel has no cue sheet yet)."""

    def body() -> tuple[str, int]:
        from adr.analysis.analyze import analyze_session

        with _session(root, token) as session:
            before = _mtime(session.cues_path)
            lines = analyze_session(session, voices_root=voices_root, options=_options(options))
            changed = _mtime(session.cues_path) != before
        return ("done" if changed else "current"), len(lines)

    return _unit("scene", Path(root).name, Path(root).name, upstream, body)


# --------------------------------------------------------------------------- render, export


def render_unit(
    root: str, token: str, cue_id: str, voices_root: str, mode: str, *upstream: Any
) -> UnitResult:
    """One cue's take, as ``adr render NAME --cue ID`` makes it."""

    def body() -> tuple[str, int]:
        from adr.voice.render import render_session

        with _session(root, token) as session:
            files = [session.renders_dir / f"{cue_id}{s}" for s in (".wav", ".json")]
            before = [_mtime(p) for p in files]
            render_session(session, voices_root=voices_root, cue_ids=[cue_id], mode=mode)
            changed = [_mtime(p) for p in files] != before
        return ("done", 1) if changed else ("current", 0)

    return _unit("render", Path(root).name, cue_id, upstream, body)


def settle_unit(root: str, token: str, voices_root: str, mode: str, *upstream: Any) -> UnitResult:
    """``adr render NAME`` after the reel's takes are made: checks every take is current and
    marks the cue sheet (renders of one reel ran in parallel; each wrote the sheet)."""

    def body() -> tuple[str, int]:
        from adr.voice.render import render_session

        with _session(root, token) as session:
            before = _mtime(session.cues_path)
            takes = render_session(session, voices_root=voices_root, mode=mode)
            changed = _mtime(session.cues_path) != before
        return ("done" if changed else "current"), len(takes)

    return _unit("settle", Path(root).name, Path(root).name, upstream, body)


def export_unit(
    root: str, token: str, voices_root: str, spec: str, repair: str, *upstream: Any
) -> UnitResult:
    """``adr export NAME`` (C2PA key from the environment, as the command takes it)."""

    def body() -> tuple[str, int]:
        from adr.deliver.c2pa_sign import key_from_env
        from adr.deliver.export import export_session

        with _session(root, token) as session:
            if not any(session.renders_dir.glob("*.wav")):
                return "current", 0  # nothing rendered: adr export has nothing to deliver
            result = export_session(
                session, spec=spec, repair=repair, voices_root=voices_root, c2pa_key=key_from_env()
            )
        return ("done" if result.written else "current"), len(result.cues)

    return _unit("export", Path(root).name, Path(root).name, upstream, body)

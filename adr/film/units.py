"""The units of work of a film batch, as plain functions over the session and voice folders.

Each unit calls the library exactly as the single command does (same caches, same atomic
writes), so a unit that finds its work done writes nothing, an interrupted unit leaves only
whole files, and units and single commands can be mixed:

=================  ===========================================================================
unit               what it runs
=================  ===========================================================================
``enroll_unit``    :func:`adr.voice.enroll.enroll_actor` for one cast member
``analyze_unit``   the audio stages of a chunk of one reel's cues
                   (:func:`adr.film.chunks.analyze_lines`: whole line groups)
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

__all__ = [
    "UnitResult",
    "enroll_unit",
    "analyze_unit",
    "scene_unit",
    "render_unit",
    "settle_unit",
    "export_unit",
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


def _raise_first(errors: dict[str, AdrError], order: Sequence[str]) -> None:
    failed = [c for c in order if c in errors]
    if failed:
        first = errors[failed[0]]
        more = f" (and {len(failed) - 1} more: {', '.join(failed[1:])})" if len(failed) > 1 else ""
        raise AdrError(first.where, first.problem + more)


def analyze_unit(
    root: str, token: str, cue_ids: list[str], voices_root: str, options: Any, *upstream: Any
) -> UnitResult:
    """One chunk of a reel's analysis (:func:`adr.film.chunks.analyze_lines`)."""
    from adr.film.chunks import analyze_lines

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
        from adr.film.chunks import _options

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

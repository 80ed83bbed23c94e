"""``adr batch FILM``: every pending unit of a film's work as Ray tasks, on one machine or a
Ray cluster.

The units (:mod:`adr.film.units`): one actor's enrollment; one reel's analysis in chunks of
cues, then its scene pass; one cue's render, then the reel's cue sheet; one reel's export.
Each is a Ray task that reads and writes the session and voice folders as the single
command does, so a killed batch resumes where it stopped, a rerun finds everything current,
and batches and single commands mix. The order is Ray's: a task gets the results of the
tasks it needs as arguments (analysis needs every enrollment, since actor identification
reads every voiceprint; a render needs its reel's scene pass and the enrollments; the reel's
cue sheet needs its renders; the export needs the cue sheet). The driver waits on whatever
finishes first (``ray.wait``) and plans a reel's renders once its analysis says which cues are
flagged: no sleeps, no polling.

The driver holds the session lock of every reel for the whole batch (``adr analyze`` in
another shell is refused meanwhile); units work under it (:func:`adr.ingest.lock.joined_lock`).
On Ctrl-C the driver cancels what is running, releases the locks and exits 130; finished
units are kept. A worker (or node) that dies is retried by Ray (``max_retries``).

This module plans the batch (which reels, which actors, which chunks of cues are due; the
locks) and starts Ray (:func:`start_ray`); :mod:`adr.film.driver` submits the units and
follows them. Ray is imported only by these two modules, inside functions, when a batch
starts.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adr.core.errors import AdrError
from adr.core.progress import ProgressHook, null_progress
from adr.core.records import Record
from adr.film.project import Project
from adr.film.units import TORCH_THREADS_ENV, UnitResult

__all__ = ["STAGES", "MEMORY", "BatchSummary", "run_batch", "start_ray"]

STAGES = ("enroll", "analyze", "render", "export")
_GIB = 1024**3
#: Memory each unit declares to Ray (bytes): the peak resident memory measured per unit
#: on the demo (bench/bench_batch.py), rounded up. Capped at the largest node's memory.
MEMORY = {
    "enroll": 3.0 * _GIB,
    "analyze": 2.5 * _GIB,
    "scene": 2.0 * _GIB,
    "render": 2.5 * _GIB,
    "settle": 1.0 * _GIB,
    "export": 2.5 * _GIB,
}


@dataclass(frozen=True)
class BatchSummary(Record):
    """What a batch did: one :class:`UnitResult` per unit that ran, and the totals."""

    film: str
    stages: tuple[str, ...]
    units: tuple[UnitResult, ...]
    seconds: float
    cpus: float
    nodes: int
    address: str = ""
    skipped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "film": self.film,
            "stages": list(self.stages),
            "units": [u.to_dict() for u in self.units],
            "seconds": self.seconds,
            "cpus": self.cpus,
            "nodes": self.nodes,
            "address": self.address,
            "skipped": dict(self.skipped),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchSummary:
        d = dict(data)
        d["stages"] = tuple(d["stages"])
        d["units"] = tuple(UnitResult.from_dict(u) for u in d["units"])
        return cls(**d)

    @property
    def failed(self) -> list[UnitResult]:
        return [u for u in self.units if u.status == "failed"]

    def count(self, stage: str, status: str) -> int:
        return sum(1 for u in self.units if u.stage == stage and u.status == status)

    def summary(self) -> str:
        """A few lines: per stage what was done, found current, failed; then the failures."""
        cpu = sum(u.cpu_seconds for u in self.units)
        where = self.address or "local Ray"
        lines = [
            f"batch {self.film}: {len(self.units)} unit(s) in {self.seconds:.1f} s "
            f"({cpu:.1f} s CPU in the units) on {self.nodes} node(s), {self.cpus:g} CPU(s) "
            f"({where})"
        ]
        for stage in ("enroll", "analyze", "scene", "render", "settle", "export"):
            units = [u for u in self.units if u.stage == stage]
            skipped = self.skipped.get(stage, 0)
            if not units and not skipped:
                continue
            parts = [
                f"{self.count(stage, s)} {s}"
                for s in ("done", "current", "failed", "blocked")
                if self.count(stage, s)
            ]
            if skipped:
                parts.append(f"{skipped} already done (not run)")
            items = sum(u.items for u in units)
            secs = sum(u.seconds for u in units)
            lines.append(f"  {stage:<8} {', '.join(parts)}; {items} item(s), {secs:.1f} s of work")
        for u in self.failed:
            lines.append(
                f"  FAILED {u.stage} {u.reel + ' ' if u.reel else ''}{u.unit}: "
                f"{u.where}: {u.problem}"
            )
        return "\n".join(lines)

    def raise_for_failures(self) -> None:
        """Raise the first failure as one :class:`AdrError` (naming how many more)."""
        failed = self.failed
        if failed:
            first = failed[0]
            more = f" (and {len(failed) - 1} more failed unit(s))" if len(failed) > 1 else ""
            raise AdrError(first.where, first.problem + more)


def _stages(stage: str) -> tuple[str, ...]:
    if stage == "all":
        return STAGES
    if stage not in STAGES:
        raise AdrError(stage, f"unknown batch stage: use one of {', '.join(STAGES)} or all")
    return (stage,)


@dataclass
class ReelPlan:
    """A reel of the batch: its session, the driver's lock token, its chunks of cues due."""

    name: str
    root: Path
    session: Any
    token: str = ""
    chunks: list[list[str]] = field(default_factory=list)
    analysed: bool = True  # nothing of its analysis to do in this batch


def _plan_reels(project: Project, names: Sequence[str], sessions_root: Path) -> list[ReelPlan]:
    from adr.ingest.session import load_session

    where = project.path or project.film
    out = []
    for name in names:
        if name not in project.reels:
            raise AdrError(
                where, f"no reel {name!r} in the project (reels: {', '.join(project.reels)})"
            )
        root = sessions_root / name
        if not (root / "session.toml").is_file():
            raise AdrError(
                where, f"reel {name}: no session {root} (make it with adr session new {name})"
            )
        out.append(ReelPlan(name, root, load_session(root)))
    return out


def _analysis_options(project: Project, override: Any) -> Any:
    from adr.analysis.result import AnalysisOptions

    if override is not None:
        return override
    o = project.options
    return AnalysisOptions(whisper_model=o.whisper_model or None, lips=o.lips, dnsmos=o.dnsmos)


def _plan_analysis(
    reel: ReelPlan, voices_root: Path, options: Any, chunk: int, enrolling: bool
) -> None:
    """Which cues of ``reel`` to analyse, in chunks; ``analysed`` when nothing is due."""
    from adr.film.chunks import plan_chunks, stale_lines

    s = reel.session
    cues = s.read_cues()
    if not cues:  # no cue sheet: speech regions become the cues, in the scene unit
        reel.analysed = False
        return
    stale = [c.id for c in cues] if enrolling else stale_lines(s, voices_root, options)
    reel.chunks = plan_chunks(cues, s.audio[0].duration, options.context, chunk, due=stale)
    todo = [cid for chunk_ids in reel.chunks for cid in chunk_ids]
    scene_done = not options.lips or (s.analysis_dir / "scene" / "av.json").is_file()
    reel.analysed = not todo and scene_done and all(c.status != "pending" for c in cues)


def _check_cast(project: Project, actors: Sequence[str]) -> None:
    """Material and consent of the actors to enroll, before any work (one-line errors)."""
    from adr.core.consent import read_consent

    for actor in actors:
        member = project.member(actor)
        project.audio_files(member)
        read_consent(project.resolve(member.consent))


def run_batch(
    project: Project,
    stage: str = "all",
    *,
    sessions_root: str | Path = "sessions",
    voices_root: str | Path = "voices",
    reels: Sequence[str] | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: ProgressHook | None = None,
    enroll_overrides: dict[str, Any] | None = None,
    analysis_options: Any = None,
    max_retries: int = 3,
) -> BatchSummary:
    """Run a film's pending work as Ray tasks (``adr batch``); see the module docstring.

    Parameters
    ----------
    project : Project
        The film (:func:`adr.film.project.load_project`).
    stage : str
        ``"enroll"``, ``"analyze"``, ``"render"``, ``"export"`` or ``"all"``.
    sessions_root, voices_root : path
        Used unless the project file names its own folders.
    reels : sequence of str, optional
        Only these reels (default: all of the project's).
    address : str, optional
        An existing Ray cluster (``ray start --head`` prints it; ``"auto"``: the one on this
        machine). Default: a local Ray instance with one worker per core, ended afterwards.
        When Ray is already initialised in this process, that instance is used.
    num_cpus : int, optional
        CPUs of the local instance (default: the machine's cores).
    progress : callable, optional
        Progress hook: one stage per bar (``"batch enroll"`` ... ) with counts.
    enroll_overrides : dict, optional
        Extra keyword arguments of :func:`adr.voice.enroll.enroll_actor` (model and training
        configs; tests use tiny ones).
    analysis_options : AnalysisOptions, optional
        Instead of the project's options.
    max_retries : int
        Times Ray reruns a unit whose worker died.

    Returns
    -------
    BatchSummary
        Every unit's result; failures are in it (``raise_for_failures``), not raised.

    Raises
    ------
    AdrError
        Before any work: an unknown stage or reel, a reel without session, an actor without
        material or consent; a session in use by another writer.
    """
    report = progress or null_progress
    stages = _stages(stage)
    sessions = project.sessions_root(sessions_root).resolve()
    voices = project.voices_root(voices_root).resolve()
    plan = _plan_reels(project, list(reels) if reels else list(project.reels), sessions)
    skipped: dict[str, int] = {}
    enroll = []
    if "enroll" in stages:
        enroll = [c.actor for c in project.cast if not (voices / c.actor / "voice.json").is_file()]
        skipped["enroll"] = len(project.cast) - len(enroll)
        _check_cast(project, enroll)
    options = _analysis_options(project, analysis_options)
    from adr.ingest.lock import session_lock

    with contextlib.ExitStack() as locks:
        for reel in plan:
            reel.token = locks.enter_context(session_lock(reel.root, "batch")).token
        if "analyze" in stages:
            for reel in plan:
                _plan_analysis(reel, voices, options, project.options.chunk, bool(enroll))
            skipped["scene"] = sum(1 for r in plan if r.analysed)
        from adr.film.driver import Driver

        driver = Driver(
            project, stages, plan, voices, options, report, enroll_overrides or {}, max_retries
        )
        return driver.run(enroll, address, num_cpus, skipped)


def start_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to Ray (``address``; ``"auto"``: the cluster ``ray start`` made on this
    machine) or start a local instance (no address); False when this process is already
    connected (then nothing is started)."""
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
    }
    if not address:
        kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
    # Ray runs each task on one OpenMP thread; the units run torch on as many threads as a
    # single command in this shell would, so that their floating-point results are the same
    import torch

    kwargs["runtime_env"] = {"env_vars": {TORCH_THREADS_ENV: str(torch.get_num_threads())}}
    # no address: a new local instance ("local"), as documented, even where RAY_ADDRESS is
    # set or a `ray start` cluster runs on this machine (ray.init() would join that one, and
    # refuse num_cpus; a dead one's address left in /tmp/ray would fail the batch)
    for attempt in range(3):  # a loaded machine can miss Ray's 30 s node start-up wait
        try:
            ray.init(address=address or "local", **kwargs)
            return True
        except Exception as exc:  # Ray raises a bare Exception when the node times out
            ray.shutdown()
            if "timed out during startup" not in str(exc) or attempt == 2:
                raise AdrError(address or "ray", f"Ray did not start ({exc})") from exc
    return True

"""The driver of ``adr batch`` (:mod:`adr.film.batch`): submits the units of a planned batch
as Ray tasks and follows them until every one has finished.

Dependencies are Ray's: a unit gets the :class:`~adr.film.units.UnitResult` of the units it
needs as arguments (every analysis chunk, scene pass and render gets the enrollments; a
reel's scene pass gets its chunks; its renders get the scene pass, the cue sheet pass
(``settle``) gets the renders, the export gets the cue sheet pass). A reel's renders are
planned only when its scene pass has finished, since only then does the cue sheet say which
cues are flagged. The driver waits on whatever finishes first (``ray.wait``): no sleeps, no
polling. Each unit declares one CPU and its memory (:data:`adr.film.batch.MEMORY`, capped at
the largest node's); Ray reruns a unit whose worker died (``max_retries``).

A unit's result is collected as it finishes, with progress (one bar per stage, with counts);
a unit that raised (its worker died past the retries, or a crash; units return their user
errors as failed results) becomes a failed result, not an exception. On Ctrl-C or a driver error the
running units are cancelled and the error is raised; finished units have written their
results. Ray is imported inside the methods only.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adr.core.errors import AdrError
from adr.core.progress import ProgressEvent, ProgressHook
from adr.film.batch import MEMORY, STAGES, BatchSummary, start_ray
from adr.film.project import Project
from adr.film.units import UnitResult

if TYPE_CHECKING:
    from adr.film.batch import ReelPlan

__all__ = ["Driver"]

#: How the stages are shown (progress bars and the summary) and what they count.
_BARS = {
    "enroll": ("batch enroll", "actor"),
    "analyze": ("batch analyze", "line"),
    "render": ("batch render", "take"),
    "export": ("batch export", "reel"),
}


class Driver:
    """Submits the units as Ray tasks and follows them (one instance per batch)."""

    def __init__(
        self,
        project: Project,
        stages: tuple[str, ...],
        reels: list[ReelPlan],
        voices: Path,
        options: Any,
        report: ProgressHook,
        overrides: dict[str, Any],
        max_retries: int,
    ) -> None:
        self.project, self.stages, self.reels = project, stages, reels
        self.voices, self.options, self.report = str(voices), options, report
        self.overrides, self.max_retries = overrides, max_retries
        self.pending: dict[Any, tuple[str, str, int]] = {}  # ref -> (stage, reel, items)
        self.results: list[UnitResult] = []
        self.done = {s: 0 for s in STAGES}
        self.total = {s: 0 for s in STAGES}
        self.unplanned: set[str] = set()  # reels whose renders wait for their analysis
        self.enroll_refs: list[Any] = []
        self.tasks: dict[str, Any] = {}

    # ----------------------------------------------------------------- Ray
    def _remote(self) -> None:
        import ray

        from adr.film import units

        biggest = max(
            (n.get("Resources", {}).get("memory", 0.0) for n in ray.nodes() if n.get("Alive")),
            default=0.0,
        )
        for stage, fn in (
            ("enroll", units.enroll_unit),
            ("analyze", units.analyze_unit),
            ("scene", units.scene_unit),
            ("render", units.render_unit),
            ("settle", units.settle_unit),
            ("export", units.export_unit),
        ):
            memory = int(min(MEMORY[stage], biggest)) if biggest else int(MEMORY[stage])
            self.tasks[stage] = ray.remote(fn).options(
                num_cpus=1, memory=memory, max_retries=self.max_retries, name=f"adr {stage}"
            )

    def _submit(self, stage: str, reel: str, items: int, *args: Any) -> Any:
        ref = self.tasks[stage].remote(*args)
        self.pending[ref] = (stage, reel, items)
        return ref

    # ----------------------------------------------------------------- progress
    def _show(self, stage: str) -> None:
        if self.total[stage]:
            label, unit = _BARS[stage]
            self.report(
                ProgressEvent(
                    label,
                    self.done[stage],
                    self.total[stage],
                    unit,
                    {"running": sum(1 for s, _, _ in self.pending.values() if s == stage)},
                )
            )

    # ----------------------------------------------------------------- planning
    def _plan_renders(self, reel: ReelPlan, upstream: list[Any]) -> None:
        """Submit the reel's renders, its cue sheet pass and its export."""
        project, o = self.project, self.project.options
        self.unplanned.discard(reel.name)
        settle = None
        if "render" in self.stages:
            cues = [c for c in reel.session.read_cues() if c.status in ("flagged", "rendered")]
            refs = [
                self._submit(
                    "render",
                    reel.name,
                    1,
                    str(reel.root),
                    reel.token,
                    c.id,
                    self.voices,
                    o.mode,
                    *upstream,
                    *self.enroll_refs,
                )
                for c in cues
            ]
            self.total["render"] = self._render_total()  # counts the refs just submitted
            settle = self._submit(
                "settle",
                reel.name,
                0,
                str(reel.root),
                reel.token,
                self.voices,
                o.mode,
                *upstream,
                *refs,
            )
            self._show("render")
        if "export" in self.stages:
            after = [settle] if settle is not None else list(upstream)
            self._submit(
                "export",
                reel.name,
                1,
                str(reel.root),
                reel.token,
                self.voices,
                project.options.spec,
                project.options.repair,
                *after,
            )
            self._show("export")

    def _render_total(self) -> int:
        """Takes submitted so far plus, for reels still in analysis, their cues (at most)."""
        submitted = self.done["render"] + sum(
            1 for s, _, _ in self.pending.values() if s == "render"
        )
        waiting = sum(len(r.session.read_cues()) for r in self.reels if r.name in self.unplanned)
        return submitted + waiting

    # ----------------------------------------------------------------- run
    def run(
        self, enroll: list[str], address: str | None, num_cpus: int | None, skipped: dict[str, int]
    ) -> BatchSummary:
        import ray

        clock = time.perf_counter()
        started = start_ray(address, num_cpus)
        try:
            self._remote()
            resources = ray.cluster_resources()
            nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
            for actor in enroll:
                self.enroll_refs.append(
                    self._submit("enroll", "", 1, self.project, actor, self.voices, self.overrides)
                )
            self.total["enroll"] = len(enroll)
            self._show("enroll")
            scenes: dict[Any, ReelPlan] = {}
            later = "render" in self.stages or "export" in self.stages
            for reel in self.reels:
                if "analyze" in self.stages and not reel.analysed:
                    chunks = [
                        self._submit(
                            "analyze",
                            reel.name,
                            len(c),
                            str(reel.root),
                            reel.token,
                            c,
                            self.voices,
                            self.options,
                            *self.enroll_refs,
                        )
                        for c in reel.chunks
                    ]
                    self.total["analyze"] += sum(len(c) for c in reel.chunks)
                    scene = self._submit(
                        "scene",
                        reel.name,
                        0,
                        str(reel.root),
                        reel.token,
                        self.voices,
                        self.options,
                        *chunks,
                        *self.enroll_refs,
                    )
                    scenes[scene] = reel
                    if later:
                        self.unplanned.add(reel.name)
            self.total["export"] = len(self.reels) if "export" in self.stages else 0
            self._show("analyze")
            for reel in self.reels:
                if later and reel.name not in self.unplanned:
                    self._plan_renders(reel, list(self.enroll_refs))
            while self.pending:
                ready, _ = ray.wait(list(self.pending), num_returns=1)
                ref = ready[0]
                stage, reel_name, items = self.pending.pop(ref)
                result = self._result(ref, stage, reel_name)
                self.results.append(result)
                bar = {"scene": "analyze", "settle": "render"}.get(stage, stage)
                self.done[bar] += items if stage != "scene" else 0
                if ref in scenes and later:
                    self._plan_renders(scenes.pop(ref), [ref])
                self._show(bar)
        except BaseException:
            for ref in self.pending:  # Ctrl-C or a driver error: stop the running units
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            raise
        finally:
            if started:
                ray.shutdown()
        return BatchSummary(
            self.project.film,
            self.stages,
            tuple(self.results),
            time.perf_counter() - clock,
            float(resources.get("CPU", 0.0)),
            nodes,
            address or "",
            skipped,
        )

    def _result(self, ref: Any, stage: str, reel: str) -> UnitResult:
        """The unit's result; a unit that raised (a crash, a dead worker) becomes a failed
        result: a user error as it was raised, anything else as the last line Ray reports."""
        import ray

        try:
            value = ray.get(ref)
        except ray.exceptions.RayError as exc:
            error = getattr(exc, "cause", None)  # RayTaskError: the unit's own exception
            if not isinstance(error, AdrError):
                lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
                error = AdrError(
                    f"{stage} {reel}".strip(), lines[-1] if lines else type(exc).__name__
                )
            return UnitResult(stage, reel, "?", "failed", where=error.where, problem=error.problem)
        if not isinstance(value, UnitResult):
            raise TypeError(f"unit {stage} returned {type(value).__name__}")
        return value

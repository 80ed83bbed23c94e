"""``adr project status FILM``: per reel and per actor, what is analysed, flagged, rendered
and exported, with counts and durations.

Read from the folders only (cue sheets, ``analysis/``, ``renders/``,
``deliverables/export.json``, ``voices/ACTOR/voice.json``): no model is loaded, nothing is
written, and it may run while a batch works.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adr.core.records import Record
from adr.film.project import Project

__all__ = ["ReelStatus", "ActorStatus", "ProjectStatus", "project_status"]


@dataclass(frozen=True)
class ReelStatus(Record):
    """One reel: cue counts (and their seconds) per state.

    ``exported`` counts the cues in the reel's last export; ``export_current`` is False when
    a take is newer than that export (or nothing was exported yet).
    """

    reel: str
    exists: bool
    duration: float = 0.0
    cues: int = 0
    cue_seconds: float = 0.0
    analyzed: int = 0
    flagged: int = 0
    flagged_seconds: float = 0.0
    rendered: int = 0
    rendered_seconds: float = 0.0
    exported: int = 0
    export_current: bool = False


@dataclass(frozen=True)
class ActorStatus(Record):
    """One cast member: the voice and the actor's cues over all reels."""

    actor: str
    enrolled: bool
    minutes: float = 0.0
    cues: int = 0
    flagged: int = 0
    rendered: int = 0
    rendered_seconds: float = 0.0


@dataclass(frozen=True)
class ProjectStatus(Record):
    film: str
    reels: tuple[ReelStatus, ...]
    actors: tuple[ActorStatus, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "film": self.film,
            "reels": [r.to_dict() for r in self.reels],
            "actors": [a.to_dict() for a in self.actors],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProjectStatus:
        return cls(
            data["film"],
            tuple(ReelStatus.from_dict(r) for r in data["reels"]),
            tuple(ActorStatus.from_dict(a) for a in data["actors"]),
        )

    def table(self) -> str:
        """The status as a text table (what ``adr project status`` prints)."""

        def mmss(s: float) -> str:
            return f"{int(s // 60)}:{int(round(s % 60)):02d}"

        out = [
            f"film {self.film}: {len(self.reels)} reel(s), {len(self.actors)} actor(s)",
            f"  {'reel':<16} {'length':>7} {'cues':>5} {'analyzed':>8} "
            f"{'flagged':>13} {'rendered':>13} {'exported':>9}",
        ]
        for r in self.reels:
            if not r.exists:
                out.append(f"  {r.reel:<16} no session yet")
                continue
            exported = f"{r.exported}{'' if r.export_current or not r.exported else '*'}"
            out.append(
                f"  {r.reel:<16} {mmss(r.duration):>7} {r.cues:>5} {r.analyzed:>8} "
                f"{r.flagged:>4} ({mmss(r.flagged_seconds):>6}) "
                f"{r.rendered:>4} ({mmss(r.rendered_seconds):>6}) {exported:>9}"
            )
        out.append(f"  {'actor':<16} {'voice':>12} {'cues':>5} {'flagged':>8} {'rendered':>13}")
        for a in self.actors:
            voice = f"{a.minutes:.1f} min" if a.enrolled else "not enrolled"
            out.append(
                f"  {a.actor:<16} {voice:>12} {a.cues:>5} {a.flagged:>8} "
                f"{a.rendered:>4} ({mmss(a.rendered_seconds):>6})"
            )
        if any(r.exported and not r.export_current for r in self.reels):
            out.append("  * a take is newer than the reel's export: run adr export (or adr batch)")
        return "\n".join(out)


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def project_status(
    project: Project, *, sessions_root: str | Path = "sessions", voices_root: str | Path = "voices"
) -> ProjectStatus:
    """What is done for each reel and actor of ``project`` (see the module docstring)."""
    from adr.ingest.session import load_session

    sessions = project.sessions_root(sessions_root)
    voices = project.voices_root(voices_root)
    reels = []
    per_actor: dict[str, list[int | float]] = {c.actor: [0, 0, 0, 0.0] for c in project.cast}
    for name in project.reels:
        root = sessions / name
        if not (root / "session.toml").is_file():
            reels.append(ReelStatus(name, False))
            continue
        s = load_session(root)
        cues = s.read_cues()
        analyzed = [c for c in cues if (s.analysis_dir / f"{c.id}.json").is_file()]
        flagged = [c for c in cues if c.status in ("flagged", "rendered")]
        rendered = [
            c
            for c in flagged
            if (s.renders_dir / f"{c.id}.wav").is_file()
            and (s.renders_dir / f"{c.id}.json").is_file()
        ]
        manifest = s.deliverables_dir / "export.json"
        exported = (_json(manifest).get("result") or {}).get("cues") or []
        newest = max((p.stat().st_mtime for p in s.renders_dir.glob("*.wav")), default=0.0)
        current = bool(exported) and manifest.stat().st_mtime >= newest
        for c in cues:
            counts = per_actor.get(c.actor)
            if counts is None:
                continue
            counts[0] += 1
            if c in flagged:
                counts[1] += 1
            if c in rendered:
                counts[2] += 1
                counts[3] += c.end - c.start
        reels.append(
            ReelStatus(
                name,
                True,
                s.duration,
                len(cues),
                sum(c.end - c.start for c in cues),
                len(analyzed),
                len(flagged),
                sum(c.end - c.start for c in flagged),
                len(rendered),
                sum(c.end - c.start for c in rendered),
                len(exported),
                current,
            )
        )
    actors = []
    for member in project.cast:
        voice = _json(voices / member.actor / "voice.json")
        record = voice.get("record") or voice.get("enrollment") or {}
        n, f, r, rs = per_actor[member.actor]
        actors.append(
            ActorStatus(
                member.actor,
                bool(voice),
                float(record.get("minutes", 0.0) or 0.0),
                int(n),
                int(f),
                int(r),
                float(rs),
            )
        )
    return ProjectStatus(project.film, tuple(reels), tuple(actors))

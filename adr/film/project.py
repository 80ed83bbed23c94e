"""The project file of a film: its reels (sessions) and its cast (actor -> enrollment material).

A project file is TOML, written by ``adr project new FILM`` or by hand; relative paths in it
are relative to the file's folder::

    format = 1
    film = "NIGHTSHIFT"
    reels = ["reel1", "reel2"]          # session names (sessions/reel1 ...)
    # sessions = "../sessions"          # optional: the sessions folder (default: --sessions)
    # voices = "../voices"              # optional: the voices folder (default: --voices)

    [options]                           # optional; these are the defaults
    quality = "fast"                    # enrollment preset (adr enroll --quality)
    lips = true                         # adr analyze (--no-lips: false)
    dnsmos = false
    whisper_model = ""                  # "" : the shipped model
    mode = "script"                     # adr render (--blind: "blind")
    spec = "-24"                        # adr export --spec
    repair = "auto"                     # adr export --repair
    chunk = 6                           # cues per analysis task (at least)

    [[cast]]
    actor = "MAYA"
    audio = ["cast/maya/*.wav"]         # files or glob patterns
    text = "cast/maya/transcript.tsv"   # optional (default: Whisper)
    consent = "cast/maya/consent.toml"  # required: no consent, no voice
    # quality = "default"               # optional: this actor's preset
    # steps = 800                       # optional: restorer training steps

Loading is strict: unknown keys, missing keys, wrong types, invalid names and duplicate reels
or actors are refused with one line naming the file (:class:`AdrError`).
"""

from __future__ import annotations

import dataclasses
import glob
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from adr.core.errors import AdrError
from adr.core.names import check_name, is_valid_name
from adr.core.records import Record, strict_from_dict

__all__ = [
    "PROJECT_FORMAT",
    "CastMember",
    "ProjectOptions",
    "Project",
    "project_path",
    "load_project",
    "save_project",
    "new_project",
]

PROJECT_FORMAT = 1
QUALITIES = ("fast", "default", "best")


@dataclass(frozen=True)
class CastMember(Record):
    """One actor of the film and their enrollment material (paths as written in the file).

    Attributes
    ----------
    actor : str
        Actor id (the voice goes to ``voices/ACTOR``).
    audio : tuple of str
        Clean recordings: files or glob patterns.
    consent : str
        The actor's consent record (TOML or JSON, see :mod:`adr.core.consent`).
    text : str
        Transcript table or text file (``""``: transcribe with Whisper).
    quality : str
        Enrollment preset for this actor (``""``: the project's).
    steps : int
        Restorer training steps (0: the preset's).
    """

    actor: str
    audio: tuple[str, ...]
    consent: str
    text: str = ""
    quality: str = ""
    steps: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        d = dict(data)
        if "audio" in d:
            audio = d["audio"]
            d["audio"] = tuple(audio) if isinstance(audio, (list, tuple)) else (audio,)
        return strict_from_dict(cls, d)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "actor": self.actor,
            "audio": list(self.audio),
            "consent": self.consent,
        }
        for key in ("text", "quality", "steps"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        return d


@dataclass(frozen=True)
class ProjectOptions(Record):
    """The choices every unit of the batch uses (those of the single commands)."""

    quality: str = "fast"
    lips: bool = True
    dnsmos: bool = False
    whisper_model: str = ""
    mode: str = "script"
    spec: str = "-24"
    repair: str = "auto"
    chunk: int = 6


@dataclass(frozen=True)
class Project(Record):
    """A film: reels (session names) and cast.

    ``path`` is the project file it was read from (not stored in the file); ``sessions`` and
    ``voices`` are folders as written in the file (``""``: the command's ``--sessions`` and
    ``--voices``).
    """

    film: str
    reels: tuple[str, ...]
    cast: tuple[CastMember, ...]
    options: ProjectOptions = field(default_factory=ProjectOptions)
    sessions: str = ""
    voices: str = ""
    format: int = PROJECT_FORMAT
    path: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": self.format, "film": self.film, "reels": list(self.reels)}
        for key in ("sessions", "voices"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        d["options"] = self.options.to_dict()
        d["cast"] = [c.to_dict() for c in self.cast]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        d = dict(data)
        d["reels"] = tuple(d.get("reels", ()))
        d["cast"] = tuple(
            CastMember.from_dict(c) if isinstance(c, dict) else c for c in d.get("cast", ())
        )
        if isinstance(d.get("options"), dict):
            d["options"] = ProjectOptions.from_dict(d["options"])
        return strict_from_dict(cls, d)

    @property
    def folder(self) -> Path:
        """The folder relative paths of the file are resolved against."""
        return Path(self.path).parent if self.path else Path.cwd()

    def resolve(self, value: str) -> Path:
        """A path of the file, made absolute against the file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.folder / p

    def sessions_root(self, default: str | Path) -> Path:
        return self.resolve(self.sessions) if self.sessions else Path(default)

    def voices_root(self, default: str | Path) -> Path:
        return self.resolve(self.voices) if self.voices else Path(default)

    def member(self, actor: str) -> CastMember:
        for c in self.cast:
            if c.actor == actor:
                return c
        raise AdrError(self.path or self.film, f"no actor {actor!r} in the cast")

    def audio_files(self, member: CastMember) -> list[Path]:
        """The member's recordings (patterns expanded, sorted); refused when none exist."""
        files: list[Path] = []
        for pattern in member.audio:
            p = self.resolve(pattern)
            if glob.has_magic(str(p)):
                files.extend(sorted(Path(f) for f in glob.glob(str(p))))
            elif p.is_file():
                files.append(p)
            else:
                raise AdrError(self.path, f"cast {member.actor}: audio file {p} not found")
        if not files:
            raise AdrError(
                self.path,
                f"cast {member.actor}: no enrollment audio matches "
                f"{', '.join(member.audio) or '(none given)'}",
            )
        return files

    def quality(self, member: CastMember) -> str:
        return member.quality or self.options.quality


def project_path(film: str | Path, folder: str | Path = "projects") -> Path:
    """Where project ``film`` lives: ``film`` itself when it is a ``.toml`` path, else
    ``folder/FILM.toml``."""
    s = str(film)
    if s.endswith(".toml"):
        return Path(s)
    check_name(s, "film name")
    return Path(folder) / f"{s}.toml"


def _check(project: Project, where: Path) -> Project:
    """Names, duplicates and option values of a loaded project."""
    if project.format != PROJECT_FORMAT:
        raise AdrError(
            where,
            f"unsupported project format {project.format!r} "
            f"(this adr reads format {PROJECT_FORMAT})",
        )
    checks: list[tuple[str, str]] = [(project.film, "film name")]
    checks += [(r, "reel (session name)") for r in project.reels]
    checks += [(c.actor, "actor id") for c in project.cast]
    for name, kind in checks:
        if not is_valid_name(name):
            check_name(name, kind, where)
    for kind, names in (("reel", project.reels), ("actor", [c.actor for c in project.cast])):
        seen = set()
        for n in names:
            if n in seen:
                raise AdrError(where, f"{kind} {n!r} is listed twice")
            seen.add(n)
    if not project.reels:
        raise AdrError(where, "the project lists no reels")
    o = project.options
    for value, allowed, key in (
        (o.quality, QUALITIES, "quality"),
        (o.mode, ("script", "blind"), "mode"),
        (o.spec, ("-24", "-23", "-27"), "spec"),
        (o.repair, ("auto", "partial", "whole"), "repair"),
    ):
        if value not in allowed:
            raise AdrError(where, f"options.{key} = {value!r}: use one of {', '.join(allowed)}")
    if o.chunk < 1:
        raise AdrError(where, f"options.chunk = {o.chunk}: must be at least 1")
    for c in project.cast:
        if not c.audio:
            raise AdrError(where, f"cast {c.actor}: no enrollment audio listed")
        if not c.consent:
            raise AdrError(where, f"cast {c.actor}: no consent file listed")
        if c.quality and c.quality not in QUALITIES:
            raise AdrError(
                where, f"cast {c.actor}: quality {c.quality!r}: use one of {', '.join(QUALITIES)}"
            )
        if c.steps < 0:
            raise AdrError(where, f"cast {c.actor}: steps must not be negative")
    return project


def _types(data: dict[str, Any], where: Path) -> None:
    """Refuse values of the wrong TOML type (a dataclass would take them as they are)."""

    def want(value: Any, kind: type | tuple[type, ...], key: str) -> None:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise AdrError(where, f"{key} = {value!r} has the wrong type")

    for key, kind in (("film", str), ("sessions", str), ("voices", str), ("format", int)):
        if key in data:
            want(data[key], kind, key)
    want(data.get("reels", []), list, "reels")
    for r in data.get("reels", []):
        want(r, str, "reels")
    want(data.get("options", {}), dict, "options")
    types = {f.name: f.type for f in dataclasses.fields(ProjectOptions)}
    kinds = {"str": str, "bool": bool, "int": int}
    for key, value in data.get("options", {}).items():
        if key in types:
            want(value, kinds[str(types[key])], f"options.{key}")
    want(data.get("cast", []), list, "cast")
    for i, c in enumerate(data.get("cast", [])):
        want(c, dict, f"cast[{i}]")
        fields: tuple[tuple[str, type | tuple[type, ...]], ...] = (
            ("actor", str),
            ("consent", str),
            ("text", str),
            ("quality", str),
            ("steps", int),
            ("audio", (str, list)),
        )
        for key, expected in fields:
            if key in c:
                want(c[key], expected, f"cast[{i}].{key}")


def load_project(film: str | Path, folder: str | Path = "projects") -> Project:
    """Read a project file strictly (see the module docstring).

    Raises
    ------
    AdrError
        Naming the file: missing, not TOML, unknown or missing keys, wrong types, bad names,
        duplicates, unknown option values.
    """
    path = project_path(film, folder)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AdrError(path, "project file not found (adr project new FILM makes one)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AdrError(path, f"project file is not readable ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AdrError(path, f"project file is not valid TOML ({exc})") from None
    _types(data, path)
    try:
        project = Project.from_dict({**data, "path": str(path)})
    except (ValueError, TypeError) as exc:
        raise AdrError(path, f"invalid project file: {exc}") from None
    return _check(project, path)


def save_project(project: Project, path: str | Path | None = None) -> Path:
    """Write ``project`` (atomically) to ``path`` (default: ``project.path``)."""
    import tomli_w

    from adr.core.fsio import atomic_path

    target = Path(path or project.path)
    _check(project, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.write_bytes(tomli_w.dumps(project.to_dict()).encode("utf-8"))
    return target


def new_project(
    film: str,
    reels: list[str],
    cast_dirs: dict[str, str | Path],
    *,
    folder: str | Path = "projects",
    options: ProjectOptions | None = None,
    overwrite: bool = False,
) -> Project:
    """Write a new project file (``adr project new``) and return it.

    Parameters
    ----------
    film : str
        The film's name (or a ``.toml`` path).
    reels : list of str
        Session names, in order.
    cast_dirs : dict
        Actor id -> a folder holding the actor's clean recordings (``*.wav``, ``*.flac``),
        ``consent.toml`` and optionally ``transcript.tsv``.
    overwrite : bool
        Replace an existing project file.
    """
    path = project_path(film, folder)
    if path.exists() and not overwrite:
        raise AdrError(path, "project file already exists (edit it, or use --force)")
    name = Path(str(film)).stem if str(film).endswith(".toml") else str(film)
    cast = []
    for actor, d in cast_dirs.items():
        check_name(actor, "actor id")
        src = Path(d).expanduser().resolve()
        if not src.is_dir():
            raise AdrError(src, f"cast {actor}: not a folder of recordings")
        audio = [str(src / f"*{ext}") for ext in (".wav", ".flac") if any(src.glob(f"*{ext}"))]
        if not audio:
            raise AdrError(src, f"cast {actor}: no .wav or .flac recordings in the folder")
        consent = next(
            (src / n for n in ("consent.toml", "consent.json") if (src / n).is_file()), None
        )
        if consent is None:
            raise AdrError(src, f"cast {actor}: no consent.toml in the folder")
        text = src / "transcript.tsv"
        cast.append(
            CastMember(actor, tuple(audio), str(consent), str(text) if text.is_file() else "")
        )
    project = Project(name, tuple(reels), tuple(cast), options or ProjectOptions(), path=str(path))
    save_project(project, path)
    return project

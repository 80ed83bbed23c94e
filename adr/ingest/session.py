"""ADR sessions: ``sessions/NAME/`` with its picture, production audio, cues and outputs.

A session references its source media (it never copies or modifies them) and keeps
everything it derives in its own folders::

    sessions/NAME/
        session.toml      versioned description: picture, audio, frame rate, start timecode
        cues/cues.csv     the ADR cue sheet
        analysis/         one JSON per cue (adr analyze)
        renders/          resynthesized lines (adr render)
        deliverables/     BWF, stem, EDL/OTIO, cue sheet, report (adr export)
"""

from __future__ import annotations

import datetime as _dt
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from adr.core.errors import AdrError
from adr.core.fsio import atomic_path, ensure_dir
from adr.core.names import check_not_source, is_valid_name
from adr.core.records import Record
from adr.core.timecode import FrameRate, format_timecode, parse_timecode
from adr.core.types import Cue
from adr.ingest.cues import TimecodeMap, check_cues, read_cues, write_cues
from adr.ingest.probe import check_container, check_lengths, check_picture_timing, probe_audio
from adr.ingest.video import probe_picture

__all__ = [
    "SESSION_FORMAT_VERSION",
    "MediaRef",
    "Session",
    "create_session",
    "load_session",
    "session_dir",
]

SESSION_FORMAT_VERSION = 1
SUBFOLDERS = ("cues", "analysis", "renders", "deliverables")


@dataclass(frozen=True)
class MediaRef(Record):
    """A source media file the session reads (never writes).

    Attributes
    ----------
    path : str
        Absolute path of the file.
    kind : str
        ``"picture"`` or ``"audio"``.
    duration : float
        Seconds.
    sample_rate : int
        Audio sample rate (for a picture: of its embedded audio, 0 if none).
    channels : int
        Audio channel count (0 for a picture without audio).
    size : int
        File size in bytes when the session was made (to notice a replaced file).
    """

    path: str
    kind: str
    duration: float
    sample_rate: int = 0
    channels: int = 0
    size: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Session:
    """An ADR session on disk.

    Attributes
    ----------
    root : Path
        The session folder ``sessions/NAME``.
    name : str
        Session name.
    frame_rate : FrameRate
        Picture frame rate.
    start_timecode : str
        Record timecode of the first picture frame.
    picture : MediaRef
        The picture (reference video with guide audio).
    audio : tuple of MediaRef
        Production audio files; the first is the main (boom/mix) track.
    created : str
        ISO date and time of creation.
    warnings : tuple of str
        What the media checks noticed when the session was made (audio and picture
        lengths that differ by more than a frame, irregular frame intervals).
    """

    root: Path
    name: str
    frame_rate: FrameRate
    start_timecode: str
    picture: MediaRef
    audio: tuple[MediaRef, ...]
    created: str
    format_version: int = SESSION_FORMAT_VERSION
    warnings: tuple[str, ...] = ()

    # -- folders -------------------------------------------------------------------------
    @property
    def toml_path(self) -> Path:
        return self.root / "session.toml"

    @property
    def cues_path(self) -> Path:
        return self.root / "cues" / "cues.csv"

    @property
    def analysis_dir(self) -> Path:
        return self.root / "analysis"

    @property
    def renders_dir(self) -> Path:
        return self.root / "renders"

    @property
    def deliverables_dir(self) -> Path:
        return self.root / "deliverables"

    @property
    def duration(self) -> float:
        """Length of the picture in seconds."""
        return self.picture.duration

    # -- time ----------------------------------------------------------------------------
    @property
    def timecode(self) -> TimecodeMap:
        return TimecodeMap.from_timecode(self.frame_rate, self.start_timecode)

    def to_timecode(self, seconds: float) -> str:
        """Record timecode of a session time."""
        return self.timecode.to_timecode(seconds)

    def to_seconds(self, timecode: str) -> float:
        """Session time of a record timecode."""
        return self.timecode.to_seconds(timecode)

    # -- cues ----------------------------------------------------------------------------
    def read_cues(self) -> list[Cue]:
        """The session's cue sheet (empty list if none yet), checked against the media."""
        if not self.cues_path.exists():
            return []
        cues = read_cues(self.cues_path, self.timecode)
        check_cues(cues, self.duration, self.cues_path)
        return cues

    def write_cues(self, cues: Sequence[Cue]) -> Path:
        """Replace the session's cue sheet (atomically), after checking the cues."""
        check_cues(cues, self.duration, self.cues_path)
        return write_cues(self.cues_path, cues, self.timecode)

    @property
    def source_paths(self) -> tuple[Path, ...]:
        """The session's registered source media (picture and audio): never written."""
        return (Path(self.picture.path),) + tuple(Path(a.path) for a in self.audio)

    def check_audio(self) -> None:
        """Refuse production audio that is gone or not the file the session was made with.

        A file whose size differs from the size recorded in ``session.toml`` was replaced or
        cut short (a copy interrupted) after the checks of ``adr session new``: analysing it
        would report its lines as silent, far from the cause.

        Raises
        ------
        AdrError
            Naming the file: not found, or changed since the session was made.
        """
        for ref in self.audio:
            p = Path(ref.path)
            try:
                size = p.stat().st_size
            except FileNotFoundError:
                raise AdrError(
                    p,
                    "file not found (the session's production audio; put it "
                    "back or make a new session)",
                ) from None
            except OSError as exc:
                raise AdrError(p, f"cannot read ({exc.strerror or exc})") from None
            if ref.size and size != ref.size:
                raise AdrError(
                    p,
                    f"changed since the session was made ({size} bytes, was "
                    f"{ref.size}): replaced or cut short; restore it or make a "
                    "new session (adr session new)",
                )

    def export_cues(self, out: str | Path) -> Path:
        """Write the session's cue sheet to ``out`` (atomically); never onto a source file.

        Raises
        ------
        AdrError
            ``out`` is a folder, one of the session's source media files, or inside the
            session's own folder (``session.toml``, the cue sheet, analyses, renders; its
            ``deliverables`` folder is allowed).
        """
        path = check_not_source(out, self.source_paths)
        if path.is_dir():
            raise AdrError(path, "is a folder; give a file name for the cue sheet")
        inside = path.resolve()
        root = self.root.resolve()
        if inside.is_relative_to(root) and not inside.is_relative_to(root / "deliverables"):
            raise AdrError(
                path,
                "is one of the session's own files (adr keeps its state "
                "there); write the cue sheet outside the session folder",
            )
        return write_cues(path, self.read_cues(), self.timecode)

    def import_cues(self, csv_path: str | Path) -> list[Cue]:
        """Read a cue sheet CSV from elsewhere, check it and make it the session's.

        Holds the session lock (re-entrant: :func:`adr.ingest.lock.session_lock`), so an
        import is refused, not lost, while another command writes the session.
        """
        from adr.ingest.lock import session_lock

        with session_lock(self.root, "cues import"):
            return self._import_cues(csv_path)

    def _import_cues(self, csv_path: str | Path) -> list[Cue]:
        cues = read_cues(csv_path, self.timecode)
        check_cues(cues, self.duration, csv_path)
        audio_end = min(a.duration for a in self.audio)
        for c in cues:
            if c.end > audio_end + 1e-6:
                raise AdrError(
                    csv_path,
                    f"cue {c.id} ({c.start:.2f}-{c.end:.2f} s) runs past "
                    f"the end of the production audio ({audio_end:.2f} s)",
                )
        self.write_cues(cues)
        return cues

    # -- serialization -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        extra = {"warnings": list(self.warnings)} if self.warnings else {}
        return {
            **extra,
            "format_version": self.format_version,
            "name": self.name,
            "created": self.created,
            "frame_rate": str(self.frame_rate),
            "start_timecode": self.start_timecode,
            "picture": self.picture.to_dict(),
            "audio": [a.to_dict() for a in self.audio],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], root: Path) -> Session:
        toml = root / "session.toml"
        version = data.get("format_version")
        if version != SESSION_FORMAT_VERSION:
            raise AdrError(toml, f"unsupported session format version {version!r}")

        def field(key: str, convert: Any) -> Any:
            if key not in data:
                raise AdrError(toml, f"missing key {key!r}")
            try:
                return convert(data[key])
            except AdrError as exc:
                raise AdrError(toml, f"{key} = {data[key]!r}: {exc.problem}") from None
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise AdrError(toml, f"{key} = {data[key]!r} is invalid ({exc})") from None

        def timecode(value: Any) -> str:
            parse_timecode(str(value), rate)  # refuses a bad timecode
            return str(value)

        def audio_refs(value: Any) -> tuple[MediaRef, ...]:
            refs = tuple(MediaRef.from_dict(a) for a in value)
            if not refs:
                raise ValueError("no production audio listed")
            return refs

        rate = field("frame_rate", lambda v: FrameRate.parse(str(v)))
        start = field("start_timecode", timecode)
        return cls(
            root=root,
            name=field("name", str),
            frame_rate=rate,
            start_timecode=start,
            picture=field("picture", MediaRef.from_dict),
            audio=field("audio", audio_refs),
            created=field("created", str),
            format_version=version,
            warnings=tuple(str(w) for w in data.get("warnings", ())),
        )

    def save(self) -> Path:
        with atomic_path(self.toml_path) as tmp:
            tmp.write_bytes(tomli_w.dumps(self.to_dict()).encode("utf-8"))
        return self.toml_path


def session_dir(name_or_path: str | Path, root: str | Path = "sessions") -> Path:
    """The folder of a session given by name (under ``root``) or by path."""
    p = Path(name_or_path)
    if p.is_dir() or len(p.parts) > 1:
        return p
    return Path(root) / p


def _media_ref_picture(
    path: Path, frame_rate: FrameRate | None, warnings: list[str]
) -> tuple[MediaRef, FrameRate, str | None]:
    check_container(path)
    info = probe_picture(path, frame_rate=frame_rate)
    warnings += check_picture_timing(path, info.num_frames, info.frame_rate)
    ref = MediaRef(
        path=str(path.resolve()),
        kind="picture",
        duration=info.duration,
        sample_rate=info.audio_sample_rate or 0,
        channels=info.audio_channels or 0,
        size=path.stat().st_size,
    )
    return ref, info.frame_rate, info.start_timecode


def _media_ref_audio(path: Path) -> MediaRef:
    audio = probe_audio(path)  # headers and streamed blocks: the samples are not kept
    return MediaRef(
        path=str(path.resolve()),
        kind="audio",
        duration=audio.duration,
        sample_rate=audio.sample_rate,
        channels=audio.channels,
        size=path.stat().st_size,
    )


def create_session(
    name: str,
    picture: str | Path,
    audio: Sequence[str | Path] = (),
    *,
    frame_rate: str | FrameRate | None = None,
    start_timecode: str | None = None,
    root: str | Path = "sessions",
    exist_ok: bool = False,
) -> Session:
    """Create ``root/NAME`` for a picture and its production audio.

    Parameters
    ----------
    name : str
        Session name (letters, digits, ``._-``).
    picture : path
        Picture file (mov, mp4, mxf, mpg, avi ...).
    audio : sequence of paths
        Production audio (WAV/BWF, FLAC, MP3 ...). When empty, the picture's own audio
        is used as production audio and must exist.
    frame_rate : str or FrameRate, optional
        Override for the picture's frame rate (``"23.976"``, ``"29.97df"`` ...).
    start_timecode : str, optional
        Record timecode of the first frame; default: the container's, else 01:00:00:00.
    root : path
        Folder that holds sessions.
    exist_ok : bool
        Return the existing session unchanged if it already exists with the same media.

    Raises
    ------
    AdrError
        Bad name, unreadable media, unknown frame rate, bad timecode, unwritable folder,
        or a session of that name that already exists (unless ``exist_ok``); damaged media
        (:mod:`adr.ingest.probe`: truncated files, a sample rate outside 8-192 kHz, a
        variable frame rate picture, audio files of different lengths, audio covering
        less than half the picture). Smaller mismatches are kept in ``Session.warnings``.
    """
    if not is_valid_name(name):
        raise AdrError(name, "session name must be 1-64 letters, digits, '.', '_' or '-'")
    folder = Path(root) / name
    if (folder / "session.toml").exists():
        if exist_ok:
            return load_session(folder)
        raise AdrError(folder, "session already exists (use another name or remove it)")
    rate = FrameRate.parse(frame_rate) if isinstance(frame_rate, str) else frame_rate
    warnings: list[str] = []
    pic_ref, rate, container_tc = _media_ref_picture(Path(picture), rate, warnings)
    audio_refs = tuple(_media_ref_audio(Path(a)) for a in audio)
    if not audio_refs:
        if pic_ref.channels == 0:
            raise AdrError(picture, "picture has no audio stream and no --audio was given")
        audio_refs = (MediaRef(**{**pic_ref.to_dict(), "kind": "audio"}),)
    warnings += check_lengths(
        picture, pic_ref.duration, rate, [(a.path, a.duration) for a in audio_refs]
    )
    tc = start_timecode or container_tc or "01:00:00:00"
    tc = format_timecode(parse_timecode(tc, rate), rate)  # validates and normalizes
    session = Session(
        root=folder,
        name=name,
        frame_rate=rate,
        start_timecode=tc,
        picture=pic_ref,
        audio=audio_refs,
        created=_dt.datetime.now().isoformat(timespec="seconds"),
        warnings=tuple(warnings),
    )
    for sub in SUBFOLDERS:
        ensure_dir(folder / sub)
    session.save()
    return session


def load_session(name_or_path: str | Path, root: str | Path = "sessions") -> Session:
    """Load a session by name (under ``root``) or by folder path.

    Raises
    ------
    AdrError
        No such session, or a corrupt or newer-format ``session.toml``.
    """
    folder = session_dir(name_or_path, root)
    toml_path = folder / "session.toml"
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AdrError(folder, "no such session (session.toml not found)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AdrError(toml_path, f"cannot read session file ({exc})") from None
    return Session.from_dict(data, folder)

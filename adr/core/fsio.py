"""Atomic file output.

Outputs are never half-written: each is written to a temporary file in the destination
folder and moved into place with :func:`os.replace`, which is atomic on POSIX file systems.
A rerun after an interruption therefore sees either the finished file or nothing.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adr.core.errors import AdrError

__all__ = [
    "atomic_path",
    "disk_full_error",
    "write_text",
    "write_json",
    "read_json",
    "ensure_dir",
    "package_file",
]

#: errno values of a full disk or an exhausted quota.
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def ensure_dir(path: str | Path) -> Path:
    """Create folder ``path`` (and parents) or raise :class:`AdrError` if it can't be."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AdrError(p, f"cannot create folder ({exc.strerror or exc})") from None
    if not os.access(p, os.W_OK):
        raise AdrError(p, "folder is not writable")
    return p


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` if the block succeeds.

    The temporary file keeps ``path``'s suffix (or ``suffix``) so that tools choosing a format
    by extension (ffmpeg, soundfile) still work. On any exception it is removed.

    Raises
    ------
    AdrError
        ``path`` is a folder, or the disk is full (naming the folder; nothing is written).
    """
    target = Path(path)
    if target.is_dir():
        raise AdrError(target, "is a folder, not a file; give a file name")
    ensure_dir(target.parent)
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=suffix or target.suffix, dir=target.parent
        )
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise disk_full_error(target) from None
        raise AdrError(
            target.parent, f"cannot write {target.name} ({exc.strerror or exc})"
        ) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in _DISK_FULL:
            raise disk_full_error(target) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def disk_full_error(target: str | Path) -> AdrError:
    """The one-line error for a write of ``target`` that ran out of space."""
    t = Path(target)
    return AdrError(
        t.parent,
        f"disk full (no space left on the device) while writing {t.name}; "
        "nothing was written (the previous version, if any, is unchanged)",
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file, raising :class:`AdrError` naming the file if missing or corrupt."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AdrError(p, "file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdrError(p, f"not a readable JSON file ({exc})") from None


def package_file(package: str, *parts: str, install: str = "") -> Path:
    """A data file shipped inside the installed ``package``, found without importing it
    (importing a package can have effects: ``silero_vad`` sets torch to one thread).

    Raises
    ------
    AdrError
        The package is not installed (``install`` says how to install it).
    """
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise AdrError(package, f"not installed{f'; {install}' if install else ''}")
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)

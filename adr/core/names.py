"""Names are data, not paths: one rule for session names, cue ids and actor ids.

Every id that becomes part of a file name (``analysis/<cue>.json``, ``renders/<cue>.wav``,
``voices/<actor>/``, ``sessions/<name>/``) must match :data:`NAME_PATTERN`: 1-64 letters,
digits, ``.``, ``_`` or ``-``, starting with a letter or digit. Such a name has no path
separator and cannot be ``.`` or ``..``, so it always names a child of its folder.
:func:`child_path` checks that again on the resolved path, and :func:`check_not_source`
refuses an output that would land on a session's registered source media.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from adr.core.errors import AdrError

__all__ = [
    "NAME_PATTERN",
    "as_name",
    "check_name",
    "child_path",
    "check_not_source",
    "is_valid_name",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"


def is_valid_name(name: str) -> bool:
    """True when ``name`` may be used as a session name, cue id or actor id."""
    return isinstance(name, str) and bool(NAME_PATTERN.match(name))


def as_name(label: str) -> str:
    """A valid name made from a free label (other characters become ``_``), for in-memory
    lines that never become files (``"kal:3@10 dB"`` -> ``"kal_3_10_dB"``)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", label.strip())[:64].lstrip("._-")
    return name or "line"


def check_name(name: str, kind: str, where: str | Path | None = None) -> str:
    """Return ``name`` unchanged, or raise :class:`AdrError` naming ``where`` (default: the name).

    Parameters
    ----------
    name : str
        The id to check.
    kind : str
        What it is (``"cue id"``, ``"actor id"``, ``"session name"``), used in the message.
    where : str or Path, optional
        The file or row the name came from.
    """
    if not is_valid_name(name):
        raise AdrError(
            where if where is not None else repr(name),
            f"{kind} {name!r} is not allowed: use {_RULE}",
        )
    return name


def child_path(folder: str | Path, name: str, suffix: str = "", kind: str = "name") -> Path:
    """``folder / (name + suffix)``, refused unless ``name`` is valid and stays inside ``folder``.

    Raises
    ------
    AdrError
        An invalid name, or a path that resolves outside ``folder`` (for example through a
        symbolic link).
    """
    check_name(name, kind)
    base = Path(folder)
    path = base / f"{name}{suffix}"
    resolved, root = path.resolve(), base.resolve()
    if resolved != root and root not in resolved.parents:
        raise AdrError(path, f"resolves outside {base} ({resolved}); refusing to write there")
    return path


def check_not_source(path: str | Path, sources: Iterable[str | Path]) -> Path:
    """Return ``path``, or refuse it when it is (or resolves to) one of the ``sources``."""
    p = Path(path)
    target = p.resolve()
    for src in sources:
        if Path(src).resolve() == target:
            raise AdrError(
                p, "is a source media file of the session; adr never writes source media"
            )
    return p

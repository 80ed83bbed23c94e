"""The session lock: one writer at a time per session folder.

Commands that write a session (``cues import``, ``analyze``, ``render``, ``export``) hold
``sessions/NAME/.lock`` while they run. The file holds the holder's pid, host name, command
and start time (JSON). A second writer is refused with one line naming the holder
(:class:`AdrError`, exit 2). A lock left behind by a process that no longer exists on this
host (killed, machine crash before reboot) is stale: it is taken over. A lock from another
host cannot be checked and is never taken over; the message says which file to delete.

The lock is re-entrant within one thread: the library calls (``analyze_session``,
``render_session``, ``export_session``, ``Session.import_cues``) take it themselves, and
the CLI, which takes it around them, does not deadlock; the file is removed when the
outermost holder leaves. Another thread of the same process is refused like another process.

A batch (``adr batch``, :mod:`adr.film.batch`) holds the locks of its reels in its driver
process and runs its units in worker processes: a unit enters :func:`joined_lock` with the
driver's token, which checks that the lock file still holds that token and lets the library
calls inside take the lock re-entrantly; it never creates or removes the file.

The lock is created with ``O_CREAT | O_EXCL`` (atomic on local and NFSv3+ file systems);
a stale lock is first renamed aside (only one taker wins the rename) and checked to be the
one judged stale before a new lock is created.

Example
-------
>>> with session_lock(session.root, "analyze"):  # doctest: +SKIP
...     analyze_session(session)
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adr.core.errors import AdrError
from adr.core.fsio import disk_full_error

__all__ = ["LOCK_NAME", "LockHolder", "joined_lock", "read_holder", "session_lock"]

LOCK_NAME = ".lock"
#: Locks this process holds: resolved folder -> [holder, depth, thread id, pid].
_held: dict[str, list[Any]] = {}
_held_guard = threading.Lock()
#: An unreadable lock file younger than this (seconds) may be one being written right now.
_UNREADABLE_GRACE = 10.0


@dataclass(frozen=True)
class LockHolder:
    """Who holds a session lock.

    Attributes
    ----------
    pid : int
        Process id of the holder.
    host : str
        Host name of the holder's machine.
    command : str
        The adr command holding the lock (``"analyze"`` ...).
    since : str
        ISO time the lock was taken.
    token : str
        Random id of this acquisition (a release removes only its own lock).
    """

    pid: int
    host: str
    command: str
    since: str
    token: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "host": self.host,
            "command": self.command,
            "since": self.since,
            "token": self.token,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LockHolder:
        return cls(
            int(data["pid"]),
            str(data["host"]),
            str(data.get("command", "?")),
            str(data.get("since", "?")),
            str(data.get("token", "")),
        )

    def describe(self) -> str:
        """``"adr analyze (pid 123 on host, since 2025-01-01T10:00:00)"``."""
        return f"adr {self.command} (pid {self.pid} on {self.host}, since {self.since})"


def _host() -> str:
    return socket.gethostname() or "localhost"


def _alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this host (or we may not signal it)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def read_holder(path: str | Path) -> LockHolder | None:
    """The holder recorded in lock file ``path``; None when absent or unreadable."""
    try:
        return LockHolder.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None


def _is_stale(path: Path, holder: LockHolder | None) -> bool:
    if holder is None:  # unreadable: stale unless it may be being written right now
        try:
            age = _dt.datetime.now().timestamp() - path.stat().st_mtime
        except FileNotFoundError:
            return True
        return age > _UNREADABLE_GRACE
    return holder.host == _host() and not _alive(holder.pid)


def _create(path: Path, holder: LockHolder) -> bool:
    """Create the lock file exclusively; False when it already exists."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    except OSError as exc:
        raise AdrError(
            path.parent, f"cannot create the session lock ({exc.strerror or exc})"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(holder.to_dict()) + "\n")
    except OSError as exc:
        path.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise disk_full_error(path) from None
        raise AdrError(
            path.parent, f"cannot write the session lock ({exc.strerror or exc})"
        ) from None
    return True


def _take_over(path: Path, stale: LockHolder | None) -> None:
    """Move a stale lock aside, unless another process replaced it meanwhile."""
    aside = path.with_name(f"{LOCK_NAME}.stale.{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return  # another process took it over first
    moved = read_holder(aside)
    if stale is not None and (moved is None or moved.token != stale.token):
        # a live lock replaced the stale one between our read and the rename: put it back
        with contextlib.suppress(OSError):
            os.link(aside, path)
    aside.unlink(missing_ok=True)


@contextlib.contextmanager
def session_lock(folder: str | Path, command: str) -> Iterator[LockHolder]:
    """Hold the lock of session ``folder`` for the duration of the block.

    Parameters
    ----------
    folder : path
        The session folder (``sessions/NAME``); must exist.
    command : str
        Name of the command taking the lock, shown to a refused second writer.

    Yields
    ------
    LockHolder
        This process's entry in the lock file.

    Raises
    ------
    AdrError
        The session is locked by a live process (or by one on another host), naming it.
    """
    root = Path(folder)
    path = root / LOCK_NAME
    ident = str(root.resolve())
    with _held_guard:
        entry = _held.get(ident)
        mine = False
        if entry is not None and entry[2] == threading.get_ident() and entry[3] == os.getpid():
            held = read_holder(path)
            mine = held is not None and held.token == entry[0].token
            if mine:
                entry[1] += 1
    if mine and entry is not None:  # re-entered by the thread that holds it (the CLI
        # around a library call)
        try:
            yield entry[0]
        finally:
            with _held_guard:
                entry[1] -= 1
        return
    me = LockHolder(
        os.getpid(),
        _host(),
        command,
        _dt.datetime.now().isoformat(timespec="seconds"),
        uuid.uuid4().hex,
    )
    for _ in range(5):
        if _create(path, me):
            break
        holder = read_holder(path)
        if holder is not None and holder.token == me.token:
            break
        if not _is_stale(path, holder):
            who = holder.describe() if holder is not None else "another adr process"
            hint = (
                "wait for it to finish"
                if holder is None or holder.host == _host()
                else f"if that process is gone, delete {path}"
            )
            raise AdrError(root, f"session is in use by {who}; {hint}")
        _take_over(path, holder)
    else:
        raise AdrError(root, f"cannot take the session lock {path} (contended); try again")
    with _held_guard:
        _held[ident] = [me, 1, threading.get_ident(), os.getpid()]
    try:
        yield me
    finally:
        with _held_guard:
            if _held.get(ident, [None])[0] is me:
                del _held[ident]
        if (held := read_holder(path)) is not None and held.token == me.token:
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def joined_lock(folder: str | Path, token: str) -> Iterator[LockHolder]:
    """Work under the lock of session ``folder`` that another process holds with ``token``.

    Used by the units of a batch: the batch's driver holds the lock (:func:`session_lock`)
    while its workers write; inside this block, :func:`session_lock` on the same folder (the
    library calls) re-enters instead of refusing. The lock file is left as it is.

    Raises
    ------
    AdrError
        The lock file no longer holds ``token`` (the batch ended or its lock was taken over).
    """
    root = Path(folder)
    path = root / LOCK_NAME
    holder = read_holder(path)
    if holder is None or holder.token != token:
        raise AdrError(
            root,
            "the batch that started this work no longer holds the session "
            f"lock ({path}); run the batch again",
        )
    ident = str(root.resolve())
    with _held_guard:
        mine = _held.get(ident)
        if mine is None:
            _held[ident] = [holder, 1, threading.get_ident(), os.getpid()]
    if mine is not None:  # this process holds it already (the driver itself): nothing to add
        if mine[0].token != token:
            raise AdrError(root, "session lock already held in this process")
        yield mine[0]
        return
    try:
        yield holder
    finally:
        with _held_guard:
            if _held.get(ident, [None])[0] is holder:
                del _held[ident]

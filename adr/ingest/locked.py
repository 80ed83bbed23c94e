"""A decorator for the library calls that write a session: each runs holding its lock.

``@holds_session_lock("render")`` on ``render_session(session, ...)`` takes
:func:`adr.ingest.lock.session_lock` on ``session.root`` around the call (re-entrant: the CLI,
which holds it too, does not deadlock). The wrapped function keeps its name, docstring and
signature.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from adr.ingest.lock import session_lock

if TYPE_CHECKING:
    from adr.ingest.session import Session

__all__ = ["holds_session_lock"]

P = ParamSpec("P")
R = TypeVar("R")


def holds_session_lock(
    command: str,
) -> Callable[[Callable[Concatenate[Session, P], R]], Callable[Concatenate[Session, P], R]]:
    """Make a ``fn(session, ...)`` run holding the session lock under the name ``command``."""

    def wrap(fn: Callable[Concatenate[Session, P], R]) -> Callable[Concatenate[Session, P], R]:
        @functools.wraps(fn)
        def run(session: Session, *args: P.args, **kwargs: P.kwargs) -> R:
            with session_lock(session.root, command):
                return fn(session, *args, **kwargs)

        return run

    return wrap

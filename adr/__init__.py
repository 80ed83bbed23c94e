"""adr: automatic dialog replacement for film and TV post-production.

The library API mirrors the command line: each ``adr`` command is one call here, and the
heavy modules behind them are imported only when a call is first used.

====================  =========================================  ==============================
call                  command                                    stage
====================  =========================================  ==============================
``create_session``    ``adr session new``                        :mod:`adr.ingest.session`
``load_session``      (every command taking a session)           :mod:`adr.ingest.session`
``enroll_actor``      ``adr enroll``                             :mod:`adr.voice.enroll`
``analyze_session``   ``adr analyze``                            :mod:`adr.analysis.analyze`
``render_session``    ``adr render``                             :mod:`adr.voice.render`
``export_session``    ``adr export``                             :mod:`adr.deliver.export`
``write_report``      ``adr report``                             :mod:`adr.deliver.report`
``respeak``           (one clip in memory, no session)           :mod:`adr.voice.respeak`
``load_voice``        (an enrolled voice)                        :mod:`adr.voice.voicefile`
====================  =========================================  ==============================

Every user error is an :class:`AdrError` naming the file or value at fault.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from adr.core.errors import AdrError

__version__ = "0.1.0"

_API = {
    "create_session": "adr.ingest.session",
    "load_session": "adr.ingest.session",
    "enroll_actor": "adr.voice.enroll",
    "analyze_session": "adr.analysis.analyze",
    "render_session": "adr.voice.render",
    "export_session": "adr.deliver.export",
    "write_report": "adr.deliver.report",
    "respeak": "adr.voice.respeak",
    "load_voice": "adr.voice.voicefile",
}

__all__ = [
    "AdrError",
    "__version__",
    "create_session",
    "load_session",
    "enroll_actor",
    "analyze_session",
    "render_session",
    "export_session",
    "write_report",
    "respeak",
    "load_voice",
]

if TYPE_CHECKING:
    from adr.analysis.analyze import analyze_session
    from adr.deliver.export import export_session
    from adr.deliver.report import write_report
    from adr.ingest.session import create_session, load_session
    from adr.voice.enroll import enroll_actor
    from adr.voice.render import render_session
    from adr.voice.respeak import respeak
    from adr.voice.voicefile import load_voice


def __getattr__(name: str) -> Any:
    """Import an API call's module on first use (``import adr`` stays light)."""
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'adr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))

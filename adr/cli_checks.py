"""Checks the ``adr`` command makes before calling the library (one-line errors, exit 2).

Each turns a mistake that the library would otherwise take at face value, or report late,
into an :class:`AdrError` naming the file or value: a ``--text`` that looks like a file
name but does not exist (it would silently become the transcript), ``render`` before
``analyze`` (it would render nothing and say "0 take(s)").
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from adr.core.errors import AdrError

if TYPE_CHECKING:
    from adr.ingest.session import Session

__all__ = ["check_text_args", "require_analysis", "silence_warnings"]

#: Suffixes of the transcript files ``--text`` accepts.
TEXT_SUFFIXES = (".txt", ".tsv", ".csv", ".lab", ".text")


def looks_like_path(value: str) -> bool:
    """True when ``value`` reads as a file name rather than spoken text.

    A value with white space is text. One without is a path when it holds a path separator
    or ends in a transcript suffix (``takes.txt``, ``../script/line3``).
    """
    if not value or any(c.isspace() for c in value):
        return False
    return "/" in value or os.sep in value or Path(value).suffix.lower() in TEXT_SUFFIXES


def check_text_args(values: Sequence[str] | None) -> None:
    """Refuse a ``--text`` value that looks like a file name but is not an existing file."""
    for value in values or ():
        if looks_like_path(value) and not Path(value).is_file():
            what = "is a folder, not a text file" if Path(value).is_dir() else "text file not found"
            raise AdrError(
                value,
                f"{what} (--text takes transcript files, or the spoken "
                "text itself for a single audio file)",
            )


def require_analysis(session: Session, cue_ids: Sequence[str] | None) -> None:
    """Refuse ``adr render`` on a session none of whose cues is analysed yet.

    With explicit ``cue_ids`` the library names the first cue that is not analysed; here only
    the whole-session case is checked (it would otherwise render nothing, silently).
    """
    if cue_ids:
        return
    cues = session.read_cues()
    if not cues:
        raise AdrError(
            session.root,
            "the session has no cues yet; run adr analyze first "
            "(or import a cue sheet with adr cues import)",
        )
    if all(c.status == "pending" for c in cues):
        raise AdrError(
            session.root, f"none of the {len(cues)} cue(s) is analysed yet; run adr analyze first"
        )


def silence_warnings(quiet: bool) -> None:
    """Hide third-party deprecation warnings (meant for developers, not users); with
    ``quiet`` hide every warning, so that only errors are printed."""
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    warnings.simplefilter("ignore", FutureWarning)
    if quiet:
        warnings.simplefilter("ignore")

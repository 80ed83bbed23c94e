"""User-facing errors.

Every problem a user can cause (a missing or corrupt file, a bad timecode, a cue outside
the media) is raised as :class:`AdrError`, which names the file or value at fault and the
problem in one line. The CLI prints it and exits with status 2, without a traceback.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["AdrError", "EXIT_USER_ERROR"]

EXIT_USER_ERROR = 2


class AdrError(Exception):
    """A problem with the user's input, reported as ``"<where>: <problem>"``.

    Parameters
    ----------
    where : str or Path
        The file, folder, cue id or value the problem is about.
    problem : str
        What is wrong, in one short sentence (no trailing period needed).
    """

    def __init__(self, where: str | Path, problem: str) -> None:
        self.where = str(where)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.where}: {self.problem}")

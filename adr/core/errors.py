"""User-facing errors.

Every problem a user can cause (a missing or corrupt file, a bad timecode, a cue outside
the media) is raised as :class:`AdrError`, which names the file or value at fault and the
problem in one line. The CLI prints it and exits with status 2, without a traceback.

An :class:`AdrError` (and any subclass) survives pickling with its message and attributes,
so that it crosses process boundaries (``adr batch`` runs units in Ray workers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["AdrError", "EXIT_USER_ERROR", "check_mono"]

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

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own reduce calls ``type(self)(*self.args)``: here ``args`` is the one
        # message, not (where, problem). Rebuilt without ``__init__`` instead, so that a
        # subclass with any signature keeps its args and attributes.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[AdrError], args: tuple[Any, ...], state: dict[str, Any]) -> AdrError:
    """An unpickled :class:`AdrError`: ``args`` and attributes as they were, no ``__init__``."""
    err = cls.__new__(cls, *args)
    err.args = args
    err.__dict__.update(state)
    return err


def check_mono(audio: Any, where: str, sample_rate: int | None = None) -> np.ndarray:
    """``audio`` as float32 mono samples (N,), or :class:`AdrError` naming ``where``.

    Refuses more than one dimension, NaN or infinite samples and (when given) a sample rate
    that is not positive.
    """
    a = np.asarray(audio)
    if a.ndim != 1:
        raise AdrError(where, f"expected mono audio of shape (N,), got shape {a.shape}")
    if sample_rate is not None and int(sample_rate) <= 0:
        raise AdrError(where, f"sample rate must be positive, got {sample_rate}")
    a = a.astype(np.float32, copy=False)
    if not np.all(np.isfinite(a)):
        raise AdrError(where, "audio contains NaN or infinite samples")
    return a

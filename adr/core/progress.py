"""Progress reporting through a hook.

Library code never prints. Long work (analysis, enrollment training, rendering) calls a
:class:`Progress` hook; the CLI passes one that draws a tqdm bar on stderr, a script may pass
its own callable or nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["ProgressEvent", "Progress", "null_progress", "TqdmProgress"]


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report: ``done`` of ``total`` units of ``stage``, with optional fields
    such as the current loss (``info``)."""

    stage: str
    done: float
    total: float
    unit: str = "it"
    info: dict[str, Any] | None = None


class Progress(Protocol):
    def __call__(self, event: ProgressEvent) -> None: ...


def null_progress(event: ProgressEvent) -> None:
    """A hook that ignores every event."""


class TqdmProgress:
    """A hook that draws one tqdm bar per stage on stderr (used by the CLI)."""

    def __init__(self, disable: bool = False) -> None:
        self._bars: dict[str, Any] = {}
        self._disable = disable

    def __call__(self, event: ProgressEvent) -> None:
        from tqdm import tqdm

        bar = self._bars.get(event.stage)
        if bar is None:
            bar = tqdm(
                total=event.total,
                desc=event.stage,
                unit=event.unit,
                disable=self._disable,
                dynamic_ncols=True,
                leave=True,
            )
            self._bars[event.stage] = bar
        bar.total = event.total
        bar.n = event.done
        if event.info:
            bar.set_postfix(event.info, refresh=False)
        bar.refresh()
        if event.done >= event.total:
            bar.close()
            del self._bars[event.stage]

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


ProgressHook = Callable[[ProgressEvent], None]

"""Systems compared side by side on the same degraded lines.

A system is anything with a ``name``, an ``aligned`` flag and ``process(line) -> audio``:

- ``aligned`` is true when the output is sample-aligned with ``line.noisy`` (a denoiser), so
  STOI and frame-by-frame F0 against the clean line are meaningful. A re-spoken take (ADR
  render) is not aligned: STOI is skipped for it, PESQ aligns time itself.
- ``process`` returns mono float32 at ``line.sample_rate``; a system may read ``line.text``
  (script mode), ``line.speaker`` (whose voice) and ``line.noisy`` (timing, blind mode), but
  never ``line.clean``, except the ceiling.

adr's own render ("adr render (script mode)", "adr render (blind mode)") is
:class:`bench.adr_system.AdrRender`; :func:`default_systems` adds both when given the run's
voices (a :class:`bench.adr_system.VoiceBank`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from adr.analysis.denoise import denoise
from bench.adr_system import AdrRender, VoiceBank
from bench.conditions import BenchLine

__all__ = [
    "System",
    "NoisyInput",
    "Denoiser",
    "CleanOriginal",
    "SYSTEM_KEYS",
    "make_system",
    "default_systems",
]


@runtime_checkable
class System(Protocol):
    """What the benchmark runs: ``process(line)`` -> audio, shape (N',), at line.sample_rate."""

    name: str
    aligned: bool

    def process(self, line: BenchLine) -> np.ndarray: ...


@dataclass(frozen=True)
class NoisyInput:
    """The degraded line as recorded (the floor every system should beat)."""

    name: str = "noisy input"
    aligned: bool = True

    def process(self, line: BenchLine) -> np.ndarray:
        return np.asarray(line.noisy, dtype=np.float32).copy()


@dataclass(frozen=True)
class Denoiser:
    """A denoiser from :mod:`adr.analysis.denoise` (``"dfn3"`` or ``"noisereduce"``)."""

    method: str
    name: str = ""
    aligned: bool = True

    def __post_init__(self) -> None:
        if not self.name:
            label = {"dfn3": "DeepFilterNet3", "noisereduce": "noisereduce"}.get(self.method)
            object.__setattr__(self, "name", label or self.method)

    def process(self, line: BenchLine) -> np.ndarray:
        return denoise(line.noisy, line.sample_rate, self.method)


@dataclass(frozen=True)
class CleanOriginal:
    """The clean original line: the ceiling (what a perfect system would give back)."""

    name: str = "clean original"
    aligned: bool = True

    def process(self, line: BenchLine) -> np.ndarray:
        return np.asarray(line.clean, dtype=np.float32).copy()


#: Short keys of the built-in systems, in table order.
SYSTEM_KEYS = ("noisy", "noisereduce", "dfn3", "clean")


def make_system(key: str) -> System:
    """The built-in system for a key of :data:`SYSTEM_KEYS`."""
    if key == "noisy":
        return NoisyInput()
    if key == "clean":
        return CleanOriginal()
    if key in ("noisereduce", "dfn3"):
        return Denoiser(key)
    raise KeyError(f"unknown system {key!r} (known: {', '.join(SYSTEM_KEYS)})")


def default_systems(voices: VoiceBank | None = None) -> list[System]:
    """Noisy input, noisereduce, DeepFilterNet3, adr render in script and blind mode (only
    when ``voices`` are given) and the clean original, in that order."""
    peers = [make_system(k) for k in SYSTEM_KEYS]
    if voices is None:
        return peers
    return [*peers[:-1], AdrRender("script", voices), AdrRender("blind", voices), peers[-1]]

"""Named conversions between seconds and sample or frame indices.

Time in the public API is always seconds (float). Code that needs an index into an audio
buffer or a feature sequence converts through these helpers, so rounding is done the same
way everywhere (to the nearest index; ties away from zero are irrelevant at these scales).
Frames here are analysis frames of a float period (``seconds_to_frames(t, frame_period)``);
picture frames at exact rational rates and SMPTE timecode live in :mod:`adr.core.timecode`
(``seconds_to_picture_frames(t, rate)``).
"""

from __future__ import annotations

import math

__all__ = [
    "DELIVERY_RATE",
    "seconds_to_samples",
    "samples_to_seconds",
    "seconds_to_frames",
    "frames_to_seconds",
]

#: Sample rate of every deliverable (Broadcast WAV, stems), in Hz.
DELIVERY_RATE = 48_000


def seconds_to_samples(seconds: float, sample_rate: int) -> int:
    """Nearest sample index for a time in seconds."""
    return int(math.floor(seconds * sample_rate + 0.5))


def samples_to_seconds(samples: int, sample_rate: int) -> float:
    """Time in seconds of a sample index."""
    return samples / sample_rate


def seconds_to_frames(seconds: float, frame_period: float) -> int:
    """Nearest analysis-frame index for a time, given the frame period in seconds."""
    return int(math.floor(seconds / frame_period + 0.5))


def frames_to_seconds(frames: float, frame_period: float) -> float:
    """Time in seconds of an analysis-frame index (or a fractional frame position)."""
    return frames * frame_period

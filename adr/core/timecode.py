"""SMPTE timecode with exact rational frame rates, drop frame and non-drop frame.

A :class:`FrameRate` holds the exact rate as a :class:`fractions.Fraction` (``30000/1001``,
never ``29.97``) and whether timecode is counted drop frame. Timecode strings are converted
to a frame count since ``00:00:00:00`` and back; every conversion to seconds or audio
samples goes through integer or Fraction arithmetic, so nothing drifts over a 24 h day.

Drop-frame counting (29.97 and 59.94 only) skips frame *numbers* 0 and 1 (0-3 at 59.94) at
the start of every minute except minutes divisible by ten; no picture frame is dropped.
Drop-frame timecode is written ``HH:MM:SS;FF``; non-drop ``HH:MM:SS:FF``.

Examples
--------
>>> rate = FrameRate.parse("29.97df")
>>> parse_timecode("00:01:00;02", rate)
1800
>>> format_timecode(107892, rate)
'01:00:00;00'
>>> timecode_to_samples("01:00:00:00", FrameRate.parse("23.976"))
172972800
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from adr.core.errors import AdrError

__all__ = [
    "FrameRate",
    "STANDARD_RATES",
    "parse_timecode",
    "format_timecode",
    "timecode_to_seconds",
    "seconds_to_timecode",
    "picture_frames_to_seconds",
    "seconds_to_picture_frames",
    "frames_to_samples",
    "samples_to_frames",
    "timecode_to_samples",
    "samples_to_timecode",
    "frames_per_day",
    "format_timecodes",
    "parse_timecodes",
]

#: Supported exact rates, with their display names and nominal (integer) timecode bases.
STANDARD_RATES: dict[Fraction, tuple[str, int]] = {
    Fraction(24000, 1001): ("23.976", 24),
    Fraction(24): ("24", 24),
    Fraction(25): ("25", 25),
    Fraction(30000, 1001): ("29.97", 30),
    Fraction(30): ("30", 30),
    Fraction(48): ("48", 48),
    Fraction(50): ("50", 50),
    Fraction(60000, 1001): ("59.94", 60),
    Fraction(60): ("60", 60),
}
_DROP_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))
_SUPPORTED = "23.976, 24, 25, 29.97, 29.97df, 30, 48, 50, 59.94, 59.94df, 60"
# Relative tolerance when snapping a decimal or container rate (23.98 -> 24000/1001 is
# 1.7e-4 away, 24 is 1e-3 away from 24000/1001).
_SNAP_TOL = 4e-4
_DF_SUFFIX = re.compile(r"^(?P<base>.*?)[\s_-]*(?P<suffix>n?df)$", re.IGNORECASE)
_NUMBER = re.compile(r"^\d+(\.\d+)?$|^\d+/\d+$")
_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;,.])(\d{2})$")


def _snap(value: Fraction) -> Fraction | None:
    """The standard rate within the snapping tolerance of ``value``, or None."""
    if value <= 0:
        return None
    for rate in STANDARD_RATES:
        if abs(value / rate - 1) <= _SNAP_TOL:
            return rate
    return None


@dataclass(frozen=True)
class FrameRate:
    """An exact picture frame rate and its timecode counting mode.

    Attributes
    ----------
    rate : Fraction
        Frames per second, one of :data:`STANDARD_RATES` (``Fraction(30000, 1001)`` ...).
    drop_frame : bool
        Whether timecode is counted drop frame (only at 29.97 and 59.94).
    """

    rate: Fraction
    drop_frame: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.rate, Fraction):
            object.__setattr__(self, "rate", Fraction(self.rate))
        if self.rate not in STANDARD_RATES:
            raise AdrError(str(self.rate), f"unsupported frame rate (supported: {_SUPPORTED})")
        if self.drop_frame and self.rate not in _DROP_RATES:
            raise AdrError(str(self), "drop-frame timecode exists only at 29.97 and 59.94 fps")

    @classmethod
    def parse(cls, s: str) -> FrameRate:
        """Parse ``"23.976"``, ``"24"``, ``"29.97df"``, ``"30000/1001"``, ``"59.94 DF"`` ...

        A ``df`` suffix (any case) means drop frame, ``ndf`` or none non-drop frame.

        Raises
        ------
        AdrError
            For a string that is not a number or an unsupported rate (``"12.5"``).
        """
        text = str(s).strip()
        if not text:
            raise AdrError(repr(s), f"not a frame rate (supported: {_SUPPORTED})")
        drop = False
        m = _DF_SUFFIX.match(text)
        if m:
            text = m.group("base").strip()
            drop = m.group("suffix").lower() == "df"
        if not _NUMBER.match(text):
            raise AdrError(s, f"not a frame rate (supported: {_SUPPORTED})")
        try:
            value = Fraction(text)
        except ZeroDivisionError:
            raise AdrError(s, f"not a frame rate (supported: {_SUPPORTED})") from None
        rate = _snap(value)
        if rate is None:
            raise AdrError(s, f"unsupported frame rate (supported: {_SUPPORTED})")
        if drop and rate not in _DROP_RATES:
            raise AdrError(s, "drop-frame timecode exists only at 29.97 and 59.94 fps")
        return cls(rate, drop)

    @classmethod
    def from_fraction(cls, value: Fraction | float | int, drop_frame: bool = False) -> FrameRate:
        """Snap a container rate (``2997/100``, ``23.976023``, ``25``) to the exact standard rate.

        Raises
        ------
        AdrError
            If ``value`` is not within 0.04 % of a supported rate.
        """
        try:
            frac = Fraction(value)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            raise AdrError(str(value), "not a frame rate") from None
        rate = _snap(frac)
        if rate is None:
            shown = f"{float(frac):.6g}" if frac.denominator != 1 else str(frac)
            raise AdrError(shown, f"unsupported frame rate (supported: {_SUPPORTED})")
        return cls(rate, drop_frame)

    @functools.cached_property
    def nominal(self) -> int:
        """Integer timecode base: frames per timecode second (24, 25, 30, 48, 50, 60)."""
        return STANDARD_RATES[self.rate][1]

    @property
    def fps(self) -> float:
        """Frames per second as a float (for display and non-critical arithmetic)."""
        return float(self.rate)

    @property
    def frame_duration(self) -> Fraction:
        """Exact length of one frame in seconds."""
        return 1 / self.rate

    def __str__(self) -> str:
        name = STANDARD_RATES[self.rate][0]
        return name + "df" if self.drop_frame else name

    def to_dict(self) -> dict[str, Any]:
        return {
            "rate": f"{self.rate.numerator}/{self.rate.denominator}",
            "drop_frame": self.drop_frame,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrameRate:
        unknown = set(data) - {"rate", "drop_frame"}
        if unknown or "rate" not in data:
            raise ValueError(f"FrameRate: bad fields {sorted(data)}")
        return cls(Fraction(str(data["rate"])), bool(data.get("drop_frame", False)))


def _drop_per_minute(rate: FrameRate) -> int:
    return 2 * (rate.nominal // 30) if rate.drop_frame else 0


def frames_per_day(rate: FrameRate) -> int:
    """Number of frames in 24 h of timecode (2 589 408 at 29.97 DF, 2 073 600 at 24)."""
    drop = _drop_per_minute(rate)
    return rate.nominal * 86400 - drop * (1440 - 144)


def parse_timecode(s: str, rate: FrameRate) -> int:
    """Frames since ``00:00:00:00`` of timecode ``s`` at ``rate``.

    Non-drop timecode is ``HH:MM:SS:FF``; drop frame ``HH:MM:SS;FF`` (``,`` or ``.`` also
    accepted, and ``:`` when the rate says drop frame).

    Raises
    ------
    AdrError
        Naming ``s`` when it is malformed, out of range (hours >= 24, minutes or seconds
        >= 60, frames >= the nominal rate), a dropped frame number in drop frame, or a
        drop-frame separator with a non-drop rate.
    """
    text = str(s).strip()
    m = _TIMECODE.match(text)
    if not m:
        raise AdrError(s, "not a timecode (expected HH:MM:SS:FF, or HH:MM:SS;FF drop frame)")
    hh, mm, ss, sep, ff = m.groups()
    h, mi, sec, f = int(hh), int(mm), int(ss), int(ff)
    if sep != ":" and not rate.drop_frame:
        raise AdrError(s, f"drop-frame separator {sep!r} but the frame rate {rate} is non-drop")
    if h >= 24:
        raise AdrError(s, "hours must be below 24")
    if mi >= 60 or sec >= 60:
        raise AdrError(s, "minutes and seconds must be below 60")
    if f >= rate.nominal:
        raise AdrError(s, f"frame {f} does not exist at {rate} fps (max {rate.nominal - 1})")
    drop = _drop_per_minute(rate)
    if drop and sec == 0 and f < drop and mi % 10 != 0:
        raise AdrError(s, f"frame number {f} is dropped at the start of minute {mi} in drop frame")
    minutes = 60 * h + mi
    number = (minutes * 60 + sec) * rate.nominal + f
    return number - drop * (minutes - minutes // 10)


def format_timecode(frames: int, rate: FrameRate) -> str:
    """Timecode of frame ``frames`` since ``00:00:00:00``, wrapping at 24 h.

    Drop frame is written with ``;`` before the frames field.
    """
    frames = int(frames) % frames_per_day(rate)
    drop = _drop_per_minute(rate)
    nominal = rate.nominal
    if drop:
        per_10min = nominal * 600 - 9 * drop
        per_min = nominal * 60 - drop
        tens, rem = divmod(frames, per_10min)
        extra = 9 * drop * tens
        if rem >= drop:
            extra += drop * ((rem - drop) // per_min)
        frames += extra
    total_seconds, f = divmod(frames, nominal)
    total_minutes, sec = divmod(total_seconds, 60)
    h, mi = divmod(total_minutes, 60)
    sep = ";" if drop else ":"
    return f"{h:02d}:{mi:02d}:{sec:02d}{sep}{f:02d}"


def picture_frames_to_seconds(frames: int, rate: FrameRate) -> float:
    """Time in seconds of frame ``frames`` (exactly ``frames / rate``, then rounded to float)."""
    return float(Fraction(int(frames)) / rate.rate)


def seconds_to_picture_frames(seconds: float, rate: FrameRate) -> int:
    """Nearest frame to a time in seconds (ties round up)."""
    return math.floor(Fraction(seconds) * rate.rate + Fraction(1, 2))


def timecode_to_seconds(s: str, rate: FrameRate) -> float:
    """Seconds since midnight of timecode ``s`` (real time: frames / rate)."""
    return picture_frames_to_seconds(parse_timecode(s, rate), rate)


def seconds_to_timecode(seconds: float, rate: FrameRate) -> str:
    """Timecode of the frame nearest to ``seconds`` since midnight."""
    return format_timecode(seconds_to_picture_frames(seconds, rate), rate)


def frames_to_samples(frames: int, rate: FrameRate, sample_rate: int = 48000) -> int:
    """Audio sample index nearest to the start of frame ``frames``.

    At 29.97 fps and 48 kHz a frame is 1601.6 samples; the position is computed exactly
    and rounded once (ties up).
    """
    return math.floor(Fraction(int(frames) * int(sample_rate)) / rate.rate + Fraction(1, 2))


def samples_to_frames(samples: int, rate: FrameRate, sample_rate: int = 48000) -> int:
    """Index of the frame that contains audio sample ``samples`` (floor)."""
    return math.floor(Fraction(int(samples)) * rate.rate / int(sample_rate))


def timecode_to_samples(s: str, rate: FrameRate, sample_rate: int = 48000) -> int:
    """Samples since midnight of timecode ``s`` (the BWF ``TimeReference``)."""
    return frames_to_samples(parse_timecode(s, rate), rate, sample_rate)


def samples_to_timecode(samples: int, rate: FrameRate, sample_rate: int = 48000) -> str:
    """Timecode of the frame that contains sample ``samples`` since midnight."""
    return format_timecode(samples_to_frames(samples, rate, sample_rate), rate)


# --- vectorized forms (whole reels, cue lists, tests over every frame of a day) ------------

_ZERO = ord("0")


def format_timecodes(frames: np.ndarray | list[int], rate: FrameRate) -> np.ndarray:
    """Vectorized :func:`format_timecode`.

    Parameters
    ----------
    frames : array of int, shape (N,)
        Frames since ``00:00:00:00`` (wrapped at 24 h).
    rate : FrameRate

    Returns
    -------
    np.ndarray, shape (N,), dtype ``<U11``
        Timecode strings, ``;`` before the frames field in drop frame.
    """
    f = np.mod(np.asarray(frames, dtype=np.int64).ravel(), frames_per_day(rate)).astype(np.int32)
    drop = _drop_per_minute(rate)
    nominal = rate.nominal
    if drop:
        per_10min = nominal * 600 - 9 * drop
        per_min = nominal * 60 - drop
        tens, rem = np.divmod(f, per_10min)
        f = f + drop * (9 * tens + np.maximum(rem - drop, 0) // per_min)
    total_seconds, ff = np.divmod(f, nominal)
    total_minutes, ss = np.divmod(total_seconds, 60)
    hh, mm = np.divmod(total_minutes, 60)
    out = np.empty((len(f), 11), dtype=np.uint32)  # UCS-4 code points
    for col, field in ((0, hh), (3, mm), (6, ss), (9, ff)):
        out[:, col] = field // 10 + _ZERO
        out[:, col + 1] = field % 10 + _ZERO
    out[:, 2] = out[:, 5] = ord(":")
    out[:, 8] = ord(";") if drop else ord(":")
    return out.view("U11").ravel()


def parse_timecodes(timecodes: np.ndarray | list[str], rate: FrameRate) -> np.ndarray:
    """Vectorized :func:`parse_timecode`, equally strict.

    Parameters
    ----------
    timecodes : array or list of str, shape (N,)
    rate : FrameRate

    Returns
    -------
    np.ndarray, shape (N,), int64
        Frames since ``00:00:00:00``.

    Raises
    ------
    AdrError
        Naming the first bad timecode, with the same messages as :func:`parse_timecode`.
    """
    arr = np.asarray(timecodes, dtype="U").ravel()
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    # Fast path for the canonical "HH:MM:SS:FF" form; anything else goes through the
    # scalar parser, which accepts it (" 1:00:00:00") or raises its precise error.
    # Shorter strings are zero-padded by the U11 view and so fail the digit checks.
    fixed = np.char.str_len(arr) == 11 if arr.dtype.itemsize > 44 else np.ones(len(arr), bool)
    codes = np.ascontiguousarray(arr, dtype="U11").view(np.uint32).reshape(-1, 11)
    codes = codes.astype(np.int32)
    digits = codes[:, [0, 1, 3, 4, 6, 7, 9, 10]] - _ZERO
    sep = codes[:, 8]
    ok = fixed & np.all((digits >= 0) & (digits <= 9), axis=1)
    ok &= (codes[:, 2] == ord(":")) & (codes[:, 5] == ord(":"))
    allowed = [ord(":")] + ([ord(c) for c in ";,."] if rate.drop_frame else [])
    ok &= np.isin(sep, allowed)
    h = digits[:, 0] * 10 + digits[:, 1]
    mi = digits[:, 2] * 10 + digits[:, 3]
    sec = digits[:, 4] * 10 + digits[:, 5]
    f = digits[:, 6] * 10 + digits[:, 7]
    drop = _drop_per_minute(rate)
    ok &= (h < 24) & (mi < 60) & (sec < 60) & (f < rate.nominal)
    if drop:
        ok &= ~((sec == 0) & (f < drop) & (mi % 10 != 0))
    minutes = (60 * h + mi).astype(np.int64)
    out = (minutes * 60 + sec) * rate.nominal + f - drop * (minutes - minutes // 10)
    for i in np.flatnonzero(~ok):
        out[i] = parse_timecode(str(arr[i]), rate)
    return out

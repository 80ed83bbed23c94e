"""Ingest: read audio files and the audio of picture files (frames: :mod:`adr.ingest.video`).

Long files are read in blocks by :mod:`adr.ingest.stream` (its names are importable here).

Audio is read with soundfile (WAV/BWF, FLAC, MP3, OGG ...) and, for anything libsndfile
cannot open (m4a/aac, the audio of mov/mp4/mxf/mpg/avi/mkv), with PyAV. A picture's audio is
aligned to its first picture frame: sample 0 is the start of frame 0 (the streams' start
times differ by a few milliseconds in MPEG program streams), matching session time.

Decisions on damaged files: a WAV whose data chunk is cut short is read up to where it
ends (as soundfile and ffmpeg do); a file with no samples at all (header only, zero-length
audio), an empty file, and bytes that are no known format are errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.timebase import seconds_to_samples
from adr.ingest.stream import MonoSource, read_mono, resample_blocks

__all__ = ["Audio", "MonoSource", "read_audio", "read_mono", "resample_blocks"]

_WAV_SUFFIXES = {".wav", ".wave", ".bwf"}
_WAV_MAGIC = (b"RIFF", b"RF64", b"BW64")


@dataclass(frozen=True, eq=False)
class Audio:
    """Decoded audio with its origin.

    Attributes
    ----------
    samples : np.ndarray, shape (C, N), float32
        Samples in [-1, 1].
    sample_rate : int
        Hz.
    path : str
        File it came from.
    time_reference : int or None
        BWF ``TimeReference`` of sample 0 (samples since midnight at ``sample_rate``).
    channel_names : tuple of str, length C
        iXML track names when present, else ``"1"``, ``"2"``, ...
    """

    samples: np.ndarray
    sample_rate: int
    path: str = ""
    time_reference: int | None = None
    channel_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        x = np.asarray(self.samples, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"Audio samples must have shape (C, N), got {x.shape}")
        object.__setattr__(self, "samples", x)
        if not self.channel_names:
            names = tuple(str(i + 1) for i in range(x.shape[0]))
            object.__setattr__(self, "channel_names", names)
        if len(self.channel_names) != x.shape[0]:
            raise ValueError("Audio: one channel name per channel")

    @property
    def num_channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate

    def mono(self, channel: int | None = None) -> np.ndarray:
        """One channel (0-based) or, when ``channel`` is None, the mean of all; shape (N,)."""
        if channel is None:
            return self.samples.mean(axis=0) if self.num_channels > 1 else self.samples[0]
        if not 0 <= channel < self.num_channels:
            raise AdrError(
                self.path, f"channel {channel} does not exist (0-{self.num_channels - 1})"
            )
        return self.samples[channel]

    def slice(self, start: float, end: float) -> Audio:
        """The part from ``start`` to ``end`` seconds (a view; time_reference follows).

        Raises
        ------
        AdrError
            If ``start < 0``, ``end`` is past the end, or ``end <= start``.
        """
        a = seconds_to_samples(start, self.sample_rate)
        b = seconds_to_samples(end, self.sample_rate)
        if a < 0 or b > self.num_samples or b <= a:
            raise AdrError(
                self.path,
                f"slice {start:.3f}-{end:.3f} s is outside the audio (0-{self.duration:.3f} s)",
            )
        tr = None if self.time_reference is None else self.time_reference + a
        return Audio(self.samples[:, a:b], self.sample_rate, self.path, tr, self.channel_names)

    def metadata_dict(self) -> dict[str, Any]:
        """Everything but the samples, JSON-ready."""
        return {
            "path": self.path,
            "sample_rate": self.sample_rate,
            "num_channels": self.num_channels,
            "num_samples": self.num_samples,
            "duration": self.duration,
            "time_reference": self.time_reference,
            "channel_names": list(self.channel_names),
        }


# --- helpers -------------------------------------------------------------------------------


def _check_file(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        raise AdrError(p, "is a folder, not a media file")
    if not p.exists():
        raise AdrError(p, "file not found")
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise AdrError(p, f"cannot read ({exc.strerror or exc})") from None
    if size == 0:
        raise AdrError(p, "file is empty")
    if p.suffix.lower() in _WAV_SUFFIXES and head not in _WAV_MAGIC:
        raise AdrError(p, "not a WAV file (no RIFF header): corrupt or mislabelled")
    return p


def _open_av(p: Path) -> Any:
    import av

    try:
        return av.open(str(p))
    except av.error.FFmpegError as exc:
        raise AdrError(p, f"not a readable audio or video file ({exc.strerror or exc})") from None


def _pcm_to_float(frame: Any) -> np.ndarray:
    """A decoded PyAV audio frame as float32, shape (C, n)."""
    fmt = frame.format
    a = frame.to_ndarray()
    if not fmt.is_planar:
        a = a.reshape(-1, len(frame.layout.channels)).T
    name = fmt.name.rstrip("p")
    if name in ("flt", "dbl"):
        return a.astype(np.float32)
    if name == "u8":
        return (a.astype(np.float32) - 128.0) / 128.0
    bits = {"s16": 15, "s32": 31, "s64": 63}[name]
    return (a.astype(np.float64) / float(1 << bits)).astype(np.float32)


def _read_with_av(p: Path) -> tuple[np.ndarray, int]:
    import av

    with _open_av(p) as container:
        if not container.streams.audio:
            if container.streams.video:
                raise AdrError(p, "has no audio stream")
            raise AdrError(p, "not a readable audio or video file (no audio stream)")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        blocks: list[np.ndarray] = []
        first_time: float | None = None
        try:
            for frame in container.decode(stream):
                if first_time is None and frame.time is not None:
                    first_time = float(frame.time)
                blocks.append(_pcm_to_float(frame))
        except av.error.FFmpegError as exc:
            if not blocks:
                raise AdrError(p, f"cannot decode audio ({exc.strerror or exc})") from None
        x = np.concatenate(blocks, axis=1) if blocks else np.zeros((1, 0), np.float32)
        if stream.duration and rate > 0:  # drop encoder padding past the stated duration
            x = x[:, : round(stream.duration * stream.time_base * rate)]
        if container.streams.video and first_time is not None and rate > 0:
            v = container.streams.video[0]
            if v.start_time is not None:
                # Align to the first picture frame: positive offset = audio starts later.
                offset = first_time - float(v.start_time * v.time_base)
                n = int(round(offset * rate))
                if n > 0:
                    x = np.concatenate([np.zeros((x.shape[0], n), np.float32), x], axis=1)
                elif n < 0:
                    x = x[:, -n:]
    return x, rate


def _resample(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    from scipy.signal import resample_poly

    ratio = Fraction(int(target), int(sr))
    y = resample_poly(x, ratio.numerator, ratio.denominator, axis=1)
    return y.astype(np.float32)


def _check_finite(x: np.ndarray, p: Path, block: int = 1 << 20) -> None:
    """Refuse NaN or infinite samples (a float file written by a failed process), block by
    block so that the check needs no second full-size array."""
    for i in range(0, x.shape[1], block):
        part = x[:, i : i + block]
        if not np.isfinite(part).all():
            bad = i + int(np.flatnonzero(~np.isfinite(part).all(axis=0))[0])
            raise AdrError(
                p,
                f"audio contains NaN or infinite samples (first at sample {bad}); "
                "the file is damaged",
            )


# --- public API (long files read in blocks: adr.ingest.stream) -----------------------------


def read_audio(
    path: str | Path,
    *,
    sample_rate: int | None = None,
    channels: list[int] | None = None,
) -> Audio:
    """Read an audio file or the audio of a picture file.

    Parameters
    ----------
    path : path
        WAV/BWF (mono or polyphonic, 16/24/32-bit int or float), FLAC, MP3, OGG through
        soundfile; m4a/aac and picture files (mov, mp4, mxf, mpg, avi, mkv) through PyAV.
    sample_rate : int, optional
        Resample to this rate (polyphase filter with the exact rational ratio); the BWF
        time reference is rescaled to the new rate.
    channels : list of int, optional
        0-based channels to keep, in this order.

    Returns
    -------
    Audio
        ``samples`` shape (C, N) float32.

    Raises
    ------
    AdrError
        Missing file, folder, empty file, not audio/corrupt, picture without audio, no
        samples, NaN or infinite samples, channel out of range, invalid sample rate.
    """
    import soundfile as sf

    p = _check_file(path)
    time_reference: int | None = None
    names: tuple[str, ...] | None = None
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
        x = np.ascontiguousarray(data.T)
        is_wav = sf.info(str(p)).format in ("WAV", "WAVEX", "RF64")
    except (sf.LibsndfileError, RuntimeError):
        x, sr = _read_with_av(p)
        is_wav = False
    if sr <= 0:
        raise AdrError(p, "audio has no valid sample rate")
    if x.shape[1] == 0:
        raise AdrError(p, "contains no audio samples (zero length or truncated)")
    _check_finite(x, p)
    if is_wav:
        time_reference, names = _wav_metadata(p, x.shape[0])
    if channels is not None:
        bad = [c for c in channels if not 0 <= c < x.shape[0]]
        if bad or not channels:
            raise AdrError(
                p,
                f"channel(s) {bad or channels} do not exist "
                f"(file has {x.shape[0]}, numbered from 0)",
            )
        x = x[list(channels)]
        names = tuple(names[c] for c in channels) if names else tuple(str(c + 1) for c in channels)
    if sample_rate is not None and int(sample_rate) != sr:
        if int(sample_rate) <= 0:
            raise AdrError(str(sample_rate), "sample rate must be a positive integer")
        x = _resample(x, sr, int(sample_rate))
        if time_reference is not None:
            time_reference = math.floor(
                Fraction(time_reference * int(sample_rate), sr) + Fraction(1, 2)
            )
        sr = int(sample_rate)
    return Audio(x, int(sr), str(p), time_reference, names or ())


def _wav_metadata(p: Path, num_channels: int) -> tuple[int | None, tuple[str, ...] | None]:
    """bext time reference and iXML track names; metadata damage is not fatal here."""
    from adr.ingest.bwf import ixml_track_names, read_bext, read_ixml

    try:
        bext = read_bext(p)
    except AdrError:
        bext = None
    try:
        ixml = read_ixml(p)
    except AdrError:
        ixml = None
    names = ixml_track_names(ixml, num_channels) if ixml else None
    return (bext.time_reference if bext else None), names

"""Ingest: read audio files, the audio of picture files, and picture frames.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from adr.errors import AdrError
from adr.timebase import seconds_to_samples
from adr.timecode import STANDARD_RATES, FrameRate, format_timecode, parse_timecode
from adr.types import strict_from_dict

__all__ = ["Audio", "PictureInfo", "read_audio", "probe_picture", "iter_frames", "read_frame"]

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
            raise AdrError(self.path, f"channel {channel} does not exist "
                                      f"(0-{self.num_channels - 1})")
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
            raise AdrError(self.path, f"slice {start:.3f}-{end:.3f} s is outside the audio "
                                      f"(0-{self.duration:.3f} s)")
        tr = None if self.time_reference is None else self.time_reference + a
        return Audio(self.samples[:, a:b], self.sample_rate, self.path, tr, self.channel_names)

    def metadata_dict(self) -> dict[str, Any]:
        """Everything but the samples, JSON-ready."""
        return {"path": self.path, "sample_rate": self.sample_rate,
                "num_channels": self.num_channels, "num_samples": self.num_samples,
                "duration": self.duration, "time_reference": self.time_reference,
                "channel_names": list(self.channel_names)}


@dataclass(frozen=True)
class PictureInfo:
    """What :func:`probe_picture` learns about a picture file.

    Attributes
    ----------
    path : str
    frame_rate : FrameRate
        Exact rate (the container's, snapped to a standard rate, or the caller's override).
    num_frames : int
        Picture frames in the file.
    duration : float
        ``num_frames / frame_rate`` seconds.
    width, height : int
        Pixels.
    start_timecode : str or None
        Timecode of the first frame from the container (stream or format ``timecode`` tag,
        the tmcd track, MXF, or the first MPEG GOP header); None when the file has none.
        A GOP timecode of 00:00:00:00 counts as none (encoders write it by default).
    has_audio : bool
    audio_sample_rate, audio_channels : int or None
        Of the first audio stream.
    """

    path: str
    frame_rate: FrameRate
    num_frames: int
    duration: float
    width: int
    height: int
    start_timecode: str | None = None
    has_audio: bool = False
    audio_sample_rate: int | None = None
    audio_channels: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__},
                "frame_rate": self.frame_rate.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PictureInfo:
        d = dict(data)
        if "frame_rate" in d:
            d["frame_rate"] = FrameRate.from_dict(d["frame_rate"])
        return strict_from_dict(cls, d)


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


# --- public API ----------------------------------------------------------------------------

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
        samples, channel out of range, invalid sample rate.
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
    if is_wav:
        time_reference, names = _wav_metadata(p, x.shape[0])
    if channels is not None:
        bad = [c for c in channels if not 0 <= c < x.shape[0]]
        if bad or not channels:
            raise AdrError(p, f"channel(s) {bad or channels} do not exist "
                              f"(file has {x.shape[0]}, numbered from 0)")
        x = x[list(channels)]
        names = tuple(names[c] for c in channels) if names else tuple(str(c + 1) for c in channels)
    if sample_rate is not None and int(sample_rate) != sr:
        if int(sample_rate) <= 0:
            raise AdrError(str(sample_rate), "sample rate must be a positive integer")
        x = _resample(x, sr, int(sample_rate))
        if time_reference is not None:
            time_reference = math.floor(Fraction(time_reference * int(sample_rate), sr)
                                        + Fraction(1, 2))
        sr = int(sample_rate)
    return Audio(x, int(sr), str(p), time_reference, names or ())


def _wav_metadata(p: Path, num_channels: int) -> tuple[int | None, tuple[str, ...] | None]:
    """bext time reference and iXML track names; metadata damage is not fatal here."""
    from adr.bwf import ixml_track_names, read_bext, read_ixml

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


# --- picture -------------------------------------------------------------------------------

def _mpeg_gop_timecode(p: Path) -> str | None:
    """Timecode of the first GOP header of an MPEG-1/2 video stream, if any.

    Opens its own container: after a seek, MPEG demuxers may skip the first packet.
    """
    import av

    with _open_av(p) as container:
        try:
            for frame in container.decode(container.streams.video[0]):
                for sd in frame.side_data:
                    if getattr(sd.type, "name", "") == "GOP_TIMECODE":
                        tc = int.from_bytes(bytes(sd)[:8], "little")
                        if tc & 0xFFEFFF == 0:  # 00:00:00:00 (bit 12 is a marker): the default
                            return None
                        sep = ";" if tc & (1 << 24) else ":"
                        return (f"{tc >> 19 & 0x1F:02d}:{tc >> 13 & 0x3F:02d}:"
                                f"{tc >> 6 & 0x3F:02d}{sep}{tc & 0x3F:02d}")
                return None
        except av.error.FFmpegError:  # optional metadata: a decoder failure means "none"
            return None
    return None


def _container_timecode(p: Path, container: Any, video: Any) -> str | None:
    for meta in [video.metadata, container.metadata] + [s.metadata for s in container.streams
                                                          if s.type == "data"]:
        tc = (meta or {}).get("timecode")
        if tc:
            return str(tc).strip()
    if video.codec_context.name in ("mpeg1video", "mpeg2video"):
        return _mpeg_gop_timecode(p)
    return None


def _count_frames(container: Any, video: Any, rate: Fraction) -> int:
    """Exact frame count: the index (mov/mp4/avi), MXF's edit-unit duration, else demux
    (``container`` must not have been read from yet)."""
    if video.frames and video.frames > 0:
        return int(video.frames)
    if container.format.name == "mxf" and video.duration:
        return round(video.duration * video.time_base * rate)
    return sum(1 for packet in container.demux(video) if packet.size)


def _video_rate(video: Any) -> Fraction | None:
    """The stream's exact rate, snapped to a standard rate when it is one."""
    for r in (video.average_rate, video.guessed_rate, video.base_rate):
        if r:
            raw = Fraction(r.numerator, r.denominator)
            try:
                return FrameRate.from_fraction(raw).rate
            except AdrError:
                return raw
    return None


def probe_picture(path: str | Path, *, frame_rate: FrameRate | None = None) -> PictureInfo:
    """Frame rate, frame count, size, start timecode and audio of a picture file.

    Parameters
    ----------
    path : path
        mov, mp4, mxf, mpg, avi, mkv ...
    frame_rate : FrameRate, optional
        Override for containers that don't state a usable rate (also sets drop frame).

    Raises
    ------
    AdrError
        Missing/unreadable file, no video stream, or an unsupported frame rate without
        an override.
    """
    import av

    p = _check_file(path)
    with _open_av(p) as container:
        if not container.streams.video:
            raise AdrError(p, "has no picture (video) stream")
        video = container.streams.video[0]
        container_tc = _container_timecode(p, container, video)
        rate = frame_rate
        if rate is None:
            raw = _video_rate(video)
            if raw is None:
                raise AdrError(p, "container states no frame rate; give the frame rate")
            if raw not in STANDARD_RATES:
                raise AdrError(p, f"unsupported frame rate {float(raw):.4g} fps; give the frame "
                                  f"rate (supported: {', '.join(str(FrameRate(r)) for r in STANDARD_RATES)})")
            drop = bool(container_tc) and container_tc[8:9] in (";", ",", ".")
            rate = FrameRate(raw, drop and raw in (Fraction(30000, 1001), Fraction(60000, 1001)))
        try:
            num_frames = _count_frames(container, video, rate.rate)
        except av.error.FFmpegError as exc:
            raise AdrError(p, f"cannot read picture ({exc.strerror or exc})") from None
        audio = container.streams.audio[0] if container.streams.audio else None
        width, height = int(video.codec_context.width), int(video.codec_context.height)
    start_tc = container_tc
    if container_tc:
        try:
            start_tc = format_timecode(parse_timecode(container_tc, rate), rate)
        except AdrError:
            pass  # kept verbatim; the caller validates it against the rate it uses
    return PictureInfo(
        path=str(p), frame_rate=rate, num_frames=num_frames,
        duration=float(num_frames / rate.rate), width=width, height=height,
        start_timecode=start_tc, has_audio=audio is not None,
        audio_sample_rate=int(audio.codec_context.sample_rate) if audio else None,
        audio_channels=int(audio.codec_context.channels) if audio else None,
    )


def iter_frames(
    path: str | Path,
    start: float = 0.0,
    end: float | None = None,
    *,
    gray: bool = False,
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode the picture frames shown between ``start`` and ``end`` seconds.

    Frame ``i`` is shown over ``[i / rate, (i + 1) / rate)`` seconds from the file's first
    frame; every frame overlapping ``[start, end)`` is yielded, in order.

    Yields
    ------
    index : int
        Frame index since the file's first frame.
    image : np.ndarray
        ``(H, W, 3)`` uint8 RGB, or ``(H, W)`` uint8 luma when ``gray``.

    Raises
    ------
    AdrError
        Unreadable file, no video stream, undecodable or untimed frames.
    """
    import av

    p = _check_file(path)
    with _open_av(p) as container:
        if not container.streams.video:
            raise AdrError(p, "has no picture (video) stream")
        video = container.streams.video[0]
        rate = _video_rate(video) or Fraction(25)
        first = max(0, math.floor(Fraction(start) * rate + Fraction(1, 10**6)))
        last = None if end is None else math.ceil(Fraction(end) * rate - Fraction(1, 10**6))
        try:
            yield from _decode_range(p, container, video, rate, first, last, gray)
        except av.error.FFmpegError as exc:
            raise AdrError(p, f"cannot decode picture ({exc.strerror or exc})") from None


def _decode_range(p: Path, container: Any, video: Any, rate: Fraction, first: int,
                  last: int | None, gray: bool) -> Iterator[tuple[int, np.ndarray]]:
    fmt = "gray" if gray else "rgb24"
    tb = Fraction(video.time_base.numerator, video.time_base.denominator)
    t0 = int(video.start_time or 0)
    # Seek to the keyframe before ``first``; where the container's seek is imprecise
    # (MPEG program streams) step further back until decoding starts at or before it.
    for attempt, back in enumerate((0, 1, 5, 30, None)):
        target = None if back is None or first == 0 else first / rate - back
        if target is not None and target <= 0:
            target = None
        if target is not None or attempt > 0:
            container.seek(t0 + int((target or 0) / tb), stream=video, backward=True)
        decoded = overshot = False
        for frame in container.decode(video):
            if frame.pts is None:
                raise AdrError(p, "picture frames carry no timestamps; remux the file")
            index = round((frame.pts - t0) * tb * rate)
            if not decoded and index > first and target is not None:
                overshot = True
                break
            decoded = True
            if index < first:
                continue
            if last is not None and index >= last:
                return
            yield index, frame.to_ndarray(format=fmt)
        if target is None or (decoded and not overshot):
            return


def read_frame(path: str | Path, index: int) -> np.ndarray:
    """Picture frame ``index`` (since the first frame) as ``(H, W, 3)`` uint8 RGB.

    Raises
    ------
    AdrError
        If the file has no such frame.
    """
    with _open_av(_check_file(path)) as container:
        rate = _video_rate(container.streams.video[0]) if container.streams.video else None
    if rate is None:
        raise AdrError(path, "has no picture (video) stream")
    for i, image in iter_frames(path, float(index / rate), float((index + 1) / rate)):
        if i == index:
            return image
    raise AdrError(path, f"frame {index} does not exist")

"""Ingest: picture files: frame rate, frame count, start timecode, and the frames themselves.

The one place that decodes picture (PyAV), for the session, the lip tracker and the report.
The frame rate is an exact rational (24000/1001, 25, 30000/1001 ...); the
start timecode comes from the container (a ``timecode`` tag, or the first MPEG GOP header) when
present.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.timecode import STANDARD_RATES, FrameRate, format_timecode, parse_timecode
from adr.core.types import strict_from_dict
from adr.ingest.media import _check_file, _open_av

__all__ = [
    "PictureInfo",
    "probe_picture",
    "picture_timing",
    "frame_range",
    "iter_frames",
    "read_frame",
]


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
        return {
            **{k: getattr(self, k) for k in self.__dataclass_fields__},
            "frame_rate": self.frame_rate.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PictureInfo:
        d = dict(data)
        if "frame_rate" in d:
            d["frame_rate"] = FrameRate.from_dict(d["frame_rate"])
        return strict_from_dict(cls, d)


# --- picture -------------------------------------------------------------------------------


def _side_data(frame: Any) -> list[Any]:
    """A decoded frame's side data entries (objects with ``.type``), whatever PyAV's version.

    PyAV <= 18.1.0 iterates a frame's side data as its entries; 18.1.1 made it a mapping
    whose iteration yields the types (the keys).
    """
    container = frame.side_data
    return [item if hasattr(item, "type") else container[item] for item in container]


def _mpeg_gop_timecode(p: Path) -> str | None:
    """Timecode of the first GOP header of an MPEG-1/2 video stream, if any.

    Opens its own container: after a seek, MPEG demuxers may skip the first packet.
    """
    import av

    with _open_av(p) as container:
        try:
            for frame in container.decode(container.streams.video[0]):
                for sd in _side_data(frame):
                    if getattr(sd.type, "name", "") == "GOP_TIMECODE":
                        tc = int.from_bytes(bytes(sd)[:8], "little")
                        if tc & 0xFFEFFF == 0:  # 00:00:00:00 (bit 12 is a marker): the default
                            return None
                        sep = ";" if tc & (1 << 24) else ":"
                        return (
                            f"{tc >> 19 & 0x1F:02d}:{tc >> 13 & 0x3F:02d}:"
                            f"{tc >> 6 & 0x3F:02d}{sep}{tc & 0x3F:02d}"
                        )
                return None
        except av.error.FFmpegError:  # optional metadata: a decoder failure means "none"
            return None
    return None


def _container_timecode(p: Path, container: Any, video: Any) -> str | None:
    for meta in [video.metadata, container.metadata] + [
        s.metadata for s in container.streams if s.type == "data"
    ]:
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
                raise AdrError(
                    p,
                    f"unsupported frame rate {float(raw):.4g} fps; give the frame "
                    f"rate (supported: {', '.join(str(FrameRate(r)) for r in STANDARD_RATES)})",
                )
            drop = container_tc is not None and container_tc[8:9] in (";", ",", ".")
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
        path=str(p),
        frame_rate=rate,
        num_frames=num_frames,
        duration=float(num_frames / rate.rate),
        width=width,
        height=height,
        start_timecode=start_tc,
        has_audio=audio is not None,
        audio_sample_rate=int(audio.codec_context.sample_rate) if audio else None,
        audio_channels=int(audio.codec_context.channels) if audio else None,
    )


def picture_timing(path: str | Path) -> tuple[Fraction, int | None]:
    """Exact frame rate of a picture file and the frame count its header states.

    Unlike :func:`probe_picture` this accepts any rate and reads no frames.

    Returns
    -------
    rate : Fraction
        Frames per second (snapped to a standard rate when it is one).
    num_frames : int or None
        From the stream's index, else the container's duration; None when neither is stated.

    Raises
    ------
    AdrError
        Missing or unreadable file, no picture stream, or no frame rate.
    """
    p = _check_file(path)
    with _open_av(p) as container:
        if not container.streams.video:
            raise AdrError(p, "has no picture (video) stream")
        video = container.streams.video[0]
        rate = _video_rate(video)
        if rate is None:
            raise AdrError(p, "picture stream has no frame rate")
        if video.frames and video.frames > 0:
            return rate, int(video.frames)
        if container.duration is not None:
            return rate, math.floor(Fraction(container.duration, 10**6) * rate + Fraction(1, 2))
    return rate, None


def frame_range(rate: Fraction, start: float, end: float | None) -> tuple[int, int | None]:
    """Indices ``[first, last)`` of the frames that overlap ``[start, end)`` seconds.

    Frame ``i`` is shown over ``[i / rate, (i + 1) / rate)``; ``last`` is None when ``end``
    is. A microsecond of tolerance keeps a time on a frame boundary on that boundary.
    """
    first = max(0, math.floor(Fraction(start) * rate + Fraction(1, 10**6)))
    last = None if end is None else math.ceil(Fraction(end) * rate - Fraction(1, 10**6))
    return first, last


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
        ``(H, W, 3)`` uint8 RGB, or ``(H, W)`` uint8 luma when ``gray`` (the Y plane as
        stored, without range expansion, when the picture is 8-bit YUV).

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
        video.thread_type = "AUTO"
        rate = _video_rate(video) or Fraction(25)
        first, last = frame_range(rate, start, end)
        try:
            yield from _decode_range(p, container, video, rate, first, last, gray)
        except av.error.FFmpegError as exc:
            raise AdrError(p, f"cannot decode picture ({exc.strerror or exc})") from None


def _decode_range(
    p: Path, container: Any, video: Any, rate: Fraction, first: int, last: int | None, gray: bool
) -> Iterator[tuple[int, np.ndarray]]:
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
            yield index, _luma(frame) if gray else frame.to_ndarray(format=fmt)
        if target is None or (decoded and not overshot):
            return


def _luma(frame: Any) -> np.ndarray:
    """Grayscale (H, W) uint8 of a decoded frame: the Y plane itself when it is 8-bit YUV."""
    if frame.format.name in _YUV8:
        plane = frame.planes[0]
        y = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        return np.ascontiguousarray(y[:, : plane.width])
    return frame.to_ndarray(format="gray")


_YUV8 = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"}


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

"""Ingest: media checked when a session is made, from headers and streamed blocks.

``adr session new`` must refuse damaged media at once, with one line naming the file,
instead of letting ``analyze`` find out minutes later with a misleading message. The checks:

- **container**: a WAV whose data chunk declares more samples than the file holds, an
  ISO-BMFF file (mov, mp4, m4a) whose boxes run past its end (a copy cut short, the
  ``moov`` index in front still describing the whole file);
- **audio header**: a sample rate outside 8-192 kHz (a damaged header), no samples;
- **audio samples**: NaN or infinite samples (float files), a compressed stream that
  decodes to fewer samples than its header declares; read in blocks, so memory does not
  grow with the reel's length (PCM WAV/BWF needs no read at all);
- **picture timing**: the frames' own timestamps against ``frames / rate`` (a variable
  frame rate picture, or a ``--fps`` that is not the picture's rate, would silently
  re-time every cue): refused when they differ by more than one frame over the file;
  irregular frame intervals within an otherwise consistent file are a warning;
- **lengths**: several audio files of one take must agree in length (refused); audio and
  picture differing by more than one frame is a warning; audio that covers less than half
  the picture is refused (the wrong or a truncated file: no cue past its end could be
  analysed). Cues past the end of the audio are refused on cue import.

Warnings are returned as strings (library code does not print); the session keeps them.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from adr.core.errors import AdrError
from adr.core.timecode import FrameRate
from adr.ingest.media import _check_file, _open_av, read_audio

__all__ = [
    "AudioProbe",
    "MIN_RATE",
    "MAX_RATE",
    "check_container",
    "check_lengths",
    "check_picture_timing",
    "probe_audio",
]

MIN_RATE, MAX_RATE = 8000, 192000
_BLOCK = 1 << 16  # frames per streamed block
_BMFF_TYPES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"uuid"}
_FLOAT_SUBTYPES = {"FLOAT", "DOUBLE"}
_WAV_FORMATS = {"WAV", "WAVEX", "RF64"}
#: Containers whose stream duration comes from an index (not estimated from a bit rate).
_INDEXED = ("mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm", "avi", "mxf")


@dataclass(frozen=True)
class AudioProbe:
    """What :func:`probe_audio` learns about an audio file without keeping its samples.

    Attributes
    ----------
    path : str
    sample_rate : int
        Hz, within 8-192 kHz.
    channels : int
    num_samples : int
        Samples per channel that decode.
    """

    path: str
    sample_rate: int
    channels: int
    num_samples: int

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.num_samples / self.sample_rate


def _wav_data(p: Path) -> tuple[int, int, int] | None:
    """(declared data bytes, bytes present, block align) of a RIFF/RF64 WAV, else None."""
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64", b"BW64") or head[8:] != b"WAVE":
            return None
        pos, align, ds64 = 12, 0, None
        while pos + 8 <= size:
            fh.seek(pos)
            cid, csize = struct.unpack("<4sI", fh.read(8))
            if cid == b"fmt " and csize >= 16:
                align = struct.unpack("<12xH", fh.read(14))[0]
            elif cid == b"ds64" and csize >= 16:
                ds64 = struct.unpack("<8xQ", fh.read(16))[0]
            elif cid == b"data":
                if csize == 0xFFFFFFFF:
                    csize = ds64 if ds64 is not None else size - pos - 8
                return (csize, size - pos - 8, align) if align > 0 and csize > 0 else None
            pos += 8 + csize + (csize % 2)
    return None


def check_container(path: str | Path) -> None:
    """Refuse a WAV or ISO-BMFF (mov/mp4/m4a) file that is cut short.

    Raises
    ------
    AdrError
        The data chunk (WAV) or a top-level box (mov/mp4) runs past the end of the file.
    """
    p = _check_file(path)
    try:
        data = _wav_data(p)
        if data is not None:
            declared, present, align = data
            if declared > present:
                raise AdrError(
                    p,
                    f"truncated WAV file: the header declares {declared // align} "
                    f"samples, the file holds {present // align}; the copy was "
                    "cut short",
                )
            return
        _check_boxes(p)
    except OSError as exc:
        raise AdrError(p, f"cannot read ({exc.strerror or exc})") from None


def _check_boxes(p: Path) -> None:
    size = p.stat().st_size
    with open(p, "rb") as fh:
        pos = 0
        while pos + 8 <= size:
            fh.seek(pos)
            box_size, box = struct.unpack(">I4s", fh.read(8))
            if pos == 0 and box not in _BMFF_TYPES:
                return  # not ISO-BMFF
            if box_size == 1:
                box_size = struct.unpack(">Q", fh.read(8))[0]
            elif box_size == 0:
                return  # runs to the end of the file by definition
            if box_size < 8:
                return  # trailing padding: not ours to judge
            if pos + box_size > size:
                raise AdrError(
                    p,
                    f"truncated file: its '{box.decode('latin-1')}' box declares "
                    f"{box_size} bytes, only {size - pos} remain; the copy was "
                    "cut short",
                )
            pos += box_size


def _check_rate(p: Path, rate: int) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AdrError(
            p,
            f"sample rate {rate} Hz is outside 8-192 kHz: a damaged header or not production audio",
        )


def _stream_check(p: Path, declared: int, is_wav: bool) -> int:
    """Decode in blocks: refuse non-finite samples; the number of samples that decode."""
    import soundfile as sf

    n = 0
    try:
        for block in sf.blocks(str(p), blocksize=_BLOCK, dtype="float32", always_2d=True):
            bad = ~np.isfinite(block).all(axis=1)
            if bad.any():
                raise AdrError(
                    p,
                    f"audio contains NaN or infinite samples (first at sample "
                    f"{n + int(np.flatnonzero(bad)[0])}); the file is damaged",
                )
            n += len(block)
    except (sf.LibsndfileError, RuntimeError) as exc:
        if is_wav or n == 0:
            raise AdrError(p, f"cannot decode audio ({exc})") from None
    if n < declared:
        raise AdrError(
            p,
            f"truncated audio: the header declares {declared} samples, only {n} "
            "decode; the file is damaged or cut short",
        )
    return n


def probe_audio(path: str | Path) -> AudioProbe:
    """Check an audio file (or a picture's audio) and return its rate, channels and length.

    WAV/BWF: header only (float WAV is streamed for NaN); FLAC/OGG ...: streamed in blocks;
    formats libsndfile does not read (m4a, mp3 in some builds, pictures): decoded whole.

    Raises
    ------
    AdrError
        Missing, empty, unreadable or truncated file, sample rate outside 8-192 kHz, no
        samples, NaN or infinite samples.
    """
    import soundfile as sf

    p = _check_file(path)
    check_container(p)
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError):
        info = None
    if info is None:  # through PyAV: compressed, so small next to PCM of the same length
        audio = read_audio(p)
        _check_rate(p, audio.sample_rate)
        return AudioProbe(str(p), audio.sample_rate, audio.num_channels, audio.num_samples)
    _check_rate(p, int(info.samplerate))
    is_wav = info.format in _WAV_FORMATS
    n = int(info.frames)
    if not is_wav or info.subtype in _FLOAT_SUBTYPES:
        n = _stream_check(p, 0 if is_wav else n, is_wav)
    if n == 0:
        raise AdrError(p, "contains no audio samples (zero length or truncated)")
    return AudioProbe(str(p), int(info.samplerate), int(info.channels), n)


def _frame_times(p: Path, max_packets: int = 2000) -> tuple[float | None, list[float], bool]:
    """The video stream's stated duration (s), the first packets' sorted times (s), and
    whether those are all of them."""
    import av

    with _open_av(p) as container:
        video = container.streams.video[0]
        tb = Fraction(video.time_base.numerator, video.time_base.denominator)
        indexed = any(n in _INDEXED for n in container.format.name.split(","))
        stated = float(video.duration * tb) if video.duration and indexed else None
        pts: list[int] = []
        complete = True
        try:
            for packet in container.demux(video):
                if packet.pts is not None and packet.size:
                    pts.append(int(packet.pts))
                    if len(pts) >= max_packets:
                        complete = False
                        break
        except av.error.FFmpegError:
            complete = False
    return stated, [float(t * tb) for t in sorted(pts)], complete


def check_picture_timing(path: str | Path, num_frames: int, rate: FrameRate) -> list[str]:
    """Refuse a picture whose frames' own timing is not ``num_frames / rate``.

    A variable frame rate picture (or a ``--fps`` that is not the picture's rate) would
    place every cue at the wrong time: with ``--fps 25``, 288 frames spread over 13.6 s
    would be taken as 11.5 s.

    Parameters
    ----------
    path : path
        The picture.
    num_frames : int
        Its frame count (from :func:`adr.ingest.video.probe_picture`).
    rate : FrameRate
        The rate the session would use.

    Returns
    -------
    list of str
        Warnings: frame intervals that vary over the first frames of a file whose total
        length is consistent.

    Raises
    ------
    AdrError
        The frames' timestamps span a length that differs from ``num_frames / rate`` by
        more than 1.5 frames (an MPEG stream's duration, estimated from its timestamps,
        misses its last frame).
    """
    p = Path(path)
    stated, times, complete = _frame_times(p)
    steps = np.diff(times) if len(times) > 1 else np.zeros(0)
    frame = float(1 / rate.rate)
    nominal = float(num_frames / rate.rate)
    if stated is None and len(steps):
        if complete:
            stated = times[-1] - times[0] + float(np.median(steps))
        else:  # the first frames' average rate, scaled to the whole file
            early = (times[-1] - times[0]) / len(steps)
            stated = num_frames * early if abs(early / frame - 1) > 0.02 else nominal
    # VFR: an interval that is no whole number of the usual one (a dropped frame is 2x)
    ratio = steps / float(np.median(steps)) if len(steps) else steps
    irregular = bool(len(steps)) and float(np.abs(ratio - np.round(ratio)).max()) > 0.2
    kind = "variable frame rate" if irregular else "constant rate"
    if stated is not None and abs(stated - nominal) > 1.5 * frame + 1e-3:
        raise AdrError(
            p,
            f"picture timing does not match {rate} fps: its {num_frames} frames "
            f"run {stated:.2f} s ({num_frames / stated:.4g} fps on average, "
            f"{kind}), not {nominal:.2f} s; convert it to a constant {rate} fps "
            f"first (ffmpeg -i IN -vf fps={rate.rate} OUT) or give its real rate",
        )
    if irregular:
        return [
            f"{p}: variable frame rate picture (frame intervals "
            f"{1000 * steps.min():.1f}-{1000 * steps.max():.1f} ms in the first "
            f"{len(times)} frames); session times assume a constant {rate} fps"
        ]
    return []


def check_lengths(
    picture: str | Path,
    picture_duration: float,
    rate: FrameRate,
    audio: Sequence[tuple[str | Path, float]],
) -> list[str]:
    """Audio files of one take must agree; audio and picture should agree within a frame.

    Parameters
    ----------
    picture : path
    picture_duration : float
        Seconds.
    rate : FrameRate
        The session's picture rate (one frame is the tolerance).
    audio : sequence of (path, seconds)
        The production audio files, the main one first.

    Returns
    -------
    list of str
        Warnings: audio and picture lengths that differ by more than one frame.

    Raises
    ------
    AdrError
        Two audio files that differ in length by more than 1 ms (naming both and their
        lengths), or audio that covers less than half the picture.
    """
    if not audio:
        return []
    first, first_dur = audio[0]
    for other, dur in audio[1:]:
        if abs(dur - first_dur) > 1e-3:
            raise AdrError(
                other,
                f"is {dur:.3f} s long but {first} is {first_dur:.3f} s: the "
                "audio files of one take must have the same length",
            )
    if first_dur < 0.5 * picture_duration:
        raise AdrError(
            first,
            f"the production audio covers only {first_dur:.2f} s of the "
            f"{picture_duration:.2f} s picture {picture}: the wrong or a "
            "truncated file",
        )
    frame = float(1 / rate.rate)
    if abs(first_dur - picture_duration) > frame + 1e-6:
        side = "shorter" if first_dur < picture_duration else "longer"
        return [
            f"{first}: production audio ({first_dur:.2f} s) is "
            f"{abs(first_dur - picture_duration):.2f} s {side} than the picture "
            f"({picture_duration:.2f} s), more than one frame"
        ]
    return []

"""Ingest: read audio files and the audio of picture files (frames: :mod:`adr.ingest.video`).

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

from adr.core.errors import AdrError
from adr.core.timebase import seconds_to_samples

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


def resample_blocks(blocks: Iterator[np.ndarray], sr: int, target: int) -> Iterator[np.ndarray]:
    """Resample a signal given as consecutive blocks, block by block.

    The same polyphase filter as :func:`read_audio` (``scipy.signal.resample_poly`` with the
    exact rational ratio ``up / down``), applied to pieces that start on a multiple of
    ``down`` input samples with enough input either side for the filter: the output equals
    resampling the whole signal at once (to float rounding) while memory stays one block.

    Parameters
    ----------
    blocks : iterator of np.ndarray, each shape (n_i,)
        The signal in order (any block lengths).
    sr, target : int
        Input and output rates in Hz.

    Yields
    ------
    np.ndarray, float32
        Consecutive pieces of the resampled signal; together ``ceil(N * up / down)``
        samples for ``N`` input samples, as ``resample_poly`` gives.
    """
    from scipy.signal import resample_poly

    ratio = Fraction(int(target), int(sr))
    up, down = ratio.numerator, ratio.denominator
    if up == down:
        for b in blocks:
            yield np.asarray(b, np.float32)
        return
    # resample_poly's filter reaches 10 * max(up, down) samples at the upsampled rate either
    # side: the margin (input samples, a multiple of down) covers it with room to spare
    margin = -(-(10 * max(up, down) // up + 2) // down) * down
    buf = np.zeros(0, np.float32)
    pos = 0  # input index of buf[0] (a multiple of down)
    done = 0  # input index up to which output was given (a multiple of down)

    def piece(end: int, last: bool) -> np.ndarray:
        # output for input [done, end) from buf, which starts at pos <= done - margin (or 0)
        y = resample_poly(buf.astype(np.float64), up, down)
        k0 = (done - pos) * up // down
        k1 = -(-(end - pos) * up // down) if last else (end - pos) * up // down
        return y[k0:k1].astype(np.float32)

    for b in blocks:
        buf = np.concatenate([buf, np.asarray(b, np.float32)])
        end = pos + len(buf)
        ready = ((end - margin) // down) * down  # output up to here no longer changes
        if ready - done < max(4 * margin, 1 << 16):
            continue
        yield piece(ready, last=False)
        done = ready
        keep = max(pos, done - margin)
        buf = buf[keep - pos :]
        pos = keep
    end = pos + len(buf)
    if end > done:
        yield piece(end, last=True)


def read_mono(
    path: str | Path, *, sample_rate: int | None = None, block: int = 1 << 18
) -> tuple[np.ndarray, int]:
    """The mean of a file's channels, optionally resampled, read in blocks.

    Memory holds the mono result and one block, never the whole multichannel file: a
    3-hour, 8-channel 48 kHz file read to 16 kHz mono takes 0.7 GB instead of 16 GB
    (:func:`read_audio` decodes every channel as float32 first).

    Parameters
    ----------
    path : path
        Any file :func:`read_audio` reads; formats libsndfile cannot read (the audio of
        picture files) go through :func:`read_audio` whole.
    sample_rate : int, optional
        Resample to this rate (:func:`resample_blocks`, the same filter as ``read_audio``).
    block : int
        Frames read at a time.

    Returns
    -------
    samples : np.ndarray, shape (N,), float32
    sample_rate : int

    Raises
    ------
    AdrError
        As :func:`read_audio`: missing, empty or unreadable file, no samples, NaN or
        infinite samples (naming the file and the first bad sample).
    """
    import soundfile as sf

    p = _check_file(path)
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError):
        audio = read_audio(p, sample_rate=sample_rate)
        return audio.mono(), audio.sample_rate
    sr = int(info.samplerate)
    if sr <= 0:
        raise AdrError(p, "audio has no valid sample rate")
    target = sr if sample_rate is None else int(sample_rate)
    if target <= 0:
        raise AdrError(str(sample_rate), "sample rate must be a positive integer")
    expected = info.frames if target == sr else -(-info.frames * target // sr)
    out = np.empty(max(int(expected), 0), np.float32)
    n = 0
    for piece in _mono_pieces(p, sr, target, block):
        if n + len(piece) > len(out):  # a length the header did not announce
            out = np.concatenate([out[:n], np.empty(max(len(piece), len(out) // 2), np.float32)])
        out[n : n + len(piece)] = piece
        n += len(piece)
    if n == 0:
        raise AdrError(p, "contains no audio samples (zero length or truncated)")
    return out[:n], target


class MonoSource:
    """A file's channels mixed to mono at ``sample_rate``, read from the file as needed.

    Behaves as the 1-D float32 array :func:`read_mono` would return for what analysis needs
    (``len``, slices ``x[a:b]``, and :meth:`blocks` for one streamed pass), without holding
    it: a slice reads only its part of the file (plus the resampling filter's reach), so
    memory does not grow with the length of the reel. Slices equal ``read_mono``'s samples to
    float rounding. Files shorter than ``in_memory_seconds``, and formats libsndfile cannot
    seek in (the audio of picture files), are read once into memory instead.

    Parameters
    ----------
    path : path
    sample_rate : int
        Rate of the mono signal, Hz.
    in_memory_seconds : float
        Below this length the whole mono signal is kept (the common case: one reel).
    block : int
        Frames per read of a streamed pass.

    Raises
    ------
    AdrError
        As :func:`read_mono` (from the first pass: NaN or infinite samples, no samples ...).
    """

    def __init__(
        self,
        path: str | Path,
        sample_rate: int,
        *,
        in_memory_seconds: float = 1200.0,
        block: int = 1 << 18,
    ) -> None:
        import soundfile as sf

        self.path = _check_file(path)
        self.sample_rate = int(sample_rate)
        self._block = block
        self._array: np.ndarray | None = None
        self._len: int | None = None
        try:
            info = sf.info(str(self.path))
        except (sf.LibsndfileError, RuntimeError):
            info = None
        if (
            info is None
            or info.frames <= 0
            or info.frames / max(info.samplerate, 1) < in_memory_seconds
        ):
            self._array, _ = read_mono(self.path, sample_rate=self.sample_rate, block=block)
            self._len = len(self._array)
            return
        self._rate = int(info.samplerate)
        ratio = Fraction(self.sample_rate, self._rate)
        self._up, self._down = ratio.numerator, ratio.denominator
        self._margin = (
            -(-(10 * max(self._up, self._down) // self._up + 2) // self._down) * self._down
        )
        self._frames = int(info.frames)

    @property
    def in_memory(self) -> bool:
        """True when the whole signal is held (short files)."""
        return self._array is not None

    def blocks(self) -> Iterator[np.ndarray]:
        """The whole signal in consecutive pieces (one streamed pass; checks every sample
        and fixes ``len`` to what decodes)."""
        if self._array is not None:
            for i in range(0, len(self._array), self._block):
                yield self._array[i : i + self._block]
            return
        n = 0
        for piece in _mono_pieces(self.path, self._rate, self.sample_rate, self._block):
            n += len(piece)
            yield piece
        if n == 0:
            raise AdrError(self.path, "contains no audio samples (zero length or truncated)")
        self._len = n
        self._frames = -(-n * self._down // self._up)  # what decodes (a cut-short WAV)

    def __len__(self) -> int:
        if self._len is None:
            for _ in self.blocks():  # one pass: checks the samples and counts them
                pass
        assert self._len is not None
        return self._len

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("MonoSource supports contiguous slices only")
        if self._array is not None:
            return self._array[key]
        a, b, _ = key.indices(len(self))
        if b <= a:
            return np.zeros(0, np.float32)
        import soundfile as sf
        from scipy.signal import resample_poly

        up, down = self._up, self._down
        k0 = (a // up) * up  # an output index whose input position is a whole sample
        s = max(0, k0 * down // up - self._margin)
        e = min(self._frames, -(-b * down // up) + self._margin)
        try:
            x = sf.read(str(self.path), start=s, stop=e, dtype="float32", always_2d=True)[0]
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AdrError(self.path, f"cannot decode audio ({exc})") from None
        mono = x.mean(axis=1, dtype=np.float32) if x.shape[1] > 1 else x[:, 0]
        if up == down:
            return np.ascontiguousarray(mono[a - s : b - s])
        y = resample_poly(mono.astype(np.float64), up, down)
        off = s * up // down
        return y[a - off : b - off].astype(np.float32)


def _mono_pieces(p: Path, sr: int, target: int, block: int) -> Iterator[np.ndarray]:
    """Streamed mono mix of ``p`` at ``target`` Hz (NaN refused naming the file)."""
    import soundfile as sf

    seen = 0

    def mono_blocks() -> Iterator[np.ndarray]:
        nonlocal seen
        try:
            for b in sf.blocks(str(p), blocksize=block, dtype="float32", always_2d=True):
                if not np.isfinite(b).all():
                    bad = seen + int(np.flatnonzero(~np.isfinite(b).all(axis=1))[0])
                    raise AdrError(
                        p,
                        f"audio contains NaN or infinite samples (first at "
                        f"sample {bad}); the file is damaged",
                    )
                seen += len(b)
                yield b.mean(axis=1, dtype=np.float32) if b.shape[1] > 1 else b[:, 0]
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AdrError(p, f"cannot decode audio ({exc})") from None

    yield from resample_blocks(mono_blocks(), sr, target)


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

"""Long audio files read in blocks: the mono mix of a file, resampled block by block.

:func:`read_mono` holds the mono result and one block, never the whole multichannel file;
:class:`MonoSource` holds not even that: it reads the slices analysis asks for, so memory does
not grow with the length of the reel. :func:`resample_blocks` is the block-wise form of the
polyphase filter :func:`adr.ingest.media.read_audio` uses (equal to float rounding).
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from adr.core.errors import AdrError

__all__ = ["MonoSource", "read_mono", "resample_blocks"]


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

    from adr.ingest.media import _check_file, read_audio

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

        from adr.ingest.media import _check_file

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

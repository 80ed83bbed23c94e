"""Broadcast WAV (EBU Tech 3285): our own RIFF writer and metadata reader.

A deliverable is a RIFF/WAVE file with, in order, a ``fmt `` chunk (WAVE_FORMAT_PCM, 16/24/32-bit
little-endian), a ``bext`` chunk (version 1 layout, 602 bytes plus the coding history) carrying the
``TimeReference`` (samples since midnight of the first sample), an optional ``iXML`` chunk (track
names of a polyphonic file, adr's provenance: :mod:`adr.ingest.ixml`) and the ``data`` chunk. Files
are written atomically. Samples are read back with soundfile; this module only reads the metadata
chunks, walking the RIFF chunk list robustly (odd sizes with pad bytes, unknown chunks, RF64
``ds64`` sizes, truncated or garbage files raise :class:`AdrError`).
"""

from __future__ import annotations

import datetime as _dt
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from adr.core.errors import AdrError
from adr.core.fsio import atomic_path
from adr.core.records import Record
from adr.ingest.ixml import ixml_provenance, ixml_track_names, make_ixml

__all__ = [
    "BextInfo",
    "RiffChunk",
    "write_bwf",
    "read_bext",
    "read_ixml",
    "list_chunks",
    "make_ixml",
    "ixml_track_names",
    "ixml_provenance",
    "read_provenance",
]

_BEXT_FMT = "<256s32s32s10s8sIIH64s190s"  # EBU Tech 3285 v1: 602 bytes before CodingHistory
_BEXT_SIZE = struct.calcsize(_BEXT_FMT)
_MAX_RIFF = 0xFFFFFFFF
_DATE = re.compile(r"^(\d{4}[-_:. ]\d{2}[-_:. ]\d{2})?$")
_TIME = re.compile(r"^(\d{2}[-_:. ]\d{2}[-_:. ]\d{2})?$")
_CHUNK_ID = re.compile(rb"^[\x20-\x7e]{4}$")
_BLOCK_FRAMES = 1 << 18  # frames converted per write, bounds memory for long files


@dataclass(frozen=True)
class BextInfo(Record):
    """The Broadcast Audio Extension (``bext``) fields.

    Attributes
    ----------
    description : str
        Free description, at most 256 ASCII characters (cue, character, take ...).
    originator : str
        Producing system or organisation, at most 32 characters.
    originator_reference : str
        Unique reference from the originator, at most 32 characters.
    origination_date : str
        ``"yyyy-mm-dd"`` (or ``""``).
    origination_time : str
        ``"hh:mm:ss"`` (or ``""``).
    time_reference : int
        Position of the first sample, in samples since midnight.
    coding_history : str
        Coding history lines (``"A=PCM,F=48000,W=24,M=mono,T=adr\\r\\n"``), ASCII.
    version : int
        bext version; this writer emits the version 1 layout (the v2 loudness fields are
        left zero, which is valid for v1 readers).
    """

    description: str = ""
    originator: str = ""
    originator_reference: str = ""
    origination_date: str = ""
    origination_time: str = ""
    time_reference: int = 0
    coding_history: str = ""
    version: int = 1

    def __post_init__(self) -> None:
        for name, limit in (("description", 256), ("originator", 32), ("originator_reference", 32)):
            value = getattr(self, name)
            if len(value) > limit:
                raise AdrError(value[:40] + "...", f"bext {name} is longer than {limit} characters")
        if not _DATE.match(self.origination_date):
            raise AdrError(self.origination_date, "bext origination_date must be yyyy-mm-dd")
        if not _TIME.match(self.origination_time):
            raise AdrError(self.origination_time, "bext origination_time must be hh:mm:ss")
        if not 0 <= int(self.time_reference) < 1 << 64:
            raise AdrError(str(self.time_reference), "bext time_reference must be 0 <= t < 2^64")
        if not 0 <= int(self.version) < 1 << 16:
            raise AdrError(str(self.version), "bext version out of range")

    @classmethod
    def now(
        cls,
        description: str,
        time_reference: int,
        *,
        originator: str = "adr",
        originator_reference: str = "",
        coding_history: str = "",
    ) -> BextInfo:
        """A bext stamped with the current local date and time."""
        t = _dt.datetime.now()
        return cls(
            description=description,
            originator=originator,
            originator_reference=originator_reference,
            origination_date=t.strftime("%Y-%m-%d"),
            origination_time=t.strftime("%H:%M:%S"),
            time_reference=int(time_reference),
            coding_history=coding_history,
        )

    def pack(self) -> bytes:
        """The chunk payload (without the chunk header or pad byte).

        Raises
        ------
        AdrError
            If a text field is not ASCII.
        """

        def ascii_(value: str, name: str) -> bytes:
            try:
                return value.encode("ascii")
            except UnicodeEncodeError:
                raise AdrError(value, f"bext {name} must be ASCII") from None

        tr = int(self.time_reference)
        head = struct.pack(
            _BEXT_FMT,
            ascii_(self.description, "description"),
            ascii_(self.originator, "originator"),
            ascii_(self.originator_reference, "originator_reference"),
            ascii_(self.origination_date, "origination_date"),
            ascii_(self.origination_time, "origination_time"),
            tr & 0xFFFFFFFF,
            tr >> 32,
            int(self.version),
            b"",
            b"",
        )
        return head + ascii_(self.coding_history, "coding_history")

    @classmethod
    def unpack(cls, payload: bytes, where: str | Path = "bext") -> BextInfo:
        """Parse a ``bext`` chunk payload; text is decoded as Latin-1 up to its first NUL."""
        if len(payload) < _BEXT_SIZE - 190:  # tolerate writers that shorten the reserved area
            raise AdrError(where, f"bext chunk is too short ({len(payload)} bytes)")
        head = payload[:_BEXT_SIZE].ljust(_BEXT_SIZE, b"\0")
        desc, orig, ref, date, time, lo, hi, version, _umid, _res = struct.unpack(_BEXT_FMT, head)

        def text(raw: bytes) -> str:
            return raw.split(b"\0", 1)[0].decode("latin-1").strip()

        date_s, time_s = text(date), text(time)
        return cls(
            description=text(desc)[:256],
            originator=text(orig),
            originator_reference=text(ref),
            origination_date=date_s if _DATE.match(date_s) else "",
            origination_time=time_s if _TIME.match(time_s) else "",
            time_reference=lo | (hi << 32),
            version=version,
            coding_history=payload[_BEXT_SIZE:].split(b"\0", 1)[0].decode("latin-1"),
        )


@dataclass(frozen=True)
class RiffChunk(Record):
    """One chunk of a RIFF file: its id, payload offset and payload size in bytes."""

    id: str
    offset: int
    size: int


# --- writing -------------------------------------------------------------------------------


def _chunk(cid: bytes, payload: bytes) -> bytes:
    pad = b"\0" if len(payload) % 2 else b""
    return cid + struct.pack("<I", len(payload)) + payload + pad


def _to_pcm(block: np.ndarray, bits: int) -> bytes:
    """Interleave and quantize a (C, n) float block to little-endian PCM bytes."""
    scale = float(1 << (bits - 1))
    q = np.clip(np.rint(np.ascontiguousarray(block.T, dtype=np.float64) * scale), -scale, scale - 1)
    if bits == 16:
        return q.astype("<i2").tobytes()
    if bits == 32:
        return q.astype("<i4").tobytes()
    return q.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


def write_bwf(
    path: str | Path,
    samples: np.ndarray,
    sample_rate: int,
    *,
    bext: BextInfo,
    bits: int = 24,
    ixml: str | None = None,
    gain: float = 1.0,
) -> Path:
    """Write a Broadcast WAV file atomically.

    Parameters
    ----------
    path : path
        Destination ``.wav``.
    samples : np.ndarray, shape (C, N) or (N,)
        Float samples in [-1, 1]; values outside are clipped. Quantized by plain rounding
        (no dither).
    sample_rate : int
        Hz.
    bext : BextInfo
        Broadcast extension (description, time reference ...).
    bits : int
        16, 24 or 32-bit integer PCM.
    ixml : str, optional
        iXML document (see :func:`make_ixml`) stored in an ``iXML`` chunk.
    gain : float
        Factor the samples are multiplied by (in float64, block by block) before clipping.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    AdrError
        Bad shape, non-finite samples, unsupported bit depth, non-ASCII bext text, data
        beyond the 4 GiB RIFF limit, or an unwritable destination.
    """
    path = Path(path)
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[0] > 64:
        raise AdrError(path, f"samples must have shape (channels <= 64, N), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise AdrError(path, f"samples must be floats in [-1, 1], got {x.dtype}")
    if bits not in (16, 24, 32):
        raise AdrError(path, f"unsupported bit depth {bits} (use 16, 24 or 32)")
    if int(sample_rate) <= 0:
        raise AdrError(path, f"invalid sample rate {sample_rate}")
    channels, n = x.shape
    block_align = channels * bits // 8
    fmt = struct.pack(
        "<HHIIHH", 1, channels, int(sample_rate), int(sample_rate) * block_align, block_align, bits
    )
    head = _chunk(b"fmt ", fmt) + _chunk(b"bext", bext.pack())
    if ixml is not None:
        head += _chunk(b"iXML", ixml.encode("utf-8"))
    data_size = n * block_align
    total = 4 + len(head) + 8 + data_size + data_size % 2
    if total > _MAX_RIFF:
        raise AdrError(
            path,
            f"audio data of {data_size} bytes exceeds the 4 GiB WAV limit; "
            "split the file or write fewer channels",
        )
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            fh.write(b"RIFF" + struct.pack("<I", total) + b"WAVE" + head)
            fh.write(b"data" + struct.pack("<I", data_size))
            for start in range(0, n, _BLOCK_FRAMES):
                block = x[:, start : start + _BLOCK_FRAMES] * np.float64(gain)
                if not np.all(np.isfinite(block)):
                    raise AdrError(path, "samples contain NaN or infinity")
                fh.write(_to_pcm(block, bits))
            if data_size % 2:
                fh.write(b"\0")
    except OSError as exc:
        raise AdrError(path, f"cannot write ({exc.strerror or exc})") from None
    return path


# --- reading -------------------------------------------------------------------------------


def _walk(fh: BinaryIO, path: Path, size: int, wanted: tuple[str, ...]) -> list[RiffChunk]:
    """Chunks of a RIFF/WAVE file, in order, stopping once all ``wanted`` ids are seen."""
    header = fh.read(12)
    if len(header) < 12:
        raise AdrError(path, "not a WAV file (too short for a RIFF header)")
    magic, riff_size, form = struct.unpack("<4sI4s", header)
    if magic not in (b"RIFF", b"RF64", b"BW64") or form != b"WAVE":
        raise AdrError(path, "not a WAV file (no RIFF/WAVE header)")
    riff_end = size if magic != b"RIFF" else 8 + riff_size
    ds64_data: int | None = None
    chunks: list[RiffChunk] = []
    pos = 12
    while pos + 8 <= size:
        fh.seek(pos)
        cid_raw, csize = struct.unpack("<4sI", fh.read(8))
        if not _CHUNK_ID.match(cid_raw):
            if pos >= riff_end:  # bytes appended after the RIFF form: not ours to judge
                break
            raise AdrError(path, f"corrupt WAV file (garbage chunk id at byte {pos})")
        cid = cid_raw.decode("ascii")
        if cid == "ds64" and csize >= 16:
            ds64_data = struct.unpack("<8xQ", fh.read(16))[0]
        if cid == "data" and csize == 0xFFFFFFFF:
            # RF64 size in ds64, or a streamed RIFF whose data runs to the end of the file.
            csize = ds64_data if ds64_data is not None else size - pos - 8
        if pos + 8 + csize > size:
            raise AdrError(
                path,
                f"truncated WAV file (chunk '{cid}' declares {csize} bytes, "
                f"only {size - pos - 8} remain)",
            )
        chunks.append(RiffChunk(cid, pos + 8, csize))
        if all(any(c.id == w for c in chunks) for w in wanted):
            break
        pos += 8 + csize + (csize % 2)
    return chunks


def _open_chunks(
    path: str | Path, wanted: tuple[str, ...]
) -> tuple[list[RiffChunk], dict[str, bytes]]:
    p = Path(path)
    if p.is_dir():
        raise AdrError(p, "is a folder, not a WAV file")
    try:
        with open(p, "rb") as fh:
            size = p.stat().st_size
            chunks = _walk(fh, p, size, wanted)
            payloads: dict[str, bytes] = {}
            for c in chunks:
                if c.id in wanted and c.id not in payloads:
                    fh.seek(c.offset)
                    payloads[c.id] = fh.read(c.size)
    except FileNotFoundError:
        raise AdrError(p, "file not found") from None
    except OSError as exc:
        raise AdrError(p, f"cannot read ({exc.strerror or exc})") from None
    return chunks, payloads


def list_chunks(path: str | Path) -> tuple[RiffChunk, ...]:
    """Every chunk of a RIFF/WAVE file, in file order.

    Raises
    ------
    AdrError
        Missing, not RIFF/WAVE, garbage chunk list, or a chunk running past the end of the
        file (truncated).
    """
    chunks, _ = _open_chunks(path, ("\0all",))
    return tuple(chunks)


def read_bext(path: str | Path) -> BextInfo | None:
    """The ``bext`` chunk of a WAV file, or None if it has none.

    Raises
    ------
    AdrError
        Missing file, not a WAV, garbage or truncated chunk list.
    """
    _, payloads = _open_chunks(path, ("bext",))
    raw = payloads.get("bext")
    return None if raw is None else BextInfo.unpack(raw, path)


def read_ixml(path: str | Path) -> str | None:
    """The ``iXML`` chunk text of a WAV file (UTF-8, trailing NULs removed), or None."""
    _, payloads = _open_chunks(path, ("iXML",))
    raw = payloads.get("iXML")
    if raw is None:
        return None
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def read_provenance(path: str | Path) -> dict[str, str] | None:
    """The provenance adr wrote into a WAV's iXML (``{"SYNTHETIC": "TRUE", ...}``), or None."""
    text = read_ixml(path)
    return None if text is None else ixml_provenance(text)

"""Broadcast WAV writer/reader, checked against soundfile and ffprobe as independent readers."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from adr.core.errors import AdrError
from adr.core.timecode import FrameRate, timecode_to_samples
from adr.ingest.bwf import (
    BextInfo,
    RiffChunk,
    ixml_track_names,
    list_chunks,
    make_ixml,
    read_bext,
    read_ixml,
    write_bwf,
)

HISTORY = "A=PCM,F=48000,W=24,M=mono,T=adr\r\n"


def _bext(**kw: object) -> BextInfo:
    base = dict(
        description="Cue 101 MAYA: 'Where were you?' take 3",
        originator="adr",
        originator_reference="ADR0000101",
        origination_date="2026-11-22",
        origination_time="09:15:00",
        time_reference=timecode_to_samples("01:00:00:00", FrameRate.parse("23.976")),
        coding_history=HISTORY,
    )
    base.update(kw)
    return BextInfo(**base)  # type: ignore[arg-type]


def _signal(channels: int, n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size=(channels, n)).astype(np.float32)


def _ffprobe_tags(path: Path) -> dict[str, str]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format_tags", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return json.loads(out).get("format", {}).get("tags", {})


needs_ffprobe = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe missing")


def test_round_trip_own_reader(tmp_path: Path, rng: np.random.Generator) -> None:
    b = _bext()
    path = write_bwf(tmp_path / "a.wav", _signal(1, 4801, rng), 48000, bext=b)
    assert read_bext(path) == b
    assert read_ixml(path) is None
    assert BextInfo.from_dict(b.to_dict()) == b
    ids = [c.id for c in list_chunks(path)]
    assert ids == ["fmt ", "bext", "data"]
    bext_chunk = list_chunks(path)[1]
    assert bext_chunk.size == 602 + len(HISTORY)
    assert RiffChunk.from_dict(bext_chunk.to_dict()) == bext_chunk
    # Odd data size (4801 * 3 bytes) is padded; the RIFF size covers the whole file.
    raw = path.read_bytes()
    assert len(raw) % 2 == 0
    assert struct.unpack("<I", raw[4:8])[0] == len(raw) - 8


@needs_ffprobe
def test_ffprobe_reads_bext(tmp_path: Path, rng: np.random.Generator) -> None:
    b = _bext()
    path = write_bwf(tmp_path / "a.wav", _signal(2, 4800, rng), 48000, bext=b)
    tags = _ffprobe_tags(path)
    assert tags["time_reference"] == "172972800"
    assert tags["comment"] == b.description  # ffmpeg maps bext Description to "comment"
    assert tags["encoded_by"] == "adr"
    assert tags["originator_reference"] == "ADR0000101"
    assert tags["date"] == "2026-11-22"
    assert tags["creation_time"] == "09:15:00"
    assert tags["coding_history"] == HISTORY


@needs_ffprobe
def test_time_reference_above_32_bits(tmp_path: Path) -> None:
    tr = 23 * 3600 * 192000 + 12345  # > 2^32: uses TimeReferenceHigh
    assert tr > 1 << 32
    path = write_bwf(tmp_path / "hi.wav", np.zeros(100), 192000, bext=_bext(time_reference=tr))
    assert read_bext(path).time_reference == tr  # type: ignore[union-attr]
    assert _ffprobe_tags(path)["time_reference"] == str(tr)


@pytest.mark.parametrize("bits", [16, 24, 32])
def test_samples_read_back_by_soundfile(
    tmp_path: Path, rng: np.random.Generator, bits: int
) -> None:
    x = _signal(2, 3000, rng)
    x[0, :4] = [1.0, -1.0, 1.5, -1.5]  # full scale and clipping
    path = write_bwf(tmp_path / "s.wav", x, 44100, bext=_bext(), bits=bits)
    y, sr = sf.read(path, always_2d=True, dtype="float64")
    info = sf.info(path)
    assert sr == 44100 and info.subtype == {16: "PCM_16", 24: "PCM_24", 32: "PCM_32"}[bits]
    assert y.shape == (3000, 2)
    expected = np.clip(x.T.astype(np.float64), -1.0, 1.0)
    assert np.max(np.abs(y - expected)) <= 2.0 ** -(bits - 1) + 1e-12
    assert y[0, 0] == pytest.approx(1.0 - 2.0 ** -(bits - 1))
    assert y[1, 0] == -1.0 and y[3, 0] == -1.0


def test_polyphonic_with_ixml(tmp_path: Path, rng: np.random.Generator) -> None:
    names = ["Boom", "Lav 1 <Maya>", "Lav 2 & co", "Lav3", "Plant", "Mix L"]
    x = _signal(6, 2401, rng) * 0.5
    path = write_bwf(
        tmp_path / "poly.wav",
        x,
        48000,
        bext=_bext(),
        ixml=make_ixml(names, project="Demo", scene="12A", take="3"),
    )
    y, sr = sf.read(path, always_2d=True)
    assert y.shape == (2401, 6) and sr == 48000
    assert np.max(np.abs(y.T - x)) <= 2.0**-23 + 1e-9
    assert [c.id for c in list_chunks(path)] == ["fmt ", "bext", "iXML", "data"]
    ixml = read_ixml(path)
    assert ixml is not None and "<SCENE>12A</SCENE>" in ixml
    assert ixml_track_names(ixml, 6) == tuple(names)
    assert read_bext(path) == _bext()


def test_ixml_track_names_partial_and_bad() -> None:
    doc = (
        "<BWFXML><TRACK_LIST><TRACK><INTERLEAVE_INDEX>2</INTERLEAVE_INDEX><NAME>Lav</NAME>"
        "</TRACK><TRACK><CHANNEL_INDEX>9</CHANNEL_INDEX><NAME>Off</NAME></TRACK>"
        "</TRACK_LIST></BWFXML>"
    )
    assert ixml_track_names(doc, 3) == ("1", "Lav", "3")
    assert ixml_track_names("<BWFXML><oops", 2) is None
    assert ixml_track_names("<BWFXML/>", 2) is None


def test_bext_field_limits(tmp_path: Path) -> None:
    ok = _bext(description="x" * 256, originator="o" * 32, originator_reference="r" * 32)
    path = write_bwf(tmp_path / "max.wav", np.zeros(10), 48000, bext=ok)
    assert read_bext(path) == ok
    with pytest.raises(AdrError, match="description is longer than 256"):
        _bext(description="x" * 257)
    with pytest.raises(AdrError, match="originator is longer than 32"):
        _bext(originator="o" * 33)
    with pytest.raises(AdrError, match="yyyy-mm-dd"):
        _bext(origination_date="22/11/2026")
    with pytest.raises(AdrError, match="hh:mm:ss"):
        _bext(origination_time="9h15")
    with pytest.raises(AdrError, match="time_reference"):
        _bext(time_reference=-1)
    with pytest.raises(AdrError, match="must be ASCII"):
        write_bwf(tmp_path / "u.wav", np.zeros(10), 48000, bext=_bext(description="Zoë"))
    assert not (tmp_path / "u.wav").exists()


def test_now_stamps_date_and_time() -> None:
    b = BextInfo.now("line", 42, coding_history=HISTORY)
    assert len(b.origination_date) == 10 and len(b.origination_time) == 8
    assert b.time_reference == 42 and b.originator == "adr" and b.version == 1


def test_write_errors(tmp_path: Path) -> None:
    with pytest.raises(AdrError, match="NaN"):
        write_bwf(tmp_path / "nan.wav", np.array([0.0, np.nan]), 48000, bext=_bext())
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    with pytest.raises(AdrError, match="floats"):
        write_bwf(tmp_path / "i.wav", np.zeros(4, dtype=np.int16), 48000, bext=_bext())
    with pytest.raises(AdrError, match="bit depth"):
        write_bwf(tmp_path / "b.wav", np.zeros(4), 48000, bext=_bext(), bits=8)
    with pytest.raises(AdrError, match="shape"):
        write_bwf(tmp_path / "b.wav", np.zeros((2, 2, 2)), 48000, bext=_bext())
    with pytest.raises(AdrError, match="shape"):
        write_bwf(tmp_path / "b.wav", np.zeros((48000, 2)), 48000, bext=_bext())
    # 64 channels x 23e6 frames x 3 bytes > 4 GiB: refused before anything is allocated.
    huge = np.broadcast_to(np.zeros((1, 1), dtype=np.float32), (64, 23_000_000))
    with pytest.raises(AdrError, match="4 GiB") as info:
        write_bwf(tmp_path / "huge.wav", huge, 48000, bext=_bext())
    assert info.value.where.endswith("huge.wav")


def _file_with_extra_chunks(tmp_path: Path) -> Path:
    """A WAV with an odd-sized unknown chunk before bext and an odd-sized one at the end."""
    src = write_bwf(tmp_path / "src.wav", np.zeros((2, 11)), 48000, bext=_bext())
    raw = src.read_bytes()
    chunks = {c.id: c for c in list_chunks(src)}
    fmt_end = chunks["fmt "].offset + chunks["fmt "].size
    junk = b"junk" + struct.pack("<I", 5) + b"abcde" + b"\0"
    tail = b"LIST" + struct.pack("<I", 3) + b"xyz" + b"\0"
    body = raw[12:fmt_end] + junk + raw[fmt_end:] + tail
    out = tmp_path / "extra.wav"
    out.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    return out


def test_reader_skips_unknown_odd_chunks(tmp_path: Path) -> None:
    path = _file_with_extra_chunks(tmp_path)
    assert [c.id for c in list_chunks(path)] == ["fmt ", "junk", "bext", "data", "LIST"]
    assert read_bext(path) == _bext()
    assert sf.read(path)[0].shape == (11, 2)


def test_wav_without_bext(tmp_path: Path) -> None:
    path = tmp_path / "plain.wav"
    sf.write(path, np.zeros(100), 16000, subtype="PCM_16")
    assert read_bext(path) is None
    assert read_ixml(path) is None


def test_streamed_data_size(tmp_path: Path) -> None:
    path = write_bwf(tmp_path / "s.wav", np.zeros(100), 48000, bext=_bext(), bits=16)
    raw = bytearray(path.read_bytes())
    data = [c for c in list_chunks(path) if c.id == "data"][0]
    raw[data.offset - 4 : data.offset] = struct.pack("<I", 0xFFFFFFFF)
    path.write_bytes(bytes(raw))
    assert list_chunks(path)[-1].size == 200


def test_reader_errors(tmp_path: Path) -> None:
    good = write_bwf(tmp_path / "good.wav", np.zeros(1000), 48000, bext=_bext())
    raw = good.read_bytes()
    bext_chunk = list_chunks(good)[1]
    cases = {
        "cut_in_bext.wav": (raw[: bext_chunk.offset + 100], "truncated"),
        "cut_in_data.wav": (raw[: len(raw) // 2], None),  # bext is before data: still read
        "header_only.wav": (raw[:10], "too short"),
        "garbage.wav": (bytes(range(256)) * 8, "not a WAV"),
        "empty.wav": (b"", "too short"),
        "bad_chunk.wav": (raw[:12] + b"\x00\x01\x02\x03" + raw[16:], "garbage chunk id"),
    }
    for name, (content, problem) in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        if problem is None:
            assert read_bext(p) == _bext()
            with pytest.raises(AdrError, match="truncated"):
                list_chunks(p)
            continue
        with pytest.raises(AdrError, match=problem) as info:
            read_bext(p)
        assert info.value.where == str(p)
    with pytest.raises(AdrError, match="file not found"):
        read_bext(tmp_path / "missing.wav")
    with pytest.raises(AdrError, match="folder"):
        read_ixml(tmp_path)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg missing")
@pytest.mark.parametrize("rf64", ["never", "always"])
def test_reads_bext_written_by_ffmpeg(tmp_path: Path, rf64: str) -> None:
    """Our reader on files from an independent writer, plain RIFF and RF64 (ds64 sizes)."""
    path = tmp_path / f"ff_{rf64}.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:sample_rate=48000:duration=0.5",
            "-c:a",
            "pcm_s24le",
            "-write_bext",
            "1",
            "-rf64",
            rf64,
            "-metadata",
            "description=made by ffmpeg",
            "-metadata",
            "originator=ffmpeg",
            "-metadata",
            "time_reference=172972800",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    b = read_bext(path)
    assert b is not None
    assert (b.description, b.originator, b.time_reference) == (
        "made by ffmpeg",
        "ffmpeg",
        172972800,
    )
    chunks = {c.id: c for c in list_chunks(path)}
    assert chunks["data"].size == 24000 * 3
    assert ("ds64" in chunks) == (rf64 == "always")

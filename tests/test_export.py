"""``adr export``: BWF timecode, stem length and loudness, EDL/OTIO, partial repair, reruns."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from deliver_session import SR, Built, build

from adr.core.errors import AdrError
from adr.core.fsio import write_json
from adr.core.timecode import FrameRate, timecode_to_samples
from adr.deliver.export import ExportResult, cue_time_reference, export_session
from adr.ingest.cues import read_cues
from adr.ingest.session import MediaRef, Session, load_session


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory)


@pytest.fixture(scope="module")
def exported(built: Built) -> ExportResult:
    return export_session(built.session, spec="-24")


def _copy(built: Built, tmp_path: Path) -> Session:
    dst = tmp_path / "reel"
    shutil.copytree(built.session.root, dst)
    return load_session(dst)


def riff_time_reference(path: Path) -> int:
    """bext TimeReference read straight from the RIFF chunks (independent of adr.ingest.bwf)."""
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if cid == b"bext":
            lo, hi = struct.unpack("<II", data[pos + 8 + 338 : pos + 8 + 346])
            return lo | hi << 32
        pos += 8 + size + size % 2
    raise AssertionError("no bext chunk")


def test_cue_bwf_time_reference(built: Built, exported: ExportResult) -> None:
    root = built.session.root
    rate = built.session.frame_rate
    delivered = list(exported.cues)  # one entry per rendered cue
    assert [c.cue_id for c in delivered] == ["101", "102"]
    for c in delivered:
        path = root / c.file
        expected = timecode_to_samples(c.tc_in, rate, SR)
        assert riff_time_reference(path) == expected == c.time_reference
        if shutil.which("ffprobe"):
            out = subprocess.run(
                [
                    "ffprobe",
                    "-v",
                    "error",
                    "-show_entries",
                    "format_tags=time_reference",
                    "-of",
                    "default=nw=1:nk=1",
                    str(path),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            assert int(out.strip()) == expected
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_24")
        cue = next(q for q in built.session.read_cues() if q.id == c.cue_id)
        assert info.frames == timecode_to_samples(c.tc_out, rate, SR) - expected
        from adr.ingest.bwf import read_bext, read_ixml

        bext = read_bext(path)
        assert cue.id in bext.description and cue.text[:20] in bext.description
        assert "TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_LO" in read_ixml(path)
    assert riff_time_reference(root / exported.stem) == timecode_to_samples("01:00:00:00", rate, SR)


def test_cue_time_reference_exact_rates(tmp_path: Path) -> None:
    pic = MediaRef(str(tmp_path / "p.mov"), "picture", 3600.0)
    for rate, tc in (("29.97df", "00:59:59;28"), ("23.976", "01:00:00:00"), ("25", "10:00:00:00")):
        fr = FrameRate.parse(rate)
        s = Session(tmp_path, "x", fr, tc, pic, (pic,), "now")
        for k in (0, 1, 17, 1799, 1800, 17982):
            t = float(k / fr.rate)
            assert cue_time_reference(s, t) == timecode_to_samples(s.to_timecode(t), fr, SR)


def test_stem_length_is_the_picture(built: Built, exported: ExportResult) -> None:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_packets",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
            built.session.picture.path,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    frames = int(out.stdout.strip().strip(","))
    info = sf.info(str(built.session.root / exported.stem))
    assert info.frames == frames * SR // 25 == exported.stem_samples
    assert (info.samplerate, info.subtype) == (SR, "PCM_24")


def test_edl_and_otio_match_the_cues(built: Built, exported: ExportResult) -> None:
    root = built.session.root / "deliverables"
    text = (root / "reel.edl").read_text()
    assert "FCM: NON-DROP FRAME" in text
    events = re.findall(r"^(\d{3})\s+(\S+)\s+A\s+C\s+(\S+) (\S+) (\S+) (\S+)$", text, re.M)
    cues = {c.id: c for c in built.session.read_cues()}
    assert [e[1] for e in events] == ["101", "102"]
    for _num, reel, src_in, src_out, rec_in, rec_out in events:
        cue = cues[reel]
        assert rec_in == built.session.to_timecode(cue.start) == src_in
        assert rec_out == built.session.to_timecode(cue.end) == src_out
    assert text.count("FROM CLIP:") == 2 and "adr/101.wav" in text

    import opentimelineio as otio

    tl = otio.adapters.read_from_file(str(root / "reel.otio"))
    names = [t.name for t in tl.tracks]
    assert names == ["Picture", "Production", "ADR"]
    assert tl.global_start_time.to_timecode() == "01:00:00:00"
    adr = tl.tracks[2]
    clips = list(adr.find_clips())
    assert [c.metadata["adr"]["cue_id"] for c in clips] == ["101", "102"]
    for clip in clips:
        cue = cues[clip.metadata["adr"]["cue_id"]]
        rng = clip.range_in_parent()
        assert rng.start_time.value == round(cue.start * 25)
        assert rng.duration.value == round(cue.end * 25) - round(cue.start * 25)
        assert clip.media_reference.target_url.endswith(f"adr/{cue.id}.wav")
    assert tl.tracks[1].duration().value == 250


def test_cue_sheets(built: Built, exported: ExportResult) -> None:
    root = built.session.root / "deliverables"
    cues = read_cues(root / "reel_cues.csv", built.session.timecode)
    assert [(c.id, c.status) for c in cues] == [
        ("101", "delivered"),
        ("102", "delivered"),
        ("103", "pending"),
    ]
    page = (root / "reel_cues.html").read_text()
    assert page.count("<tr>") == 4 and "@media print" in page and "01:00:00:08" in page


def test_partial_repair_is_bit_identical_outside_the_span(
    built: Built, exported: ExportResult
) -> None:
    root = built.session.root
    c101 = next(c for c in exported.cues if c.cue_id == "101")
    assert c101.conform.mode == "partial" and len(c101.conform.spans) == 1
    prod = sf.read(built.session.audio[0].path, dtype="int32")[0] >> 8
    line = sf.read(str(root / c101.file), dtype="int32")[0] >> 8
    a = c101.time_reference - timecode_to_samples("01:00:00:00", built.session.frame_rate, SR)
    ref = prod[a : a + len(line)]
    s0, s1 = c101.conform.spans[0]
    fade = round(0.015 * SR)
    lo, hi = round(s0 * SR) - a - fade, round(s1 * SR) - a + fade
    keep = np.ones(len(line), bool)
    keep[lo:hi] = False
    assert np.array_equal(line[keep], ref[keep])
    assert np.count_nonzero(line[lo + fade : hi - fade] != ref[lo + fade : hi - fade]) > 0.9 * (
        hi - lo - 2 * fade
    )
    # the burst is gone: the replaced span is much quieter than the production there
    b0, b1 = round(built.burst[0] * SR) - a, round(built.burst[1] * SR) - a
    assert np.std(line[b0:b1]) < 0.5 * np.std(ref[b0:b1])
    assert s0 <= built.burst[0] and s1 >= built.burst[1]
    c102 = next(c for c in exported.cues if c.cue_id == "102")
    assert c102.conform.mode == "whole" and c102.conform.warp.method == "warp"


def test_stem_loudness_and_unrendered_cue(built: Built, exported: ExportResult) -> None:
    import pyloudnorm

    stem, sr = sf.read(str(built.session.root / exported.stem), dtype="float64")
    assert abs(pyloudnorm.Meter(sr).integrated_loudness(stem) + 24.0) < 0.5
    from adr.deliver.loudness import true_peak_db

    assert true_peak_db(stem, sr) <= -1.9
    gain = 10 ** (exported.stem_loudness.gain_db / 20)
    c103 = next(q for q in built.session.read_cues() if q.id == "103")
    a, b = round(c103.start * SR), round(c103.end * SR)
    np.testing.assert_allclose(stem[a:b], built.production[a:b] * gain, atol=2e-6)


def test_rerun_is_idempotent(built: Built, exported: ExportResult) -> None:
    root = built.session.root / "deliverables"
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    again = export_session(built.session, spec="-24")
    assert again.written == ()
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == before
    assert again.to_dict() == {**exported.to_dict(), "written": []}
    assert ExportResult.from_dict(again.to_dict()) == again


def test_rerun_rewrites_only_what_changed(
    built: Built, exported: ExportResult, tmp_path: Path
) -> None:
    s = _copy(built, tmp_path)
    # the copy's timeline points at its own files; its audio is up to date
    assert set(export_session(s).written) == {"deliverables/reel.otio", "deliverables/reel.edl"}
    r = export_session(s, spec="-23")  # only the stem and the record change
    assert set(r.written) == {"deliverables/reel_dialog.wav", "deliverables/export.json"}
    stem = sf.read(str(s.root / r.stem))[0]
    import pyloudnorm

    assert abs(pyloudnorm.Meter(SR).integrated_loudness(stem) + 23.0) < 0.5
    cues = s.read_cues()
    s.write_cues(
        [c if c.id != "101" else type(c)(**{**c.to_dict(), "notes": "repair=whole"}) for c in cues]
    )
    r = export_session(s, spec="-23")
    assert "deliverables/adr/101.wav" in r.written and "deliverables/adr/102.wav" not in r.written
    assert next(c for c in r.cues if c.cue_id == "101").conform.mode == "whole"
    (s.root / "deliverables/reel.edl").unlink()
    assert export_session(s, spec="-23").written == ("deliverables/reel.edl",)


def test_dialog_gated_spec(built: Built, exported: ExportResult, tmp_path: Path) -> None:
    from adr.deliver.loudness import gated_loudness, integrated_loudness

    s = _copy(built, tmp_path)
    r = export_session(s, spec="-27")
    stem = sf.read(str(s.root / r.stem))[0]
    mask = np.zeros(len(stem), bool)
    for words in built.words.values():
        for w in words:
            mask[round(w.start * SR) : round(w.end * SR)] = True
    assert abs(gated_loudness(stem, SR, mask) + 27.0) < 0.5
    assert r.stem_loudness.spec == "-27"
    assert integrated_loudness(stem, SR) != pytest.approx(-27.0, abs=0.05)


def test_export_errors(built: Built, tmp_path: Path) -> None:
    s = _copy(built, tmp_path)
    with pytest.raises(AdrError, match="unknown loudness spec"):
        export_session(s, spec="-18")
    with pytest.raises(AdrError, match="unknown repair mode"):
        export_session(s, repair="half")
    take = json.loads((s.renders_dir / "101.json").read_text())
    write_json(s.renders_dir / "101.json", {**take, "start": take["start"] + 0.5})
    with pytest.raises(AdrError, match="out of date"):
        export_session(s)
    (s.renders_dir / "101.json").write_text("{broken")
    with pytest.raises(AdrError, match="101.json"):
        export_session(s)
    for p in s.renders_dir.iterdir():
        p.unlink()
    with pytest.raises(AdrError, match="no rendered cues; run adr render"):
        export_session(s)
    s.cues_path.unlink()
    with pytest.raises(AdrError, match="no cues"):
        export_session(s)


@pytest.mark.parametrize(
    "rate,start,sep",
    [
        ("29.97", "00:59:59:00", ":"),
        ("29.97df", "00:59:59;00", ";"),
        ("23.976", "10:00:00:00", ":"),
    ],
)
def test_timeline_rates_and_overlaps(tmp_path: Path, rate: str, start: str, sep: str) -> None:
    from adr.core.types import Cue
    from adr.deliver.timeline import cue_sheet_html, session_timeline

    fr = FrameRate.parse(rate)
    pic = MediaRef(str(tmp_path / "pic.mov"), "picture", 120.0)
    s = Session(
        tmp_path / "s",
        "s",
        fr,
        start,
        pic,
        (MediaRef(str(tmp_path / "a.wav"), "audio", 120.0),),
        "now",
    )
    f = float(1 / fr.rate)
    cues = [
        Cue("1", "A", "A", 1800 * f, 1900 * f),
        Cue("2", "B", "B", 1850 * f, 1950 * f),
        Cue("3", "A", "A", 2000 * f, 2010 * f),
        Cue("4", "C", "C", 10 * f, 20 * f),
    ]
    delivered = {c: (f"deliverables/adr/{c}.wav", "whole") for c in ("1", "2", "3")}
    otio_json, edls = session_timeline(s, cues, delivered, "s_dialog.wav")
    assert len(edls) == 2  # cue 2 overlaps cue 1: a second ADR track
    fcm = "FCM: DROP FRAME" if fr.drop_frame else "FCM: NON-DROP FRAME"
    events = {}
    for edl in edls:
        assert fcm in edl
        for m in re.finditer(r"^\d{3}\s+(\S+)\s+A\s+C\s+(\S+) (\S+) (\S+) (\S+)$", edl, re.M):
            events[m.group(1)] = m.groups()[1:]
    assert sorted(events) == ["1", "2", "3"]
    for c in cues[:3]:
        src_in, src_out, rec_in, rec_out = events[c.id]
        assert (
            (rec_in, rec_out) == (s.to_timecode(c.start), s.to_timecode(c.end)) == (src_in, src_out)
        )
        assert rec_in[8] == sep
    import opentimelineio as otio

    tl = otio.adapters.read_from_string(otio_json, "otio_json")
    assert [t.name for t in tl.tracks] == ["Picture", "Production", "ADR", "ADR 2"]
    page = cue_sheet_html(s, cues, delivered)
    assert page.count("<tr>") == 5 and "production" in page

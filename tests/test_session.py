"""Sessions, the cue sheet CSV and the CLI's error handling."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from media_files import make_picture

from adr.cli import main
from adr.core.errors import AdrError
from adr.core.timecode import FrameRate
from adr.core.types import Cue
from adr.ingest.cues import TimecodeMap, cues_to_csv, read_cues
from adr.ingest.session import create_session, load_session


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    pic = make_picture(
        d / "scene.mov", 4, size="160x120", tone=True, options=("-timecode", "01:00:00:00")
    )
    silent = make_picture(d / "silent.mp4", 2, size="160x120", rate="24000/1001")
    wav = d / "boom.wav"
    t = np.arange(4 * 48000) / 48000
    sf.write(wav, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 48000, subtype="PCM_24")
    return {"picture": pic, "silent": silent, "wav": wav, "dir": d}


def _cues() -> list[Cue]:
    return [
        Cue("101", "MAYA", "MAYA", 0.4, 1.8, "Roll sound, we are losing the light.", "generator"),
        Cue(
            "102", "JOE", "JOE", 2.0, 3.52, 'He said "cut", didn\'t he?', "wind", "line, with comma"
        ),
    ]


def test_session_create_and_reload(media: dict[str, Path], tmp_path: Path) -> None:
    s = create_session("reel1", media["picture"], [media["wav"]], root=tmp_path)
    assert s.frame_rate == FrameRate.parse("25")
    assert s.start_timecode == "01:00:00:00"
    assert abs(s.duration - 4.0) < 0.05
    for sub in ("cues", "analysis", "renders", "deliverables"):
        assert (tmp_path / "reel1" / sub).is_dir()
    data = tomllib.loads((tmp_path / "reel1" / "session.toml").read_text())
    assert data["format_version"] == 1
    again = load_session("reel1", root=tmp_path)
    assert again.to_dict() == s.to_dict()
    assert again.audio[0].sample_rate == 48000
    # sources are referenced, not copied
    assert not any(p.suffix in (".mov", ".wav") for p in (tmp_path / "reel1").rglob("*"))


def test_session_uses_picture_audio_and_overrides(media: dict[str, Path], tmp_path: Path) -> None:
    s = create_session(
        "r2", media["picture"], root=tmp_path, frame_rate="25", start_timecode="10:00:00:00"
    )
    assert s.audio[0].path == s.picture.path and s.audio[0].kind == "audio"
    assert s.to_timecode(1.0) == "10:00:01:00"
    assert s.to_seconds("10:00:02:05") == pytest.approx(2.2)


def test_session_errors(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(AdrError, match="no audio stream"):
        create_session("s1", media["silent"], root=tmp_path)
    with pytest.raises(AdrError, match="session name"):
        create_session("bad name!", media["picture"], root=tmp_path)
    with pytest.raises(AdrError, match="not found|no such|does not exist"):
        create_session("s2", tmp_path / "missing.mov", root=tmp_path)
    create_session("s3", media["picture"], root=tmp_path)
    with pytest.raises(AdrError, match="already exists"):
        create_session("s3", media["picture"], root=tmp_path)
    with pytest.raises(AdrError, match="no such session"):
        load_session("nope", root=tmp_path)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(AdrError, match="cannot create folder"):
        create_session("s4", media["picture"], root=blocker)
    assert not (tmp_path / "s4").exists()


def test_cue_csv_round_trip(tmp_path: Path) -> None:
    tc = TimecodeMap.from_timecode(FrameRate.parse("29.97df"), "00:59:59;28")
    text = cues_to_csv(_cues(), tc)
    path = tmp_path / "cues.csv"
    path.write_text(text)
    back = read_cues(path, tc)
    assert [c.id for c in back] == ["101", "102"]
    for a, b in zip(_cues(), back, strict=True):
        assert (a.text, a.notes, a.character, a.reason) == (b.text, b.notes, b.character, b.reason)
        assert abs(a.start - b.start) <= 0.5 / 29.97 and abs(a.end - b.end) <= 0.5 / 29.97
    assert cues_to_csv(back, tc) == text  # stable once on the frame grid
    assert ";" in text.splitlines()[1]


def test_cue_csv_errors(tmp_path: Path) -> None:
    tc = TimecodeMap.from_timecode(FrameRate.parse("25"), "01:00:00:00")
    bad = tmp_path / "bad.csv"
    bad.write_text("cue_id,tc_in,tc_out\n1,01:00:01:00,01:00:0x:00\n")
    with pytest.raises(AdrError, match=r"bad\.csv:2"):
        read_cues(bad, tc)
    bad.write_text("cue_id,tc_in\n1,01:00:01:00\n")
    with pytest.raises(AdrError, match="lacks column"):
        read_cues(bad, tc)
    bad.write_text("cue_id,tc_in,tc_out\n1,01:00:02:00,01:00:01:00\n")
    with pytest.raises(AdrError, match="not after"):
        read_cues(bad, tc)
    bad.write_text("cue_id,tc_in,tc_out\n1,01:00:01:00,01:00:02:00\n1,01:00:03:00,01:00:04:00\n")
    with pytest.raises(AdrError, match="duplicate"):
        read_cues(bad, tc)


def test_cue_outside_media_is_refused(media: dict[str, Path], tmp_path: Path) -> None:
    s = create_session("r3", media["picture"], root=tmp_path)
    s.write_cues(_cues())
    assert [c.id for c in s.read_cues()] == ["101", "102"]
    outside = tmp_path / "outside.csv"
    outside.write_text("cue_id,tc_in,tc_out\n9,01:00:03:00,01:00:09:00\n")
    with pytest.raises(AdrError, match="outside the media"):
        s.import_cues(outside)
    assert [c.id for c in s.read_cues()] == ["101", "102"]  # unchanged


def test_cli_session_and_cues(media: dict[str, Path], tmp_path: Path, capsys) -> None:
    root = str(tmp_path)
    assert (
        main(
            [
                "--sessions",
                root,
                "session",
                "new",
                "cli1",
                "--picture",
                str(media["picture"]),
                "--audio",
                str(media["wav"]),
            ]
        )
        == 0
    )
    csv_path = tmp_path / "in.csv"
    csv_path.write_text(
        "cue_id,character,actor,tc_in,tc_out,text\n"
        "7,MAYA,MAYA,01:00:00:10,01:00:02:00,Hello there.\n"
    )
    assert main(["--sessions", root, "cues", "import", "cli1", str(csv_path)]) == 0
    capsys.readouterr()
    assert main(["--sessions", root, "cues", "export", "cli1"]) == 0
    out = capsys.readouterr().out
    assert "7,MAYA,MAYA,01:00:00:10,01:00:02:00,Hello there.,,,pending" in out
    assert main(["--sessions", root, "session", "info", "cli1"]) == 0


@pytest.mark.parametrize(
    "args, needle",
    [
        (["session", "new", "x", "--picture", "{missing}"], "missing.mov"),
        (["session", "new", "x", "--picture", "{silent}"], "no audio stream"),
        (
            ["session", "new", "x", "--picture", "{picture}", "--start-tc", "25:00:00:00"],
            "25:00:00:00",
        ),
        (["session", "new", "x", "--picture", "{picture}", "--fps", "12.5"], "12.5"),
        (["session", "info", "ghost"], "no such session"),
    ],
)
def test_cli_errors_are_one_line(media: dict[str, Path], tmp_path: Path, args, needle) -> None:
    subst = {
        "missing": str(tmp_path / "missing.mov"),
        "silent": str(media["silent"]),
        "picture": str(media["picture"]),
    }
    argv = [a.format(**subst) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "adr.cli", "--sessions", str(tmp_path), *argv],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("adr: error: ")
    assert needle in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()  # nothing half-written


@pytest.mark.parametrize(
    "bad",
    [
        "../../../media/take_production",
        "../escaped",
        "/etc/passwd",
        "a/b",
        "..",
        ".hidden",
        "with space",
        "x" * 65,
    ],
)
def test_cue_ids_that_are_paths_are_refused(tmp_path: Path, bad: str) -> None:
    """A crafted cue id never becomes a path outside the session (it is refused on import)."""
    csv = tmp_path / "cues.csv"
    csv.write_text(f"cue_id,tc_in,tc_out\n{bad},01:00:00:10,01:00:01:00\n")
    tc = TimecodeMap.from_timecode(FrameRate.parse("25"), "01:00:00:00")
    with pytest.raises(AdrError, match="cue id"):
        read_cues(csv, tc)
    with pytest.raises(ValueError, match="cue id"):
        Cue(bad, "", "", 0.4, 1.0)


def test_actor_id_that_is_a_path_is_refused(tmp_path: Path) -> None:
    csv = tmp_path / "cues.csv"
    csv.write_text("cue_id,actor,tc_in,tc_out\n101,../voices/x,01:00:00:10,01:00:01:00\n")
    tc = TimecodeMap.from_timecode(FrameRate.parse("25"), "01:00:00:00")
    with pytest.raises(AdrError, match="actor id"):
        read_cues(csv, tc)


def test_child_path_stays_inside(tmp_path: Path) -> None:
    from adr.core.names import child_path

    assert child_path(tmp_path, "101", ".json") == tmp_path / "101.json"
    outside = tmp_path.parent / "outside"
    outside.mkdir(exist_ok=True)
    (tmp_path / "link.json").symlink_to(outside / "x.json")
    with pytest.raises(AdrError, match="outside"):
        child_path(tmp_path, "link", ".json")


def test_cues_export_never_overwrites_source_media(
    media: dict[str, Path], tmp_path: Path, capsys
) -> None:
    """``adr cues export`` onto the session's own production audio is refused; the file is
    intact."""
    import shutil

    wav = tmp_path / "boom.wav"
    shutil.copy(media["wav"], wav)
    before = wav.read_bytes()
    create_session("reel1", media["picture"], [wav], root=tmp_path / "s")
    assert main(["--sessions", str(tmp_path / "s"), "cues", "export", "reel1", str(wav)]) == 2
    err = capsys.readouterr().err.strip()
    assert "source media" in err and str(wav) in err and "Traceback" not in err
    assert wav.read_bytes() == before
    assert main(["--sessions", str(tmp_path / "s"), "cues", "export", "reel1", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_top_level_api_lists_one_call_per_command() -> None:
    import adr

    calls = "create_session load_session enroll_actor analyze_session render_session"
    for name in (calls + " export_session write_report respeak load_voice").split():
        assert name in adr.__all__ and callable(getattr(adr, name))
    assert adr.create_session is create_session

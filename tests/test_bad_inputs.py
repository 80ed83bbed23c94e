"""Bad inputs and faults (issue #11): each refused with one line naming the file, exit 2.

The table :data:`CASES` holds one row per bad input: how to spoil a fresh session (or the
arguments alone), the command, and what the one-line message must name. Every row asserts
exit status 2, exactly one stderr line ``adr: error: ...`` naming the file or value, no
traceback, and that no source file (picture, audio, the CSV given) changed: each is hashed
before and after. Fault cases follow: an interrupted ``analyze`` resumes and equals an
uninterrupted run, two writers at once, stale locks, a full disk (a real 64 KiB tmpfs in a
user namespace where one can be mounted; else simulated), outputs that do not read back.

Media are generated (4 s test picture, 4 s tone); the analysis stages are replaced by
deterministic stand-ins where a case only needs analyze's bookkeeping, so the file runs in
well under a minute.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from deliver_session import provenance
from media_files import ffmpeg, make_picture

import adr.analysis.analyze as analyze_mod
import adr.analysis.line as line_mod
from adr.cli import main
from adr.core.errors import AdrError
from adr.core.types import Cue, Phone, Prosody, Take, Word
from adr.ingest.lock import LOCK_NAME, session_lock
from adr.ingest.session import Session, create_session, load_session

CSV = (
    "cue_id,character,actor,tc_in,tc_out,text\n"
    "101,MAYA,MAYA,01:00:00:10,01:00:01:05,Roll sound.\n"
    "102,JOE,JOE,01:00:01:15,01:00:02:10,Cut.\n"
    "103,MAYA,MAYA,01:00:02:20,01:00:03:15,Again.\n"
)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is needed")
    d = tmp_path_factory.mktemp("bad_media")
    pic = d / "scene.mp4"
    make_picture(pic, 4, size="96x64")
    t = np.arange(4 * 48000) / 48000
    tone = (0.1 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    wav = d / "boom.wav"
    sf.write(wav, tone, 48000, subtype="FLOAT")
    nan = d / "nan.wav"
    bad = tone.copy()
    bad[1000:1010] = np.nan
    sf.write(nan, bad, 48000, subtype="FLOAT")
    csv = d / "cues.csv"
    csv.write_text(CSV)
    return {"picture": pic, "wav": wav, "nan": nan, "csv": csv, "dir": d, **_damaged(d, tone)}


def _damaged(d: Path, tone: np.ndarray) -> dict[str, Path]:
    """Damaged and mismatched media for the checks made when a session is made (item 4)."""
    out = {
        k: d / f
        for k, f in [
            ("trunc_wav", "trunc.wav"),
            ("wav_7hz", "rate7.wav"),
            ("short", "short.wav"),
            ("wav3", "three.wav"),
            ("wav25", "two_half.wav"),
            ("trunc_flac", "trunc.flac"),
            ("trunc_mp4", "trunc.mp4"),
            ("vfr", "vfr.mp4"),
            ("wav39", "three_nine.wav"),
        ]
    }
    sf.write(out["trunc_wav"], tone, 48000, subtype="PCM_24")
    data = out["trunc_wav"].read_bytes()
    out["trunc_wav"].write_bytes(data[: len(data) // 3])  # the header still claims 4 s
    sf.write(out["wav_7hz"], tone[:4800], 7)
    sf.write(out["short"], tone[:4800], 48000)  # 0.1 s under 4 s of picture
    sf.write(out["wav3"], tone[: 3 * 48000], 48000)
    sf.write(out["wav25"], tone[:120000], 48000)
    sf.write(out["wav39"], tone[: int(3.9 * 48000)], 48000)
    sf.write(d / "full.flac", tone, 48000)
    data = (d / "full.flac").read_bytes()
    out["trunc_flac"].write_bytes(data[: len(data) // 2])
    full = d / "faststart.mp4"
    make_picture(full, 4, size="96x64", options=("-movflags", "+faststart"))
    data = full.read_bytes()
    out["trunc_mp4"].write_bytes(data[: len(data) // 2])  # moov in front, mdat cut short
    # 100 frames at 25 fps, then 50 at 10 fps: 150 frames over 8.94 s (6 s at "25 fps")
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=96x64:rate=25:duration=6",
        "-vf",
        "settb=1/1000,setpts='if(lt(N,100),N*40,4000+(N-100)*100)'",
        "-fps_mode",
        "passthrough",
        "-enc_time_base",
        "1/1000",
        "-c:v",
        "mpeg4",
        str(out["vfr"]),
    )
    return out


@dataclasses.dataclass
class Env:
    """A fresh session (``reel``, cues imported) in its own folder, and the CLI prefix."""

    root: Path
    session: Session
    media: dict[str, Path]
    tmp: Path

    @property
    def prefix(self) -> list[str]:
        return ["-q", "--sessions", str(self.root), "--voices", str(self.tmp / "voices")]


@pytest.fixture()
def env(media: dict[str, Path], tmp_path: Path) -> Env:
    wav = tmp_path / "boom.wav"  # a private copy: some cases spoil the audio
    shutil.copy(media["wav"], wav)
    s = create_session("reel", media["picture"], [wav], root=tmp_path / "sessions")
    s.import_cues(media["csv"])
    return Env(tmp_path / "sessions", s, {**media, "wav": wav}, tmp_path)


def _hashes(paths: list[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


def _refused(
    env: Env,
    argv: list[str],
    needles: list[str],
    capsys: pytest.CaptureFixture,
    extra_sources: tuple[Path, ...] = (),
) -> str:
    """Run the CLI in this process; assert the one-line refusal and untouched sources."""
    sources = [
        env.media["picture"],
        env.media["wav"],
        env.media["csv"],
        env.media["nan"],
        *sorted(env.media["dir"].iterdir()),
        *extra_sources,
    ]
    before = _hashes(sources)
    capsys.readouterr()
    code = main(env.prefix + argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("adr: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert _hashes(sources) == before  # no source file changed
    return lines[0]


# --------------------------------------------------------------------------- the table
# Each row: (id, spoil(env) -> argv, needles(env)); spoil may change the session first.


def _toml_value(env: Env, key: str, value: str) -> None:
    text = env.session.toml_path.read_text()
    lines = [f"{key} = {value}" if ln.startswith(f"{key} =") else ln for ln in text.splitlines()]
    env.session.toml_path.write_text("\n".join(lines) + "\n")


def _toml_drop(env: Env, table: str) -> None:
    text = env.session.toml_path.read_text()
    keep, skip = [], False
    for ln in text.splitlines():
        if ln.startswith("["):
            skip = ln.strip() in (f"[{table}]", f"[[{table}]]")
        if not skip:
            keep.append(ln)
    env.session.toml_path.write_text("\n".join(keep) + "\n")


def _take_101(**consent: object) -> Take:
    """The take of cue 101, its provenance under MAYA's consent (with ``consent`` changed)."""
    fields = ("101", "MAYA", "renders/101.wav", 0.4, 1.2, 48000, "Roll sound.", "script")
    return Take(*fields, provenance("MAYA", **consent))


def _silent_take(env: Env) -> list[str]:
    s = env.session
    take = _take_101()
    n = 48000 * 8 // 10
    sf.write(s.renders_dir / "101.wav", np.zeros(n, np.float32), 48000, subtype="PCM_24")
    (s.renders_dir / "101.json").write_text(json.dumps(take.to_dict()))
    return ["export", "reel"]


def _take_under(env: Env, tamper: bool = False, **consent: object) -> list[str]:
    """A take of cue 101 whose provenance carries the given consent (issue #12)."""
    _silent_take(env)
    take = _take_101(**consent)
    data = take.to_dict()
    if tamper:  # the consent record edited by hand: its id no longer matches
        data["provenance"]["consent"]["expires"] = "2199-12-31"
    (env.session.renders_dir / "101.json").write_text(json.dumps(data))
    return ["export", "reel"]


def _tampered_voice(env: Env) -> list[str]:
    from consent_data import consent_for
    from tiny_voice import SMALLEST, save_untrained_voice

    folder = save_untrained_voice(
        env.tmp / "voices" / "MAYA", "MAYA", consent_for("MAYA"), SMALLEST
    )
    meta = json.loads((folder / "voice.json").read_text())
    meta["consent"]["expires"] = "2199-12-31"
    (folder / "voice.json").write_text(json.dumps(meta))
    return ["voice", "info", "MAYA"]


def _live_lock(env: Env) -> list[str]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    env.tmp.joinpath("holder.pid").write_text(str(proc.pid))
    (env.session.root / LOCK_NAME).write_text(
        json.dumps(
            {
                "pid": proc.pid,
                "host": os.uname().nodename,
                "command": "analyze",
                "since": "2025-01-01T10:00:00",
                "token": "other",
            }
        )
    )
    return _cues_import(env.media["csv"])


def _foreign_lock(env: Env) -> list[str]:
    (env.session.root / LOCK_NAME).write_text(
        json.dumps(
            {"pid": 1, "host": "edit-bay-2", "command": "render", "since": "?", "token": "x"}
        )
    )
    return ["analyze", "reel", "--no-lips"]


def _nan_replaced(env: Env) -> list[str]:
    shutil.copy(env.media["nan"], env.media["wav"])  # the production file went bad later
    return ["analyze", "reel", "--no-lips"]


def _pending_only(env: Env) -> list[str]:
    return ["render", "reel"]


def _no_cues(env: Env) -> list[str]:
    env.session.cues_path.unlink()
    return ["render", "reel"]


def _cues_import(csv: Path) -> list[str]:
    """``adr cues import reel CSV``."""
    return ["cues", "import", "reel", str(csv)]


def _csv(env: Env, text: str) -> Path:
    p = env.tmp / "bad.csv"
    p.write_text(text)
    return p


def _new(env: Env, *audio: str, picture: str = "picture", fps: str | None = None) -> list[str]:
    """``session new`` for the named media of the fixture."""
    argv = ["session", "new", "fresh", "--picture", str(env.media[picture])]
    for a in audio:
        argv += ["--audio", str(env.media[a])]
    return argv + (["--fps", fps] if fps else [])


def _short_audio_cues(env: Env) -> list[str]:
    """A session whose audio (2.5 s) ends before the last cue (3.6 s): import refused."""
    create_session("short", env.media["picture"], [env.media["wav25"]], root=env.root)
    return ["cues", "import", "short", str(env.media["csv"])]


def _enroll_text(env: Env, text: str, *more: str) -> list[str]:
    """``adr enroll MAYA`` on the test audio with ``--text text`` (and ``more``)."""
    return ["enroll", "MAYA", "--audio", str(env.media["wav"]), "--text", text, *more]


Row = tuple[str, Callable[[Env], list[str]], Callable[[Env], list[str]]]
CASES: list[Row] = [
    # new in issue #11
    (
        "cues export to a folder",
        lambda e: ["cues", "export", "reel", str(e.tmp)],
        lambda e: [str(e.tmp), "is a folder"],
    ),
    (
        "whisper model offline",
        lambda e: ["analyze", "reel", "--whisper-model", "large-v3"],
        lambda e: ["large-v3", "local models:", "base"],
    ),
    (
        "--text path missing",
        lambda e: _enroll_text(e, str(e.tmp / "script" / "maya.txt")),
        lambda e: [str(e.tmp / "script" / "maya.txt"), "text file not found"],
    ),
    (
        "--text file name missing",
        lambda e: _enroll_text(e, "maya_lines.txt", "--check"),
        lambda e: ["maya_lines.txt", "not found"],
    ),
    (
        "NaN audio at session new",
        lambda e: [
            "session",
            "new",
            "nanreel",
            "--picture",
            str(e.media["picture"]),
            "--audio",
            str(e.media["nan"]),
        ],
        lambda e: [str(e.media["nan"]), "NaN"],
    ),
    ("NaN audio at analyze", _nan_replaced, lambda e: [str(e.media["wav"]), "NaN"]),
    (
        "session.toml frame_rate",
        lambda e: _toml_value(e, "frame_rate", '"banana"') or ["session", "info", "reel"],
        lambda e: ["session.toml", "frame_rate", "banana"],
    ),
    (
        "session.toml start_timecode",
        lambda e: _toml_value(e, "start_timecode", '"99:00:00:00"') or ["analyze", "reel"],
        lambda e: ["session.toml", "start_timecode", "99:00:00:00"],
    ),
    (
        "session.toml no audio",
        lambda e: _toml_drop(e, "audio") or ["render", "reel"],
        lambda e: ["session.toml", "'audio'"],
    ),
    (
        "session.toml not TOML",
        lambda e: e.session.toml_path.write_text("frame_rate = [") and ["cues", "export", "reel"],
        lambda e: ["session.toml"],
    ),
    ("render before analyze", _pending_only, lambda e: [str(e.session.root), "adr analyze first"]),
    ("render with no cues", _no_cues, lambda e: [str(e.session.root), "adr analyze"]),
    (
        "second writer (live pid)",
        _live_lock,
        lambda e: [str(e.session.root), "adr analyze", "pid", "in use"],
    ),
    ("lock held on another host", _foreign_lock, lambda e: ["edit-bay-2", LOCK_NAME]),
    (
        "export: silent take",
        _silent_take,
        lambda e: [str(e.session.renders_dir / "101.wav"), "silent", "cue 101"],
    ),
    # consent and provenance (issue #12)
    (
        "enroll without consent",
        lambda e: ["enroll", "MAYA", "--audio", str(e.media["wav"])],
        lambda e: ["MAYA: no consent record", "--consent FILE"],
    ),
    (
        "export: session outside the consent",
        lambda e: _take_under(e, productions=("other*",)),
        lambda e: ["voice MAYA", "does not cover session 'reel'", "cue 101"],
    ),
    (
        "export: replacing lines not consented",
        lambda e: _take_under(e, uses=("new",)),
        lambda e: ["voice MAYA", "does not cover replacing lines"],
    ),
    (
        "export: consent expired",
        lambda e: _take_under(e, granted_on="2020-01-01", expires="2021-12-31"),
        lambda e: ["voice MAYA", "expired on 2021-12-31"],
    ),
    (
        "export: consent edited in the take",
        lambda e: _take_under(e, tamper=True),
        lambda e: ["101.json", "the record was edited"],
    ),
    (
        "voice with an edited consent",
        _tampered_voice,
        lambda e: [str(e.tmp / "voices" / "MAYA" / "voice.json"), "tampered"],
    ),
    (
        "consent file that is not TOML",
        lambda e: (
            (e.tmp / "c.toml").write_text("actor = [")
            and ["voice", "consent", "MAYA", "--update", str(e.tmp / "c.toml")]
        ),
        lambda e: [str(e.tmp / "c.toml"), "not valid TOML"],
    ),
    # already handled before; kept here so they stay handled
    (
        "cue id that is a path",
        lambda e: _cues_import(
            _csv(e, "cue_id,tc_in,tc_out\n../../media/x,01:00:00:10,01:00:01:00\n")
        ),
        lambda e: ["bad.csv", "cue id"],
    ),
    (
        "cues export onto the production",
        lambda e: ["cues", "export", "reel", str(e.media["wav"])],
        lambda e: [str(e.media["wav"]), "source media"],
    ),
    (
        "cue outside the media",
        lambda e: _cues_import(_csv(e, "cue_id,tc_in,tc_out\n9,01:00:03:00,01:00:09:00\n")),
        lambda e: ["bad.csv", "outside"],
    ),
    (
        "unknown cue id",
        lambda e: ["analyze", "reel", "--cue", "999", "--no-lips"],
        lambda e: ["cues.csv", "999"],
    ),
    ("no such session", lambda e: ["analyze", "ghost"], lambda e: ["ghost", "no such session"]),
    (
        "missing picture",
        lambda e: ["session", "new", "x", "--picture", str(e.tmp / "no.mov")],
        lambda e: [str(e.tmp / "no.mov"), "not found"],
    ),
    (
        "export without renders",
        lambda e: ["export", "reel"],
        lambda e: [str(e.session.renders_dir), "adr render"],
    ),
    (
        "corrupt take JSON at export",
        lambda e: (
            (e.session.renders_dir / "101.json").write_text("{not json") and ["export", "reel"]
        ),
        lambda e: ["101.json", "JSON"],
    ),
    ("bad loudness spec", lambda e: ["export", "reel", "--spec", "-12"], lambda e: ["-12"]),
    # damaged media, refused when the session is made (issue #11 item 4)
    (
        "truncated WAV",
        lambda e: _new(e, "trunc_wav"),
        lambda e: [str(e.media["trunc_wav"]), "truncated WAV", "192000 samples"],
    ),
    (
        "WAV header claiming 7 Hz",
        lambda e: _new(e, "wav_7hz"),
        lambda e: [str(e.media["wav_7hz"]), "7 Hz", "8-192 kHz"],
    ),
    (
        "truncated FLAC",
        lambda e: _new(e, "trunc_flac"),
        lambda e: [str(e.media["trunc_flac"]), "truncated audio", "192000"],
    ),
    (
        "truncated mp4 (moov in front)",
        lambda e: _new(e, picture="trunc_mp4"),
        lambda e: [str(e.media["trunc_mp4"]), "truncated", "mdat"],
    ),
    (
        "truncated mp4 as audio",
        lambda e: _new(e, "trunc_mp4"),
        lambda e: [str(e.media["trunc_mp4"]), "truncated"],
    ),
    (
        "0.1 s of audio under the picture",
        lambda e: _new(e, "short"),
        lambda e: [str(e.media["short"]), "0.10 s", "4.00 s"],
    ),
    (
        "audio files of different lengths",
        lambda e: _new(e, "wav", "wav3"),
        lambda e: [str(e.media["wav"]), str(e.media["wav3"]), "3.000 s", "4.000 s"],
    ),
    (
        "VFR picture with --fps 25",
        lambda e: _new(e, "wav", picture="vfr", fps="25"),
        lambda e: [str(e.media["vfr"]), "150 frames run 8.94 s", "not 6.00 s", "variable"],
    ),
    (
        "--fps not the picture's rate",
        lambda e: _new(e, "wav", fps="30"),
        lambda e: [str(e.media["picture"]), "100 frames run 4.00 s", "not 3.33 s"],
    ),
    (
        "cues past the end of the audio",
        _short_audio_cues,
        lambda e: [str(e.media["csv"]), "cue 103", "production audio (2.50 s)"],
    ),
]


@pytest.mark.parametrize("name, spoil, needles", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(
    env: Env,
    name: str,
    spoil: Callable[[Env], list[str]],
    needles: Callable[[Env], list[str]],
    capsys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the Whisper case: no network, fail fast
    lock = env.session.root / LOCK_NAME
    argv = spoil(env)
    had_lock = lock.exists()
    try:
        _refused(env, argv, needles(env), capsys)
    finally:
        pid_file = env.tmp / "holder.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), 9)
            os.waitpid(int(pid_file.read_text()), 0)
    assert lock.exists() == had_lock  # a refused writer leaves another's lock alone


def test_table_size() -> None:
    """The count reported in docs/DEVELOPING.md (bad-input suite)."""
    assert len(CASES) == 41


def test_session_new_warns_of_small_mismatches(env: Env, capsys) -> None:
    """Audio 0.1 s shorter than the picture: made, with a warning kept in the session (shown
    by ``session new`` and ``session info``); ``-q`` prints it not."""
    base = ["--sessions", str(env.root)]
    argv = [
        "session",
        "new",
        "near",
        "--picture",
        str(env.media["picture"]),
        "--audio",
        str(env.media["wav39"]),
    ]
    capsys.readouterr()
    assert main(base + argv) == 0
    err = capsys.readouterr().err
    assert "adr: warning:" in err and "0.10 s shorter than the picture" in err
    assert load_session(env.root / "near").warnings == (err.split("adr: warning: ")[1].strip(),)
    assert main(base + ["session", "info", "near"]) == 0
    assert "0.10 s shorter" in capsys.readouterr().out
    assert main(["-q"] + base + [*argv[:2], "near2", *argv[3:]]) == 0
    assert capsys.readouterr().err == ""


def test_session_new_does_not_decode_pcm(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """PCM WAV is probed from its header (no full read): memory does not grow with length."""

    def no_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("session new read the whole file")

    pcm = env.tmp / "pcm.wav"
    sf.write(pcm, np.zeros(4 * 48000, np.float32) + 0.01, 48000, subtype="PCM_24")
    monkeypatch.setattr(sf, "read", no_read)
    monkeypatch.setattr(sf, "blocks", no_read)
    s = create_session("pcm", env.media["picture"], [pcm], root=env.root)
    assert s.audio[0].duration == 4.0 and s.audio[0].channels == 1


def test_enroll_summary_lists_dropped_lines() -> None:
    from types import SimpleNamespace

    from adr.voice.enroll import EnrollResult
    from adr.voice.material import MaterialReport

    material = MaterialReport(
        "MAYA",
        (),
        1.0,
        -60.0,
        30.0,
        0.0,
        0.5,
        warnings=(
            "MAYA: thin material",
            "take3.wav@12.40: skipped (the aligner found no path through the text)",
        ),
    )
    record = SimpleNamespace(metrics={}, minutes=1.0, steps=10, train_seconds=3.0)
    text = EnrollResult("MAYA", "voices/MAYA", material, record, utterances=9).summary()
    lines = text.splitlines()
    assert lines[0].startswith("MAYA: voice trained") and len(lines) == 2
    assert lines[1] == "  dropped take3.wav@12.40: the aligner found no path through the text"


# --------------------------------------------------------------------------- faults


def _fake_stages(monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> None:
    """Deterministic stand-ins for analyze's audio stages (its bookkeeping stays real)."""

    def prepare(cues, audio, sr, options, errors):
        works = []
        for c in cues:
            t0, t1 = line_mod._window(c, len(audio) / sr, options.context)
            seg = line_mod._segment(audio, sr, t0, t1)
            works.append(line_mod._Work(c, t0, seg, seg, {"denoise": 0.0}))
        return works

    def finish(w, sr, voiceprints, options):
        calls.append(w.cue.id)
        from adr.analysis.align import Alignment
        from adr.analysis.asr import Transcript
        from adr.analysis.damage import DamageReport
        from adr.analysis.speakers import SpeakerMatch

        c = w.cue
        n = max(1, int((c.end - c.start) / 0.01))
        rms = float(np.sqrt(np.mean(w.seg.astype(np.float64) ** 2)))
        words = (Word(c.text or "x", c.start, c.end),)
        align = Alignment(words, (Phone("a", c.start, c.end, 0),), 0.0, 1.0, "fake")
        prosody = Prosody(
            c.start,
            0.01,
            np.full(n, 100.0 + rms, np.float32),
            np.ones(n, np.float32),
            np.full(n, -20.0, np.float32),
        )
        return analyze_mod.LineAnalysis(
            cue=c,
            text=c.text,
            text_source="script",
            transcript=Transcript(c.text, "en", 1.0),
            alignment=align,
            prosody=prosody,
            speaking_rate=1.0,
            speaker=SpeakerMatch("unknown", 0.0),
            lips=None,
            av=None,
            damage=DamageReport(snr_db=round(20 * np.log10(rms + 1e-9), 3)),
            timings={"align": 0.0},
        )

    monkeypatch.setattr(analyze_mod, "_prepare", prepare)
    monkeypatch.setattr(analyze_mod, "_recognize", lambda works, sr, options, errors: None)
    monkeypatch.setattr(analyze_mod, "_finish", finish)


def _analysis_files(s: Session) -> dict[str, Any]:
    out = {}
    for p in sorted(s.analysis_dir.glob("*.json")):
        d = json.loads(p.read_text())
        d.pop("timings")
        d["cue"].pop("status")  # the cue as read: "pending" on a first run, then "analyzed"
        out[p.name] = d
    return out


def test_interrupted_analyze_keeps_finished_lines_and_resumes(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Ctrl-C after 2 of 3 lines keeps 2 (exit 130); the rerun redoes their line group (all
    three, 0.4 s apart: one denoise stretch), and the result equals an uninterrupted run's."""
    from adr.analysis.analyze import AnalysisOptions, analyze_session

    calls: list[str] = []
    _fake_stages(monkeypatch, calls)
    options = AnalysisOptions(lips=False)
    reference = create_session(
        "ref", env.media["picture"], [env.media["wav"]], root=tmp_path / "ref"
    )
    reference.import_cues(env.media["csv"])
    analyze_session(reference, voices_root=tmp_path / "voices", options=options)

    saved: list[str] = []

    def interrupt(event) -> None:
        if event.info and event.info.get("saved"):
            saved.append(event.info["cue"])
            if len(saved) == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr("adr.cli._progress", lambda args: interrupt)
    calls.clear()
    assert main(env.prefix + ["analyze", "reel", "--no-lips"]) == 130
    assert "finished work is kept" in capsys.readouterr().err
    assert sorted(p.stem for p in env.session.analysis_dir.glob("*.json")) == ["101", "102"]
    assert not (env.session.root / LOCK_NAME).exists()  # released on the interruption
    calls.clear()
    monkeypatch.setattr("adr.cli._progress", lambda args: None)
    assert main(env.prefix + ["analyze", "reel", "--no-lips"]) == 0
    assert calls == ["101", "102", "103"]  # the 3 lines are one line group: redone whole
    assert _analysis_files(env.session) == _analysis_files(reference)
    assert [c.status for c in load_session(env.session.root).read_cues()] == [
        c.status for c in reference.read_cues()
    ]


def test_corrupt_or_stale_analysis_is_redone(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from adr.analysis.analyze import AnalysisOptions, analyze_session

    calls: list[str] = []
    _fake_stages(monkeypatch, calls)
    options = AnalysisOptions(lips=False)
    analyze_session(env.session, options=options, voices_root=env.tmp / "v")
    first = _analysis_files(env.session)
    (env.session.analysis_dir / "101.json").write_text('{"format_version": 2, "key": ')
    data = json.loads((env.session.analysis_dir / "102.json").read_text())
    data["key"] = "0" * 16
    (env.session.analysis_dir / "102.json").write_text(json.dumps(data))
    calls.clear()
    analyze_session(env.session, options=options, voices_root=env.tmp / "v")
    assert sorted(calls) == ["101", "102", "103"]  # one line group: 103 redone with them
    assert _analysis_files(env.session) == first


def test_analyze_redoes_a_partly_done_line_group_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun after an analyze stopped in the middle of a line group (101 and 102 written,
    103 not) analyses the group whole, as the uninterrupted run did: 103 denoised alone would
    start its denoise stretch at itself and differ. The other group (104) is kept."""
    from adr.analysis.analyze import AnalysisOptions, analyze_session
    from adr.analysis.groups import line_groups

    calls: list[str] = []
    _fake_stages(monkeypatch, calls)
    stand_in_prepare, stand_in_finish = analyze_mod._prepare, analyze_mod._finish
    prepared: list[list[str]] = []

    def causal(x: np.ndarray, sr: int, method: str) -> np.ndarray:
        """A denoiser with state: each sample minus the mean of the call so far."""
        run = np.cumsum(x, dtype=np.float64) / np.arange(1, len(x) + 1)
        return (x - run).astype(np.float32)

    def prepare(cues, audio, sr, options, errors):  # type: ignore[no-untyped-def]
        prepared.append([c.id for c in cues])
        works = stand_in_prepare(cues, audio, sr, options, errors)
        windows = [line_mod._window(w.cue, len(audio) / sr, options.context) for w in works]
        for w, den in zip(works, line_mod._denoise_lines(audio, sr, windows, "fake")):
            w.denoised = den  # the real stretches, a fake denoiser
        return works

    def finish(w, *args):  # type: ignore[no-untyped-def]
        line = stand_in_finish(w, *args)
        rate = round(float(np.sum(np.abs(w.denoised.astype(np.float64)))), 4)
        return dataclasses.replace(line, speaking_rate=rate)  # what the denoised audio gives

    monkeypatch.setattr("adr.analysis.denoise.denoise", causal)
    monkeypatch.setattr(analyze_mod, "_prepare", prepare)
    monkeypatch.setattr(analyze_mod, "_finish", finish)
    pic = make_picture(tmp_path / "pic.mp4", 40)
    t = np.arange(40 * 48000) / 48000
    wav = tmp_path / "boom.wav"
    sf.write(wav, (0.1 * np.sin(2 * np.pi * 220 * t) + 0.02).astype(np.float32), 48000)
    s = create_session("r1", pic, [wav], root=tmp_path / "sessions")
    # 8 s lines 0.5 s apart: one denoise stretch, 3 to a Whisper window; 104 4 s after them
    cues = [Cue(f"10{k + 1}", "K", "KAL", 0.5 + 8.5 * k, 8.5 + 8.5 * k, "a b") for k in range(3)]
    cues.append(Cue("104", "K", "KAL", 30.0, 38.0, "c d"))
    s.write_cues(cues)
    options = AnalysisOptions(lips=False)
    assert line_groups(cues, s.duration, options.context) == [["101", "102", "103"], ["104"]]
    voices = tmp_path / "voices"
    analyze_session(s, voices_root=voices, options=options)
    assert prepared == [["101", "102", "103", "104"]]
    reference = _analysis_files(s)
    kept = (s.analysis_dir / "104.json").stat().st_mtime_ns
    (s.analysis_dir / "103.json").unlink()  # as a run stopped after 102 was written
    prepared.clear()
    analyze_session(s, voices_root=voices, options=options)
    assert prepared == [["101", "102", "103"]]  # the whole group again, not 103 alone
    assert _analysis_files(s) == reference
    assert (s.analysis_dir / "104.json").stat().st_mtime_ns == kept
    prepared.clear()
    analyze_session(s, voices_root=voices, options=options)
    assert prepared == []


def test_stale_lock_of_a_dead_process_is_taken_over(env: Env, capsys) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(proc.stdout)
    lock = env.session.root / LOCK_NAME
    lock.write_text(
        json.dumps(
            {
                "pid": dead,
                "host": os.uname().nodename,
                "command": "analyze",
                "since": "?",
                "token": "gone",
            }
        )
    )
    assert main(env.prefix + _cues_import(env.media["csv"])) == 0
    assert not lock.exists()
    assert not list(env.session.root.glob(".lock*"))


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    with session_lock(tmp_path, "analyze") as me:
        data = json.loads((tmp_path / LOCK_NAME).read_text())
        assert data["pid"] == os.getpid() and data["token"] == me.token
        refused: list[AdrError] = []

        def other_thread() -> None:  # re-entrant only within the holding thread
            try:
                with session_lock(tmp_path, "render"):
                    pass
            except AdrError as exc:
                refused.append(exc)

        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        assert len(refused) == 1 and f"adr analyze (pid {os.getpid()}" in str(refused[0])
        assert (tmp_path / LOCK_NAME).exists()  # the refused one did not remove it
    assert not (tmp_path / LOCK_NAME).exists()
    with pytest.raises(KeyboardInterrupt):
        with session_lock(tmp_path, "analyze"):
            raise KeyboardInterrupt
    assert not (tmp_path / LOCK_NAME).exists()


def test_two_writers_at_once_one_is_refused(env: Env) -> None:
    """A real second process: ``adr cues import`` while another holds the session."""
    code = (
        "import sys, time\nfrom adr.ingest.lock import session_lock\n"
        "with session_lock(sys.argv[1], 'analyze'):\n"
        "    print('held', flush=True)\n    time.sleep(30)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(env.session.root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        before = env.session.cues_path.read_bytes()
        other = env.tmp / "other.csv"
        other.write_text(CSV.replace("Cut.", "Cut it."))
        proc = subprocess.run(
            [sys.executable, "-m", "adr.cli", *env.prefix, "cues", "import", "reel", str(other)],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert f"pid {holder.pid}" in proc.stderr and "Traceback" not in proc.stderr
        assert env.session.cues_path.read_bytes() == before
    finally:
        holder.kill()
        holder.wait()


def _enospc(self: pathlib.Path, *args: Any, **kwargs: Any) -> int:
    raise OSError(errno.ENOSPC, "No space left on device", str(self))


def test_disk_full_simulated(env: Env, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """ENOSPC from the write itself (simulated): one line naming the folder; the previous
    files are unchanged and no temporary file is left."""
    from adr.analysis.analyze import AnalysisOptions, analyze_session

    before = env.session.cues_path.read_bytes()
    monkeypatch.setattr(pathlib.Path, "write_text", _enospc)
    line = _refused(
        env,
        _cues_import(env.media["csv"]),
        [str(env.session.cues_path.parent), "disk full", "nothing was written"],
        capsys,
    )
    assert "cues.csv" in line
    out = env.tmp / "out"
    out.mkdir()
    _refused(
        env,
        ["cues", "export", "reel", str(out / "sheet.csv")],
        [str(out), "disk full", "nothing was written"],
        capsys,
    )
    monkeypatch.undo()
    _fake_stages(monkeypatch, [])
    monkeypatch.setattr(pathlib.Path, "write_text", _enospc)
    with pytest.raises(AdrError, match="disk full") as info:
        analyze_session(env.session, options=AnalysisOptions(lips=False), voices_root=env.tmp / "v")
    assert info.value.where == str(env.session.analysis_dir)
    monkeypatch.undo()
    assert env.session.cues_path.read_bytes() == before
    assert not list(env.session.root.rglob(".*.*"))  # no temporary file left
    assert not list(out.iterdir())


_TMPFS_SCRIPT = """
set -e
mount -t tmpfs -o size=64k adrfull "$1"
cp -r "$2" "$1/reel"
dd if=/dev/zero of="$1/filler" bs=1k count=80 2>/dev/null || true
shift 2
exec "$@"
"""


def _unshare_ok() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.parametrize("what", ["cues import", "cues export"])
def test_disk_full_on_a_real_tmpfs(env: Env, what: str) -> None:
    """A 64 KiB tmpfs filled up (in a user namespace): the command refuses in one line."""
    if not _unshare_ok():
        pytest.skip("cannot mount a tmpfs here (unshare -rm not permitted)")
    mnt = env.tmp / "full"
    mnt.mkdir()
    argv = [sys.executable, "-m", "adr.cli", "-q", "--sessions", str(mnt)]
    if what == "cues import":
        argv += _cues_import(env.media["csv"])
    else:
        argv += ["cues", "export", "reel", str(mnt / "sheet.csv")]
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", _TMPFS_SCRIPT, "sh", str(mnt), str(env.session.root), *argv],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "disk full" in lines[0] and "nothing was written" in lines[0]
    assert str(mnt) in lines[0] and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- takes


def _take_files(tmp_path: Path, audio: np.ndarray) -> tuple[Take, Path, Path, Path]:
    take = Take("101", "MAYA", "renders/101.wav", 0.4, 1.2, 48000, "Roll sound.", "script")
    wav, meta, key = tmp_path / "101.wav", tmp_path / "101.json", tmp_path / "k.json"
    sf.write(wav, audio, 48000, subtype="PCM_24")
    meta.write_text(json.dumps(take.to_dict()))
    key.write_text(json.dumps({"key": "abc"}))
    return take, wav, meta, key


def test_a_take_that_does_not_read_back_is_not_current(tmp_path: Path) -> None:
    from adr.core.outputs import take_is_current, take_samples

    n = 38400
    rng = np.random.default_rng(0)
    take, wav, meta, key = _take_files(tmp_path, (0.1 * rng.standard_normal(n)).astype(np.float32))
    assert take_samples(take) == n
    assert take_is_current(take, wav, meta, key, "abc")
    assert not take_is_current(take, wav, meta, key, "other")  # inputs changed
    meta.write_text("{broken")
    assert not take_is_current(take, wav, meta, key, "abc")  # JSON does not parse
    meta.write_text(json.dumps({**take.to_dict(), "end": 1.6}))
    assert not take_is_current(take, wav, meta, key, "abc")  # another take
    meta.write_text(json.dumps(take.to_dict()))
    data = wav.read_bytes()
    wav.write_bytes(data[: len(data) // 2])
    assert not take_is_current(take, wav, meta, key, "abc")  # WAV cut short
    wav.write_bytes(b"RIFF")
    assert not take_is_current(take, wav, meta, key, "abc")  # not audio
    key.write_text("[]")
    assert not take_is_current(take, wav, meta, key, "abc")


@pytest.mark.parametrize(
    "spoil, needle",
    [
        (lambda x: np.where(np.arange(len(x)) == 5, np.nan, x), "NaN"),
        (lambda x: np.zeros_like(x), "silent"),
        (lambda x: np.ones_like(x), "DC"),
        (lambda x: x + 0.5 * np.max(np.abs(x)), "DC"),
        (lambda x: np.clip(40 * x, -1.2, 1.2), "saturated"),
        (lambda x: x[:0], "empty"),
    ],
)
def test_garbage_takes_are_refused(spoil, needle: str) -> None:
    from adr.core.outputs import check_take_audio

    t = np.arange(48000) / 48000
    good = (0.2 * np.sin(2 * np.pi * 150 * t) * np.hanning(len(t))).astype(np.float32)
    assert check_take_audio(good, "101", "MAYA") is not None
    with pytest.raises(AdrError, match=needle) as info:
        check_take_audio(spoil(good), "101", "MAYA")
    assert info.value.where == "cue 101" and "voice MAYA" in info.value.problem


def test_quiet_prints_nothing_but_errors(env: Env) -> None:
    """``-q``: no warnings or progress on stderr (a third-party import warning included)."""
    proc = subprocess.run(
        [sys.executable, "-W", "default", "-m", "adr.cli", *env.prefix, "render", "reel"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("adr: error: ")
    code = (
        "import warnings, sys\nfrom adr.cli import main\n"
        "def cmd(args):\n    warnings.warn('pkg_resources is deprecated', DeprecationWarning)\n"
        "    warnings.warn('some library says', UserWarning)\n    return 0\n"
        "import adr.cli as c\nc.cmd_report = cmd\nsys.exit(main(sys.argv[1:]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "default", "-c", code, *env.prefix, "report", "reel"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr

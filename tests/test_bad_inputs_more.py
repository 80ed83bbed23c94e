"""The bad-input table, part two (issue #11 item 6): one or more rows per command.

Same contract as :mod:`test_bad_inputs` (whose fixtures and checker this module uses): each
row spoils a fresh session (``reel``, three cues imported) or gives bad arguments, runs the
command in this process and asserts exit status 2, exactly one stderr line
``adr: error: ...`` naming the file or value, no traceback, and that no source file (the
picture, the production audio, the CSVs given, every generated medium) changed. Rows that
need analyses use the deterministic analysis stand-ins of :mod:`test_bad_inputs`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_bad_inputs import Env, _cues_import, _fake_stages, _refused, env, media  # noqa: F401

from adr.core.types import Take
from adr.ingest.lock import LOCK_NAME

__all__ = ["MORE_CASES"]


def _file(e: Env, name: str, data: bytes | str = b"") -> Path:
    p = e.tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        p.write_text(data)
    else:
        p.write_bytes(data)
    return p


def _csv(e: Env, body: str, name: str = "sheet.csv") -> Path:
    return _file(e, name, "cue_id,character,actor,tc_in,tc_out,text\n" + body)


def _new(e: Env, *extra: str, name: str = "fresh", picture: Path | None = None) -> list[str]:
    return ["session", "new", name, "--picture", str(picture or e.media["picture"]), *extra]


def _analyzed(e: Env) -> None:
    """Analyses of all three cues (stand-in stages); cues 101 and 103 flagged for render."""
    from adr.analysis.analyze import AnalysisOptions, analyze_session

    with pytest.MonkeyPatch.context() as mp:
        _fake_stages(mp, [])
        analyze_session(
            e.session, options=AnalysisOptions(lips=False), voices_root=e.tmp / "voices"
        )
    cues = e.session.read_cues()
    e.session.write_cues(
        [c.__class__(**{**c.to_dict(), "status": "flagged"}) if c.id != "102" else c for c in cues]
    )


def _take(
    e: Env, path: str = "renders/101.wav", end: float = 1.2, audio: np.ndarray | None = None
) -> list[str]:
    """A rendered take of cue 101 (with its provenance where takes carry one)."""
    s = e.session
    fields = ["101", "MAYA", path, 0.4, end, 48000, "Roll sound.", "script"]
    try:
        from deliver_session import provenance  # takes carry their consent (issue #12)

        take = Take(*fields, provenance("MAYA"))
    except ImportError:
        take = Take(*fields)
    if audio is None:
        t = np.arange(int(0.8 * 48000)) / 48000
        audio = (0.2 * np.sin(2 * np.pi * 180 * t) * np.hanning(len(t))).astype(np.float32)
    sf.write(s.renders_dir / "101.wav", audio, 48000, subtype="PCM_24")
    (s.renders_dir / "101.json").write_text(json.dumps(take.to_dict()))
    return ["export", "reel"]


def _truncated_take(e: Env) -> list[str]:
    _take(e)
    wav = e.session.renders_dir / "101.wav"
    data = wav.read_bytes()
    wav.write_bytes(data[: len(data) // 4])  # the header still claims 0.8 s
    return ["export", "reel"]


def _moved_production(e: Env) -> list[str]:
    e.media["wav"].rename(e.tmp / "elsewhere.wav")
    return ["analyze", "reel", "--no-lips"]


def _cut_production(e: Env) -> list[str]:
    """The production file cut short after the session was made (a copy interrupted)."""
    data = e.media["wav"].read_bytes()
    e.media["wav"].write_bytes(data[: len(data) // 3])
    return ["analyze", "reel", "--no-lips"]


def _hand_edited_cue_id(e: Env) -> list[str]:
    p = e.session.cues_path
    p.write_text(p.read_text().replace("\n101,", "\n../../media/x,"))
    return ["session", "info", "reel"]


def _analysis_is_a_file(e: Env) -> list[str]:
    shutil.rmtree(e.session.analysis_dir)
    e.session.analysis_dir.write_text("not a folder")
    return ["analyze", "reel", "--no-lips", "--cue", "101"]


def _bad_voiceprint(e: Env) -> list[str]:
    _file(e, "voices/MAYA/voiceprint.json", "{")
    return ["analyze", "reel", "--no-lips", "--cue", "101"]


def _render_no_voice(e: Env) -> list[str]:
    _analyzed(e)
    return ["render", "reel"]


def _render_bad_voice_json(e: Env) -> list[str]:
    _analyzed(e)
    _file(e, "voices/MAYA/voice.json", "{not json")
    return ["render", "reel", "--cue", "101"]


def _render_bad_analysis(e: Env) -> list[str]:
    _analyzed(e)
    (e.session.analysis_dir / "101.json").write_text('{"format_version": 2, "cue": ')
    return ["render", "reel", "--cue", "101"]


def _report_bad_analysis(e: Env) -> list[str]:
    _analyzed(e)
    (e.session.analysis_dir / "102.json").write_text("[1, 2")
    return ["report", "reel"]


Row = tuple[str, Callable[[Env], list[str]], Callable[[Env], list[str]]]
MORE_CASES: list[Row] = [
    # session new
    (
        "new: picture is a folder",
        lambda e: _new(e, picture=e.tmp),
        lambda e: [str(e.tmp), "is a folder"],
    ),
    (
        "new: picture is an empty file",
        lambda e: _new(e, picture=_file(e, "empty.mov")),
        lambda e: ["empty.mov", "file is empty"],
    ),
    (
        "new: picture is not a media file",
        lambda e: _new(e, picture=_file(e, "notes.mp4", "hi")),
        lambda e: ["notes.mp4", "not a readable audio or video file"],
    ),
    (
        "new: picture has no picture stream",
        lambda e: _new(e, picture=e.media["wav"]),
        lambda e: [str(e.media["wav"]), "no picture"],
    ),
    (
        "new: no audio anywhere",
        lambda e: _new(e),
        lambda e: [str(e.media["picture"]), "no audio stream and no --audio"],
    ),
    (
        "new: audio file missing",
        lambda e: _new(e, "--audio", str(e.tmp / "nope.wav")),
        lambda e: [str(e.tmp / "nope.wav"), "file not found"],
    ),
    (
        "new: .wav that is not WAV",
        lambda e: _new(e, "--audio", str(_file(e, "x.wav", "text"))),
        lambda e: ["x.wav", "not a WAV file"],
    ),
    (
        "new: session name that is a path",
        lambda e: _new(e, "--audio", str(e.media["wav"]), name="../escape"),
        lambda e: ["../escape", "session name"],
    ),
    (
        "new: session exists",
        lambda e: _new(e, "--audio", str(e.media["wav"]), name="reel"),
        lambda e: [str(e.session.root), "already exists"],
    ),
    (
        "new: --fps banana",
        lambda e: _new(e, "--audio", str(e.media["wav"]), "--fps", "banana"),
        lambda e: ["banana", "not a frame rate"],
    ),
    (
        "new: --start-tc out of range",
        lambda e: _new(e, "--audio", str(e.media["wav"]), "--start-tc", "25:99:00:00"),
        lambda e: ["25:99:00:00", "hours"],
    ),
    # session info
    (
        "info: no such session",
        lambda e: ["session", "info", "ghost"],
        lambda e: ["ghost", "no such session"],
    ),
    (
        "info: cue id edited into a path",
        _hand_edited_cue_id,
        lambda e: [str(e.session.cues_path), "../../media/x", "not allowed"],
    ),
    # cues import
    (
        "import: CSV missing",
        lambda e: _cues_import(e.tmp / "none.csv"),
        lambda e: [str(e.tmp / "none.csv"), "not found"],
    ),
    (
        "import: CSV is a folder",
        lambda e: _cues_import(e.tmp),
        lambda e: [str(e.tmp), "is a folder"],
    ),
    (
        "import: column missing",
        lambda e: _cues_import(_file(e, "c.csv", "cue_id,tc_in\n1,01:00:00:10\n")),
        lambda e: ["c.csv", "tc_out"],
    ),
    (
        "import: not a timecode",
        lambda e: _cues_import(_csv(e, "1,A,A,01:00:xx:10,01:00:01:00,Hi.\n")),
        lambda e: ["sheet.csv:2", "01:00:xx:10"],
    ),
    (
        "import: out before in",
        lambda e: _cues_import(_csv(e, "1,A,A,01:00:02:00,01:00:01:00,Hi.\n")),
        lambda e: ["sheet.csv:2", "not after"],
    ),
    (
        "import: duplicate cue id",
        lambda e: _cues_import(
            _csv(e, "1,A,A,01:00:00:10,01:00:01:00,Hi.\n1,A,A,01:00:02:00,01:00:03:00,Ho.\n")
        ),
        lambda e: ["sheet.csv:3", "duplicate cue id"],
    ),
    (
        "import: empty file",
        lambda e: _cues_import(_file(e, "e.csv", "")),
        lambda e: ["e.csv", "lacks column"],
    ),
    (
        "import: binary file",
        lambda e: _cues_import(_file(e, "b.csv", bytes(range(128, 256)))),
        lambda e: ["b.csv", "cannot read"],
    ),
    (
        "import: absolute path as cue id",
        lambda e: _cues_import(_csv(e, "/etc/x,A,A,01:00:00:10,01:00:01:00,Hi.\n")),
        lambda e: ["sheet.csv:2", "/etc/x"],
    ),
    (
        "import: frame 30 at 25 fps",
        lambda e: _cues_import(_csv(e, "1,A,A,01:00:00:30,01:00:01:00,Hi.\n")),
        lambda e: ["sheet.csv:2", "frame 30"],
    ),
    # cues export
    (
        "export cues onto session.toml",
        lambda e: ["cues", "export", "reel", str(e.session.toml_path)],
        lambda e: [str(e.session.toml_path), "session's own files"],
    ),
    (
        "export cues onto the picture",
        lambda e: ["cues", "export", "reel", str(e.media["picture"])],
        lambda e: [str(e.media["picture"]), "source media"],
    ),
    # analyze
    (
        "analyze: production moved away",
        _moved_production,
        lambda e: [str(e.media["wav"]), "not found"],
    ),
    (
        "analyze: production cut short later",
        _cut_production,
        lambda e: [str(e.media["wav"]), "changed since the session was made"],
    ),
    (
        "analyze: voiceprint not JSON",
        _bad_voiceprint,
        lambda e: [str(e.tmp / "voices" / "MAYA" / "voiceprint.json"), "JSON"],
    ),
    (
        "analyze: analysis folder is a file",
        _analysis_is_a_file,
        lambda e: [str(e.session.analysis_dir)],
    ),
    (
        "analyze: --cue that is a path",
        lambda e: ["analyze", "reel", "--cue", "../x"],
        lambda e: [str(e.session.cues_path), "'../x'"],
    ),
    # enroll
    (
        "enroll --check: actor id that is a path",
        lambda e: ["enroll", "../MAYA", "--audio", str(e.media["wav"]), "--check"],
        lambda e: ["../MAYA", "actor id"],
    ),
    (
        "enroll --check: audio missing",
        lambda e: ["enroll", "MAYA", "--audio", str(e.tmp / "gone.wav"), "--check"],
        lambda e: [str(e.tmp / "gone.wav"), "file not found"],
    ),
    (
        "enroll --check: audio empty",
        lambda e: ["enroll", "MAYA", "--audio", str(_file(e, "z.wav")), "--check"],
        lambda e: ["z.wav", "file is empty"],
    ),
    # render
    (
        "render: unknown --cue",
        lambda e: ["render", "reel", "--cue", "999"],
        lambda e: [str(e.session.cues_path), "999"],
    ),
    (
        "render: no voice enrolled",
        _render_no_voice,
        lambda e: [str(e.tmp / "voices" / "MAYA"), "cue 101", "adr enroll"],
    ),
    (
        "render: voice.json not JSON",
        _render_bad_voice_json,
        lambda e: [str(e.tmp / "voices" / "MAYA" / "voice.json")],
    ),
    (
        "render: analysis not JSON",
        _render_bad_analysis,
        lambda e: [str(e.session.analysis_dir / "101.json")],
    ),
    # export
    (
        "export: take audio missing",
        lambda e: _take(e) and (e.session.renders_dir / "101.wav").unlink() or ["export", "reel"],
        lambda e: [str(e.session.renders_dir / "101.wav"), "missing"],
    ),
    (
        "export: cue moved since render",
        lambda e: _take(e, end=1.4),
        lambda e: [str(e.session.renders_dir / "101.json"), "out of date"],
    ),
    (
        "export: take path outside renders",
        lambda e: _take(e, path="../../boom.wav"),
        lambda e: [str(e.session.renders_dir / "101.json"), "renders/101.wav"],
    ),
    (
        "export: take cut short",
        _truncated_take,
        lambda e: [str(e.session.renders_dir / "101.wav"), "cut short"],
    ),
    # report
    (
        "report: no such session",
        lambda e: ["report", "ghost"],
        lambda e: ["ghost", "no such session"],
    ),
    (
        "report: no cue sheet",
        lambda e: e.session.cues_path.unlink() or ["report", "reel"],
        lambda e: [str(e.session.cues_path), "no cues"],
    ),
    (
        "report: analysis not JSON",
        _report_bad_analysis,
        lambda e: [str(e.session.analysis_dir / "102.json")],
    ),
    # demo
    (
        "demo: --out is a file",
        lambda e: ["demo", "--out", str(_file(e, "demo.txt", "x"))],
        lambda e: ["demo.txt"],
    ),
]


@pytest.mark.parametrize("name, spoil, needles", MORE_CASES, ids=[c[0] for c in MORE_CASES])
def test_bad_input_is_one_line_exit_2(
    env: Env,  # noqa: F811
    name: str,
    spoil: Callable[[Env], list[str]],
    needles: Callable[[Env], list[str]],
    capsys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = spoil(env)
    extra = tuple(p for p in env.tmp.iterdir() if p.is_file() and p.suffix in (".csv", ".wav"))
    _refused(env, argv, needles(env), capsys, extra_sources=extra)
    assert not (env.session.root / LOCK_NAME).exists()  # released on the refusal


def test_table_size() -> None:
    """Both parts of the bad-input table together: at least 60 rows (issue #11)."""
    from test_bad_inputs import CASES

    assert len(MORE_CASES) == 45 and len(CASES) + len(MORE_CASES) >= 60

"""Faults (issue #11 item 6): a real SIGINT at several points of analyze, render, export and
enroll, then a rerun that finishes and equals an uninterrupted run.

Each test runs the stage once uninterrupted on one copy, and on another copy delivers
SIGINT to this process (``signal.raise_signal``: Python's own handler turns it into
``KeyboardInterrupt``, as Ctrl-C does) from the progress hook at a chosen point. The
interrupted copy must keep what was finished (and release the session lock); the rerun must
redo only the rest and end equal to the uninterrupted run. Tiny models throughout; the
enroll points and export's second point are marked slow (the fast suite keeps one point of
each other stage).
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from media_files import make_picture
from test_bad_inputs import media  # noqa: F401  (the fixture: generated picture and audio)
from test_enroll import speech  # noqa: F401  (the fixture: ten festival sentences)

from adr.core.progress import ProgressEvent
from adr.ingest.lock import LOCK_NAME
from adr.ingest.session import Session, load_session


@pytest.fixture(autouse=True)
def _ctrl_c_raises():
    """Python's own Ctrl-C handler (KeyboardInterrupt), as in a fresh ``adr`` process: a
    library used earlier in the same test process may have installed another."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _sigint_at(stage: str, done: int):
    """A progress hook that delivers SIGINT when ``stage`` reports ``done`` items."""

    def hook(event: ProgressEvent) -> None:
        if event.stage == stage and event.done == done:
            signal.raise_signal(signal.SIGINT)

    return hook


def _consent(actor: str) -> dict[str, Any]:
    """``consent=`` for library calls where voices carry the actor's consent (issue #12)."""
    try:
        from consent_data import consent_for
    except ImportError:
        return {}
    return {"consent": consent_for(actor)}


def _samples(path: Path) -> np.ndarray:
    return sf.read(str(path), dtype="float64")[0]


# --------------------------------------------------------------------------- analyze


@pytest.mark.parametrize("saved", [1, 3], ids=["after the first line", "after the last line"])
def test_analyze_sigint_resumes_equal(
    media,  # noqa: F811
    tmp_path: Path,
    saved: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGINT after the first line is saved, and after the last (before the scene pass and
    the cue sheet): the rerun redoes the partly done line group (here all three lines) or
    nothing, and equals an uninterrupted run (the analysis stages are the deterministic
    stand-ins of test_bad_inputs)."""
    from test_bad_inputs import _analysis_files, _fake_stages

    from adr.analysis.analyze import AnalysisOptions, analyze_session
    from adr.ingest.session import create_session

    calls: list[str] = []
    _fake_stages(monkeypatch, calls)
    options = AnalysisOptions(lips=False)
    made = {}
    for name in ("ref", "cut"):
        made[name] = create_session(name, media["picture"], [media["wav"]], root=tmp_path)
        made[name].import_cues(media["csv"])
    analyze_session(made["ref"], voices_root=tmp_path / "v", options=options)

    def hook(event: ProgressEvent) -> None:
        if event.info and event.info.get("saved") and event.done == saved:
            signal.raise_signal(signal.SIGINT)

    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        analyze_session(made["cut"], voices_root=tmp_path / "v", options=options, progress=hook)
    cut = made["cut"]
    assert len(list(cut.analysis_dir.glob("*.json"))) == saved
    assert not (cut.root / LOCK_NAME).exists()
    calls.clear()
    analyze_session(cut, voices_root=tmp_path / "v", options=options)
    assert calls == ([] if saved == 3 else ["101", "102", "103"])  # one line group
    assert _analysis_files(cut) == _analysis_files(made["ref"])
    assert [c.status for c in cut.read_cues()] == [c.status for c in made["ref"].read_cues()]


# --------------------------------------------------------------------------- render


def _take_dict(take: Any) -> dict[str, Any]:
    """A take as data, without the time it was made (provenance ``date``, issue #12)."""
    d = take.to_dict()
    if isinstance(d.get("provenance"), dict):
        d["provenance"].pop("date", None)
    return d


@pytest.fixture(scope="module")
def render_base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Session, Path]:
    """A session with two analysed, flagged cues and a tiny voice for MAYA."""
    from test_render import make_line
    from tiny_voice import save_untrained_voice

    from adr.core.types import Cue
    from adr.ingest.session import create_session

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg missing")
    d = tmp_path_factory.mktemp("render_fault")
    pic = make_picture(d / "scene.mov", 8, tone=True)
    s = create_session("reel", pic, root=d / "sessions")
    lines = [make_line("101", 0.2, 2.72), make_line("102", 2.8, 5.32)]
    s.write_cues([ln.cue for ln in lines] + [Cue("103", "X", "X", 7.95, 7.99, "hi")])
    for ln in lines:
        (s.analysis_dir / f"{ln.cue.id}.json").write_text(json.dumps(ln.to_dict()))
    save_untrained_voice(d / "voices" / "MAYA", "MAYA", _consent("MAYA").get("consent"))
    return s, d / "voices"


def _copy_session(s: Session, dst: Path) -> Session:
    shutil.copytree(s.root, dst / s.root.name)
    return load_session(dst / s.root.name)


@pytest.fixture(scope="module")
def render_ref(render_base, tmp_path_factory: pytest.TempPathFactory):
    """The uninterrupted render of a copy of the session: (session, takes)."""
    from adr.voice.render import render_session

    base, voices = render_base
    ref = _copy_session(base, tmp_path_factory.mktemp("render_ref"))
    return ref, render_session(ref, voices_root=voices)


@pytest.mark.parametrize("point", [1, 2], ids=["after the first take", "after the last take"])
def test_render_interrupted_resumes_equal(
    render_base, render_ref, tmp_path: Path, point: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C after a take keeps it; after the last one the rerun renders nothing but still
    marks the cues rendered; either way the takes equal an uninterrupted render's."""
    from adr.voice import render as render_mod
    from adr.voice.render import render_session

    base, voices = render_base
    ref, whole = render_ref
    cut = _copy_session(base, tmp_path)
    assert [t.cue_id for t in whole] == ["101", "102"]
    with pytest.raises(KeyboardInterrupt):
        render_session(cut, voices_root=voices, progress=_sigint_at("render", point))
    assert sorted(p.stem for p in cut.renders_dir.glob("*.wav")) == ["101", "102"][:point]
    assert not (cut.root / LOCK_NAME).exists()
    calls: list[str] = []
    real = render_mod.render_line
    monkeypatch.setattr(
        render_mod,
        "render_line",
        lambda line, *a, **k: calls.append(line.cue.id) or real(line, *a, **k),
    )
    again = render_session(cut, voices_root=voices)
    assert calls == ["101", "102"][point:]  # only the unfinished takes are rendered
    assert [_take_dict(t) for t in again] == [_take_dict(t) for t in whole]
    for t in whole:
        np.testing.assert_array_equal(_samples(cut.root / t.path), _samples(ref.root / t.path))
    assert [c.status for c in cut.read_cues()] == [c.status for c in ref.read_cues()]


# --------------------------------------------------------------------------- export


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    from deliver_session import build

    return build(tmp_path_factory)


def _export_state(s: Session) -> dict[str, Any]:
    record = json.loads((s.deliverables_dir / "export.json").read_text())["result"]
    record.pop("written")
    return record


@pytest.mark.parametrize(
    "point",
    [1, pytest.param(2, marks=pytest.mark.slow)],
    ids=["after the first cue", "before the stem"],
)
def test_export_interrupted_resumes_equal(
    built, tmp_path: Path, point: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each per-cue BWF is recorded as it is written: Ctrl-C keeps it, the rerun conforms
    only the rest and the deliverables equal an uninterrupted export."""
    from adr.deliver import export as export_mod
    from adr.deliver.export import export_session

    ref = _copy_session(built.session, tmp_path / "ref")
    cut = _copy_session(built.session, tmp_path / "cut")
    for s in (ref, cut):  # from scratch (test_export exports the shared session in place)
        shutil.rmtree(s.deliverables_dir)
        s.deliverables_dir.mkdir()
    whole = export_session(ref)
    cues = [c.cue_id for c in whole.cues]
    assert cues == ["101", "102"]
    with pytest.raises(KeyboardInterrupt):
        export_session(cut, progress=_sigint_at("export", point))
    adr_dir = cut.deliverables_dir / "adr"
    assert sorted(p.stem for p in adr_dir.glob("*.wav")) == cues[:point]
    assert set(json.loads((cut.deliverables_dir / "export.json").read_text())["keys"]) == {
        f"deliverables/adr/{c}.wav" for c in cues[:point]
    }
    assert not (cut.deliverables_dir / f"{cut.name}_dialog.wav").exists()
    assert not (cut.root / LOCK_NAME).exists()
    stamps = {p.name: p.stat().st_mtime_ns for p in adr_dir.glob("*.wav")}
    calls: list[str] = []
    real = export_mod.conform_cue
    monkeypatch.setattr(
        export_mod,
        "conform_cue",
        lambda s, cue, *a, **k: calls.append(cue.id) or real(s, cue, *a, **k),
    )
    again = export_session(cut)
    assert calls == cues[point:]  # only the unfinished cues are conformed again
    assert {
        p.name: p.stat().st_mtime_ns for p in adr_dir.glob("*.wav") if p.name in stamps
    } == stamps
    assert _export_state(cut) == _export_state(ref)
    assert again.stem_loudness == whole.stem_loudness
    for rel in [c.file for c in whole.cues] + [whole.stem]:
        np.testing.assert_array_equal(_samples(cut.root / rel), _samples(ref.root / rel))
    for name in ("reel.edl", "reel.otio", "reel_cues.csv"):
        text = (cut.deliverables_dir / name).read_text().replace(str(cut.root), str(ref.root))
        assert text == (ref.deliverables_dir / name).read_text()


# --------------------------------------------------------------------------- enroll


@pytest.fixture(scope="module")
def speech_files(speech: dict) -> list[Path]:  # noqa: F811
    return speech["paths"][:4]


_ENROLL_POINTS = [
    pytest.param("train voice", 2, id="while training", marks=pytest.mark.slow),
    pytest.param("enroll: align", 2, id="while aligning", marks=pytest.mark.slow),
    pytest.param("enroll: evaluate", 0, id="while evaluating", marks=pytest.mark.slow),
]


def _enroll_args(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A tiny harmonic-plus-noise voice, 4 steps; the voiceprint from clean and room
    embeddings only (format 1: the damaged-copy voiceprint takes a minute, and is not what
    these tests are about)."""
    from test_enroll import STEPS, TINY

    import adr.analysis.speakers as speakers
    from adr.voice.material import MaterialLimits
    from adr.voice.train import TrainConfig

    real = speakers.make_voiceprint
    monkeypatch.setattr(speakers, "make_voiceprint", lambda *a, **k: real(*a, **{**k, "copies": 0}))
    return dict(
        engine="ddsp",
        voice_config=TINY,
        limits=MaterialLimits(min_minutes=0.2),
        train_config=TrainConfig(**{**STEPS.to_dict(), "steps": 4}),
        **_consent("KAL"),
    )


@pytest.fixture(scope="module")
def enroll_ref(speech_files: list[Path], tmp_path_factory: pytest.TempPathFactory):
    """The uninterrupted enrollment: (result, voices folder)."""
    from adr.voice.enroll import enroll_actor

    root = tmp_path_factory.mktemp("enroll_ref")
    with pytest.MonkeyPatch.context() as mp:
        return enroll_actor("KAL", speech_files, voices_root=root, **_enroll_args(mp)), root


@pytest.mark.parametrize("stage, done", _ENROLL_POINTS)
def test_enroll_interrupted_resumes_equal(
    speech_files: list[Path],
    enroll_ref,
    tmp_path: Path,
    stage: str,
    done: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGINT while aligning the material, while training and while measuring the held-back
    line: no voice is left half-made; the rerun resumes (checkpoint, cached analyses) and
    trains the same weights as an uninterrupted enrollment."""
    from adr.voice.enroll import enroll_actor
    from adr.voice.voicefile import load_voice

    whole, ref_root = enroll_ref
    args = _enroll_args(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        enroll_actor(
            "KAL", speech_files, voices_root=tmp_path, progress=_sigint_at(stage, done), **args
        )
    assert not (tmp_path / "KAL" / "voice.json").exists()  # no half-made voice
    again = enroll_actor("KAL", speech_files, voices_root=tmp_path, **args)
    assert not again.reused and again.utterances == whole.utterances
    a, b = load_voice(ref_root / "KAL"), load_voice(tmp_path / "KAL")
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert np.array_equal(sa[k].numpy(), sb[k].numpy()), k
    assert a.record.metrics == b.record.metrics and a.record.steps == b.record.steps == 4

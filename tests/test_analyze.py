"""``adr analyze`` (adr.analysis.analyze): the orchestrator on a tiny generated session.

The session: two synthesized lines (espeak-ng, the enrolled "actor", in script mode;
festival's kal voice, never enrolled, in blind mode) in soft noise, a stretch of digital
silence and a stretch of noise only, with a test-pattern picture (no face).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from media_files import make_picture

from adr.analysis.analyze import AnalysisOptions, LineAnalysis, analyze_session, load_analysis
from adr.core.errors import AdrError
from adr.core.fsio import write_json
from adr.core.types import Cue
from adr.ingest.session import create_session

SR = 16_000
LINE1 = "The helicopter is late again, and we lose the light in twenty minutes."
LINE2 = "Nobody told me about a river. Is that in the new pages?"
ENROLL = [
    "Roll sound, we are losing the light over the harbour.",
    "Quiet please, this is a take, and the camera is rolling.",
    "She climbed out of the river with her jacket still wet.",
]
# scene layout, seconds (cue in/out on 25 fps frame boundaries)
L1_AT, L2_AT, SILENCE, NOISE_ONLY, END = 0.48, 5.0, (9.52, 11.0), (11.52, 13.0), 13.6


def _resample(x: np.ndarray, sr: int) -> np.ndarray:
    from adr.analysis.denoise import resample

    return resample(np.asarray(x, np.float32), sr, SR)


def espeak(text: str, path: Path) -> np.ndarray:
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    x, sr = sf.read(path, dtype="float32")
    return _resample(x, sr)


def festival(text: str, path: Path) -> np.ndarray:
    txt = path.with_suffix(".txt")
    txt.write_text(text)
    subprocess.run(
        ["text2wave", "-eval", "(voice_kal_diphone)", str(txt), "-o", str(path)],
        check=True,
        capture_output=True,
    )
    x, sr = sf.read(path, dtype="float32")
    return _resample(x, sr)


def _trim(x: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.max(np.abs(x)))
    return x[loud[0] : loud[-1] + 1]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not (shutil.which("espeak-ng") and shutil.which("text2wave") and shutil.which("ffmpeg")):
        pytest.skip("espeak-ng, festival and ffmpeg are needed")
    d = tmp_path_factory.mktemp("analyze")
    rng = np.random.default_rng(3)
    one = _trim(espeak(LINE1, d / "one.wav"))
    two = _trim(festival(LINE2, d / "two.wav"))
    one, two = 0.3 * one / np.max(np.abs(one)), 0.3 * two / np.max(np.abs(two))
    scene = np.zeros(int(END * SR), np.float32)
    level = float(np.sqrt(np.mean(one**2)))
    noise = np.convolve(rng.standard_normal(len(scene)), np.ones(4) / 4, "same")
    scene += (level * 10 ** (-25 / 20) * noise / np.std(noise)).astype(np.float32)
    scene[int(SILENCE[0] * SR) : int(SILENCE[1] * SR)] = 0.0
    for x, at in ((one, L1_AT), (two, L2_AT)):
        i = int(at * SR) + 2 * SR // 25  # two frames after the cue's in point
        scene[i : i + len(x)] += x
    audio = d / "boom.wav"
    sf.write(audio, scene, SR, subtype="FLOAT")
    picture = make_picture(d / "picture.mp4", END, size="160x120")
    voices = d / "voices"
    from adr.analysis.speakers import make_voiceprint

    utts = [espeak(t, d / f"enroll{k}.wav") for k, t in enumerate(ENROLL)]
    write_json(voices / "ESPK" / "voiceprint.json", make_voiceprint("ESPK", utts, SR).to_dict())
    return {
        "dir": d,
        "audio": audio,
        "picture": picture,
        "voices": voices,
        "one_end": L1_AT + (len(one) + 4 * SR // 25) / SR,
        "two_end": L2_AT + (len(two) + 4 * SR // 25) / SR,
    }


def _frame(t: float) -> float:
    return round(t * 25) / 25


def _session(media: dict, root: Path, cues: list[Cue]):
    s = create_session("tiny", media["picture"], [media["audio"]], root=root)
    s.write_cues(cues)
    return s


def _good_cues(media: dict) -> list[Cue]:
    return [
        Cue("1", "ANNA", "", L1_AT, _frame(media["one_end"]), LINE1),
        Cue("2", "BEN", "", L2_AT, _frame(media["two_end"]), ""),
    ]


@pytest.fixture(scope="module")
def analyzed(media: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("sessions")
    s = _session(media, root, _good_cues(media))
    events = []
    lines = analyze_session(s, voices_root=media["voices"], progress=events.append)
    return {"session": s, "lines": lines, "events": events}


def test_writes_analysis_that_round_trips(analyzed: dict) -> None:
    s, lines = analyzed["session"], analyzed["lines"]
    assert [ln.cue.id for ln in lines] == ["1", "2"]
    for ln in lines:
        path = s.analysis_dir / f"{ln.cue.id}.json"
        again = LineAnalysis.from_dict(json.loads(path.read_text()))
        assert again.to_dict() == ln.to_dict()
        assert load_analysis(s, ln.cue.id).to_dict() == ln.to_dict()
        assert ln.key and ln.timings["denoise"] >= 0 and "asr" in ln.timings
        assert len(ln.prosody.f0) > 100 and ln.alignment.words
        assert not ln.damage.flagged, ln.damage.reason  # 25 dB: a clean line
    one, two = lines
    assert one.text_source == "script" and one.text == LINE1
    assert len(one.alignment.words) == 13
    assert two.text_source == "recognized"
    assert "new pages" in two.transcript.text.lower() and two.transcript.language == "en"
    assert two.text == two.transcript.text and two.alignment.words
    assert analyzed["events"][-1].done == analyzed["events"][-1].total == 2


def test_actor_identified_or_unknown(analyzed: dict) -> None:
    one, two = analyzed["lines"]
    assert one.speaker.actor == "ESPK", one.speaker
    assert two.speaker.actor == "unknown", two.speaker  # festival's voice was never enrolled
    sheet = {c.id: c for c in analyzed["session"].read_cues()}
    assert sheet["1"].actor == "ESPK" and sheet["2"].actor == ""
    assert sheet["1"].status == sheet["2"].status == "analyzed"


def test_picture_without_a_face_is_reported(analyzed: dict) -> None:
    for ln in analyzed["lines"]:
        assert ln.lips is not None and ln.lips.report.face_frames == 0
        assert ln.lips.report.num_frames == pytest.approx((ln.cue.end - ln.cue.start) * 25, abs=1)
        assert ln.av is not None and ln.av.confidence == 0.0
        assert any("no face" in w for w in ln.warnings), ln.warnings
    assert (analyzed["session"].analysis_dir / "scene" / "lips.json").is_file()


def test_rerun_with_same_inputs_touches_nothing(
    analyzed: dict, media: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import adr.analysis.analyze as A

    s = analyzed["session"]
    files = [s.analysis_dir / f"{c}.json" for c in ("1", "2")]
    files += [s.analysis_dir / "scene" / "lips.json", s.analysis_dir / "scene" / "av.json"]
    before = [f.stat().st_mtime_ns for f in files]

    def boom(*args, **kwargs):
        raise AssertionError("recomputed")

    for name in ("_prepare", "_recognize", "_finish"):
        monkeypatch.setattr(A, name, boom)
    monkeypatch.setattr("adr.analysis.scene.scene_av_offset", boom)
    monkeypatch.setattr("adr.analysis.lips.track_lips", boom)
    again = analyze_session(s, voices_root=media["voices"])
    assert [ln.to_dict() for ln in again] == [ln.to_dict() for ln in analyzed["lines"]]
    one = analyze_session(s, voices_root=media["voices"], cue_ids=["2"])  # the scene's A/V kept
    assert [ln.to_dict() for ln in one] == [analyzed["lines"][1].to_dict()]
    assert [f.stat().st_mtime_ns for f in files] == before


def test_unknown_cue_id(analyzed: dict, media: dict) -> None:
    with pytest.raises(AdrError, match="no cue '7'"):
        analyze_session(analyzed["session"], voices_root=media["voices"], cue_ids=["7"])


def test_silent_and_speechless_cues_are_named_and_the_others_written(
    media: dict, tmp_path: Path
) -> None:
    cues = [
        _good_cues(media)[0],
        Cue("S1", "ANNA", "", SILENCE[0] + 0.2, SILENCE[1] - 0.2, "Hello there."),
        Cue("N1", "ANNA", "", NOISE_ONLY[0], NOISE_ONLY[1], ""),
    ]
    s = _session(media, tmp_path, cues)
    with pytest.raises(AdrError) as err:
        analyze_session(s, voices_root=media["voices"], options=AnalysisOptions(lips=False))
    assert err.value.where == "cue S1"
    assert "silent" in err.value.problem and "N1" in err.value.problem
    with pytest.raises(AdrError, match="cue N1: no speech"):
        analyze_session(
            s, voices_root=media["voices"], cue_ids=["N1"], options=AnalysisOptions(lips=False)
        )
    # the good line was analyzed and written all the same
    assert sorted(p.name for p in s.analysis_dir.glob("*.json")) == ["1.json"]
    line = load_analysis(s, "1")
    assert line.lips is None and line.av is None and line.text == LINE1
    sheet = {c.id: c for c in s.read_cues()}
    assert sheet["1"].status == "analyzed"
    assert sheet["S1"].status == sheet["N1"].status == "pending"


def test_options_and_format_guard() -> None:
    opts = AnalysisOptions()
    assert opts.dnsmos is False and opts.to_dict()["denoise"] == "dfn3"
    with pytest.raises(ValueError, match="format version"):
        LineAnalysis.from_dict({"format_version": 1})


@pytest.mark.slow
def test_demo_scene_flags_and_av(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The demo production: damaged lines flagged, clean ones not, A/V within 2 frames.

    DeepFilterNet3 can drop a little of a clean reverberant line, which then reads as a short
    burst (adr/analysis/damage.py); one false flag in the clean and 10 dB lines is allowed.
    """
    from adr.analysis.speakers import make_voiceprint
    from adr.demo import build_demo

    d = tmp_path_factory.mktemp("demo")
    prod = build_demo(d / "prod", quick=True)
    voices = d / "voices"
    for a in prod.actors:
        utts = [
            _resample(*sf.read(p, dtype="float32"))
            for p in sorted((prod.root / a.enrollment_dir).glob("*.wav"))
        ]
        write_json(
            voices / a.actor / "voiceprint.json", make_voiceprint(a.actor, utts, SR).to_dict()
        )
    s = create_session("demo", prod.picture, [prod.production_audio], root=d / "sessions")
    s.write_cues(list(prod.cues))
    lines = analyze_session(s, voices_root=voices)
    truth = {t.cue_id: t for t in prod.ground_truth.lines}
    false_flags = []
    for ln in lines:
        t = truth[ln.cue.id]
        if t.snr_db is not None and t.snr_db <= 0 or t.noise in ("door", "dog"):
            assert ln.damage.flagged, (ln.cue.id, ln.damage)
        elif (t.snr_db is None or t.snr_db >= 10) and ln.damage.flagged:
            false_flags.append((ln.cue.id, ln.damage.reason))
        assert ln.av is not None and abs(ln.av.offset_seconds) < 2 / prod.fps
        assert ln.lips is not None and ln.lips.report.face_frames > 0.9 * ln.lips.report.num_frames
    assert len(false_flags) <= 1, false_flags
    # identification: never the wrong actor, and most lines named (IER 0.10 measured,
    # bench/bench_speakers.py); a run where every line is "unknown" fails
    named = [
        (ln.cue.id, ln.speaker.actor, truth[ln.cue.id].actor)
        for ln in lines
        if ln.speaker.actor != "unknown"
    ]
    assert all(got == want for _, got, want in named), named
    assert len(named) >= 0.6 * len(lines), named
    assert dataclasses.asdict(lines[0].cue)["id"] == prod.cues[0].id


def test_scripted_line_without_audible_speech_is_analysed_with_a_warning(
    media: dict, tmp_path: Path
) -> None:
    """Script mode: a line the noise has buried still gets an analysis (the take will come
    from the script), with a warning instead of an error."""
    cues = [Cue("N2", "ANNA", "", NOISE_ONLY[0], NOISE_ONLY[1], "Hello there.")]
    s = _session(media, tmp_path, cues)
    analyze_session(s, voices_root=media["voices"], options=AnalysisOptions(lips=False))
    line = load_analysis(s, "N2")
    assert line.text == "Hello there." and len(line.alignment.words) == 2
    assert any("no speech detected" in w for w in line.warnings)

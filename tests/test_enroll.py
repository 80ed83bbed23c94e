"""Tests of adr.voice.enroll and adr.voice.material on festival speech and tiny models."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch
from consent_data import consent_for
from tiny_voice import TINY, tiny_training

from adr.analysis.analyze import load_voiceprints
from adr.core.errors import AdrError
from adr.core.progress import ProgressEvent
from adr.voice.enroll import EnrollResult, check_material, enroll_actor
from adr.voice.material import MaterialLimits, MaterialReport, resolve_texts
from adr.voice.train import TrainConfig
from adr.voice.training import training_state
from adr.voice.voice_model import VoiceModel
from adr.voice.voicefile import load_voice, sha256_file

KAL_CONSENT = consent_for("KAL")

STEPS = tiny_training(3)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Ten festival (kal, 16 kHz) sentences, ~50 s: WAVs with a .txt beside each."""
    if shutil.which("festival") is None:
        pytest.skip("festival is not installed")
    from adr.demo.text import enrollment_sentences
    from adr.demo.tts import VOICES, synthesize

    d = tmp_path_factory.mktemp("enroll_speech")
    utts = synthesize(VOICES["KAL"], enrollment_sentences(11, 10), align=False, peak=0.5)
    paths = []
    for i, u in enumerate(utts):
        p = d / f"kal_{i:02d}.wav"
        sf.write(p, np.pad(u.audio, (3200, 3200)), u.sample_rate)
        p.with_suffix(".txt").write_text(u.text + "\n")
        paths.append(p)
    return {"dir": d, "paths": paths, "texts": [u.text for u in utts], "utts": utts}


def _write(path: Path, audio: np.ndarray, sr: int = 16000) -> Path:
    sf.write(path, audio.astype(np.float32), sr)
    return path


def test_clean_material_passes_with_warnings(speech: dict) -> None:
    rep = check_material(speech["paths"], actor="KAL")
    assert rep.ok and not rep.refusals
    assert 0.5 < rep.speech_minutes < 2.0
    assert rep.phone_coverage is not None and rep.phone_coverage > 0.8
    assert rep.snr_db is not None and rep.snr_db > 40 and rep.clipping == 0.0
    assert any("thin material" in w for w in rep.warnings)
    assert MaterialReport.from_dict(rep.to_dict()) == rep
    assert "KAL: 10 files" in rep.summary()
    rep.raise_for_refusals()  # nothing to raise


def test_each_refusal(speech: dict, tmp_path: Path, rng: np.random.Generator) -> None:
    x, sr = sf.read(speech["paths"][0], dtype="float32")
    # silence only: no speech at all
    silent = _write(tmp_path / "silent.wav", np.zeros(40 * 16000))
    rep = check_material([silent], language_check=False, actor="KAL")
    assert rep.refusals == ("KAL: too little speech (0.00 min; at least 0.5 min needed)",)
    assert any("no speech found" in w for w in rep.warnings)
    # too little speech
    rep = check_material(speech["paths"][:1], actor="KAL")
    assert len(rep.refusals) == 1 and "too little speech" in rep.refusals[0]
    # clipping, noise, unreadable: each names its file
    clipped = _write(tmp_path / "clipped.wav", np.clip(x * 30, -1, 1))
    noisy = _write(tmp_path / "noisy.wav", x + 0.05 * rng.standard_normal(len(x)))
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00garbage" * 10)
    rep = check_material([*speech["paths"], clipped, noisy, broken], language_check=False)
    problems = {Path(r.split(": ")[0]).name: r for r in rep.refusals}
    assert set(problems) == {"clipped.wav", "noisy.wav", "broken.wav"}
    assert "heavy clipping" in problems["clipped.wav"]
    assert "too noisy (SNR" in problems["noisy.wav"]
    assert "unreadable" in problems["broken.wav"]
    with pytest.raises(AdrError) as err:
        rep.raise_for_refusals()
    assert err.value.where == str(clipped) and "\n" not in str(err.value)
    # enroll_actor refuses before any analysis, naming the file
    with pytest.raises(AdrError, match="heavy clipping"):
        enroll_actor(
            "KAL",
            [*speech["paths"], clipped],
            consent=KAL_CONSENT,
            voices_root=tmp_path / "v",
            engine="ddsp",
            voice_config=TINY,
            train_config=STEPS,
        )
    with pytest.raises(AdrError, match="^KAL: too little speech"):
        enroll_actor(
            "KAL", [silent], texts=["nothing"], consent=KAL_CONSENT, voices_root=tmp_path / "v"
        )
    with pytest.raises(AdrError, match="actor id"):
        enroll_actor("bad actor", speech["paths"], consent=KAL_CONSENT, voices_root=tmp_path / "v")


def test_wrong_language_is_refused(tmp_path: Path) -> None:
    import io
    import subprocess

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    wav = subprocess.run(
        [
            "espeak-ng",
            "-v",
            "fr",
            "--stdout",
            "Bonjour à tous, nous allons "
            "tourner la scène suivante dans le jardin, après le déjeuner. Il "
            "fait très beau aujourd'hui et les acteurs sont prêts.",
        ],
        capture_output=True,
        check=True,
    ).stdout
    x, sr = sf.read(io.BytesIO(wav), dtype="float32")
    path = _write(tmp_path / "fr.wav", np.tile(x, 4), sr)
    rep = check_material([path], actor="ZOE", limits=MaterialLimits(min_language_probability=0.5))
    assert rep.files[0].language == "fr", rep.files[0]
    assert rep.refusals[0].startswith(f"{path}: not English (detected fr, p=")


def test_resolve_texts(speech: dict, tmp_path: Path) -> None:
    paths = speech["paths"][:2]
    assert resolve_texts(paths, None) == speech["texts"][:2]  # .txt beside each file
    table = tmp_path / "transcript.tsv"
    table.write_text(f"{paths[1].name}\tsecond\n{paths[0].name}\tfirst\n")
    assert resolve_texts(paths, table) == ["first", "second"]
    assert resolve_texts(paths, ["a", None]) == ["a", None]
    assert resolve_texts(paths, {paths[0].stem: "x"}) == ["x", None]
    assert resolve_texts(paths[:1], "just this") == ["just this"]
    with pytest.raises(AdrError, match="3 texts for 2"):
        resolve_texts(paths, ["a", "b", "c"])


def test_enroll_tiny_saves_voice_and_rerun_returns_at_once(
    speech: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[ProgressEvent] = []
    args: dict[str, Any] = dict(
        consent=KAL_CONSENT, voices_root=tmp_path, engine="ddsp", voice_config=TINY
    )
    res = enroll_actor("KAL", speech["paths"], **args, train_config=STEPS, progress=events.append)
    folder = tmp_path / "KAL"
    assert not res.reused and res.voice_dir == str(folder) and res.utterances == 10
    assert len(res.held_back) == 1 and res.material.ok
    voice = load_voice(folder)
    assert voice.record.steps == 3 and voice.record.preset == "custom"
    # the saved weights are the trained ones, not the initialization training started from
    torch.manual_seed(STEPS.seed)
    init = VoiceModel(TINY).state_dict()
    saved = voice.model.state_dict()
    assert saved.keys() == init.keys()
    assert any(not torch.equal(saved[k], init[k]) for k in init)
    assert [s.sha256 for s in voice.record.sources] == [sha256_file(p) for p in speech["paths"]]
    assert 0.5 < voice.record.minutes < 1.0 and voice.record.date.endswith("Z")
    assert {"speaker_similarity", "f0_corr"} <= set(voice.record.metrics)
    # GE2E on the held-back line itself scores it as the actor; three training steps do not
    sim, own = (
        voice.record.metrics[k] for k in ("speaker_similarity", "speaker_similarity_original")
    )
    assert own > 0.7 and sim < own, (sim, own)
    assert -40.0 < voice.record.loudness_db < -5.0
    assert [vp.actor for vp in load_voiceprints(tmp_path)] == ["KAL"]
    assert EnrollResult.from_dict(res.to_dict()).to_dict() == res.to_dict()
    stages = {e.stage for e in events}
    assert {"enroll: read", "enroll: align", "train voice"} <= stages
    assert list((folder / ".train" / "files").glob("*.json"))

    def boom(*_a, **_k):
        raise AssertionError("a finished enrollment was redone")

    monkeypatch.setattr("adr.voice.train.train_voice", boom)
    monkeypatch.setattr("adr.analysis.align.align", boom)
    written = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    again = enroll_actor("KAL", speech["paths"], **args, train_config=STEPS)
    assert again.reused and again.record == res.record
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} == written


def test_interrupted_enrollment_resumes_from_checkpoint(
    speech: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, limits = speech["paths"][:4], MaterialLimits(min_minutes=0.2)
    four = TrainConfig(**{**STEPS.to_dict(), "steps": 4})

    def stop(ev: ProgressEvent) -> None:
        if ev.stage == "train voice" and ev.done == 2:
            raise KeyboardInterrupt

    args: dict[str, Any] = dict(
        consent=KAL_CONSENT,
        voices_root=tmp_path,
        engine="ddsp",
        voice_config=TINY,
        train_config=four,
        limits=limits,
    )
    with pytest.raises(KeyboardInterrupt):
        enroll_actor("KAL", paths, **args, progress=stop)
    assert not (tmp_path / "KAL" / "voice.json").exists()
    ckpt = next((tmp_path / "KAL" / ".train").glob("ckpt-*"))
    assert training_state(ckpt)["step"] == 2

    def no_align(*_a, **_k):
        raise AssertionError("the cached analysis was redone")

    monkeypatch.setattr("adr.analysis.align.align", no_align)
    cache = {p: p.stat().st_mtime_ns for p in (tmp_path / "KAL" / ".train" / "files").iterdir()}
    assert cache
    steps: list[int] = []
    res = enroll_actor(
        "KAL",
        paths,
        **args,
        progress=lambda e: e.stage == "train voice" and steps.append(int(e.done)),
    )
    assert steps == [3, 4] and res.record.steps == 4 and not res.reused
    assert {p: p.stat().st_mtime_ns for p in cache} == cache  # the analysis was not redone


def test_enroll_with_video_learns_lip_features(
    speech: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses
    import json

    from adr.analysis.avsync import AvOffset
    from adr.core.types import LipTrack

    calls = []

    def fake_track(video, *, start=0.0, end=None, **_k):
        calls.append((Path(video).name, start, end))
        n = int(round((end - start) * 25))
        t = np.arange(n) / 25
        return type(
            "R",
            (),
            {
                "track": LipTrack(
                    start, 25.0, 0.3 + 0.2 * np.sin(9 * t), np.full(n, 40.0), np.ones(n, bool)
                )
            },
        )()

    monkeypatch.setattr("adr.analysis.lips.track_lips", fake_track)
    av_calls: list[tuple[int, float]] = []

    def fake_offset(track, audio, sr, *, audio_start=0.0, **_k):
        av_calls.append((len(audio), audio_start))
        return AvOffset(0.04, 1.0, 0.9)

    monkeypatch.setattr("adr.analysis.avsync.estimate_av_offset", fake_offset)
    paths = speech["paths"][:4]
    videos = [tmp_path / f"{p.stem}.mov" for p in paths]
    lips_cfg = dataclasses.replace(TINY, lips=True)
    res = enroll_actor(
        "KAL",
        paths,
        video_paths=videos,
        consent=KAL_CONSENT,
        voices_root=tmp_path,
        engine="ddsp",
        voice_config=lips_cfg,
        train_config=STEPS,
        limits=MaterialLimits(min_minutes=0.2),
    )
    assert sorted(c[0] for c in calls) == sorted(v.name for v in videos)
    assert load_voice(res.voice_dir).config.lips
    cached = [
        json.loads(p.read_text()) for p in (tmp_path / "KAL" / ".train" / "files").glob("*.json")
    ]
    utts = [u for c in cached for u in c["utterances"] if "phones" in u]
    assert utts and [u for u in utts if "lips" not in u] == [] and len(av_calls) == len(utts)
    for u in utts:  # the tracker's mouth, over the utterance, with the offset applied
        track = LipTrack.from_dict(u["lips"])
        t = np.arange(track.num_frames) / 25
        assert track.start == pytest.approx(u["start"]) and track.av_offset == 0.04
        np.testing.assert_allclose(track.opening, 0.3 + 0.2 * np.sin(9 * t), atol=1e-3)
    assert sorted(start for _, start in av_calls) == sorted(u["start"] for u in utts)
    # each call saw its utterance's audio (16 kHz)
    np.testing.assert_allclose(
        sorted(n for n, _ in av_calls),
        sorted((u["end"] - u["start"]) * 16000 for u in utts),
        atol=2,
    )
    with pytest.raises(AdrError, match="1 videos for 4 audio files"):
        enroll_actor(
            "KAL", paths, video_paths=videos[:1], consent=KAL_CONSENT, voices_root=tmp_path
        )


def test_enroll_transcribes_files_without_text(speech: dict, tmp_path: Path) -> None:
    from adr.metrics import word_error_rate

    paths = []
    for p in speech["paths"][:2]:  # no .txt beside these copies
        paths.append(Path(shutil.copy(p, tmp_path / p.name)))
    res = enroll_actor(
        "KAL",
        paths,
        consent=KAL_CONSENT,
        voices_root=tmp_path / "voices",
        engine="ddsp",
        voice_config=TINY,
        train_config=STEPS,
        limits=MaterialLimits(min_minutes=0.1),
        whisper_model="tiny.en",
    )
    assert res.utterances >= 2 and all(f.language == "en" for f in res.material.files)
    import json

    cached = [
        json.loads(p.read_text())
        for p in (tmp_path / "voices" / "KAL" / ".train" / "files").glob("*.json")
    ]
    heard = {" ".join(u["text"] for u in c["utterances"]) for c in cached}
    for text in speech["texts"][:2]:
        assert min(word_error_rate(text, h) for h in heard) < 0.3


@pytest.mark.corpus
def test_material_on_real_recordings(corpus: Path) -> None:
    clean = sorted((corpus / "speech_clean" / "vctk16k_autovc" / "p225").glob("*.wav"))
    rep = check_material(clean, actor="p225", language_check=False)
    assert rep.ok and rep.speech_minutes > 0.9 and rep.snr_db > 25
    noisy = sorted((corpus / "speech_noisy" / "voicebank_demand_p287").rglob("p287_00[34].wav"))
    rep = check_material(noisy, actor="p287", language_check=False)  # true SNR 4.7, -0.7 dB
    assert {Path(r.split(": ")[0]).name for r in rep.refusals if "too noisy" in r} == {
        "p287_003.wav",
        "p287_004.wav",
    }


@pytest.mark.slow
def test_enroll_restorer_tiny_saves_a_restorer_voice(speech: dict, tmp_path: Path) -> None:
    """The default engine: damaged copies, a donor, a restorer trained a few steps, measured
    on the held-back line, saved as a format-2 voice without a harmonic model."""
    from adr.voice.restorer import RestorerConfig
    from adr.voice.train_restorer import RestorerTrainConfig

    events: list[ProgressEvent] = []
    rc = RestorerConfig(hidden=8, layers=2, kernel_size=3)
    rtc = RestorerTrainConfig(
        steps=3,
        batch_size=2,
        crop_frames=32,
        warmup_steps=1,
        checkpoint_every=3,
        damaged_copies=1,
        donor_from_damage=True,
    )
    args: dict[str, Any] = dict(
        consent=KAL_CONSENT, voices_root=tmp_path, restorer_config=rc, restorer_train_config=rtc
    )
    res = enroll_actor("KAL", speech["paths"], **args, progress=events.append)
    voice = load_voice(tmp_path / "KAL")
    assert voice.model is None and voice.restorer is not None
    assert voice.restorer.config.hidden == 8 and voice.record.steps == 3
    assert voice.restorer.config.f0_median > 60 and voice.restorer.config.donor == "JOE"
    assert {"speaker_similarity", "f0_corr"} <= set(voice.record.metrics)
    assert {"enroll: damage", "train restorer"} <= {e.stage for e in events}
    assert res.utterances == 10
    again = enroll_actor("KAL", speech["paths"], **args)
    assert again.reused and again.record == res.record  # a finished voice is not redone

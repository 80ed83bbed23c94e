"""Tests for adr.analysis.speakers: embeddings, voiceprints, identification, pyannote metrics."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from adr.analysis.speaker_damage import (
    EnrollmentEmbeddings,
    calibrate_threshold,
    centroid,
    voiceprint_from_embeddings,
)
from adr.analysis.speakers import (
    UNKNOWN,
    SpeakerMatch,
    Voiceprint,
    decide_print,
    embed,
    identification_error_rate,
    identify,
    make_voiceprint,
    to_annotation,
)
from adr.core.errors import AdrError

SENTENCES = [
    "I never said she stole my money, that was somebody else.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "The birch canoe slid on the smooth planks near the old harbour.",
]


def espeak(text: str, voice: str) -> tuple[np.ndarray, int]:
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed")
    wav = subprocess.run(
        [exe, "-v", voice, "--stdout", text], check=True, capture_output=True
    ).stdout
    audio, sr = sf.read(io.BytesIO(wav), dtype="float32")
    return audio, sr


def festival(text: str, voice: str, tmp_path: Path) -> tuple[np.ndarray, int]:
    exe = shutil.which("text2wave")
    if exe is None:
        pytest.skip("festival is not installed")
    txt, wav = tmp_path / "line.txt", tmp_path / "line.wav"
    txt.write_text(text)
    subprocess.run(
        [exe, "-eval", f"(voice_{voice})", str(txt), "-o", str(wav)],
        check=True,
        capture_output=True,
    )
    audio, sr = sf.read(wav, dtype="float32")
    return audio, sr


@pytest.fixture(scope="module")
def voices() -> dict[str, list[tuple[np.ndarray, int]]]:
    return {v: [espeak(s, f"en-us+{v}") for s in SENTENCES] for v in ("m3", "f3")}


def test_embedding_is_unit_length(voices: dict) -> None:
    audio, sr = voices["m3"][0]
    e = embed(audio, sr)
    assert e.shape == (256,)
    assert np.linalg.norm(e) == pytest.approx(1.0, abs=1e-4)


def test_same_speaker_scores_higher(voices: dict) -> None:
    sr = voices["m3"][0][1]
    vp_m = make_voiceprint("maya", [a for a, _ in voices["m3"][:2]], sr, copies=0)
    vp_f = make_voiceprint("fred", [a for a, _ in voices["f3"][:2]], sr, copies=0)
    assert vp_m.version == 1 and vp_m.threshold is None
    m = identify(voices["m3"][2][0], sr, [vp_m, vp_f], start=3.0)
    f = identify(voices["f3"][2][0], sr, [vp_m, vp_f])
    assert m.scores["maya"] > m.scores["fred"] + 0.1
    assert f.scores["fred"] > f.scores["maya"] + 0.1
    assert m.actor == "maya" and f.actor == "fred"
    assert m.start == 3.0 and m.end > 3.0
    assert SpeakerMatch.from_dict(m.to_dict()) == m


def test_non_enrolled_speaker_is_unknown(voices: dict, tmp_path: Path) -> None:
    sr = voices["m3"][0][1]
    vp_m = make_voiceprint("maya", [a for a, _ in voices["m3"]], sr, copies=0)
    vp_f = make_voiceprint("fred", [a for a, _ in voices["f3"]], sr, copies=0)
    other, osr = festival(SENTENCES[1], "cmu_us_slt_arctic_hts", tmp_path)
    match = identify(other, osr, [vp_m, vp_f])
    assert match.actor == UNKNOWN
    # an impossible threshold makes even the enrolled speaker unknown
    assert identify(voices["m3"][0][0], sr, [vp_m, vp_f], threshold=0.999).actor == UNKNOWN


def test_ambiguous_match_is_unknown(voices: dict) -> None:
    sr = voices["m3"][0][1]
    vp = make_voiceprint("maya", [voices["m3"][0][0]], sr, copies=0)
    twin = Voiceprint("twin", vp.embedding.copy(), 1, vp.model)
    assert identify(voices["m3"][1][0], sr, [vp, twin]).actor == UNKNOWN


def test_voiceprint_round_trip() -> None:
    vp = Voiceprint("maya", np.arange(4, dtype=np.float32) / 4, 3)
    back = Voiceprint.from_dict(vp.to_dict())
    assert back.actor == "maya" and back.num_utterances == 3 and back.model == vp.model
    assert np.allclose(back.embedding, vp.embedding)
    with pytest.raises(ValueError):
        Voiceprint.from_dict({**vp.to_dict(), "extra": 1})


def test_voiceprint_formats() -> None:
    """Format-1 files (no version field) still load; format 2 keeps its threshold."""
    old = {
        "actor": "maya",
        "embedding": [0.6, 0.8],
        "num_utterances": 3,
        "model": "resemblyzer-ge2e",
    }
    v1 = Voiceprint.from_dict(old)
    assert v1.version == 1 and v1.threshold is None and v1.damaged_copies == 0
    assert v1.to_dict() == old
    v2 = Voiceprint(
        "maya", np.array([0.6, 0.8], np.float32), 3, version=2, threshold=0.62, damaged_copies=8
    )
    back = Voiceprint.from_dict(v2.to_dict())
    assert back.version == 2 and back.threshold == 0.62 and back.damaged_copies == 8
    with pytest.raises(AdrError, match="re-enroll"):
        Voiceprint.from_dict({**old, "version": 9})


def test_calibrated_threshold_and_decision() -> None:
    """The threshold comes from held-out genuine copies; each actor is judged by its own."""
    rng = np.random.default_rng(0)
    axis = np.zeros(16)
    axis[0] = 1.0

    def unit(x: np.ndarray) -> np.ndarray:
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    clean = unit(axis + 0.1 * rng.standard_normal((6, 16)))
    damaged = unit(axis + 0.25 * rng.standard_normal((24, 16)))
    emb = EnrollmentEmbeddings(clean, damaged, np.arange(24) % 6, np.zeros(24))
    thr = calibrate_threshold(emb, floor=0.5, ceiling=0.75)
    genuine = unit(axis + 0.25 * rng.standard_normal((200, 16))) @ centroid(
        np.concatenate([clean, damaged])
    )
    assert 0.5 <= thr < 0.75
    assert calibrate_threshold(emb) >= 0.6  # the default floor
    assert np.mean(genuine >= thr) >= 0.8
    assert (
        calibrate_threshold(
            EnrollmentEmbeddings(clean[:1], damaged[:0], np.zeros(0, int), np.zeros(0))
        )
        == 0.75
    )
    vp = voiceprint_from_embeddings("maya", clean, emb)
    thr = vp.threshold
    assert vp.version == 2 and thr == calibrate_threshold(emb) and vp.damaged_copies == 24
    fred = Voiceprint("fred", unit(np.roll(axis, 1)), 1)  # format 1: the default threshold
    assert decide_print({"maya": thr + 0.01, "fred": 0.1}, [vp, fred]) == ("maya", thr + 0.01)
    assert decide_print({"maya": thr - 0.01, "fred": 0.1}, [vp, fred])[0] == UNKNOWN
    assert decide_print({"maya": 0.1, "fred": 0.74}, [vp, fred])[0] == UNKNOWN
    assert decide_print({"maya": 0.1, "fred": 0.76}, [vp, fred])[0] == "fred"
    assert decide_print({"maya": thr + 0.01, "fred": 0.1}, [vp, fred], threshold=0.99)[0] == UNKNOWN


def test_missing_pyannote_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AdrError, match="checkpoint not found"):
        embed(np.zeros(16000, dtype=np.float32), 16000, model=tmp_path / "nope.ckpt")


def test_annotation_and_error_rate() -> None:
    hyp = to_annotation(
        [SpeakerMatch("maya", 0.9, {}, 0.0, 2.0), SpeakerMatch("fred", 0.8, {}, 3.0, 5.0)]
    )
    ref = to_annotation(
        [SpeakerMatch("maya", 1.0, {}, 0.0, 2.0), SpeakerMatch("maya", 1.0, {}, 3.0, 5.0)]
    )
    assert identification_error_rate(ref, ref) == 0.0
    assert identification_error_rate(ref, hyp) == pytest.approx(0.5)


@pytest.mark.slow
def test_corpus_speakers(corpus: Path) -> None:
    from adr.analysis.denoise import resample

    def read(rel: str) -> np.ndarray:
        x, sr = sf.read(corpus / rel, dtype="float32")
        return resample(x, sr, 16000)

    base = "speech_clean/librispeech_test-other"
    a = [read(f"{base}/1688/1688-142285-000{i}.flac") for i in (0, 1, 3)]
    b = [read(f"{base}/1998/1998-15444-000{i}.flac") for i in (0, 1, 2)]
    vps = [make_voiceprint("LS-1688", a, 16000), make_voiceprint("LS-1998", b, 16000)]
    assert identify(read(f"{base}/1688/1688-142285-0006.flac"), 16000, vps).actor == "LS-1688"
    assert identify(read(f"{base}/1998/1998-15444-0005.flac"), 16000, vps).actor == "LS-1998"
    impostor = read("speech_clean/cmu_arctic_misc/awb_arctic_a0007.wav")
    assert identify(impostor, 16000, vps).actor == UNKNOWN


def test_damaged_enrollment_names_noisy_reverberant_lines(voices: dict, tmp_path: Path) -> None:
    """Format-2 voiceprints (damaged, denoised copies, own threshold) name a line in a room at
    0 dB (damage not seen at enrollment); a voice never enrolled stays unknown."""
    from adr.voice.damage_sim import DamageSpec, damage_line

    sr = voices["m3"][0][1]
    names = {"m3": "maya", "f3": "fred"}
    vps = [make_voiceprint(names[v], [a for a, _ in voices[v]], sr, copies=6) for v in names]
    assert all(vp.version == 2 and vp.damaged_copies == 6 and vp.threshold for vp in vps)
    assert Voiceprint.from_dict(vps[0].to_dict()).threshold == vps[0].threshold
    spec = DamageSpec(snr_range=(0.0, 0.0), p_room=1.0, p_dropouts=0.0, p_bursts=0.0)
    for v, name in names.items():
        noisy, _ = damage_line(voices[v][1][0], sr, np.random.default_rng(5), spec=spec)
        match = identify(noisy, sr, vps)
        assert match.actor == name, (match.scores, [vp.threshold for vp in vps])
    other, osr = festival(SENTENCES[2], "cmu_us_slt_arctic_hts", tmp_path)
    assert identify(other, osr, vps).actor == UNKNOWN

"""Tests of the demo production (adr.demo).

Fast tests check the pure parts (sentences, rooms, noise, SNR scaling, visemes, records).
The slow ones build the quick demo once per module and check it against independent
measurements: pocketsphinx word alignment, dlib mouth landmarks, ffprobe, the audio files.
"""

from __future__ import annotations

import json
import subprocess
import time
from math import gcd
from pathlib import Path

import numpy as np
import pytest

from adr.analysis.phonemes import PHONES
from adr.core.types import Phone
from adr.demo import scene
from adr.demo.alignment import FESTIVAL_TO_IPA, split_groups
from adr.demo.picture import openness_track, phone_openness
from adr.demo.text import SCENE_LINES, SentenceGenerator, enrollment_sentences, tokens
from adr.demo.truth import DemoProduction, GroundTruth

SR = 48000


# ----------------------------------------------------------------------------- fast tests


def test_sentences_are_seeded_varied_and_disjoint_from_the_scene() -> None:
    a = enrollment_sentences(3, 60)
    assert a == enrollment_sentences(3, 60)
    assert len(set(a)) == 60
    scene_keys = {" ".join(tokens(line.text)) for line in SCENE_LINES}
    assert not scene_keys & {" ".join(tokens(t)) for t in a}
    assert len({w for t in a for w in tokens(t)}) > 150
    assert all(not any(ch.isdigit() for ch in t) for t in a)
    assert SentenceGenerator(1).sentence() != SentenceGenerator(2).sentence()


def test_scene_has_ten_lines_over_three_characters() -> None:
    assert len(SCENE_LINES) == 10
    assert {line.character for line in SCENE_LINES} == {"MAYA", "KAL", "JOE"}
    assert all(a.character != b.character for a, b in zip(SCENE_LINES, SCENE_LINES[1:]))


def test_festival_phones_map_into_the_phone_inventory() -> None:
    assert set(FESTIVAL_TO_IPA.values()) <= set(PHONES)


def test_merged_espeak_groups_are_split_between_tokens() -> None:
    # "of the" spoken as one espeak group of four phones, then "fog"
    phones = [[p, p, i, i + 1, 0] for i, p in enumerate(["ʌ", "v", "ð", "ə"])]
    phones += [[p, p, 4 + i, 5 + i, 1] for i, p in enumerate(["f", "ɑː", "ɡ"])]
    out = split_groups(phones, [2, 2, 3])
    assert [ph[4] for ph in out] == [0, 0, 1, 1, 2, 2, 2]


def _rt60(ir: np.ndarray, sr: int) -> float:
    energy = np.cumsum(ir[::-1].astype(np.float64) ** 2)[::-1]
    db = 10 * np.log10(energy / energy[0] + 1e-30)
    t = np.arange(len(ir)) / sr
    sel = (db < -10) & (db > -40)  # the tail, past the direct sound and early reflections
    slope = np.polyfit(t[sel], db[sel], 1)[0]
    return -60.0 / slope


@pytest.mark.parametrize("rt60", [0.2, 0.35, 0.5])
def test_room_impulse_response_decays_at_its_rt60(rt60: float) -> None:
    ir = scene.room_impulse_response(rt60, SR, np.random.default_rng(0))
    assert ir[0] == 1.0
    assert abs(_rt60(ir, SR) - rt60) < 0.3 * rt60


@pytest.mark.parametrize("kind", ["generator", "wind", "traffic", "babble", "door", "dog"])
def test_noises_are_unit_rms_and_finite(kind: str) -> None:
    rng = np.random.default_rng(1)
    sources = [rng.standard_normal(SR).astype(np.float32)]
    x = scene.make_noise(kind, 3 * SR, SR, rng, sources)
    assert x.shape == (3 * SR,)
    assert np.all(np.isfinite(x))
    assert abs(np.sqrt(np.mean(x.astype(np.float64) ** 2)) - 1.0) < 1e-3


def test_mix_hits_snr_targets_exactly() -> None:
    from conftest import harmonic_tone

    rng = np.random.default_rng(2)
    lines = [harmonic_tone(150.0, 1.5, SR), harmonic_tone(210.0, 1.2, SR)]
    offsets = [SR // 2, 3 * SR]
    spans = [(o + SR // 10, o + len(x) - SR // 10) for o, x in zip(offsets, lines)]
    conds = [scene.Condition("wind", -5.0, 0.3), scene.Condition("clean", None, 0.2)]
    out = scene.mix_production(
        lines, offsets, spans, conds, 5 * SR, SR, 3, [rng.standard_normal(SR)]
    )
    noise = out.audio.astype(np.float64) - out.speech
    (a0, a1), (b0, b1) = spans
    assert scene.snr_db(out.speech[a0:a1], noise[a0:a1]) == pytest.approx(-5.0, abs=0.05)
    assert out.snrs[0] == pytest.approx(-5.0, abs=1e-6)
    assert out.snrs[1] > 30.0
    assert np.max(np.abs(out.audio)) <= 0.951


def test_openness_track_follows_phones() -> None:
    phones = [
        Phone("sil", 0.0, 0.4),
        Phone("m", 0.4, 0.5, 0),
        Phone("ɑː", 0.5, 0.9, 0),
        Phone("p", 0.9, 1.0, 0),
        Phone("sil", 1.0, 2.0),
    ]
    track = openness_track(phones, 50, 25.0)
    assert track.shape == (50,)
    assert track[17] > 0.8 and track[3] == 0.0 and track[40] == 0.0
    assert phone_openness("p") == 0.0 and phone_openness("æ") == 1.0


# ----------------------------------------------------------------------------- the built demo


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from adr.demo import build_demo

    out = tmp_path_factory.mktemp("demo") / "production"
    events = []
    t0 = time.monotonic()
    production = build_demo(out, quick=True, progress=events.append)
    first = time.monotonic() - t0
    before = _snapshot(out)
    t0 = time.monotonic()
    again = build_demo(out, quick=True)
    second = time.monotonic() - t0
    return {
        "demo": production,
        "again": again,
        "first": first,
        "second": second,
        "before": before,
        "after": _snapshot(out),
        "events": events,
    }


def _read(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float64", always_2d=False)
    return x, int(sr)


@pytest.mark.slow
def test_layout_actors_and_enrollment(demo: dict) -> None:
    d: DemoProduction = demo["demo"]
    assert [a.actor for a in d.actors] == ["MAYA", "KAL", "JOE"]
    rates = {a.actor: a.sample_rate for a in d.actors}
    assert rates == {"MAYA": 32000, "KAL": 16000, "JOE": 22050}
    scene_texts = {line.text for line in SCENE_LINES}
    for a in d.actors:
        folder = d.enrollment_dir(a.actor)
        rows = [r.split("\t") for r in (folder / "transcript.tsv").read_text().splitlines()]
        total = 0.0
        for name, text in rows:
            x, sr = _read(folder / name)
            assert sr == a.sample_rate and text and text not in scene_texts
            total += len(x) / sr
        assert 30.0 <= total <= 60.0 and total == pytest.approx(a.enrollment_seconds, abs=0.01)
    assert 8 <= len(d.cues) <= 12
    for rel in ("scene/production.wav", "scene/picture.mp4", "ground_truth.json"):
        assert (d.root / rel).is_file()
    for line in d.ground_truth.lines:
        assert (d.root / line.dry_path).is_file() and (d.root / line.clean48k_path).is_file()
    assert demo["events"][-1].done == demo["events"][-1].total


@pytest.mark.slow
def test_ground_truth_round_trips_and_cues_are_ordered(demo: dict) -> None:
    d: DemoProduction = demo["demo"]
    data = json.loads(d.ground_truth_path.read_text())
    truth = GroundTruth.from_dict(data)
    assert truth == d.ground_truth
    assert DemoProduction.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    starts = [c.start for c in d.cues]
    assert starts == sorted(starts)
    for a, b in zip(d.cues, d.cues[1:]):
        assert 0.55 <= b.start - a.end <= 1.55
    for line in truth.lines:
        assert len(line.words) == len(tokens(line.text))
        assert len(line.phone_labels) == len(line.phones)
        assert all(p.word < len(line.words) for p in line.phones)
        assert line.words[0].start == pytest.approx(line.start)


@pytest.mark.slow
def test_production_audio_snr_targets(demo: dict) -> None:
    from adr.ingest.bwf import read_bext

    d: DemoProduction = demo["demo"]
    prod, sr = _read(d.production_audio)
    speech, _ = _read(d.dialogue_audio)
    assert sr == SR and len(prod) == len(speech)
    assert len(prod) == round(d.ground_truth.duration * SR)
    assert read_bext(d.production_audio).time_reference == 172_800_000
    noise = prod - speech
    targets = []
    for line in d.ground_truth.lines:
        a, b = round(line.start * SR), round(line.end * SR)
        measured = scene.snr_db(speech[a:b], noise[a:b])
        if line.snr_db is None:
            assert measured >= 30.0
        else:
            assert measured == pytest.approx(line.snr_db, abs=0.5)
        targets.append(line.snr_db)
    assert targets.count(None) >= 1 and -5.0 in targets


@pytest.mark.slow
def test_clean48k_is_the_dry_line_at_scene_time(demo: dict) -> None:
    from scipy.signal import resample_poly

    d: DemoProduction = demo["demo"]
    for line in d.ground_truth.lines[:3]:
        dry, sr = _read(d.root / line.dry_path)
        ref, sr48 = _read(d.root / line.clean48k_path)
        g = gcd(sr, SR)
        up = resample_poly(dry, SR // g, sr // g)
        k = min(len(up), len(ref))
        r = np.corrcoef(up[:k], ref[:k])[0, 1]
        assert sr48 == SR and r > 0.999


@pytest.mark.slow
def test_picture_frames_audio_and_timecode(demo: dict) -> None:
    d: DemoProduction = demo["demo"]
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_type,codec_name,nb_read_frames,sample_rate:stream_tags=timecode",
            "-of",
            "json",
            str(d.picture),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    streams = json.loads(probe.stdout)["streams"]
    video = next(s for s in streams if s["codec_type"] == "video")
    audio = next(s for s in streams if s["codec_type"] == "audio")
    assert video["codec_name"] == "h264" and audio["codec_name"] == "aac"
    assert int(audio["sample_rate"]) == SR
    expected = d.ground_truth.duration * d.fps
    assert abs(int(video["nb_read_frames"]) - expected) <= 1
    assert any(s.get("tags", {}).get("timecode") == "01:00:00:00" for s in streams)


def _pocketsphinx_words(audio: np.ndarray, sr: int, text: str) -> list[tuple[str, float, float]]:
    from pocketsphinx import Decoder
    from scipy.signal import resample_poly

    g = gcd(sr, 16000)
    pcm = (np.clip(resample_poly(audio, 16000 // g, sr // g), -1, 1) * 32767).astype(np.int16)
    decoder = Decoder(samprate=16000, bestpath=False, loglevel="FATAL")
    decoder.set_align_text(text)
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    return [
        (s.word.split("(")[0], s.start_frame / 100, (s.end_frame + 1) / 100)
        for s in decoder.seg()
        if not s.word.startswith("<") and s.word != "[NOISE]"
    ]


@pytest.mark.slow
def test_word_times_agree_with_pocketsphinx(demo: dict) -> None:
    d: DemoProduction = demo["demo"]
    errors: dict[str, list[float]] = {}
    for line in d.ground_truth.lines:
        dry, sr = _read(d.root / line.dry_path)
        found = _pocketsphinx_words(dry, sr, " ".join(w.text for w in line.words))
        assert [w for w, _, _ in found] == [w.text for w in line.words]
        for (_, s, e), w in zip(found, line.words):
            errors.setdefault(line.actor, []).extend(
                [abs(w.start - line.offset - s), abs(w.end - line.offset - e)]
            )
    for actor, errs in errors.items():
        assert np.median(errs) <= 0.030, (actor, np.median(errs))
    assert np.median([e for errs in errors.values() for e in errs]) <= 0.030


@pytest.mark.slow
def test_dlib_sees_one_face_and_the_mouth_follows_the_phones(demo: dict) -> None:
    import av

    from adr.demo.picture import landmarks

    d: DemoProduction = demo["demo"]
    truth = d.ground_truth
    wanted = set(range(3, truth.num_frames, 9))
    opening, expected = [], []
    with av.open(str(d.picture)) as box:
        for i, frame in enumerate(box.decode(video=0)):
            if i not in wanted:
                continue
            pts = landmarks(frame.to_ndarray(format="rgb24"))
            assert pts is not None, f"frame {i}: not exactly one face"
            width = np.hypot(*(pts[54] - pts[48]))
            opening.append(np.mean(pts[65:68, 1] - pts[[63, 62, 61], 1]) / width)
            expected.append(truth.mouth_openness[i])
    assert len(opening) >= len(wanted) - 1
    r = np.corrcoef(opening, expected)[0, 1]
    assert r > 0.5, r


@pytest.mark.slow
def test_rerun_skips_finished_work(demo: dict) -> None:
    assert demo["again"] == demo["demo"]
    assert demo["after"] == demo["before"]
    assert demo["second"] < 0.2 * demo["first"]

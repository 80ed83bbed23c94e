"""The benchmark's code path on a tiny generated case (no corpus needed), so it cannot rot.

Two espeak-ng lines (skipped where espeak-ng is missing) are put in a generated room and
generated noise, run through the systems and measured; the report is rendered. adr's own
render runs on a festival line in a tiny voice (2 training steps) enrolled on three other
festival sentences (skipped where festival is missing).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from adr.analysis.denoise import resample
from bench import run as bench_run
from bench.conditions import (
    BENCH_RATE,
    CONDITIONS,
    BenchLine,
    BenchSet,
    Condition,
    Utterance,
    build_set,
    degrade,
)
from bench.systems import CleanOriginal, Denoiser, NoisyInput, System, default_systems

TEXTS = ("the quick brown fox jumps over the lazy dog", "please call stella at the station")


def espeak(text: str, tmp: Path) -> np.ndarray:
    import soundfile as sf

    wav = tmp / f"{abs(hash(text))}.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text],
        check=True,
        capture_output=True,
        timeout=30,
    )
    x, sr = sf.read(str(wav), dtype="float32")
    return resample(x, sr, BENCH_RATE) * 0.7


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    tmp = tmp_path_factory.mktemp("espeak")
    utts = [
        Utterance(f"espeak:{i}", "espeak", t, espeak(t, tmp), source="espeak")
        for i, t in enumerate(TEXTS)
    ]
    rng = np.random.default_rng(5)
    noise = rng.standard_normal(3 * BENCH_RATE).astype(np.float32)
    decay = np.exp(-np.arange(int(0.3 * BENCH_RATE)) / (0.05 * BENCH_RATE))
    room = (decay * rng.standard_normal(len(decay)) * 0.1).astype(np.float32)
    room[0] = 1.0
    conds = (CONDITIONS[0], Condition("0 dB", 0.0, True))
    return build_set(
        utts, [u.id for u in utts], conds, noises={"white": noise}, rooms={"room": room}
    )


def test_build_set_is_seeded_and_aligned(tiny_set):
    assert [ln.condition for ln in tiny_set.lines] == ["clean", "0 dB"] * 2
    again = build_set(
        tiny_set.utterances,
        [u.id for u in tiny_set.utterances],
        (CONDITIONS[0], Condition("0 dB", 0.0, True)),
        noises={
            "white": np.random.default_rng(5).standard_normal(3 * BENCH_RATE).astype(np.float32)
        },
        rooms={"room": _same_room()},
    )
    for a, b in zip(tiny_set.lines, again.lines):
        np.testing.assert_array_equal(a.noisy, b.noisy)
        assert a.noisy.shape == a.clean.shape
    clean_line = tiny_set.lines[0]
    np.testing.assert_array_equal(clean_line.noisy, clean_line.clean)
    assert tiny_set.lines[1].noise == "white" and tiny_set.lines[1].rir == "room"
    refs = tiny_set.references(tiny_set.lines[0])
    assert len(refs) == 1 and refs[0] is tiny_set.utterances[1].audio


def _same_room() -> np.ndarray:
    rng = np.random.default_rng(5)
    rng.standard_normal(3 * BENCH_RATE)
    decay = np.exp(-np.arange(int(0.3 * BENCH_RATE)) / (0.05 * BENCH_RATE))
    room = (decay * rng.standard_normal(len(decay)) * 0.1).astype(np.float32)
    room[0] = 1.0
    return room


def test_degrade_hits_the_snr():
    rng = np.random.default_rng(0)
    clean = (0.1 * np.sin(np.arange(BENCH_RATE) * 0.05)).astype(np.float32)
    noise = rng.standard_normal(BENCH_RATE // 3).astype(np.float32)
    for snr in (10.0, 0.0, -5.0):
        noisy = degrade(clean, snr, noise, None, np.random.default_rng(1))
        d = noisy.astype(np.float64) - clean
        assert 10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / np.sum(d**2)) == pytest.approx(
            snr, abs=0.05
        )
    np.testing.assert_array_equal(degrade(clean, None, None, None, rng), clean)


def test_systems_follow_the_protocol():
    for s in default_systems():
        assert isinstance(s, System)
    assert [s.name for s in default_systems()] == [
        "noisy input",
        "noisereduce",
        "DeepFilterNet3",
        "clean original",
    ]


def _check_report(report: dict, metrics: tuple[str, ...]) -> str:
    json.dumps(report, allow_nan=False)  # strict JSON: no NaN anywhere
    md = bench_run.render_markdown(report)
    assert "| condition | noisy input |" in md and "(×" in md
    s = report["summary"]
    for cond in ("clean", "0 dB"):
        ceiling, floor = s[cond]["clean original"], s[cond]["noisy input"]
        assert ceiling["pesq"] > 4.0
        if cond == "0 dB":
            assert floor["pesq"] < ceiling["pesq"] and floor["stoi"] < ceiling["stoi"]
    return md


def test_quick_path_with_algorithmic_measures(tiny_set):
    systems = [NoisyInput(), Denoiser("noisereduce"), CleanOriginal()]
    one = BenchSet(tiny_set.lines[:2], tiny_set.utterances)  # one utterance: keeps it fast
    rows = bench_run.run_bench(one, systems, bench_run.ALGORITHMIC_METRICS)
    assert len(rows) == len(one.lines) * len(systems)
    assert all(r["stoi"] is not None and r["f0_rmse_cents"] is not None for r in rows)
    report = bench_run.make_report(
        rows, one, systems, "test", bench_run.machine_info(), 1.0, {}, {}
    )
    md = _check_report(report, bench_run.ALGORITHMIC_METRICS)
    assert "## WER" not in md
    assert set(report["measure_seconds"]) == set(bench_run.ALGORITHMIC_METRICS)
    # clean condition: the noisy input is the clean line itself (measured once, equal)
    clean_rows = [r for r in rows if r["condition"] == "clean" and r["system"] != "noisereduce"]
    assert len({r["pesq"] for r in clean_rows if r["utterance"] == "espeak:0"}) == 1


def test_probe_and_missing_corpus(tmp_path, monkeypatch):
    p = bench_run.probe("noisy")
    assert p["peak_rss_mb"] > 10 and p["rtf"] >= 0
    monkeypatch.setenv("ADR_CORPUS", str(tmp_path))
    assert bench_run.main(["--quick", "--out", str(tmp_path)]) == 2
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_quick_path_with_all_measures(tiny_set):
    systems = default_systems()
    rows = bench_run.run_bench(tiny_set, systems, bench_run.METRICS)
    report = bench_run.make_report(
        rows, tiny_set, systems, "test", bench_run.machine_info(), 1.0, {}, {}
    )
    md = _check_report(report, bench_run.METRICS)
    for title in ("WER", "Speaker similarity", "DNSMOS OVRL", "PESQ", "STOI", "F0 RMSE"):
        assert title in md
    s = report["summary"]
    assert s["clean"]["clean original"]["wer"] < 0.3
    assert s["clean"]["clean original"]["similarity"] > 0.6


def test_demo_lines_become_noisy_clean_pairs(tmp_path):
    import types

    import soundfile as sf

    from bench.conditions import DEMO, demo_utterances

    assert demo_utterances(None) == []
    sr = 48000
    rng = np.random.default_rng(3)
    clean = (0.1 * np.sin(np.arange(sr) * 0.03)).astype(np.float32)
    mix = (0.01 * rng.standard_normal(3 * sr)).astype(np.float32)
    mix[sr : 2 * sr] += clean
    sf.write(tmp_path / "production.wav", mix, sr)
    sf.write(tmp_path / "101.wav", clean, sr)
    line = types.SimpleNamespace(
        cue_id="101", actor="maya", text="hello there", clean48k_path="101.wav", offset=1.0
    )
    prod = types.SimpleNamespace(
        root=tmp_path,
        production_audio=tmp_path / "production.wav",
        ground_truth=types.SimpleNamespace(lines=(line,)),
    )
    utts = demo_utterances(prod)
    assert len(utts) == 1 and utts[0].speaker == "demo-maya" and utts[0].text == "hello there"
    u = utts[0]
    assert u.noisy.shape == u.audio.shape == (BENCH_RATE,)
    assert np.corrcoef(u.noisy, u.audio)[0, 1] > 0.9  # the same span of the mix
    bench = build_set(utts, [u.id], ())
    assert [ln.condition for ln in bench.lines] == [DEMO.name]


# --------------------------------------------------------------------------- adr's render


def _fake_utterance(uid: str, speaker: str, seconds: float) -> Utterance:
    return Utterance(
        uid,
        speaker,
        "some words",
        np.zeros(int(seconds * BENCH_RATE), np.float32),
        source="fake",
        path=f"/corpus/{uid}.wav",
    )


def test_voice_plans_never_render_a_line_with_a_voice_that_heard_it():
    from bench.adr_system import plan_voices

    utts = [_fake_utterance(f"a:{i}", "A", 6.0) for i in range(10)] + [
        _fake_utterance(f"b:{i}", "B", 5.0) for i in range(6)
    ]

    def lines(ids: list[str]) -> tuple[BenchLine, ...]:
        return tuple(
            BenchLine(
                f"{u}@clean",
                u,
                u[0].upper(),
                "",
                "clean",
                None,
                noisy=np.zeros(1),
                clean=np.zeros(1),
            )
            for u in ids
        )

    # few bench lines: one voice per speaker on the rest, up to about 3 minutes
    one = plan_voices(BenchSet(lines(["a:0", "b:0"]), tuple(utts)), "fast")
    assert [(p.speaker, p.name, len(p.files)) for p in one] == [("A", "fast", 9), ("B", "fast", 5)]
    assert "/corpus/a:0.wav" not in one[0].files and one[0].utterances == ("a:0",)
    # every utterance a bench line: folds, each voice enrolled on the other folds only
    every = [u.id for u in utts]
    folds = plan_voices(BenchSet(lines(every), tuple(utts)), "default")
    by_speaker = {}
    for p in folds:
        by_speaker.setdefault(p.speaker, []).append(p)
        assert not {f"/corpus/{u}.wav" for u in p.utterances} & set(p.files)
    assert [p.name for p in by_speaker["A"]] == ["default-fold1of2", "default-fold2of2"]
    assert len(by_speaker["B"]) == 3  # 30 s in all: three folds of 20 s of material
    rendered = [u for p in folds for u in p.utterances]
    assert sorted(rendered) == sorted(every)
    # a tag keeps a run's corpus voices apart (the full mode's), given sets keep the preset
    tagged = plan_voices(
        BenchSet(lines(["a:0", "a:1"]), tuple(utts)),
        "fast",
        {"B": (["/x.wav"], [None])},
        tag="full",
    )
    assert [p.name for p in tagged] == ["fast-full"]
    assert [p.name for p in plan_voices(BenchSet(lines(every), tuple(utts)), "fast", tag="full")][
        :2
    ] == ["fast-full-fold1of2", "fast-full-fold2of2"]


def test_full_mode_extends_the_quick_mode():
    assert set(bench_run.QUICK_LINES) < set(bench_run.FULL_LINES)
    assert len(set(bench_run.FULL_LINES)) == len(bench_run.FULL_LINES)
    assert bench_run.results_stem("quick") == "results"
    assert bench_run.results_stem("full") == "results_full"


@pytest.fixture(scope="module")
def kal_case(tmp_path_factory):
    """Four festival (kal) sentences: three to enroll a tiny voice on, one bench line."""
    if shutil.which("festival") is None:
        pytest.skip("festival is not installed")
    import soundfile as sf

    from adr.demo.text import enrollment_sentences
    from adr.demo.tts import VOICES, synthesize

    d = tmp_path_factory.mktemp("kal")
    utts = []
    for i, u in enumerate(
        synthesize(VOICES["KAL"], enrollment_sentences(7, 4), align=False, peak=0.5)
    ):
        x = np.pad(u.audio, (int(0.3 * u.sample_rate),) * 2)
        path = d / f"kal_{i}.wav"
        sf.write(path, x, u.sample_rate)
        utts.append(
            Utterance(
                f"kal:{i}",
                "kal",
                u.text,
                resample(x, u.sample_rate, BENCH_RATE),
                source="festival",
                path=str(path),
            )
        )
    rng = np.random.default_rng(2)
    room = np.zeros(100, np.float32)
    room[0] = 1.0
    bench = build_set(
        utts,
        [utts[-1].id],
        (Condition("10 dB", 10.0, False),),
        noises={"white": (0.3 * rng.standard_normal(BENCH_RATE)).astype(np.float32)},
        rooms={"none": room},
    )
    return d, bench


def test_adr_render_runs_in_a_tiny_voice(kal_case):
    from tiny_voice import TINY, tiny_training

    from adr.analysis.analyze import AnalysisOptions
    from adr.voice.material import MaterialLimits
    from bench.adr_system import AdrRender, enroll_voices, plan_voices

    tmp, bench = kal_case
    tiny, steps = TINY, tiny_training(2)
    plans = plan_voices(bench, "tiny")
    assert [(p.speaker, len(p.files), p.utterances) for p in plans] == [("kal", 3, ("kal:3",))]
    kwargs = dict(
        root=tmp / "voices",
        engine="ddsp",
        voice_config=tiny,
        train_config=steps,
        limits=MaterialLimits(min_minutes=0.05),
    )
    bank = enroll_voices(plans, "fast", **kwargs)
    info = bank.infos[0]
    assert not info.error and not info.reused and info.steps == 2 and info.wall_seconds > 0
    again = enroll_voices(plans, "fast", **kwargs)  # the cache: no training
    assert again.infos[0].reused and again.infos[0].wall_seconds == info.wall_seconds

    fast = AnalysisOptions(lips=False, whisper_model="tiny.en")  # the test's only shortcut
    systems = [
        NoisyInput(),
        AdrRender("script", bank, options=fast),
        AdrRender("blind", bank, options=fast),
    ]
    assert all(isinstance(s, System) and not s.aligned for s in systems[1:])
    assert [s.name for s in default_systems(bank)] == [
        "noisy input",
        "noisereduce",
        "DeepFilterNet3",
        "adr render (script mode)",
        "adr render (blind mode)",
        "clean original",
    ]
    rows = bench_run.run_bench(bench, systems, ("pesq", "stoi", "f0"))
    for r, s in zip(rows, systems):
        assert r["system"] == s.name
        if s.name.startswith("adr"):
            assert "adr_fallback" not in r, r
            assert r["adr_analyze_seconds"] > 0 and r["adr_voice"].endswith("tiny")
            assert "stoi" not in r, r  # a re-spoken take is not sample-aligned: no STOI
        else:
            assert 0.0 < r["stoi"] <= 1.0, r  # the aligned noisy input is measured
    assert systems[1].last_info["adr_text_source"] == "script"
    assert systems[2].last_info["adr_text_source"] == "recognized"
    assert rows[1]["pesq"] is not None and rows[2]["f0_corr"] is not None
    # a line without speech keeps the production audio, and says why
    silent = BenchLine(
        "kal:3@silent",
        "kal:3",
        "kal",
        "",
        "10 dB",
        10.0,
        noisy=np.zeros(BENCH_RATE, np.float32),
        clean=np.zeros(BENCH_RATE),
    )
    np.testing.assert_array_equal(systems[2].process(silent), silent.noisy)
    assert "silent" in systems[2].last_info["adr_fallback"]

    report = bench_run.make_report(
        rows,
        bench,
        systems,
        "test",
        bench_run.machine_info(),
        1.0,
        {},
        {},
        voices=[i.to_dict() for i in bank.infos],
        voice_preset="fast",
        enroll_seconds=1.0,
    )
    json.dumps(report, allow_nan=False)
    md = bench_run.render_markdown(report)
    assert "## Issue #6 targets" in md and "### adr render (blind mode)" in md
    assert "F0 correlation ≥ 0.9" in md and "| kal / tiny | fast |" in md
    assert "adr render (script mode) | 1 | 1 | 0 |" in md


def test_oracle_swap_takes_only_the_named_features():
    """bench_oracle's swap: clean alignment / f0+voicing / energy into the noisy analysis."""
    import dataclasses

    from test_render import make_line

    from bench.bench_oracle import SWAPS, swap

    def features(name):  # SWAPS values: (alignment, prosody, with the take)
        alignment, prosody, _take = SWAPS[name]
        return alignment, prosody

    assert SWAPS["noisy"][2] and not SWAPS["noisy, donor only"][2]
    clean = make_line(word_len=0.22)
    noisy0 = make_line(word_len=0.18)
    noisy = dataclasses.replace(
        noisy0,
        prosody=dataclasses.replace(
            noisy0.prosody, energy=noisy0.prosody.energy - 12.0, f0=noisy0.prosody.f0 * 1.5
        ),
    )
    assert noisy.alignment != clean.alignment
    al = swap(noisy, clean, *features("oracle alignment"))
    assert al.alignment == clean.alignment and al.prosody is noisy.prosody
    loud = swap(noisy, clean, *features("oracle loudness"))
    assert loud.alignment == noisy.alignment
    np.testing.assert_array_equal(loud.prosody.energy, clean.prosody.energy)
    np.testing.assert_array_equal(loud.prosody.f0, noisy.prosody.f0)
    pitch = swap(noisy, clean, *features("oracle f0+voicing"))
    np.testing.assert_array_equal(pitch.prosody.f0, clean.prosody.f0)
    np.testing.assert_array_equal(pitch.prosody.voiced, clean.prosody.voiced)
    np.testing.assert_array_equal(pitch.prosody.energy, noisy.prosody.energy)
    both = swap(noisy, clean, *features("oracle all"))
    assert both.alignment == clean.alignment and both.cue == noisy.cue
    assert both.transcript is noisy.transcript
    np.testing.assert_array_equal(both.prosody.energy, clean.prosody.energy)
    same = swap(noisy, clean, *features("noisy"))
    assert same.alignment is noisy.alignment and same.prosody is noisy.prosody
    short = dataclasses.replace(
        clean,
        prosody=dataclasses.replace(
            clean.prosody,
            f0=clean.prosody.f0[:-1],
            voiced=clean.prosody.voiced[:-1],
            energy=clean.prosody.energy[:-1],
        ),
    )
    with pytest.raises(ValueError, match="grids differ"):
        swap(noisy, short, *features("oracle loudness"))

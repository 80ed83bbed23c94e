"""The benchmark's code path on a tiny generated case (no corpus needed), so it cannot rot.

Two espeak-ng lines (skipped where espeak-ng is missing) are put in a generated room and
generated noise, run through the systems and measured; the report is rendered.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adr.denoise import resample  # noqa: E402
from bench import run as bench_run  # noqa: E402
from bench.conditions import (  # noqa: E402
    BENCH_RATE,
    CONDITIONS,
    BenchSet,
    Condition,
    Utterance,
    build_set,
    degrade,
)
from bench.systems import CleanOriginal, Denoiser, NoisyInput, System, default_systems  # noqa: E402

TEXTS = ("the quick brown fox jumps over the lazy dog", "please call stella at the station")


def espeak(text: str, tmp: Path) -> np.ndarray:
    import soundfile as sf

    wav = tmp / f"{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text],
                   check=True, capture_output=True, timeout=30)
    x, sr = sf.read(str(wav), dtype="float32")
    return resample(x, sr, BENCH_RATE) * 0.7


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    tmp = tmp_path_factory.mktemp("espeak")
    utts = [Utterance(f"espeak:{i}", "espeak", t, espeak(t, tmp), source="espeak")
            for i, t in enumerate(TEXTS)]
    rng = np.random.default_rng(5)
    noise = rng.standard_normal(3 * BENCH_RATE).astype(np.float32)
    decay = np.exp(-np.arange(int(0.3 * BENCH_RATE)) / (0.05 * BENCH_RATE))
    room = (decay * rng.standard_normal(len(decay)) * 0.1).astype(np.float32)
    room[0] = 1.0
    conds = (CONDITIONS[0], Condition("0 dB", 0.0, True))
    return build_set(utts, [u.id for u in utts], conds, noises={"white": noise},
                     rooms={"room": room})


def test_build_set_is_seeded_and_aligned(tiny_set):
    assert [ln.condition for ln in tiny_set.lines] == ["clean", "0 dB"] * 2
    again = build_set(tiny_set.utterances, [u.id for u in tiny_set.utterances],
                      (CONDITIONS[0], Condition("0 dB", 0.0, True)),
                      noises={"white": np.random.default_rng(5).standard_normal(
                          3 * BENCH_RATE).astype(np.float32)},
                      rooms={"room": _same_room()})
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
        assert 10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / np.sum(d**2)) == \
            pytest.approx(snr, abs=0.05)
    np.testing.assert_array_equal(degrade(clean, None, None, None, rng), clean)


def test_systems_follow_the_protocol():
    for s in default_systems():
        assert isinstance(s, System)
    assert [s.name for s in default_systems()] == [
        "noisy input", "noisereduce", "DeepFilterNet3", "clean original"]


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
    report = bench_run.make_report(rows, one, systems, "test",
                                   bench_run.machine_info(), 1.0, {}, {})
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
    report = bench_run.make_report(rows, tiny_set, systems, "test",
                                   bench_run.machine_info(), 1.0, {}, {})
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
    line = types.SimpleNamespace(cue_id="101", actor="maya", text="hello there",
                                 clean48k_path="101.wav", offset=1.0)
    prod = types.SimpleNamespace(root=tmp_path, production_audio=tmp_path / "production.wav",
                                 ground_truth=types.SimpleNamespace(lines=(line,)))
    utts = demo_utterances(prod)
    assert len(utts) == 1 and utts[0].speaker == "demo-maya" and utts[0].text == "hello there"
    u = utts[0]
    assert u.noisy.shape == u.audio.shape == (BENCH_RATE,)
    assert np.corrcoef(u.noisy, u.audio)[0, 1] > 0.9  # the same span of the mix
    bench = build_set(utts, [u.id], ())
    assert [ln.condition for ln in bench.lines] == [DEMO.name]

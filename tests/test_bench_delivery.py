"""The delivery benchmark's measures on tiny generated cases (no corpus, no voice, no model)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from adr.analysis.align import Alignment
from adr.analysis.lip_records import LipReport, LipResult
from adr.core.errors import AdrError
from adr.core.types import LipTrack, Phone, Word
from bench.bench_delivery import (
    LineTiming,
    av_estimate,
    boundary_summary,
    clean_scene,
    condition_of,
    group_order,
    line_timing,
    link_voices,
)

TRUE = (("kal", 1.00, 1.30), ("the", 1.30, 1.42), ("light", 1.50, 1.90))


def truth_line(cue_id: str = "101", snr: float | None = None) -> SimpleNamespace:
    words = tuple(Word(w, a, b) for w, a, b in TRUE)
    phones = tuple(Phone(w[0], a, b, i) for i, (w, a, b) in enumerate(TRUE))
    return SimpleNamespace(cue_id=cue_id, words=words, phones=phones, snr_db=snr)


def test_conditions_are_named_and_ordered() -> None:
    assert condition_of(truth_line()) == "clean"
    assert condition_of(truth_line(snr=-5.0)) == "-5 dB"
    assert group_order(["5 dB", "clean", "-5 dB", "20 dB", "clean", "0 dB"]) == [
        "clean",
        "20 dB",
        "5 dB",
        "0 dB",
        "-5 dB",
    ]


def test_word_boundary_error_of_known_word_lists() -> None:
    """Starts 10 ms late, ends 30 ms early; an extra aligned word is not paired."""
    est = [Word(w, a + 0.010, b - 0.030) for w, a, b in TRUE]
    est.insert(1, Word("uh", 1.29, 1.30))
    alignment = Alignment(tuple(est), (), 0.8, 0.8, "test")
    t = line_timing(truth_line(), alignment, "clean")
    assert len(t.ref) == len(t.hyp) == 6 and not t.error
    assert t.ref[:2] == (1.00, 1.30) and t.hyp[:2] == pytest.approx((1.01, 1.27))
    failed = LineTiming("102", "clean", error="no speech")
    s = boundary_summary([t, failed])
    assert s["pairs"] == 6 and s["lines"] == 2 and s["not_aligned"] == 1
    assert s["median_ms"] == pytest.approx(20.0) and s["p90_ms"] == pytest.approx(30.0)
    assert boundary_summary([failed])["median_ms"] is None


def _lips(opening: np.ndarray, fps: float) -> LipResult:
    n = len(opening)
    track = LipTrack(
        start=0.0,
        fps=fps,
        opening=opening.astype(np.float32),
        width=np.full(n, 40.0, np.float32),
        face=np.ones(n, bool),
    )
    return LipResult(track, LipReport(n, n, 0, 1, 1, 0))


@pytest.mark.parametrize("late", [0.0, 0.08, -0.12])
def test_av_offset_on_a_synthetic_envelope(late: float) -> None:
    """Mouth opening and a tone burst train share one envelope; the audio is ``late`` s late."""
    rng = np.random.default_rng(3)
    fps, sr, seconds = 25.0, 16_000, 5.0
    on = np.repeat(rng.random(int(seconds * 4)) > 0.5, sr // 4).astype(np.float64)
    env = np.convolve(on, np.hanning(1200) / 600, mode="same")
    frames = (np.arange(int(seconds * fps)) / fps * sr).astype(int)
    t = np.arange(len(env)) / sr
    delayed = np.interp(t - late, t, env, left=0.0, right=0.0)
    audio = (delayed * np.sin(2 * np.pi * 600 * t)).astype(np.float32)
    got = av_estimate(_lips(0.4 * env[frames], fps), [(0.0, audio)], sr)
    assert got["lines"] == 1 and got["confidence"] > 0.3
    assert got["offset_ms"] == pytest.approx(1000 * late, abs=20.0)


def test_clean_scene_places_dry_lines(tmp_path: Path) -> None:
    sr = 16_000
    sf.write(str(tmp_path / "a.wav"), np.full(sr // 10, 0.5, np.float32), sr)
    sf.write(str(tmp_path / "b.wav"), np.full(sr, 0.25, np.float32), sr)
    lines = [
        SimpleNamespace(dry_path="a.wav", offset=0.5),
        SimpleNamespace(dry_path="b.wav", offset=1.5),
    ]
    prod = SimpleNamespace(root=tmp_path, ground_truth=SimpleNamespace(lines=lines))
    x = clean_scene(prod, 2 * sr)
    assert x.shape == (2 * sr,) and x[: sr // 2 - 10].max() == 0.0
    assert x[int(0.55 * sr)] == pytest.approx(0.5, abs=1e-3)
    assert x[int(1.8 * sr)] == pytest.approx(0.25, abs=1e-3) and x[int(0.9 * sr)] == 0.0


def test_link_voices_points_actor_folders_at_the_bench_voices(tmp_path: Path) -> None:
    source = tmp_path / "voices"
    (source / "demo-JOE" / "fast").mkdir(parents=True)
    (source / "demo-JOE" / "fast" / "voice.json").write_text("{}")
    prod = SimpleNamespace(actors=[SimpleNamespace(actor="JOE")])
    root = link_voices(prod, tmp_path / "root", "fast", source)
    assert (root / "JOE" / "voice.json").is_file() and (root / "JOE").is_symlink()
    link_voices(prod, tmp_path / "root", "fast", source)  # a rerun replaces the link
    with pytest.raises(AdrError):
        link_voices(prod, tmp_path / "root", "default", source)

"""Tests for adr.analysis.vad on synthesized speech, silence and noise."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from adr.analysis.vad import (
    VAD_FRAME_PERIOD,
    Region,
    regions_from_probability,
    speech_probability,
    speech_regions,
)
from adr.core.errors import AdrError


def espeak(text: str, voice: str = "en-us+m3") -> tuple[np.ndarray, int]:
    """Speech from espeak-ng, shape (N,), or skip where espeak-ng is absent."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed")
    wav = subprocess.run(
        [exe, "-v", voice, "-s", "150", "--stdout", text], check=True, capture_output=True
    ).stdout
    audio, sr = sf.read(io.BytesIO(wav), dtype="float32")
    return audio, sr


def test_finds_synthesized_utterance(rng: np.random.Generator) -> None:
    speech, sr = espeak("The quick brown fox jumps over the lazy dog near the river bank.")
    lead, tail = int(1.5 * sr), int(1.0 * sr)
    audio = np.concatenate([np.zeros(lead), speech, np.zeros(tail)]).astype(np.float32)
    audio += 0.002 * rng.standard_normal(len(audio)).astype(np.float32)
    # espeak pads its output with some silence: the true speech starts a little after `lead`
    active = np.flatnonzero(np.abs(speech) > 0.02)
    t_on = (lead + active[0]) / sr
    t_off = (lead + active[-1]) / sr
    regions = speech_regions(audio, sr, start=10.0, pad=0.0)
    assert regions, "no speech found"
    assert abs(regions[0].start - 10.0 - t_on) < 0.15
    assert abs(regions[-1].end - 10.0 - t_off) < 0.3
    covered = sum(r.duration for r in regions)
    assert covered > 0.8 * (t_off - t_on)
    assert all(0.5 <= r.probability <= 1.0 for r in regions)


def test_nothing_in_silence_and_noise(rng: np.random.Generator) -> None:
    sr = 16000
    assert speech_regions(np.zeros(3 * sr, dtype=np.float32), sr) == []
    noise = (0.05 * rng.standard_normal(3 * sr)).astype(np.float32)
    assert speech_regions(noise, sr) == []


def test_probability_frames() -> None:
    sr = 48000
    probs, period = speech_probability(np.zeros(sr, dtype=np.float32), sr)
    assert period == pytest.approx(VAD_FRAME_PERIOD) == pytest.approx(0.032)
    assert len(probs) == int(np.ceil(1.0 / period))
    assert probs.max() < 0.2


def test_regions_from_probability_rules() -> None:
    p = np.zeros(100)
    p[10:30] = 0.9  # 0.2 s at 10 ms frames
    p[33:60] = 0.9  # after a 30 ms pause: merged
    p[80:82] = 0.9  # too short: dropped
    regions = regions_from_probability(
        p, 0.01, min_silence=0.1, min_speech=0.05, pad=0.02, start=5.0
    )
    assert len(regions) == 1
    assert regions[0].start == pytest.approx(5.08)
    assert regions[0].end == pytest.approx(5.62)
    assert Region.from_dict(regions[0].to_dict()) == regions[0]


def test_rejects_bad_input() -> None:
    with pytest.raises(AdrError):
        speech_regions(np.zeros((2, 100), dtype=np.float32), 16000)
    with pytest.raises(AdrError):
        speech_regions(np.zeros(100, dtype=np.float32), 16000, threshold=1.5)


def test_loading_the_models_leaves_torchs_thread_count_alone() -> None:
    """The VAD (silero_vad's package sets torch to one thread when imported), DNSMOS and
    SwiftF0 load in a fresh process without changing torch's thread count: a voice trained
    after them is the one trained before them."""
    code = (
        "import numpy as np, torch\n"
        "torch.set_num_threads(2)\n"
        "x = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)\n"
        "from adr.analysis.vad import speech_probability\n"
        "speech_probability(x, 16000)\n"
        "from adr.analysis.dnsmos import score\n"
        "score(x, 16000)\n"
        "from adr.analysis.pitch_model import _swift\n"
        "_swift()\n"
        "print(torch.get_num_threads())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "2"

"""Long reels in bounded memory (issue #11 item 4): block-wise reading, resampling and VAD.

``adr analyze`` reads the production through :class:`adr.ingest.media.MonoSource` (slices
read from the file as each line needs them) and finds speech regions with
:func:`adr.analysis.vad.stream_speech_regions` (one streamed pass). Each must equal the
whole-file path; the 3-hour, 8-channel measurement itself is ``bench/bench_scaling.py
--long``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from adr.core.errors import AdrError
from adr.ingest.media import MonoSource, read_audio, read_mono, resample_blocks


def _noise(sr: int, seconds: float, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.3 * rng.standard_normal((int(sr * seconds) + 37, channels))).astype(np.float32)


@pytest.mark.parametrize(
    "sr, target, channels",
    [(48000, 16000, 1), (44100, 16000, 2), (48000, 48000, 3), (16000, 48000, 1), (22050, 16000, 8)],
)
def test_read_mono_in_blocks_equals_the_whole_file(
    tmp_path: Path, sr: int, target: int, channels: int
) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, _noise(sr, 2.5, channels), sr, subtype="FLOAT")
    whole = read_audio(path, sample_rate=target).mono()
    for block in (999, 1 << 18):
        mono, rate = read_mono(path, sample_rate=target, block=block)
        assert rate == target and len(mono) == len(whole)
        np.testing.assert_allclose(mono, whole, atol=1e-6)


def test_resample_blocks_any_block_lengths() -> None:
    from scipy.signal import resample_poly

    x = _noise(44100, 3.0, 1)[:, 0]
    whole = resample_poly(x.astype(np.float64), 160, 441)
    rng = np.random.default_rng(3)
    cuts = np.sort(rng.integers(0, len(x), 40))
    parts = np.concatenate(list(resample_blocks(iter(np.split(x, cuts)), 44100, 16000)))
    assert len(parts) == len(whole)
    np.testing.assert_allclose(parts, whole, atol=1e-6)


def test_mono_source_slices_equal_the_whole_signal(tmp_path: Path) -> None:
    """Forced to read from the file (``in_memory_seconds=0``): every slice, at the edges too,
    is the whole mono signal's; one streamed pass gives it all."""
    path = tmp_path / "poly.wav"
    sf.write(path, _noise(48000, 3.0, 8), 48000, subtype="PCM_24")
    whole, _ = read_mono(path, sample_rate=16000)
    src = MonoSource(path, 16000, in_memory_seconds=0.0, block=5000)
    assert not src.in_memory and len(src) == len(whole)
    for a, b in [
        (0, 10),
        (0, 16000),
        (1, 2),
        (12345, 23456),
        (len(whole) - 100, len(whole)),
        (47000, 10**9),
        (5, 5),
    ]:
        np.testing.assert_allclose(src[a:b], whole[a:b], atol=1e-6)
    np.testing.assert_allclose(np.concatenate(list(src.blocks())), whole, atol=1e-6)
    assert MonoSource(path, 16000).in_memory  # a short file is simply read


def test_mono_source_names_a_file_with_nan(tmp_path: Path) -> None:
    x = _noise(48000, 2.0, 2)
    x[70000, 1] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x, 48000, subtype="FLOAT")
    src = MonoSource(path, 16000, in_memory_seconds=0.0, block=4096)
    with pytest.raises(
        AdrError, match="NaN or infinite samples \\(first at sample 70000\\)"
    ) as info:
        len(src)
    assert info.value.where == str(path)


def test_streamed_speech_regions_equal_the_whole_array(monkeypatch: pytest.MonkeyPatch) -> None:
    """The streamed pass scores exactly the whole array's windows (same probabilities)."""
    import adr.analysis.vad as vad

    rng = np.random.default_rng(1)
    n = 16000 * 40 + 77
    t = np.arange(n) / 16000
    x = (0.02 * rng.standard_normal(n)).astype(np.float32)
    x += (0.3 * np.sin(2 * np.pi * (150 + 30 * np.sin(2 * np.pi * 3 * t)) * t)).astype(np.float32)
    whole, _ = vad.speech_probability(x, 16000)
    seen: list[np.ndarray] = []
    real = vad.regions_from_probability
    monkeypatch.setattr(
        vad, "regions_from_probability", lambda p, *a, **k: seen.append(p) or real(p, *a, **k)
    )
    cuts = np.sort(rng.integers(0, n, 25))
    assert vad.stream_speech_regions(np.split(x, cuts)) == vad.speech_regions(x, 16000)
    assert len(seen[0]) == len(whole) == -(-n // 512)
    assert np.array_equal(seen[0], whole) and float(np.ptp(whole)) > 0.01

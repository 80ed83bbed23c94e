"""Shared test fixtures: the development corpus (skipped where absent) and generated audio."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

CORPUS = Path(
    os.environ.get("ADR_CORPUS", Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus")
)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """Path to ../shared/corpus; skips the test where the corpus is absent."""
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip("development corpus ../shared/corpus is absent")
    return CORPUS.resolve()


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def harmonic_tone(
    f0: float = 140.0, seconds: float = 1.0, sr: int = 16000, n_harmonics: int = 10
) -> np.ndarray:
    """A voiced-speech-like harmonic tone with a slow amplitude envelope, shape (N,)."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, n_harmonics + 1))
    env = 0.5 * (1 - np.cos(2 * np.pi * np.minimum(t / seconds, 1.0)))
    return (0.3 * x * env / np.max(np.abs(x))).astype(np.float32)

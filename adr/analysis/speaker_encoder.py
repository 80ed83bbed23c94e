"""The speaker encoders: one place that loads and runs them, for the product and the measures.

:func:`embed` turns one utterance into a unit-length speaker embedding, with Resemblyzer's
GE2E encoder (256-d, weights inside the ``resemblyzer`` wheel) by default or with a local
pyannote.audio embedding checkpoint. Actor identification (:mod:`adr.analysis.speakers`)
and the speaker-similarity measure (:func:`adr.metrics.speaker_similarity`) both call it, so
a voiceprint's score and the benchmark's similarity are the same computation. Models load
lazily, once per process, and run on one torch thread under a process-wide lock (the GE2E
LSTM is much slower on two threads of a busy machine than on one). Nothing is downloaded.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.threads import torch_threads

__all__ = ["GE2E", "GE2E_RATE", "embed"]

#: Name of the built-in GE2E encoder.
GE2E = "resemblyzer-ge2e"
#: Sample rate the GE2E encoder works at, in Hz.
GE2E_RATE = 16_000
#: Shortest audio (seconds) Resemblyzer's silence trimming may leave before the untrimmed
#: line is embedded instead.
_MIN_TRIMMED = 0.3

_models: dict[str, Any] = {}
_lock = threading.Lock()


def _ge2e() -> Any:
    with _lock:
        if GE2E not in _models:
            from resemblyzer import VoiceEncoder

            _models[GE2E] = VoiceEncoder("cpu", verbose=False)
        return _models[GE2E]


def _pyannote(path: str) -> Any:
    """A pyannote.audio ``Inference`` over a local embedding checkpoint (cached per path)."""
    p = Path(path)
    if not p.exists():
        raise AdrError(p, "speaker embedding checkpoint not found")
    key = str(p.resolve())
    with _lock:
        if key not in _models:
            from pyannote.audio import Inference, Model

            model = Model.from_pretrained(p)
            if model is None:
                raise AdrError(p, "not a pyannote.audio model checkpoint")
            _models[key] = Inference(model, window="whole")
        return _models[key]


def embed(audio: np.ndarray, sample_rate: int, *, model: str | Path | None = None) -> np.ndarray:
    """Unit-length speaker embedding of one utterance.

    Parameters
    ----------
    audio : np.ndarray, shape (N,), float32
        Mono speech in [-1, 1] (callers check length and finiteness).
    sample_rate : int
        Sample rate in Hz.
    model : str or Path, optional
        ``None`` or :data:`GE2E`: the bundled GE2E encoder (Resemblyzer's loudness
        normalization and trimming of long pauses first; the untrimmed line when under
        0.3 s is left). Otherwise the path of a local pyannote.audio embedding checkpoint.

    Returns
    -------
    np.ndarray, shape (D,), float32
        D = 256 for GE2E.
    """
    x = np.asarray(audio, dtype=np.float32)
    if model is None or str(model) == GE2E:
        from resemblyzer import preprocess_wav

        wav = preprocess_wav(x, source_sr=int(sample_rate))
        if len(wav) < _MIN_TRIMMED * GE2E_RATE:  # the VAD trimmed nearly everything
            from adr.analysis.denoise import resample

            wav = resample(x, int(sample_rate), GE2E_RATE)
        encoder = _ge2e()
        with _lock, torch_threads(1):
            e = np.asarray(encoder.embed_utterance(wav), dtype=np.float32)
    else:
        import torch

        inference = _pyannote(str(model))
        waveform = torch.from_numpy(np.ascontiguousarray(x))[None, :]
        with _lock, torch_threads(1):
            e = np.asarray(inference({"waveform": waveform, "sample_rate": int(sample_rate)}))
        e = e.reshape(-1).astype(np.float32)
    norm = float(np.linalg.norm(e))
    return e / norm if norm > 0 else e

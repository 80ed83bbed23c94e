"""Pretrained pitch estimators whose weights ship inside their PyPI wheels.

Two networks, both run on the CPU, loaded lazily once per process; nothing is downloaded:

* ``"fcpe"``: FCPE (``torchfcpe==0.0.4``, MIT): a convolutional network over a 128-band log-mel
  spectrogram of 16 kHz audio, 10 ms hop, 360 pitch bins of 20 cents from 32.7 to 1975.5 Hz.
  The checkpoint ``torchfcpe/assets/fcpe_c_v001.pt`` is read with ``torch.load(weights_only=True)``
  and put into torchfcpe's own model classes; it runs on one torch thread.
* ``"swift"``: SwiftF0 (``swift-f0==0.3.0``, MIT): a small ONNX network (0.14 MB) over 16 kHz
  audio, 16 ms hop, one onnxruntime thread.

:func:`model_f0` returns each network's F0 and voicing confidence on the analysis frame grid
(frame ``i`` centred at ``i * frame_period`` seconds from the first sample), the same grid as
:func:`adr.analysis.prosody.praat_f0`. Which estimator is the default, and why, is measured in
``bench/bench_prosody.py --estimators`` (bench/results/results_prosody_estimators.md).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from adr.core.errors import AdrError, check_mono
from adr.core.threads import torch_threads

__all__ = ["PITCH_MODELS", "MODEL_RATE", "VOICING_THRESHOLD", "model_f0"]

#: Names of the estimators :func:`model_f0` runs.
PITCH_MODELS = ("fcpe", "swift")
#: Sample rate both networks work at, in Hz.
MODEL_RATE = 16_000
#: Default confidence at or above which a frame is voiced, per estimator (chosen on corpus
#: lines that are not the benchmark's, bench/bench_prosody.py --tune).
VOICING_THRESHOLD = {"fcpe": 0.18, "swift": 0.31}

# Frame k of a network is timed at k * hop + centre samples (16 kHz). The centres are where
# the networks' F0 agrees best with Praat on clean corpus lines (bench_prosody.py --tune, 1 ms
# steps): FCPE's mel window is centred at k * 160 + 80 but its F0 fits 4 ms earlier, SwiftF0's
# at k * 256 + 48 (3 ms after its loudness frame); one frame (10 ms) off doubles the gross errors.
_FCPE_HOP, _FCPE_CENTRE = 160, 16
_SWIFT_HOP, _SWIFT_CENTRE = 256, 48

_models: dict[str, Any] = {}
_lock = threading.Lock()


def _fcpe() -> Any:
    """torchfcpe's inference module with the wheel's bundled checkpoint (loaded once)."""
    with _lock:
        if "fcpe" not in _models:
            from importlib import resources

            import torch
            from torchfcpe.models_infer import InferCFNaiveMelPE
            from torchfcpe.tools import DotDict

            path = resources.files("torchfcpe").joinpath("assets", "fcpe_c_v001.pt")
            with resources.as_file(path) as p:
                ckpt = torch.load(p, map_location="cpu", weights_only=True)
            cfg = dict(ckpt["config_dict"])
            # inference: no dropout; say explicitly what torchfcpe would otherwise print about
            cfg["model"] = dict(
                cfg["model"], conv_dropout=0.0, atten_dropout=0.0, use_harmonic_emb=False
            )
            model = InferCFNaiveMelPE(DotDict(cfg), ckpt["model"])
            _models["fcpe"] = model.eval()
        return _models["fcpe"]


def _swift() -> Any:
    """A SwiftF0 detector on one onnxruntime thread that does not spin (loaded once)."""
    with _lock:
        if "swift" not in _models:
            from swift_f0 import SwiftF0

            _models["swift"] = SwiftF0(threads=1, spin=False)
        return _models["swift"]


def _run_fcpe(x: np.ndarray, f0_floor: float, f0_ceiling: float) -> tuple[np.ndarray, ...]:
    """FCPE on 16 kHz audio ``x`` (N,): (times s, F0 Hz, confidence), each shape (K,)."""
    import torch

    m = _fcpe()
    with torch_threads(1), torch.no_grad():
        wav = torch.from_numpy(np.clip(x, -1.0, 1.0).astype(np.float32))[None, :, None]
        latent = m.model(m.wav2mel(wav, MODEL_RATE))  # (1, K, 360), sigmoid activations
        cents = m.model.cent_table
        band = (cents >= 1200 * np.log2(f0_floor / 10)) & (cents <= 1200 * np.log2(f0_ceiling / 10))
        latent = latent * band.to(latent.dtype)  # search the requested range only
        conf = latent.max(dim=-1).values[0]
        f0 = m.model.cent_to_f0(m.model.latent2cents_local_decoder(latent, mask=False))[0, :, 0]
    k = np.arange(len(conf))
    return (
        (k * _FCPE_HOP + _FCPE_CENTRE) / MODEL_RATE,
        f0.numpy().astype(np.float64),
        conf.numpy().astype(np.float64),
    )


def _run_swift(x: np.ndarray, f0_floor: float, f0_ceiling: float) -> tuple[np.ndarray, ...]:
    """SwiftF0 on 16 kHz audio ``x`` (N,): (times s, F0 Hz, confidence), each shape (K,)."""
    r = _swift().detect(x, MODEL_RATE, fmin=f0_floor, fmax=f0_ceiling)
    k = np.arange(len(r.pitch_hz))
    return (
        (k * _SWIFT_HOP + _SWIFT_CENTRE) / MODEL_RATE,
        np.asarray(r.pitch_hz, dtype=np.float64),
        np.asarray(r.confidence, dtype=np.float64),
    )


def _run(model: str, x: np.ndarray, f0_floor: float, f0_ceiling: float) -> tuple[np.ndarray, ...]:
    """One network on 16 kHz audio ``x`` (N,): (frame times s, F0 Hz, confidence), each (K,)."""
    return (_run_fcpe if model == "fcpe" else _run_swift)(x, f0_floor, f0_ceiling)


def model_f0(
    audio: np.ndarray,
    sample_rate: int,
    num_frames: int,
    *,
    model: str = "fcpe",
    frame_period: float = 0.01,
    f0_floor: float = 60.0,
    f0_ceiling: float = 500.0,
    threshold: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F0, voicing and confidence of a pretrained estimator on the frame grid ``i * frame_period``.

    The audio is resampled to 16 kHz; the network's frames are mapped onto the grid by linear
    interpolation of log F0 and of confidence between the two network frames around each grid
    time (held at the ends).

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        Mono audio in [-1, 1].
    sample_rate : int
        Sample rate in Hz.
    num_frames : int
        Number of output frames ``T``.
    model : str
        ``"fcpe"`` or ``"swift"`` (:data:`PITCH_MODELS`).
    frame_period : float
        Seconds between output frames.
    f0_floor, f0_ceiling : float
        Search range of F0 in Hz.
    threshold : float, optional
        Confidence at or above which a frame is voiced (default :data:`VOICING_THRESHOLD`).

    Returns
    -------
    f0 : np.ndarray, shape (T,), float64
        The estimator's F0 in Hz on every frame (also where unvoiced; 0 only without audio).
    voiced : np.ndarray, shape (T,), bool
        Confidence at or above ``threshold``.
    confidence : np.ndarray, shape (T,), float64
        The network's voicing confidence in [0, 1].
    """
    if model not in PITCH_MODELS:
        raise AdrError(model, f"unknown pitch model (known: {', '.join(PITCH_MODELS)})")
    if not 0 < f0_floor < f0_ceiling:
        raise AdrError(f"{f0_floor}..{f0_ceiling}", "F0 range must satisfy 0 < floor < ceiling")
    x = check_mono(audio, "pitch model", sample_rate)
    f0 = np.zeros(num_frames)
    voiced = np.zeros(num_frames, dtype=bool)
    conf = np.zeros(num_frames)
    if len(x) == 0 or num_frames == 0:
        return f0, voiced, conf
    if int(sample_rate) != MODEL_RATE:
        from adr.analysis.denoise import resample

        x = resample(x, int(sample_rate), MODEL_RATE)
    if len(x) < _SWIFT_HOP:  # both networks need a few frames of context
        x = np.pad(x, (0, _SWIFT_HOP - len(x)))
    times, freq, c = _run(model, x, f0_floor, f0_ceiling)
    grid = np.arange(num_frames) * frame_period
    ok = freq > 0
    if ok.any():
        f0 = np.exp(np.interp(grid, times[ok], np.log(freq[ok])))
        f0 = np.clip(f0, f0_floor, f0_ceiling)
    conf = np.clip(np.interp(grid, times, c), 0.0, 1.0)
    thr = VOICING_THRESHOLD[model] if threshold is None else float(threshold)
    voiced = (conf >= thr) & (f0 > 0)
    return f0, voiced, conf

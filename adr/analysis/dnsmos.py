"""DNSMOS P.835: one computation of Microsoft's non-intrusive speech quality estimate.

The cue sheet's damage assessment (:func:`adr.analysis.damage.assess` with ``dnsmos=True``)
and the benchmark's measure (:func:`adr.metrics.dnsmos`) both call :func:`score`, so the two
can not disagree. The networks are the ONNX files the ``speechmos`` wheel ships (P.835
``sig_bak_ovr.onnx``, non-personalized, and the P.808 ``model_v8.onnx``), run here on one
thread (the machines are shared; one thread is as fast). The procedure is the published
one: the line at 16 kHz is doubled until it lasts 9.01 s, scored in 9.01 s windows every
second, each window's raw scores mapped to MOS by the published polynomials, and averaged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from adr.core.errors import AdrError, check_mono
from adr.core.records import Record

__all__ = ["DNSMOS_RATE", "Dnsmos", "score"]

#: Sample rate the networks work at, in Hz.
DNSMOS_RATE = 16_000
_WINDOW = 9.01  # seconds scored at once
_HOP = 1.0
# Maps from the P.835 network's raw outputs to MOS (non-personalized model), highest power
# first, as published with DNSMOS P.835.
_POLY = {
    "sig": (-0.08397278, 1.22083953, 0.0052439),
    "bak": (-0.13166888, 1.60915514, -0.39604546),
    "ovrl": (-0.06766283, 1.11546468, 0.04602535),
}

_sessions: dict[str, Any] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Dnsmos(Record):
    """DNSMOS estimates on a 1-5 scale.

    Attributes
    ----------
    ovrl, sig, bak : float
        P.835 overall quality, speech signal, background.
    p808 : float or None
        P.808 overall quality (None when not computed).
    """

    ovrl: float
    sig: float
    bak: float
    p808: float | None = None


def _session(name: str) -> Any:
    """The process-wide single-threaded onnxruntime session of ``dnsmos_models/<name>``."""
    with _lock:
        if name not in _sessions:
            from adr.core.fsio import package_file
            from adr.core.threads import onnx_session

            path = package_file("speechmos", "dnsmos_models", name, install="pip install speechmos")
            _sessions[name] = onnx_session(path)
        return _sessions[name]


def _p808_features(segment: np.ndarray) -> np.ndarray:
    """Log-mel input of the P.808 network, shape (1, T, 120), float32."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=segment[:-160], sr=DNSMOS_RATE, n_fft=321, hop_length=160, n_mels=120
    )
    mel = (librosa.power_to_db(mel, ref=np.max) + 40.0) / 40.0
    return mel.T[None, :, :].astype(np.float32)


def score(audio: np.ndarray, sample_rate: int, *, p808: bool = True) -> Dnsmos:
    """DNSMOS of a line, non-intrusive (no reference needed).

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        Mono audio at ``sample_rate`` (resampled to 16 kHz); scaled down into [-1, 1] if it
        peaks above.
    sample_rate : int
        Sample rate in Hz.
    p808 : bool
        Also run the P.808 network (a mel spectrogram and a second network per window).

    Returns
    -------
    Dnsmos

    Raises
    ------
    AdrError
        If the audio is not mono, not finite, or shorter than 0.1 s, or the rate is not
        positive.
    """
    from adr.analysis.denoise import resample

    x = check_mono(audio, "dnsmos", sample_rate)
    a = resample(x, int(sample_rate), DNSMOS_RATE).astype(np.float32)
    if len(a) < DNSMOS_RATE // 10:
        raise AdrError("dnsmos", "audio shorter than 0.1 s")
    peak = float(np.max(np.abs(a)))
    if peak > 1.0:
        a = a / peak
    win, hop = int(round(_WINDOW * DNSMOS_RATE)), int(_HOP * DNSMOS_RATE)
    while len(a) < win:
        a = np.concatenate([a, a])
    n_windows = int(np.floor(len(a) / DNSMOS_RATE) - _WINDOW) + 1
    segments = [a[i * hop : i * hop + win] for i in range(n_windows)]
    main = _session("sig_bak_ovr.onnx")
    raw = np.concatenate([main.run(None, {"input_1": s[None, :]})[0] for s in segments])
    sig, bak, ovrl = (np.polyval(_POLY[k], raw[:, i]) for i, k in enumerate(("sig", "bak", "ovrl")))
    p808_mos = None
    if p808:
        net = _session("model_v8.onnx")
        p808_mos = float(
            np.mean([net.run(None, {"input_1": _p808_features(s)})[0][0][0] for s in segments])
        )
    return Dnsmos(
        ovrl=float(np.mean(ovrl)), sig=float(np.mean(sig)), bak=float(np.mean(bak)), p808=p808_mos
    )

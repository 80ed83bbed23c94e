"""Actor identification: which enrolled actor speaks a line, or ``"unknown"``.

Embeddings come from Resemblyzer's GE2E speaker encoder (256-d, weights inside the
``resemblyzer`` wheel) by default, or from a pyannote.audio embedding model when ``model`` is
the path of a local checkpoint (nothing is downloaded). An actor's :class:`Voiceprint` is the
normalized mean of their utterance embeddings; :func:`identify` scores a line against every
voiceprint by cosine similarity and answers ``"unknown"`` when the best score is below
``threshold`` or too close to the runner-up (``margin``). The default threshold and margin were
calibrated on the corpus (bench/bench_speakers.py, bench/results_speakers.json).

Measured there (5 LibriSpeech actors enrolled from ~1 min of clean speech each, 15 held-out
lines, 31 impostor lines from 20 other speakers; threshold 0.75, margin 0.02, lines
denoised with DeepFilterNet3 before embedding, the default): identification error rate 0.00 /
0.18 / 0.33 and impostor false-accept rate 0.00 / 0.03 / 0.03 at clean / 0 dB / -5 dB.
Without the denoiser, lines at 0 dB score 0.62 on average against their own actor and are
all rejected (IER 1.0). The threshold was chosen on the same lines (optimistic).

Rooms are the weak spot: the same lines put through the corpus's measured room responses
score 0.69 (clean) and 0.64 (0 dB) on average against their dry-enrolled actor, and IER
rises to 0.34 and 0.72 (false accepts 0.00). Enrolling in synthetic rooms as well
(``make_voiceprint(..., rooms=(0.3, 0.6))``) lifts the reverberant lines' scores (0.79 /
0.71; IER 0.14 / 0.38) but the reverberant impostors' more (false accepts 0.26 / 0.19), and
over all conditions it is no better (mean IER + false-accept rate 0.33 against 0.35 dry), so
enrollment stays dry by default (:data:`ENROLL_ROOMS`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.types import strict_from_dict

__all__ = [
    "DEFAULT_MODEL",
    "UNKNOWN",
    "Voiceprint",
    "SpeakerMatch",
    "embed",
    "make_voiceprint",
    "identify",
    "score",
    "to_annotation",
    "identification_error_rate",
]

#: Name of the built-in embedding model.
DEFAULT_MODEL = "resemblyzer-ge2e"
#: Label of a line that matches no enrolled actor.
UNKNOWN = "unknown"
#: Cosine similarity below which a line is "unknown" (calibrated, see module docstring).
DEFAULT_THRESHOLD = 0.75
#: Best score minus second-best below which a line is ambiguous, hence "unknown".
DEFAULT_MARGIN = 0.02
#: RT60s (seconds) of the synthetic rooms each enrollment utterance is also embedded in.
ENROLL_ROOMS: tuple[float, ...] = ()

_models: dict[str, Any] = {}
_lock = threading.Lock()


@dataclass(frozen=True, eq=False)
class Voiceprint:
    """An enrolled actor's voice.

    Attributes
    ----------
    actor : str
        Actor id.
    embedding : np.ndarray, shape (D,), float32
        Unit-length mean embedding of the enrollment utterances.
    num_utterances : int
        Number of utterances averaged.
    model : str
        Embedding model (``"resemblyzer-ge2e"`` or the pyannote checkpoint path).
    """

    actor: str
    embedding: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    num_utterances: int = 0
    model: str = DEFAULT_MODEL

    def __post_init__(self) -> None:
        if not self.actor.strip() or self.actor == UNKNOWN:
            raise ValueError(f"invalid actor id {self.actor!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "embedding": [round(float(v), 6) for v in np.asarray(self.embedding).ravel()],
            "num_utterances": self.num_utterances,
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Voiceprint:
        d = dict(data)
        if "embedding" in d:
            d["embedding"] = np.asarray(d["embedding"], dtype=np.float32)
        return strict_from_dict(cls, d)


@dataclass(frozen=True)
class SpeakerMatch:
    """The identification of one line.

    Attributes
    ----------
    actor : str
        Best-matching actor, or ``"unknown"``.
    score : float
        Cosine similarity with the best-matching voiceprint (whether accepted or not).
    scores : dict of str to float
        Similarity with every voiceprint.
    start, end : float
        The line's extent in seconds from the session start.
    """

    actor: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    start: float = 0.0
    end: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "score": self.score,
            "scores": dict(self.scores),
            "start": self.start,
            "end": self.end,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpeakerMatch:
        return strict_from_dict(cls, data)


def _check(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    a = np.asarray(audio)
    if a.ndim != 1:
        raise AdrError("speakers", f"expected mono audio of shape (N,), got shape {a.shape}")
    if int(sample_rate) <= 0:
        raise AdrError("speakers", f"sample rate must be positive, got {sample_rate}")
    if len(a) < 0.3 * sample_rate:
        raise AdrError("speakers", f"{len(a) / sample_rate:.2f} s of audio is too short to embed")
    a = a.astype(np.float32, copy=False)
    if not np.all(np.isfinite(a)):
        raise AdrError("speakers", "audio contains NaN or infinite samples")
    return a


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` threads inside the block (the GE2E LSTM is 10-20x slower on two
    threads than on one when the machine is busy), restoring the previous setting after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _resemblyzer() -> Any:
    with _lock:
        if DEFAULT_MODEL not in _models:
            from resemblyzer import VoiceEncoder

            _models[DEFAULT_MODEL] = VoiceEncoder("cpu", verbose=False)
        return _models[DEFAULT_MODEL]


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


def embed(
    audio: np.ndarray, sample_rate: int, *, model: str | Path | None = None, denoise: str = "none"
) -> np.ndarray:
    """Speaker embedding of one utterance.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        Mono speech in [-1, 1], at least 0.3 s.
    sample_rate : int
        Sample rate in Hz.
    model : str or Path, optional
        ``None`` or ``"resemblyzer-ge2e"``: the bundled GE2E encoder. Otherwise the path of a
        local pyannote.audio embedding checkpoint.
    denoise : str
        :func:`adr.analysis.denoise.denoise` method to run first (``"none"`` by default; see
        bench/results_speakers.json for when it helps).

    Returns
    -------
    np.ndarray, shape (D,), float32
        Unit-length embedding (D = 256 for the default model).
    """
    x = _check(audio, sample_rate)
    if denoise != "none":
        from adr.analysis.denoise import denoise as run_denoise

        x = run_denoise(x, sample_rate, method=denoise)
    if model is None or str(model) == DEFAULT_MODEL:
        from resemblyzer import preprocess_wav

        wav = preprocess_wav(x.astype(np.float32), source_sr=int(sample_rate))
        if len(wav) < 0.3 * 16000:  # the VAD trimmed nearly everything: embed the raw line
            from adr.analysis.denoise import resample

            wav = resample(x, int(sample_rate), 16000)
        encoder = _resemblyzer()
        with _lock, _torch_threads(1):
            e = np.asarray(encoder.embed_utterance(wav), dtype=np.float32)
    else:
        import torch

        inference = _pyannote(str(model))
        waveform = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, :]
        with _lock, _torch_threads(1):
            e = np.asarray(inference({"waveform": waveform, "sample_rate": int(sample_rate)}))
        e = e.reshape(-1).astype(np.float32)
    norm = float(np.linalg.norm(e))
    return e / norm if norm > 0 else e


def _model_name(model: str | Path | None) -> str:
    return DEFAULT_MODEL if model is None else str(model)


def make_voiceprint(
    actor: str,
    utterances: Sequence[np.ndarray],
    sample_rate: int,
    *,
    model: str | Path | None = None,
    denoise: str = "none",
    rooms: Sequence[float] | None = None,
) -> Voiceprint:
    """Enroll an actor from a few utterances (about a minute in total works well).

    Parameters
    ----------
    actor : str
        Actor id.
    utterances : sequence of np.ndarray, each shape (N_i,)
        Mono speech of the actor at ``sample_rate``.
    sample_rate : int
    model, denoise
        As for :func:`embed`.
    rooms : sequence of float, optional
        RT60s of synthetic rooms (:func:`adr.analysis.rooms.reverberate`, seeded) each utterance is
        also embedded in, dry and reverberant embeddings averaged alike; ``None``:
        :data:`ENROLL_ROOMS`. Enrollment is usually dry and production lines are not.

    Returns
    -------
    Voiceprint
    """
    from adr.analysis.rooms import reverberate

    if not utterances:
        raise AdrError(actor, "no enrollment utterances given")
    rng = np.random.default_rng(0)
    versions = list(utterances)
    for rt60 in ENROLL_ROOMS if rooms is None else rooms:
        versions += [reverberate(u, sample_rate, float(rt60), rng) for u in utterances]
    embs = np.stack([embed(u, sample_rate, model=model, denoise=denoise) for u in versions])
    mean = embs.mean(axis=0)
    mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return Voiceprint(actor, mean.astype(np.float32), len(utterances), _model_name(model))


def score(embedding: np.ndarray, voiceprints: Sequence[Voiceprint]) -> dict[str, float]:
    """Cosine similarity of one embedding (D,) with each voiceprint, by actor."""
    e = np.asarray(embedding, dtype=np.float64)
    e = e / max(float(np.linalg.norm(e)), 1e-12)
    out: dict[str, float] = {}
    for vp in voiceprints:
        v = np.asarray(vp.embedding, dtype=np.float64)
        if v.shape != e.shape:
            raise AdrError(vp.actor, f"voiceprint has {v.shape[0]} dims, embedding has {e.shape[0]}")
        out[vp.actor] = round(float(e @ v / max(float(np.linalg.norm(v)), 1e-12)), 6)
    return out


def decide(scores: dict[str, float], threshold: float, margin: float) -> tuple[str, float]:
    """Best actor and its score, or ``"unknown"`` if below ``threshold`` or within ``margin``."""
    if not scores:
        return UNKNOWN, 0.0
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    best, top = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else -1.0
    if top < threshold or top - second < margin:
        return UNKNOWN, top
    return best, top


def identify(
    audio: np.ndarray,
    sample_rate: int,
    voiceprints: Sequence[Voiceprint],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    margin: float = DEFAULT_MARGIN,
    start: float = 0.0,
    denoise: str = "dfn3",
    denoised: np.ndarray | None = None,
) -> SpeakerMatch:
    """Which enrolled actor speaks ``audio``.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        One line, mono.
    sample_rate : int
    voiceprints : sequence of Voiceprint
        Enrolled actors, all made with the same embedding model.
    threshold : float
        Minimum cosine similarity to accept the best actor.
    margin : float
        Minimum lead of the best actor over the second.
    start : float
        Session time of the line (kept in the match for :func:`to_annotation`).
    denoise : str
        :func:`adr.analysis.denoise.denoise` method to run before embedding (DeepFilterNet3 by
        default: without it, lines at 0 dB SNR all fall below the threshold).
    denoised : np.ndarray, shape (N,), optional
        ``audio`` already denoised (by a caller that denoises each line once for several
        stages); embedded as is instead of running ``denoise``.

    Returns
    -------
    SpeakerMatch
    """
    if not voiceprints:
        raise AdrError("speakers", "no voiceprints enrolled")
    models = {vp.model for vp in voiceprints}
    if len(models) > 1:
        raise AdrError("speakers", f"voiceprints mix embedding models {sorted(models)}")
    model = models.pop()
    name = None if model == DEFAULT_MODEL else model
    if denoised is not None:
        if np.shape(denoised) != np.shape(audio):
            raise AdrError("speakers", f"denoised audio has shape {np.shape(denoised)}, "
                                       f"audio {np.shape(audio)}")
        e = embed(denoised, sample_rate, model=name, denoise="none")
    else:
        e = embed(audio, sample_rate, model=name, denoise=denoise)
    scores = score(e, voiceprints)
    actor, top = decide(scores, threshold, margin)
    end = start + len(audio) / int(sample_rate)
    return SpeakerMatch(actor, top, scores, float(start), float(end))


def to_annotation(matches: Sequence[SpeakerMatch], uri: str = "session") -> Any:
    """A ``pyannote.core.Annotation`` with one labelled segment per match.

    Parameters
    ----------
    matches : sequence of SpeakerMatch
        Each with ``end > start`` (seconds).
    uri : str
        Name of the recording.
    """
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    for i, m in enumerate(matches):
        if m.end <= m.start:
            raise AdrError(f"match {i}", f"segment end {m.end} is not after start {m.start}")
        ann[Segment(m.start, m.end), i] = m.actor
    return ann


def identification_error_rate(reference: Any, hypothesis: Any) -> float:
    """Identification error rate (pyannote.metrics): (confusion + miss + false alarm) / total.

    Parameters
    ----------
    reference, hypothesis : pyannote.core.Annotation
    """
    from pyannote.metrics.identification import IdentificationErrorRate

    return float(IdentificationErrorRate()(reference, hypothesis))

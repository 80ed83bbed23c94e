"""Actor identification: which enrolled actor speaks a line, or ``"unknown"``.

Embeddings come from :mod:`adr.analysis.speaker_encoder` (GE2E by default, or a local
pyannote.audio checkpoint). An actor's :class:`Voiceprint` is the normalized mean of their
utterance embeddings; :func:`identify` scores a line against every voiceprint by cosine
similarity and answers ``"unknown"`` when the best score is below the voiceprint's threshold
or too close to the runner-up (:data:`DEFAULT_MARGIN`). Voiceprints of format 2 (the
default, :mod:`adr.analysis.speaker_damage`) are also enrolled through damaged, denoised
copies of the enrollment lines and carry their own threshold, calibrated on held-out copies;
format-1 files (clean mean, no threshold) still load and are judged against
:data:`DEFAULT_THRESHOLD`. Measurements: docs/decisions.md, "speakers: voiceprints enrolled
through damaged copies, with their own threshold".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adr.analysis.speaker_damage import decide_print
from adr.core.errors import AdrError
from adr.core.records import Record
from adr.core.types import strict_from_dict

__all__ = [
    "DEFAULT_MODEL",
    "UNKNOWN",
    "Voiceprint",
    "SpeakerMatch",
    "embed",
    "make_voiceprint",
    "identify",
    "decide",
    "decide_print",
    "score",
    "to_annotation",
    "identification_error_rate",
]

#: Name of the built-in embedding model.
DEFAULT_MODEL = "resemblyzer-ge2e"  # = adr.analysis.speaker_encoder.GE2E
#: Label of a line that matches no enrolled actor.
UNKNOWN = "unknown"
#: Cosine similarity below which a line is "unknown", for voiceprints without their own.
DEFAULT_THRESHOLD = 0.75
#: Format of the voiceprints :func:`make_voiceprint` writes (1: clean mean, no threshold).
VOICEPRINT_VERSION = 2
#: Best score minus second-best below which a line is ambiguous, hence "unknown".
DEFAULT_MARGIN = 0.02
#: RT60s (seconds) of the synthetic rooms each enrollment utterance is also embedded in.
ENROLL_ROOMS: tuple[float, ...] = ()


@dataclass(frozen=True, eq=False)
class Voiceprint:
    """An enrolled actor's voice.

    Attributes
    ----------
    actor : str
        Actor id.
    embedding : np.ndarray, shape (D,), float32
        Unit-length mean embedding of the enrollment utterances (and their damaged copies).
    num_utterances : int
        Number of utterances averaged.
    model : str
        Embedding model (``"resemblyzer-ge2e"`` or the pyannote checkpoint path).
    version : int
        1: clean mean (files without the field); 2: with damaged copies and a threshold.
    threshold : float, optional
        Acceptance threshold calibrated at enrollment (``None``: :data:`DEFAULT_THRESHOLD`).
    damaged_copies : int
        Number of damaged copies averaged into ``embedding``.
    """

    actor: str
    embedding: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    num_utterances: int = 0
    model: str = DEFAULT_MODEL
    version: int = 1
    threshold: float | None = None
    damaged_copies: int = 0

    def __post_init__(self) -> None:
        if not self.actor.strip() or self.actor == UNKNOWN:
            raise ValueError(f"invalid actor id {self.actor!r}")
        if self.version not in (1, VOICEPRINT_VERSION):
            raise AdrError(
                self.actor,
                f"voiceprint format {self.version} is not supported "
                f"(1-{VOICEPRINT_VERSION}): re-enroll the actor",
            )
        if self.threshold is not None and not -1.0 <= float(self.threshold) <= 1.0:
            raise AdrError(self.actor, f"voiceprint threshold {self.threshold} is not a cosine")

    def to_dict(self) -> dict[str, Any]:
        d = {
            "actor": self.actor,
            "embedding": [round(float(v), 6) for v in np.asarray(self.embedding).ravel()],
            "num_utterances": self.num_utterances,
            "model": self.model,
        }
        if self.version > 1:
            d |= {
                "version": self.version,
                "threshold": self.threshold,
                "damaged_copies": self.damaged_copies,
            }
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Voiceprint:
        d = dict(data)
        if "embedding" in d:
            d["embedding"] = np.asarray(d["embedding"], dtype=np.float32)
        return strict_from_dict(cls, d)


@dataclass(frozen=True)
class SpeakerMatch(Record):
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
        return {**dataclasses.asdict(self), "scores": dict(self.scores)}


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
        bench/results/results_speakers.json for when it helps).

    Returns
    -------
    np.ndarray, shape (D,), float32
        Unit-length embedding (D = 256 for the default model).
    """
    from adr.analysis import speaker_encoder

    x = _check(audio, sample_rate)
    if denoise != "none":
        from adr.analysis.denoise import denoise as run_denoise

        x = run_denoise(x, sample_rate, method=denoise)
    return speaker_encoder.embed(x, sample_rate, model=model)


def _model_name(model: str | Path | None) -> str:
    return DEFAULT_MODEL if model is None else str(model)


def make_voiceprint(
    actor: str,
    utterances: Sequence[np.ndarray],
    sample_rate: int,
    *,
    model: str | Path | None = None,
    denoise: str = "dfn3",
    rooms: Sequence[float] | None = None,
    copies: int | None = None,
) -> Voiceprint:
    """Enroll an actor from a few clean utterances (about a minute in total works well).

    Parameters
    ----------
    actor : str
        Actor id.
    utterances : sequence of np.ndarray, each shape (N_i,)
        Mono speech of the actor at ``sample_rate``.
    sample_rate : int
    model : str or Path, optional
        As for :func:`embed`.
    denoise : str
        Front end run on the damaged copies before embedding (the analysis's, ``"dfn3"``).
    rooms : sequence of float, optional
        RT60s of synthetic rooms each utterance is also embedded in (format 1 only);
        ``None``: :data:`ENROLL_ROOMS`.
    copies : int, optional
        Damaged copies (``None``: :data:`adr.analysis.speaker_damage.ENROLL_COPIES`); 0: a
        format-1 voiceprint (clean and room embeddings averaged, no threshold of its own).

    Returns
    -------
    Voiceprint
    """
    from adr.analysis.rooms import reverberate
    from adr.analysis.speaker_damage import (
        ENROLL_COPIES,
        enrollment_embeddings,
        voiceprint_from_embeddings,
    )

    if not utterances:
        raise AdrError(actor, "no enrollment utterances given")
    n = ENROLL_COPIES if copies is None else int(copies)
    if n > 0:
        emb = enrollment_embeddings(utterances, sample_rate, copies=n, model=model, denoise=denoise)
        return voiceprint_from_embeddings(actor, emb.clean, emb, model=model)
    rng = np.random.default_rng(0)
    versions = list(utterances)
    for rt60 in ENROLL_ROOMS if rooms is None else rooms:
        versions += [reverberate(u, sample_rate, float(rt60), rng) for u in utterances]
    embs = np.stack([embed(u, sample_rate, model=model) for u in versions])
    vp = voiceprint_from_embeddings(actor, embs, model=model)
    return dataclasses.replace(vp, num_utterances=len(utterances))


def score(embedding: np.ndarray, voiceprints: Sequence[Voiceprint]) -> dict[str, float]:
    """Cosine similarity of one embedding (D,) with each voiceprint, by actor."""
    e = np.asarray(embedding, dtype=np.float64)
    e = e / max(float(np.linalg.norm(e)), 1e-12)
    out: dict[str, float] = {}
    for vp in voiceprints:
        v = np.asarray(vp.embedding, dtype=np.float64)
        if v.shape != e.shape:
            raise AdrError(
                vp.actor, f"voiceprint has {v.shape[0]} dims, embedding has {e.shape[0]}"
            )
        out[vp.actor] = round(float(e @ v / max(float(np.linalg.norm(v)), 1e-12)), 6)
    return out


def decide(scores: dict[str, float], threshold: float, margin: float) -> tuple[str, float]:
    """Best actor and its score, or ``"unknown"`` if below ``threshold`` or within ``margin``."""
    return decide_print(scores, (), threshold=threshold, margin=margin)


def identify(
    audio: np.ndarray,
    sample_rate: int,
    voiceprints: Sequence[Voiceprint],
    *,
    threshold: float | None = None,
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
    threshold : float, optional
        Minimum cosine similarity to accept the best actor (``None``: each voiceprint's
        calibrated threshold, or :data:`DEFAULT_THRESHOLD`).
    margin : float
        Minimum lead of the best actor over the second.
    start : float
        Session time of the line (kept in the match for :func:`to_annotation`).
    denoise : str
        :func:`adr.analysis.denoise.denoise` method run before embedding (DeepFilterNet3).
    denoised : np.ndarray, shape (N,), optional
        ``audio`` already denoised (by the caller); embedded as is instead.

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
            raise AdrError(
                "speakers",
                f"denoised audio has shape {np.shape(denoised)}, audio {np.shape(audio)}",
            )
        e = embed(denoised, sample_rate, model=name, denoise="none")
    else:
        e = embed(audio, sample_rate, model=name, denoise=denoise)
    scores = score(e, voiceprints)
    actor, top = decide_print(scores, voiceprints, threshold=threshold, margin=margin)
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

"""Voiceprints that survive the scene: enrollment through damaged copies, calibrated threshold.

Enrollment lines are clean; production lines are noisy, reverberant and then denoised
before they are embedded, which moves a line's GE2E embedding away from its actor's clean
voiceprint (docs/decisions.md, "speakers: ..."). So each actor is also enrolled through
damaged copies of the enrollment lines, made the way the restorer's training material is
(:func:`adr.voice.damage_sim.damage_line`: coloured noise, hum, gusts, babble, bursts,
dropouts, synthetic rooms, SNR -10..+20 dB), passed through the same front end the analysis
runs before embedding (the denoiser), and embedded. The actor's centroid is the mean of the
clean and damaged embeddings.

The acceptance threshold is calibrated on the enrollment itself: each utterance is held out
in turn, the centroid is rebuilt from the others, and the held-out utterance's clean and
damaged embeddings are scored against it. The threshold is a low quantile of those scores
(what a genuine damaged line of this actor scores).

Pure functions of arrays and a seed; the denoiser and the embedding model are the ones
:func:`adr.analysis.speakers.embed` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adr.analysis.speakers import Voiceprint

import numpy as np

__all__ = [
    "ENROLL_COPIES",
    "CALIBRATION_QUANTILE",
    "EnrollmentEmbeddings",
    "damaged_copies",
    "enrollment_embeddings",
    "centroid",
    "calibrate_threshold",
    "voiceprint_from_embeddings",
    "decide_print",
]

#: Damaged copies embedded per actor (spread over the enrollment utterances in turn).
ENROLL_COPIES = 24
#: Quantile of the held-out genuine scores the threshold is set at.
CALIBRATION_QUANTILE = 0.1


@dataclass(frozen=True)
class EnrollmentEmbeddings:
    """Embeddings of one actor's enrollment.

    Attributes
    ----------
    clean : np.ndarray, shape (U, D)
        One unit embedding per enrollment utterance, as recorded.
    damaged : np.ndarray, shape (C, D)
        One unit embedding per damaged, denoised copy.
    owner : np.ndarray, shape (C,), int
        Index of the utterance each damaged copy was made from.
    snr_db : np.ndarray, shape (C,)
        SNR drawn for each copy.
    """

    clean: np.ndarray
    damaged: np.ndarray
    owner: np.ndarray
    snr_db: np.ndarray


def damaged_copies(
    utterances: Sequence[np.ndarray], sample_rate: int, copies: int, seed: int = 0
) -> list[tuple[int, np.ndarray, float]]:
    """``copies`` damaged versions of the utterances, taken in turn.

    Parameters
    ----------
    utterances : sequence of np.ndarray, each shape (N_i,)
    sample_rate : int
    copies : int
        Number of copies in all (utterance ``i % U`` for copy ``i``).
    seed : int
        Seed of the damage.

    Returns
    -------
    list of (int, np.ndarray, float)
        Source utterance index, damaged audio (same length, float32), SNR in dB.
    """
    from adr.voice.damage_sim import damage_line

    rng = np.random.default_rng(seed)
    out = []
    for i in range(max(0, int(copies))):
        k = i % len(utterances)
        others = [u for j, u in enumerate(utterances) if j != k]
        y, snr = damage_line(np.asarray(utterances[k], dtype=np.float32), sample_rate, rng, others)
        out.append((k, y, snr))
    return out


def enrollment_embeddings(
    utterances: Sequence[np.ndarray],
    sample_rate: int,
    *,
    copies: int = ENROLL_COPIES,
    model: str | Path | None = None,
    denoise: str = "dfn3",
    seed: int = 0,
) -> EnrollmentEmbeddings:
    """Clean and damaged-copy embeddings of an actor's enrollment utterances.

    Parameters
    ----------
    utterances : sequence of np.ndarray, each shape (N_i,)
        Mono speech at ``sample_rate``.
    sample_rate : int
    copies : int
        Damaged copies in all (0: clean embeddings only).
    model : str or Path, optional
        As for :func:`adr.analysis.speakers.embed`.
    denoise : str
        Front end run on each damaged copy before embedding (the analysis's, ``"dfn3"``).
        The clean utterances are embedded as recorded.
    seed : int
        Seed of the damage.

    Returns
    -------
    EnrollmentEmbeddings
    """
    from adr.analysis.speakers import embed

    clean = np.stack([embed(u, sample_rate, model=model) for u in utterances])
    made = damaged_copies(utterances, sample_rate, copies, seed)
    dim = clean.shape[1]
    damaged = (
        np.stack([embed(y, sample_rate, model=model, denoise=denoise) for _, y, _ in made])
        if made
        else np.zeros((0, dim), np.float32)
    )
    return EnrollmentEmbeddings(
        clean.astype(np.float32),
        damaged.astype(np.float32),
        np.array([k for k, _, _ in made], dtype=np.int64),
        np.array([s for _, _, s in made], dtype=np.float64),
    )


def centroid(embeddings: np.ndarray) -> np.ndarray:
    """Unit-length mean of embeddings (M, D) -> (D,) float32."""
    mean = np.asarray(embeddings, dtype=np.float64).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def calibrate_threshold(
    emb: EnrollmentEmbeddings,
    *,
    quantile: float = CALIBRATION_QUANTILE,
    ceiling: float = 0.9,
    floor: float = 0.6,
    fallback: float = 0.75,
) -> float:
    """Acceptance threshold from held-out genuine scores of the enrollment.

    Each utterance in turn is held out with its damaged copies; the centroid of the rest is
    scored against the held-out clean and damaged embeddings. With a single utterance
    ``fallback`` (the format-1 default threshold) is returned.

    Parameters
    ----------
    emb : EnrollmentEmbeddings
    quantile : float
        Quantile of the held-out scores the threshold is set at.
    ceiling, floor : float
        Bounds of the threshold.
    fallback : float
        Threshold when there is nothing to hold out.

    Returns
    -------
    float
    """
    n = len(emb.clean)
    if n < 2:
        return float(fallback)
    scores: list[float] = []
    for k in range(n):
        keep = emb.owner != k
        rest = np.concatenate([np.delete(emb.clean, k, axis=0), emb.damaged[keep]])
        c = centroid(rest).astype(np.float64)
        held = np.concatenate([emb.clean[k : k + 1], emb.damaged[~keep]]).astype(np.float64)
        scores += list(held @ c)
    thr = float(np.quantile(np.asarray(scores), quantile))
    return round(float(np.clip(thr, floor, ceiling)), 4)


def voiceprint_from_embeddings(
    actor: str,
    clean: np.ndarray,
    damaged: EnrollmentEmbeddings | None = None,
    *,
    model: str | Path | None = None,
) -> Voiceprint:
    """A voiceprint from enrollment embeddings already computed.

    Parameters
    ----------
    actor : str
    clean : np.ndarray, shape (U, D)
        Embeddings of the clean utterances.
    damaged : EnrollmentEmbeddings, optional
        With damaged copies: a format-2 voiceprint (clean and damaged averaged, calibrated
        threshold). ``None``: format 1 (the mean of ``clean``).
    model : str or Path, optional
    """
    from adr.analysis.speakers import VOICEPRINT_VERSION, Voiceprint, _model_name

    if damaged is None or len(damaged.damaged) == 0:
        return Voiceprint(actor, centroid(clean), len(clean), _model_name(model))
    c = centroid(np.concatenate([damaged.clean, damaged.damaged]))
    return Voiceprint(
        actor,
        c,
        len(damaged.clean),
        _model_name(model),
        VOICEPRINT_VERSION,
        calibrate_threshold(damaged),
        len(damaged.damaged),
    )


def decide_print(
    scores: dict[str, float],
    voiceprints: Sequence[Voiceprint],
    *,
    threshold: float | None = None,
    margin: float | None = None,
) -> tuple[str, float]:
    """Best actor and its score, or ``"unknown"``: each actor judged by its own threshold.

    ``"unknown"`` when the best score is below the threshold or leads the second by less
    than ``margin`` (``None``: :data:`adr.analysis.speakers.DEFAULT_MARGIN`).

    ``threshold`` (when given) overrides every voiceprint's; otherwise an actor without a
    calibrated threshold (or without a voiceprint in ``voiceprints``) gets
    :data:`adr.analysis.speakers.DEFAULT_THRESHOLD`.
    """
    from adr.analysis.speakers import DEFAULT_MARGIN, DEFAULT_THRESHOLD, UNKNOWN

    if margin is None:
        margin = DEFAULT_MARGIN
    if not scores:
        return UNKNOWN, 0.0
    own = {vp.actor: vp.threshold for vp in voiceprints}
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    best, top = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else -1.0
    thr = threshold if threshold is not None else own.get(best) or DEFAULT_THRESHOLD
    if top < thr or top - second < margin:
        return UNKNOWN, top
    return best, top

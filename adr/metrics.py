"""Objective measures of a line: intelligibility, voice identity, quality, pitch and timing.

Every function is pure on arrays and returns a frozen dataclass or a float. The models are
the product's own, through their one wrapper each, loaded lazily once per process: Whisper
base (:mod:`adr.analysis.asr`), the GE2E speaker encoder (:mod:`adr.analysis.speaker_encoder`),
DNSMOS (:mod:`adr.analysis.dnsmos`). PESQ, STOI, F0 (Praat through parselmouth) and WER
(jiwer) are plain algorithms.

==================  ===========================================  ======================
measure             function                                     better
==================  ===========================================  ======================
word error rate     :func:`word_error_rate`, :func:`word_errors`  lower, 0 = perfect
speaker similarity  :func:`speaker_similarity` (cosine, GE2E)    higher, 1 = identical
DNSMOS P.835        :func:`dnsmos` (OVRL, SIG, BAK; 1-5)          higher
PESQ wide-band      :func:`pesq_score` (1-4.64)                   higher
STOI                :func:`stoi_score` (0-1)                      higher
F0                  :func:`f0_metrics` (cents, correlation ...)   lower error, higher r
boundaries          :func:`boundary_errors` (seconds)             lower
==================  ===========================================  ======================
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adr.analysis.denoise import resample
from adr.analysis.dnsmos import Dnsmos
from adr.core.errors import AdrError, check_mono
from adr.core.records import Record

__all__ = [
    "METRIC_RATE",
    "WordErrors",
    "Dnsmos",
    "F0Metrics",
    "BoundaryError",
    "normalize_for_wer",
    "word_errors",
    "word_error_rate",
    "transcribe_for_wer",
    "speaker_embedding",
    "speaker_similarity",
    "dnsmos",
    "pesq_score",
    "stoi_score",
    "f0_metrics",
    "boundary_errors",
]

#: Rate the 16 kHz measures (Whisper, GE2E, DNSMOS, PESQ wb) run at, in Hz.
METRIC_RATE = 16_000

_F0_FRAME = 0.01
_F0_FLOOR, _F0_CEILING = 60.0, 500.0
_GROSS_RATIO = 0.2  # gross pitch error: more than 20 % off (the usual GPE threshold)

_embedding_cache: dict[str, np.ndarray] = {}


@dataclass(frozen=True)
class WordErrors(Record):
    """Word-level edit counts of a hypothesis against a reference (after normalization).

    ``rate`` is ``(substitutions + deletions + insertions) / words``; summing ``errors`` and
    ``words`` over lines gives the corpus-level rate.
    """

    words: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        if self.words == 0:
            return 0.0 if self.errors == 0 else 1.0
        return self.errors / self.words


@dataclass(frozen=True)
class F0Metrics(Record):
    """Pitch of a test line against a reference line, frame by frame (10 ms).

    Attributes
    ----------
    rmse_cents : float
        RMS pitch difference in cents over frames voiced in both (NaN if none).
    correlation : float
        Pearson correlation of log-F0 over frames voiced in both (NaN if < 3 frames or flat).
    gross_error : float
        Fraction of frames voiced in both where the pitch is more than 20 % off.
    voicing_error : float
        Fraction of all frames where the voicing decisions differ.
    """

    rmse_cents: float
    correlation: float
    gross_error: float
    voicing_error: float


@dataclass(frozen=True)
class BoundaryError(Record):
    """Absolute timing error of boundaries (word or phone starts/ends), in seconds."""

    median: float
    p90: float
    count: int = 0


# --------------------------------------------------------------------------- helpers


def _mono(audio: np.ndarray, where: str) -> np.ndarray:
    return check_mono(audio, where)


def _at_16k(audio: np.ndarray, sr: int, where: str) -> np.ndarray:
    return resample(_mono(audio, where), int(sr), METRIC_RATE)


def _in_range(audio: np.ndarray) -> np.ndarray:
    """Scale down (never up) so that the peak is within [-1, 1]."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    return audio / peak if peak > 1.0 else audio


# --------------------------------------------------------------------------- WER

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "ok": "okay"}


def _number_words(n: int) -> str:
    """Spell out 0 <= n < 10**9 in English words (``"one hundred twenty three"``)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for size, name in ((10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            rest = n % size
            head = _number_words(n // size) + " " + name
            return head if rest == 0 else head + " " + _number_words(rest)
    raise AssertionError("unreachable")


def normalize_for_wer(text: str) -> str:
    """Lower-case words without punctuation, numbers spelled out, single spaces.

    ``"Mr. Smith paid $25 -- twice!"`` becomes ``"mister smith paid twenty five twice"``.
    Apostrophes inside words are kept (``"don't"``); hyphens split words.
    """
    t = unicodedata.normalize("NFKC", text).lower()
    t = t.replace("\u2019", "'").replace("\u2018", "'").replace("%", " percent")
    t = re.sub(r"(?<=\d),(?=\d{3})", "", t)  # 1,000 -> 1000
    t = re.sub(
        r"\d+",
        lambda m: " " + _number_words(int(m.group())) + " " if len(m.group()) < 10 else m.group(),
        t,
    )
    t = re.sub(r"[^\w' ]+", " ", t)
    words = []
    for w in t.split():
        w = w.strip("'_")
        if w:
            words.append(_ABBREVIATIONS.get(w, w))
    return " ".join(words)


def word_errors(reference: str, hypothesis: str) -> WordErrors:
    """Word edit counts of ``hypothesis`` against ``reference``, both normalized first."""
    ref = normalize_for_wer(reference)
    hyp = normalize_for_wer(hypothesis)
    if not ref:
        return WordErrors(0, 0, 0, len(hyp.split()))
    if not hyp:
        return WordErrors(len(ref.split()), 0, len(ref.split()), 0)
    import jiwer

    out = jiwer.process_words(ref, hyp)
    return WordErrors(
        words=len(ref.split()),
        substitutions=int(out.substitutions),
        deletions=int(out.deletions),
        insertions=int(out.insertions),
    )


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate after :func:`normalize_for_wer` (0 = perfect; may exceed 1)."""
    return word_errors(reference, hypothesis).rate


def transcribe_for_wer(audio: np.ndarray, sr: int) -> str:
    """What Whisper base hears in a line (for WER), through :func:`adr.analysis.asr.transcribe`.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        Mono audio at ``sr``; resampled to 16 kHz and scaled into [-1, 1] if it peaks above.
    sr : int
        Sample rate in Hz.
    """
    from adr.analysis.asr import transcribe

    a = _in_range(_at_16k(audio, sr, "transcribe_for_wer"))
    if len(a) == 0:
        return ""
    return transcribe(a, model="base", language="en").text


# --------------------------------------------------------------------------- speaker


def speaker_embedding(audio: np.ndarray, sr: int) -> np.ndarray:
    """GE2E speaker embedding of a line (:func:`adr.analysis.speaker_encoder.embed`, the
    encoder actor identification uses).

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
    sr : int

    Returns
    -------
    np.ndarray, shape (256,), float32, unit norm
    """
    from adr.analysis import speaker_encoder

    a = _in_range(_at_16k(audio, sr, "speaker_embedding")).astype(np.float32)
    if len(a) < METRIC_RATE // 4:
        raise AdrError("speaker_embedding", "audio shorter than 0.25 s")
    return speaker_encoder.embed(a, METRIC_RATE)


def _cached_embedding(audio: np.ndarray, sr: int) -> np.ndarray:
    a = np.ascontiguousarray(audio, dtype=np.float32)
    key = hashlib.sha1(a.tobytes() + str(int(sr)).encode()).hexdigest()
    if key not in _embedding_cache:
        _embedding_cache[key] = speaker_embedding(a, sr)
    return _embedding_cache[key]


def speaker_similarity(
    audio: np.ndarray, sr: int, references: Sequence[np.ndarray], ref_sr: int
) -> float:
    """Cosine similarity of a line's voice to a speaker's reference lines.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        The line to judge, at ``sr``.
    references : sequence of np.ndarray, each shape (M_i,)
        Other clean lines of the expected speaker, at ``ref_sr``; their unit embeddings are
        averaged (embeddings of references are cached by content within the process).

    Returns
    -------
    float
        Cosine in [-1, 1]; about 0.6 between a male and a female voice, above 0.8 for
        the same speaker in clean conditions.
    """
    if len(references) == 0:
        raise AdrError("speaker_similarity", "no reference audio given")
    ref = np.mean([_cached_embedding(r, ref_sr) for r in references], axis=0)
    emb = speaker_embedding(audio, sr)
    return float(np.dot(emb, ref) / (np.linalg.norm(emb) * np.linalg.norm(ref) + 1e-12))


# --------------------------------------------------------------------------- quality


def dnsmos(audio: np.ndarray, sr: int) -> Dnsmos:
    """DNSMOS P.835 of a line, non-intrusive: :func:`adr.analysis.dnsmos.score` without P.808
    (the computation the cue sheet's damage assessment uses).

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        Any rate (resampled to 16 kHz); scaled into [-1, 1] if it peaks above.
    sr : int
        Sample rate in Hz.
    """
    from adr.analysis.dnsmos import score

    return score(_mono(audio, "dnsmos"), sr, p808=False)


def _pair(ref: np.ndarray, test: np.ndarray, sr: int, where: str) -> tuple[np.ndarray, ...]:
    r = _at_16k(ref, sr, where)
    t = _at_16k(test, sr, where)
    n = min(len(r), len(t))
    if n < METRIC_RATE // 4:
        raise AdrError(where, "audio shorter than 0.25 s")
    return r[:n].astype(np.float64), t[:n].astype(np.float64)


def pesq_score(ref: np.ndarray, test: np.ndarray, sr: int) -> float:
    """Wide-band PESQ (ITU-T P.862.2) of ``test`` against the clean ``ref``, at 16 kHz.

    Both are resampled to 16 kHz and cut to the shorter length (PESQ aligns time itself).

    Returns
    -------
    float
        MOS-LQO in [1.04, 4.64]; NaN when PESQ finds no speech in the reference.
    """
    from pesq import PesqError, pesq

    r, t = _pair(ref, test, sr, "pesq_score")
    score = pesq(METRIC_RATE, r, t, "wb", on_error=PesqError.RETURN_VALUES)
    return float("nan") if score < 0 else float(score)


def stoi_score(ref: np.ndarray, test: np.ndarray, sr: int) -> float:
    """STOI (short-time objective intelligibility) of ``test`` against ``ref``, in [0, 1].

    Only meaningful when ``test`` is sample-aligned with ``ref`` (a denoiser's output, not a
    re-spoken take): the lengths must match.
    """
    from pystoi import stoi

    r = _mono(ref, "stoi_score")
    t = _mono(test, "stoi_score")
    if len(r) != len(t):
        raise AdrError("stoi_score", f"signals are not sample-aligned ({len(r)} vs {len(t)})")
    return float(stoi(r.astype(np.float64), t.astype(np.float64), int(sr), extended=False))


# --------------------------------------------------------------------------- pitch


def _f0_track(audio: np.ndarray, sr: int) -> np.ndarray:
    import parselmouth

    snd = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=float(sr))
    pitch = snd.to_pitch_ac(time_step=_F0_FRAME, pitch_floor=_F0_FLOOR, pitch_ceiling=_F0_CEILING)
    return np.asarray(pitch.selected_array["frequency"], dtype=np.float64)


def f0_metrics(ref_audio: np.ndarray, test_audio: np.ndarray, sr: int) -> F0Metrics:
    """Compare the pitch contour of ``test_audio`` with ``ref_audio`` frame by frame.

    Parameters
    ----------
    ref_audio, test_audio : np.ndarray, shape (N,) and (M,)
        Mono audio at ``sr``, time-aligned from sample 0 (the longer one is cut).

    Returns
    -------
    F0Metrics
    """
    r = _mono(ref_audio, "f0_metrics")
    t = _mono(test_audio, "f0_metrics")
    n = min(len(r), len(t))
    if n < int(0.1 * sr):
        raise AdrError("f0_metrics", "audio shorter than 0.1 s")
    fr, ft = _f0_track(r[:n], sr), _f0_track(t[:n], sr)
    m = min(len(fr), len(ft))
    fr, ft = fr[:m], ft[:m]
    vr, vt = fr > 0, ft > 0
    both = vr & vt
    voicing_error = float(np.mean(vr != vt)) if m else float("nan")
    if not np.any(both):
        return F0Metrics(float("nan"), float("nan"), float("nan"), voicing_error)
    cents = 1200.0 * np.log2(ft[both] / fr[both])
    rmse = float(np.sqrt(np.mean(cents**2)))
    gross = float(np.mean(np.abs(ft[both] / fr[both] - 1.0) > _GROSS_RATIO))
    corr = float("nan")
    if np.count_nonzero(both) >= 3:
        lr, lt = np.log(fr[both]), np.log(ft[both])
        if np.std(lr) > 1e-9 and np.std(lt) > 1e-9:
            corr = float(np.corrcoef(lr, lt)[0, 1])
    return F0Metrics(rmse, corr, gross, voicing_error)


# --------------------------------------------------------------------------- timing


def boundary_errors(ref_times: Sequence[float], hyp_times: Sequence[float]) -> BoundaryError:
    """Median and 90th percentile of ``|hyp - ref|`` over paired boundary times (seconds).

    Raises
    ------
    AdrError
        If the two sequences differ in length.
    """
    r = np.asarray(ref_times, dtype=np.float64)
    h = np.asarray(hyp_times, dtype=np.float64)
    if r.shape != h.shape or r.ndim != 1:
        raise AdrError("boundary_errors", f"{len(r)} reference vs {len(h)} hypothesis times")
    if len(r) == 0:
        return BoundaryError(float("nan"), float("nan"), 0)
    err = np.abs(h - r)
    return BoundaryError(float(np.median(err)), float(np.percentile(err, 90)), int(len(err)))

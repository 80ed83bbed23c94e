"""Forced alignment: word and phone times of a known line, robust to production noise.

The aligner is pocketsphinx (CMU Sphinx, acoustic model shipped in the wheel) in forced
alignment mode, two passes (word alignment, then phone alignment), 10 ms frames. Each word's
pronunciation is built from its espeak-ng phones (:mod:`adr.analysis.phonemes`) mapped to ARPAbet,
so every word can be aligned (no dictionary gaps) and the phones come back one-to-one with the
espeak IPA phones the rest of the pipeline uses; where the mapping is not one-to-one (a phone
with no ARPAbet twin, or one that maps to two) the recognizer's phone times are projected onto
the espeak phones by an edit-distance alignment.

In noise, the audio is first cleaned by a denoiser (:mod:`adr.analysis.denoise`): with
``front_end="auto"``, DeepFilterNet3 on lines whose estimated SNR is below
:data:`AUTO_DENOISE_BELOW_DB` (the choice: docs/decisions.md, "align: ...").

Lines without speech: :func:`align` raises :class:`AdrError` ("no speech ...") when the audio is
silent (below -60 dBFS RMS) or the denoiser removes everything (more than 40 dB quieter), and
also when the text has no words or the audio is too short for the phones (3 frames each).
Noise with no speech in it that survives the denoiser still gets an alignment, with a low
``confidence`` or the ``"(uniform)"`` fallback; callers should check ``confidence``.

Confidence comes from a second, text-free decode (a phone loop): the share of frames where it
hears the same broad phone class as the alignment claims.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from adr.analysis import phonemes
from adr.analysis.sphinx import (
    add_words,
    broad_class,
    decoder,
    free_classes,
    project_phones,
    run_alignment,
)
from adr.core.errors import AdrError
from adr.core.timebase import frames_to_seconds
from adr.core.types import Phone, Word, strict_from_dict

__all__ = ["SAMPLE_RATE", "FRAME_PERIOD", "FRONT_ENDS", "Alignment", "align", "uniform_alignment"]

#: Sample rate :func:`align` expects, in Hz.
SAMPLE_RATE = 16_000
#: Frame period of the aligner, in seconds.
FRAME_PERIOD = 0.01
#: Accepted ``front_end`` values (``"auto"`` picks by the line's estimated noise level).
FRONT_ENDS = ("auto", "none", "noisereduce", "dfn3")

#: ``front_end="auto"`` denoises lines whose estimated SNR is below this, in dB.
AUTO_DENOISE_BELOW_DB = 25.0

_SILENT_DBFS = -60.0
_MIN_FRAMES_PER_PHONE = 3
_DENOISED_DROP_DB = -40.0
_BEAMS = (1e-48, 1e-80, 1e-160)
_lock = threading.Lock()


@dataclass(frozen=True)
class Alignment:
    """Word and phone times of one line.

    Attributes
    ----------
    words : tuple of Word
        The line's words (from :func:`adr.analysis.phonemes.normalize_text`) with their times
        in seconds from the session start; ``confidence`` per word in [0, 1].
    phones : tuple of Phone
        IPA phones of :data:`adr.analysis.phonemes.PHONES` in time order, each with the index of its
        word; pauses are ``"sil"`` phones with ``word == -1``.
    score : float
        Fraction of the words' frames where a free phone-loop decode (no text) hears the same
        broad phone class (vowel, stop, fricative, nasal, approximant, silence) as the
        alignment; about 0.85 on clean speech, 0.7 at 0 dB SNR, below 0.5 when lost.
        0 for the uniform fallback.
    confidence : float
        Mean of the word confidences (each the same agreement over that word), in [0, 1].
    method : str
        How it was made: ``"pocketsphinx"``, ``"pocketsphinx+dfn3"``, ...; a suffix
        ``"(uniform)"`` marks the fallback used when the recognizer finds no path through the
        text at all (phones spread evenly over the audio, every confidence 0).
    """

    words: tuple[Word, ...]
    phones: tuple[Phone, ...]
    score: float
    confidence: float
    method: str

    def word_phones(self, index: int) -> tuple[Phone, ...]:
        """Phones of word ``index``."""
        return tuple(p for p in self.phones if p.word == index)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["words"] = [w.to_dict() for w in self.words]
        d["phones"] = [p.to_dict() for p in self.phones]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alignment:
        d = dict(data)
        if "words" in d:
            d["words"] = tuple(Word.from_dict(w) for w in d["words"])
        if "phones" in d:
            d["phones"] = tuple(Phone.from_dict(p) for p in d["phones"])
        return strict_from_dict(cls, d)


# --------------------------------------------------------------------------- front end


def _snr_estimate(x: np.ndarray) -> float:
    """Rough SNR in dB: loud frames (speech) against the quietest frames (noise floor)."""
    n = len(x) // 160
    if n < 10:
        return 60.0
    e = np.mean(x[: n * 160].reshape(n, 160).astype(np.float64) ** 2, axis=1) + 1e-12
    e = np.sort(e)
    floor = np.mean(e[: max(1, n // 10)])
    peak = np.mean(e[-max(1, n // 5) :])
    return float(10 * np.log10(peak / floor))


def _front_end(
    x: np.ndarray, front_end: str, denoised: np.ndarray | None = None
) -> tuple[np.ndarray, str]:
    if front_end == "auto":
        front_end = "dfn3" if _snr_estimate(x) < AUTO_DENOISE_BELOW_DB else "none"
    if front_end == "none":
        return x, "none"
    if denoised is not None:
        return denoised, front_end
    from adr.analysis.denoise import denoise

    return denoise(x, SAMPLE_RATE, method=front_end), front_end


def _to_pcm(x: np.ndarray) -> bytes:
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    gain = 0.9 / peak if peak > 0 else 1.0
    return (np.clip(x * gain, -1.0, 1.0) * 32767).astype("<i2").tobytes()


# --------------------------------------------------------------------------- public


def align(
    audio: np.ndarray,
    text: str,
    *,
    start: float = 0.0,
    front_end: str = "auto",
    denoised: np.ndarray | None = None,
) -> Alignment:
    """Force-align a known line to its audio.

    Parameters
    ----------
    audio : np.ndarray, shape (N,), float32
        Mono speech at 16 kHz (the line, with some margin).
    text : str
        What is said; normalized with :func:`adr.analysis.phonemes.normalize_text`.
    start : float
        Session time of ``audio[0]`` in seconds; added to every time.
    front_end : str
        One of :data:`FRONT_ENDS`: ``"auto"`` denoises (DeepFilterNet3) when the line's
        estimated SNR is below 25 dB; ``"none"``, ``"noisereduce"`` or ``"dfn3"`` force one.
    denoised : np.ndarray, shape (N,), optional
        ``audio`` already denoised by the front end's method (a caller that denoises each
        line once for several stages passes it here); used instead of running the denoiser
        whenever the front end denoises.

    Returns
    -------
    Alignment

    Raises
    ------
    AdrError
        If the text has no words, the audio is not mono, silent, or too short for the text.
    """
    if front_end not in FRONT_ENDS:
        raise AdrError(front_end, f"unknown alignment front end (use one of {FRONT_ENDS})")
    x = np.asarray(audio)
    if x.ndim != 1:
        raise AdrError("align", f"expected mono audio of shape (N,), got shape {x.shape}")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise AdrError("align", "audio contains NaN or infinite samples")
    words = phonemes.normalize_text(text)
    if not words:
        raise AdrError(repr(text), "no words to align")
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if len(x) else 0.0
    if rms <= 0 or 20 * math.log10(rms) < _SILENT_DBFS:
        raise AdrError("align", "no speech: the audio is silent")
    ipa = phonemes.phonemize_words(words)
    n_frames = len(x) // int(SAMPLE_RATE * FRAME_PERIOD)
    if n_frames < _MIN_FRAMES_PER_PHONE * sum(len(p) for p in ipa):
        raise AdrError("align", f"audio of {len(x) / SAMPLE_RATE:.2f} s is too short for the text")
    if denoised is not None:
        denoised = np.asarray(denoised, dtype=np.float32)
        if denoised.shape != x.shape:
            raise AdrError("align", f"denoised audio has shape {denoised.shape}, audio {x.shape}")
    y, used = _front_end(x, front_end, denoised)
    y_rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    if y_rms < rms * 10 ** (_DENOISED_DROP_DB / 20):
        raise AdrError("align", f"no speech: the {used} denoiser removed everything")
    prons = [phonemes.ipa_to_arpabet(p) or ["AH"] for p in ipa]
    pcm = _to_pcm(y)
    entries: list = []
    with _lock:
        for beam in _BEAMS:  # widen the search only when the narrow one finds no path
            dec = decoder(beam)
            names = add_words(dec, prons)
            try:
                entries = run_alignment(dec, pcm, names)
                break
            except RuntimeError:
                continue
        method = "pocketsphinx" + ("" if used == "none" else "+" + used)
        if not entries:
            return _uniform(words, ipa, n_frames, start, method)
        free = free_classes(pcm, n_frames)
    return _assemble(words, ipa, entries, free, start, method)


def _frame_time(frame: float, start: float) -> float:
    return start + frames_to_seconds(frame, FRAME_PERIOD)


def _assemble(words, ipa, entries, free: np.ndarray, start: float, method: str) -> Alignment:
    out_words: list[Word] = []
    out_phones: list[Phone] = []
    hits, frames = 0, 0
    k = 0
    for name, f0, f1, _score, segs in entries:
        if not name.startswith("adr_"):
            if f1 > f0:
                out_phones.append(
                    Phone(phonemes.SILENCE, _frame_time(f0, start), _frame_time(f1, start), -1)
                )
            continue
        if k >= len(words):
            break
        w_hits = 0
        segs = segs or [("", f0, f1)]
        for sym, (t0, t1) in zip(ipa[k], project_phones(ipa[k], segs)):
            out_phones.append(Phone(sym, _frame_time(t0, start), _frame_time(t1, start), k))
            w_hits += int(np.sum(free[int(round(t0)) : int(round(t1))] == broad_class(sym)))
        conf = w_hits / max(f1 - f0, 1)
        hits, frames = hits + w_hits, frames + (f1 - f0)
        out_words.append(Word(words[k], _frame_time(f0, start), _frame_time(f1, start), conf))
        k += 1
    if k != len(words):  # the recognizer dropped words: not a usable alignment
        return _uniform(words, ipa, entries[-1][2], start, method)
    conf = float(np.mean([w.confidence for w in out_words]))
    return Alignment(tuple(out_words), tuple(out_phones), hits / max(frames, 1), conf, method)


def uniform_alignment(text: str, start: float, end: float) -> Alignment:
    """``text``'s words and phones spread evenly over ``[start, end]`` (confidence 0,
    method ``"script(uniform)"``): the timing of a scripted line in which nothing can be
    heard, for a take that then follows the script alone.

    Raises
    ------
    AdrError
        If the text has no words.
    """
    words = phonemes.normalize_text(text)
    if not words:
        raise AdrError(repr(text), "no words to align")
    ipa = phonemes.phonemize_words(words)
    n_frames = max(1, int(round((end - start) / FRAME_PERIOD)))
    return _uniform(words, ipa, n_frames, start, "script")


def _uniform(words, ipa, n_frames: int, start: float, method: str) -> Alignment:
    """Fallback when the recognizer finds no path: phones spread evenly, confidence 0."""
    total = sum(len(p) for p in ipa)
    step = n_frames / total
    out_words, out_phones, t = [], [], 0.0
    for k, (word, phones) in enumerate(zip(words, ipa)):
        w0 = t
        for sym in phones:
            out_phones.append(Phone(sym, _frame_time(t, start), _frame_time(t + step, start), k))
            t += step
        out_words.append(Word(word, _frame_time(w0, start), _frame_time(t, start), 0.0))
    return Alignment(tuple(out_words), tuple(out_phones), 0.0, 0.0, method + "(uniform)")

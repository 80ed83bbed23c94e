"""Donor renditions: a built-in synthesizer speaks the script, warped onto the analysed line.

Where a noisy production take lost words, the script must carry them (issue #9). The donor is
the line spoken by a demo voice (:func:`adr.demo.tts.synthesize`, which also reports its own
word and phone times), time-warped so its words fall at the analysed times and pitch-shifted to
the analysed F0, both by praat PSOLA (``Manipulation`` + ``DurationTier`` + ``PitchTier``,
``Get resynthesis (overlap-add)``).

The time map is a strictly increasing list of anchors (donor time, target time):

* words pair up by :class:`difflib.SequenceMatcher` on normalized words (lower case, anything
  but letters and digits stripped); a run of unmatched donor words facing unmatched target
  words is spread over their span, others are interpolated between the neighbouring anchors;
* inside a matched word the phone boundaries are anchored too when both phone lists (IPA,
  silences left out) have the same length and no phone would be stretched beyond
  :data:`MAX_PHONE_RATIO` either way, else only the word edges;
* a target pause (at least :data:`PAUSE_S` between two words) is filled by zeros inserted into
  the donor, so no donor speech is stretched across it, and the output is silent there and
  outside the words (raised-cosine gate, :data:`MARGIN_S` beyond each word edge);
* before the first and after the last anchor the map runs at rate 1.

``DurationTier`` values are relative durations (target seconds per donor second) at donor
times, two points per segment so that praat's linear interpolation keeps each segment's
length. ``PitchTier`` points are at donor times: the target frame times go through the
inverse map.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from adr.analysis.align import Alignment
from adr.core.errors import AdrError
from adr.core.timebase import seconds_to_samples
from adr.core.types import Prosody

__all__ = [
    "FEMALE_MIN_F0_HZ",
    "PAUSE_S",
    "MARGIN_S",
    "MAX_PHONE_RATIO",
    "DonorLine",
    "choose_donor",
    "donor_line",
]

#: A line whose median F0 is at least this (Hz) gets the female donor MAYA, else JOE. 165 Hz
#: lies between typical adult male (85-155 Hz) and female (165-255 Hz) speaking F0.
FEMALE_MIN_F0_HZ = 165.0
#: A gap between two target words at least this long (s) is a pause: silence in the output.
PAUSE_S = 0.1
#: The output is kept this far (s) beyond each target word edge before it is gated to silence.
MARGIN_S = 0.03
#: Phone anchors are used only when no phone's duration ratio exceeds this or its inverse.
MAX_PHONE_RATIO = 2.0
_F0_RANGE = (50.0, 500.0)  # plausible speaking F0, Hz
_MAX_OCTAVES = 0.75  # frames further than this from the reference F0 are octave/gross errors
_MIN_VOICED_SHARE = 0.2  # below this share of in-word frames usable, use the donor's contour
_DONOR_PITCH = {"JOE": (60.0, 300.0), "MAYA": (100.0, 450.0), "KAL": (60.0, 300.0)}
_RAMP_S = 0.01
_EPS = 1e-3
_praat_lock = threading.Lock()
_SPOKEN_CACHE = 256  # donor renditions kept (enrollment speaks each line once per copy)
_spoken_cache: OrderedDict[tuple[str, str], object] = OrderedDict()


@dataclass(frozen=True, eq=False)
class DonorLine:
    """A donor rendition of one line on the line's timeline.

    Attributes
    ----------
    audio : np.ndarray, shape (N,), float32
        Covers ``[start, end)`` of the cue at ``sample_rate``, silent outside the words.
    sample_rate : int
        Rate of ``audio`` in Hz.
    donor : str
        The voice that spoke (a key of :data:`adr.demo.tts.VOICES`).
    target_times, donor_times : np.ndarray, shape (K,), float64
        The time map's anchors, both strictly increasing: session seconds, and seconds in the
        donor rendition (its audio with the pause silences inserted).
    anchored_words : int
        Target words matched to a donor word (their edges anchored).
    f0_source : str
        ``"line"`` (the analysed contour) or ``"donor"`` (the donor's own, shifted).
    """

    audio: np.ndarray
    sample_rate: int
    donor: str
    target_times: np.ndarray
    donor_times: np.ndarray
    anchored_words: int
    f0_source: str


def choose_donor(median_f0_hz: float) -> str:
    """``"MAYA"`` for a median F0 of at least :data:`FEMALE_MIN_F0_HZ` Hz, else ``"JOE"``."""
    return "MAYA" if np.isfinite(median_f0_hz) and median_f0_hz >= FEMALE_MIN_F0_HZ else "JOE"


def _spoken(name: str, text: str) -> Any:
    """``text`` synthesized by the built-in voice ``name`` (an aligned
    :class:`adr.demo.tts.Utterance`), memoized: the synthesizers are deterministic and
    enrollment asks for each line several times. Callers must not modify the audio."""
    from adr.demo.tts import VOICES, synthesize

    key = (name, text)
    with _praat_lock:
        hit = _spoken_cache.get(key)
        if hit is not None:
            _spoken_cache.move_to_end(key)
            return hit
    utt = synthesize(VOICES[name], [text])[0]
    with _praat_lock:
        _spoken_cache[key] = utt
        while len(_spoken_cache) > _SPOKEN_CACHE:
            _spoken_cache.popitem(last=False)
    return utt


def _norm(word: str) -> str:
    return re.sub(r"[\W_]+", "", word.lower())


def _speakable(text: str) -> str:
    """``text`` with its punctuation (phrasing) kept, but each chunk with digits, symbols,
    hyphens or slashes spelled as :func:`adr.analysis.phonemes.normalize_text` reads it."""
    from adr.analysis.phonemes import normalize_text

    out = []
    for raw in text.replace('"', " ").split():
        words = normalize_text(raw)
        if re.search(r"[\d%&+@$/-]", raw):
            out.append(" ".join(words) + (raw[-1] if raw[-1] in ",.;:?!" and words else ""))
        elif words:
            out.append(raw)
    return " ".join(out)


def _usable_f0(prosody: Prosody, median_f0: float | None) -> tuple[np.ndarray, float | None]:
    """Mask (T,) of voiced frames with plausible F0, and the reference median (or None)."""
    f0 = np.nan_to_num(np.asarray(prosody.f0, dtype=np.float64))
    ok = np.asarray(prosody.voiced, bool) & (f0 > _F0_RANGE[0]) & (f0 < _F0_RANGE[1])
    ref = median_f0 if median_f0 else (float(np.median(f0[ok])) if ok.sum() >= 5 else None)
    if ref is not None:
        ok &= np.abs(np.log2(np.maximum(f0, 1.0) / ref)) < _MAX_OCTAVES
    return ok, ref


def _anchors(
    d_words: list, d_phones: list, t_words: list, t_phones: list
) -> tuple[list[tuple[float, float, float, float, int, int, list]], int]:
    """Matched units ``(ds, de, ts, te, donor word, target word, inner anchors)`` in order."""
    sm = difflib.SequenceMatcher(
        None, [_norm(w.text) for w in d_words], [_norm(w.text) for w in t_words], autojunk=False
    )
    units, matched = [], 0
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2)):
                dw, tw, inner = d_words[i], t_words[j], []
                dp = [p for p in d_phones if p.word == i and p.symbol != "sil"]
                tp = [p for p in t_phones if p.word == j and p.symbol != "sil"]
                if len(dp) == len(tp) > 1:
                    r = [(b.end - b.start) / max(a.end - a.start, _EPS) for a, b in zip(dp, tp)]
                    if max(r) <= MAX_PHONE_RATIO and min(r) >= 1.0 / MAX_PHONE_RATIO:
                        inner = [(a.start, b.start) for a, b in zip(dp[1:], tp[1:])]
                units.append((dw.start, dw.end, tw.start, tw.end, i, j, inner))
                matched += 1
        elif op == "replace":
            units.append(
                (
                    d_words[i1].start,
                    d_words[i2 - 1].end,
                    t_words[j1].start,
                    t_words[j2 - 1].end,
                    i1,
                    j1,
                    [],
                )
            )
    return units, matched


def _time_map(
    units: list, duration: float
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    """Anchors (donor s, target s) on the padded donor timeline, and insertions (at, length)."""
    pts: list[tuple[float, float]] = []
    inserts: list[tuple[float, float]] = []
    shift = 0.0
    for k, (ds, de, ts, te, _, j, inner) in enumerate(units):
        if k:
            pde, pte, pj = units[k - 1][1], units[k - 1][3], units[k - 1][5]
            h, g = ds - pde, ts - pte
            if g >= PAUSE_S and j == pj + 1 and h < g:  # a pause: insert donor silence
                inserts.append((pde + min(max(h, 0.0) / 2, 0.02), g - max(h, 0.0)))
                shift += g - max(h, 0.0)
            elif h < 0.005 or g < 0.005:  # words run together on one side: one anchor
                pts[-1] = ((pde + ds) / 2 + shift, (pte + ts) / 2)
                pts += [(b + shift, t) for b, t in inner]
                pts.append((de + shift, te))
                continue
        pts.append((ds + shift, ts))
        pts += [(b + shift, t) for b, t in inner]
        pts.append((de + shift, te))
    kept: list[tuple[float, float]] = []
    for d, t in sorted(pts, key=lambda p: p[1]):
        if not kept or (d > kept[-1][0] + _EPS and t > kept[-1][1] + _EPS):
            kept.append((d, t))
    d_arr, t_arr = np.array([p[0] for p in kept]), np.array([p[1] for p in kept])
    total = duration + shift
    d_arr = np.concatenate([[0.0], d_arr, [total]])
    t_arr = np.concatenate([[t_arr[0] - d_arr[1]], t_arr, [t_arr[-1] + total - d_arr[-2]]])
    if d_arr[1] <= _EPS:  # the donor starts on its first word: no lead segment
        d_arr, t_arr = d_arr[1:], t_arr[1:]
    if total - d_arr[-2] <= _EPS:
        d_arr, t_arr = d_arr[:-1], t_arr[:-1]
    return d_arr, t_arr, inserts


def _pad(audio: np.ndarray, sr: int, inserts: list[tuple[float, float]]) -> np.ndarray:
    """``audio`` with zeros inserted (short fades at each cut), shape (N + inserted,)."""
    pieces: list[np.ndarray] = []
    last, ramp = 0, max(1, int(0.005 * sr))
    for at, length in inserts:
        cut = min(max(seconds_to_samples(at, sr), last), len(audio))
        seg = audio[last:cut].copy()
        n = min(ramp, len(seg))
        seg[len(seg) - n :] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
        if pieces:
            m = min(ramp, len(seg))
            seg[:m] *= np.linspace(0.0, 1.0, m, dtype=np.float32)
        pieces += [seg, np.zeros(seconds_to_samples(length, sr), np.float32)]
        last = cut
    tail = audio[last:].copy()
    if pieces:
        m = min(ramp, len(tail))
        tail[:m] *= np.linspace(0.0, 1.0, m, dtype=np.float32)
    return np.concatenate(pieces + [tail]).astype(np.float32)


def _gate(n: int, sr: int, start: float, spans: list[tuple[float, float]]) -> np.ndarray:
    """Gain (n,): 1 on the merged word spans widened by :data:`MARGIN_S`, raised-cosine ramps."""
    t = start + np.arange(n) / sr
    gain = np.zeros(n)
    for a, b in spans:
        a, b = a - MARGIN_S, b + MARGIN_S
        rise = np.clip((t - (a - _RAMP_S)) / _RAMP_S, 0.0, 1.0)
        fall = np.clip(((b + _RAMP_S) - t) / _RAMP_S, 0.0, 1.0)
        gain = np.maximum(gain, np.minimum(rise, fall))
    return 0.5 - 0.5 * np.cos(np.pi * gain)


def donor_line(
    text: str,
    alignment: Alignment,
    prosody: Prosody,
    start: float,
    end: float,
    sample_rate: int,
    donor: str = "auto",
    *,
    median_f0: float | None = None,
    cue_id: str = "",
) -> DonorLine:
    """Speak ``text`` with a built-in voice, warped onto the analysed words and F0.

    Parameters
    ----------
    text : str
        The script line (digits and symbols are spelled out before synthesis).
    alignment : Alignment
        Analysed words and phones of the line, session seconds.
    prosody : Prosody
        Analysed F0 (T,); only voiced frames within 50-500 Hz and within 0.75 octave of the
        reference (``median_f0``, else the median of those frames) are followed.
    start, end : float
        The cue's span, session seconds.
    sample_rate : int
        Output rate in Hz.
    donor : str
        ``"JOE"``, ``"MAYA"`` (or ``"KAL"``), or ``"auto"`` (:func:`choose_donor` of the
        reference F0; JOE when unknown).
    median_f0 : float, optional
        The actor's median F0 in Hz. When fewer than 20 % of the in-word frames have usable
        F0, the donor's own contour is used, scaled to this median (else to the line's median
        of plausible frames, else left as is).
    cue_id : str
        Names the line in errors (the text when empty).

    Returns
    -------
    DonorLine
        ``audio`` of shape (round((end - start) * sample_rate),), float32.

    Raises
    ------
    AdrError
        Naming the cue or text, on an empty line, a bad span or rate, an unknown donor, or
        when the synthesizer fails.
    """
    import parselmouth
    from parselmouth.praat import call, run

    from adr.analysis.phonemes import normalize_text
    from adr.demo.tts import VOICES

    where = cue_id or repr(text[:40])
    t_words, t_phones = list(alignment.words), list(alignment.phones)
    if not text.strip() or not t_words:
        raise AdrError(where, "a donor needs script text and aligned words")
    if not end > start or int(sample_rate) <= 0:
        raise AdrError(where, f"bad span [{start}, {end}) or sample rate {sample_rate}")
    if prosody.frame_period <= 0:
        raise AdrError(where, "prosody frame period must be positive")
    ok, ref = _usable_f0(prosody, median_f0)
    name = choose_donor(ref if ref else 0.0) if donor == "auto" else donor
    if name not in VOICES:
        raise AdrError(where, f"unknown donor voice {donor!r} (use {', '.join(VOICES)} or auto)")
    try:
        try:
            utt = _spoken(name, _speakable(text))
        except AdrError:  # the synthesizer split words its own way: plain words, no commas
            utt = _spoken(name, " ".join(normalize_text(text)))
    except AdrError as err:
        raise AdrError(where, f"donor {name} failed: {err}") from None
    if utt.alignment is None or not utt.alignment.words or not len(utt.audio):
        raise AdrError(where, f"donor {name} spoke no words")
    sr = utt.sample_rate
    units, matched = _anchors(
        list(utt.alignment.words), list(utt.alignment.phones), t_words, t_phones
    )
    if not units:
        raise AdrError(where, "no donor word could be placed on the aligned words")
    d_map, t_map, inserts = _time_map(units, len(utt.audio) / sr)
    snd = parselmouth.Sound(_pad(utt.audio, sr, inserts).astype(np.float64), sr)
    lo, hi = _DONOR_PITCH.get(name, (60.0, 450.0))
    manip = call(snd, "To Manipulation", 0.01, lo, hi)
    dur = call("Create DurationTier", "dur", 0.0, snd.duration)
    for k in range(len(d_map) - 1):
        ratio = (t_map[k + 1] - t_map[k]) / (d_map[k + 1] - d_map[k])
        eps = min(1e-4, (d_map[k + 1] - d_map[k]) / 4)
        call(dur, "Add point", d_map[k] + eps, ratio)
        call(dur, "Add point", d_map[k + 1] - eps, ratio)
    call([manip, dur], "Replace duration tier")
    times = prosody.times
    in_words = np.zeros(len(times), bool)
    for w in t_words:
        in_words |= (times >= w.start) & (times < w.end)
    use = ok & (times > t_map[0]) & (times < t_map[-1])
    if use.sum() >= max(5, _MIN_VOICED_SHARE * in_words.sum()):
        f0 = np.asarray(prosody.f0, np.float64)
        smooth = np.array(
            [
                np.median(f0[max(0, i - 1) : i + 2][use[max(0, i - 1) : i + 2]])
                for i in np.flatnonzero(use)
            ]
        )
        pitch = call("Create PitchTier", "f0", 0.0, snd.duration)
        for d, f in zip(np.interp(times[use], t_map, d_map), smooth):
            call(pitch, "Add point", float(d), float(f))
        source = "line"
    else:
        pitch = call(manip, "Extract pitch tier")
        own = snd.to_pitch(0.01, lo, hi).selected_array["frequency"]
        if ref and np.any(own > 0):
            call(pitch, "Multiply frequencies", 0.0, snd.duration, ref / np.median(own[own > 0]))
        source = "donor"
    call([manip, pitch], "Replace pitch tier")
    with _praat_lock:  # praat's overlap-add jitters unvoiced stretches: seed its generator
        run("random_initializeWithSeedUnsafelyButPredictably (9)")
        try:
            out = np.asarray(call(manip, "Get resynthesis (overlap-add)").values[0], np.float64)
        finally:
            run("random_initializeSafelyAndUnpredictably ()")
    if sr != int(sample_rate):
        from scipy.signal import resample_poly

        g = np.gcd(sr, int(sample_rate))
        out = resample_poly(out, int(sample_rate) // g, sr // g)
    n = seconds_to_samples(end - start, int(sample_rate))
    audio = np.zeros(n, np.float64)
    at = (
        seconds_to_samples(t_map[0] - start, int(sample_rate))
        if t_map[0] >= start
        else -seconds_to_samples(start - t_map[0], int(sample_rate))
    )
    lo_i, hi_i = max(at, 0), min(at + len(out), n)
    if hi_i > lo_i:
        audio[lo_i:hi_i] = out[lo_i - at : hi_i - at]
    spans: list[tuple[float, float]] = []
    for w in sorted(t_words, key=lambda w: w.start):
        if spans and w.start - spans[-1][1] < PAUSE_S:
            spans[-1] = (spans[-1][0], max(spans[-1][1], w.end))
        else:
            spans.append((w.start, w.end))
    audio *= _gate(n, int(sample_rate), start, spans)
    return DonorLine(
        audio.astype(np.float32), int(sample_rate), name, t_map, d_map, matched, source
    )

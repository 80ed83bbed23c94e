"""Synthesizer timing to words and IPA phones (pure functions, no audio).

* festival: the ``adr_dump`` Scheme function of :mod:`adr.demo.tts` writes each ``Segment``
  item's label, end time and word id; :func:`festival_alignment` maps the radio phone labels
  to IPA (:data:`FESTIVAL_TO_IPA`) and keeps the label.
* piper: the VITS model's sample count per phoneme id (piper's ``phoneme_id_samples``).
  :func:`pad_before` gives each phoneme the pad id before it; :func:`piper_alignment` merges
  stress marks into the following phone and length marks and the second half of diphthongs
  and affricates into the preceding one, splits the short token between two words evenly,
  and splits word groups espeak-ng writes as one (``ʌvðə``, *of the*) between the tokens.

All times are seconds from the first sample of the utterance's audio.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.records import Record
from adr.core.timebase import samples_to_seconds
from adr.core.types import Phone, Word
from adr.demo.text import tokens

__all__ = [
    "FESTIVAL_TO_IPA",
    "TimedPhone",
    "Alignment",
    "festival_alignment",
    "pad_before",
    "piper_alignment",
    "piper_phones",
    "split_groups",
]

#: festival's radio phone set to IPA (symbols of :data:`adr.analysis.phonemes.PHONES`).
FESTIVAL_TO_IPA: dict[str, str] = {
    "aa": "ɑː",
    "ae": "æ",
    "ah": "ʌ",
    "ao": "ɔː",
    "aw": "aʊ",
    "ax": "ə",
    "axr": "ɚ",
    "ay": "aɪ",
    "eh": "ɛ",
    "er": "ɚ",
    "ey": "eɪ",
    "ih": "ɪ",
    "iy": "iː",
    "ow": "oʊ",
    "oy": "ɔɪ",
    "uh": "ʊ",
    "uw": "uː",
    "b": "b",
    "ch": "tʃ",
    "d": "d",
    "dh": "ð",
    "dx": "ɾ",
    "f": "f",
    "g": "ɡ",
    "hh": "h",
    "hv": "h",
    "jh": "dʒ",
    "k": "k",
    "l": "l",
    "el": "l",
    "m": "m",
    "em": "m",
    "n": "n",
    "en": "n",
    "nx": "n",
    "ng": "ŋ",
    "p": "p",
    "r": "ɹ",
    "s": "s",
    "sh": "ʃ",
    "t": "t",
    "th": "θ",
    "v": "v",
    "w": "w",
    "y": "j",
    "z": "z",
    "zh": "ʒ",
    "pau": "sil",
    "h#": "sil",
    "brth": "sil",
}

_PIPER_JOIN = {"aɪ", "aʊ", "eɪ", "oʊ", "ɔɪ", "tʃ", "dʒ", "əʊ"}
_PIPER_STRESS = {"ˈ", "ˌ"}


@dataclass(frozen=True)
class TimedPhone(Record):
    """A phone of an utterance with the synthesizer's own label.

    Attributes
    ----------
    symbol : str
        IPA symbol (``"sil"`` for silence).
    label : str
        The synthesizer's label (festival radio phone, or piper's IPA characters).
    start, end : float
        Seconds from the start of the utterance audio.
    word : int
        Index into the utterance's words, -1 for silence.
    """

    symbol: str
    label: str
    start: float
    end: float
    word: int = -1

    def to_phone(self, offset: float = 0.0) -> Phone:
        """The :class:`adr.core.types.Phone`, shifted by ``offset`` seconds."""
        return Phone(self.symbol, self.start + offset, self.end + offset, self.word)


@dataclass(frozen=True)
class Alignment:
    """Word and phone timing of one utterance (seconds from the start of its audio)."""

    words: tuple[Word, ...]
    phones: tuple[TimedPhone, ...]

    @property
    def speech_start(self) -> float:
        return self.words[0].start

    @property
    def speech_end(self) -> float:
        return self.words[-1].end

    def to_dict(self) -> dict[str, Any]:
        return {
            "words": [w.to_dict() for w in self.words],
            "phones": [p.to_dict() for p in self.phones],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alignment:
        if set(data) != {"words", "phones"}:
            raise ValueError(f"Alignment: expected keys words, phones; got {sorted(data)}")
        return cls(
            tuple(Word.from_dict(w) for w in data["words"]),
            tuple(TimedPhone.from_dict(p) for p in data["phones"]),
        )


def festival_alignment(dump: str, text: str, duration: float) -> Alignment:
    """Parse the ``adr_dump`` output into words (the text's tokens) and IPA phones."""
    segs: list[tuple[str, float, str]] = []
    word_ids: list[str] = []
    for row in dump.splitlines():
        parts = row.split()
        if parts and parts[0] == "S":
            segs.append((parts[1], float(parts[2]), parts[3]))
        elif parts and parts[0] == "W":
            word_ids.append(parts[1])
    index = {wid: k for k, wid in enumerate(word_ids)}
    phones: list[TimedPhone] = []
    start = 0.0
    for label, end, wid in segs:
        end = min(end, duration)
        symbol = FESTIVAL_TO_IPA.get(label, label)
        word = index.get(wid, -1) if symbol != "sil" else -1
        if end > start:
            phones.append(TimedPhone(symbol, label, start, end, word))
        start = end
    return Alignment(words_from_phones(phones, tokens(text), text), tuple(phones))


def words_from_phones(phones: list[TimedPhone], names: list[str], text: str) -> tuple[Word, ...]:
    """Words spanning their phones; ``names[k]`` names word index ``k``.

    Raises
    ------
    AdrError
        If the phones do not carry exactly the word indices ``0 .. len(names) - 1``.
    """
    spans: dict[int, list[float]] = {}
    for p in phones:
        if p.word >= 0:
            span = spans.setdefault(p.word, [p.start, p.end])
            span[0], span[1] = min(span[0], p.start), max(span[1], p.end)
    if sorted(spans) != list(range(len(names))):
        raise AdrError(text, f"synthesizer found {len(spans)} words, the text has {len(names)}")
    return tuple(Word(names[k], spans[k][0], spans[k][1]) for k in range(len(names)))


def pad_before(chunk: Any, n_pad: int) -> list[tuple[str, int]]:
    """(phoneme, samples) per piper phoneme, each owning the pad id *before* it.

    piper groups a phoneme with the pad that follows it; checked against pocketsphinx on the
    demo lines, word boundaries fit better (median error 24 ms instead of 35 ms) when the pad
    goes to the phoneme that follows it instead.
    """
    samples = np.asarray(chunk.phoneme_id_samples, dtype=np.int64)
    units: list[tuple[str, int]] = []
    k, carry = 0, 0
    for a in chunk.phoneme_alignments:
        n_ids = len(a.phoneme_ids)
        seg = samples[k : k + n_ids]
        k += n_ids
        trailing = n_pad if a.phoneme != "$" and n_ids > n_pad else 0
        own = int(seg[: n_ids - trailing].sum())
        units.append((a.phoneme, carry + own))
        carry = int(seg[n_ids - trailing :].sum())
    if units and carry:
        units[-1] = (units[-1][0], units[-1][1] + carry)
    return units


def piper_alignment(
    units: list[tuple[str, int]], text: str, sr: int, counts: list[int]
) -> Alignment:
    """Turn piper's per-character sample counts into IPA phones and words.

    espeak-ng writes some word pairs as one group (``ʌvðə`` for *of the*); ``counts`` (the
    number of phones of each token phonemized alone) splits such groups between the tokens.
    """
    phones = split_groups(piper_phones(units), counts)
    merged: list[TimedPhone] = []
    for sym, label, s, e, w in phones:
        if sym == "sil" and merged and merged[-1].symbol == "sil":
            last = merged[-1]
            merged[-1] = dataclasses.replace(
                last, end=samples_to_seconds(e, sr), label=last.label + label
            )
            continue
        merged.append(
            TimedPhone(sym, label, samples_to_seconds(s, sr), samples_to_seconds(e, sr), int(w))
        )
    names = tokens(text)
    return Alignment(words_from_phones(merged, names, text), tuple(merged))


def split_groups(phones: list[list[Any]], counts: list[int]) -> list[list[Any]]:
    """Renumber the words of ``phones`` (espeak groups) so that they follow the tokens."""
    groups: dict[int, list[list[Any]]] = {}
    for ph in phones:
        if ph[4] >= 0:
            groups.setdefault(ph[4], []).append(ph)
    if len(groups) == len(counts) or not groups:
        return phones
    order = sorted(groups)
    sizes = [len(groups[g]) for g in order]
    n_g, n_t = len(sizes), len(counts)
    csum = np.concatenate([[0], np.cumsum(counts)])
    # dp[g, t]: cost of giving the first g groups the first t tokens (each group >= 1 token)
    dp = np.full((n_g + 1, n_t + 1), np.inf)
    back = np.zeros((n_g + 1, n_t + 1), dtype=int)
    dp[0, 0] = 0.0
    for g in range(n_g):
        for t in range(n_t):
            if not np.isfinite(dp[g, t]):
                continue
            for t2 in range(t + 1, n_t + 1):
                cost = dp[g, t] + abs(csum[t2] - csum[t] - sizes[g]) + 0.1 * (t2 - t - 1)
                if cost < dp[g + 1, t2]:
                    dp[g + 1, t2], back[g + 1, t2] = cost, t
    if not np.isfinite(dp[n_g, n_t]):
        return phones
    t = n_t
    runs: list[tuple[int, int]] = []
    for g in range(n_g, 0, -1):
        runs.append((back[g, t], t))
        t = back[g, t]
    for g, (t0, t1) in zip(order, reversed(runs)):
        members = groups[g]
        weights = np.array([max(c, 1) for c in counts[t0:t1]], dtype=float)
        bounds = np.round(np.cumsum(weights) / weights.sum() * len(members)).astype(int)
        k = 0
        for i, ph in enumerate(members):
            while k < len(bounds) - 1 and i >= bounds[k]:
                k += 1
            ph[4] = int(t0 + k)
    return phones


def piper_phones(units: list[tuple[str, int]]) -> list[list[Any]]:
    """Group piper characters with sample counts into phones ``[ipa, label, start, end, group]``
    (sample positions; group -1 for silence)."""
    phones: list[list[Any]] = []  # [symbol, label, start, end, word]
    word = 0
    in_word = False
    pending_start: int | None = None  # a stress mark's start, waiting for its phone
    pos = 0
    for char, n in units:
        start, end = pos, pos + n
        pos = end
        if char in _PIPER_STRESS:
            pending_start = start if pending_start is None else pending_start
            continue
        marker = unicodedata.category(char).startswith("M") or char == "ʲ"
        if char == " " or not (char.isalpha() or marker):
            if char == " " and in_word and phones:  # word junction: split evenly
                mid = (start + end) // 2
                phones[-1][3] = mid
                pending_start = mid
            else:
                phones.append(["sil", char, start, end, -1])
                pending_start = None
            if in_word:
                word += 1
                in_word = False
            continue
        prev = phones[-1] if phones else None
        if (
            prev is not None
            and prev[4] == word
            and in_word
            and (char == "ː" or marker or prev[0] + char in _PIPER_JOIN)
        ):
            prev[0] += "" if marker else char  # diacritics stay in the label only
            prev[1] += char
            prev[3] = end
            continue
        if char == "ː" or marker:
            continue
        phones.append(
            [char, char, pending_start if pending_start is not None else start, end, word]
        )
        pending_start = None
        in_word = True
    return phones

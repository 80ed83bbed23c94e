"""Text edits of an aligned line: the words and phones of a new text on the old line's timing.

When the text to speak differs from the analysed text, the words are diffed
(:func:`edit_alignment`). Equal words keep their phones. A substituted word gets the new
word's phones spread over the old word's time span (several words replaced by as many: word
by word; by a different number: over their joint span); same phone count keeps the old phone
boundaries, else each phone gets a share proportional to a nominal length (vowels 2,
consonants 1). An inserted word joins its preceding word (the following one at the line
start) as one substitution, whose span then also takes a pause after it. A deleted word's
span becomes a pause. Prosody (F0, voicing, loudness) is always the line's own.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.types import Phone, Word

if TYPE_CHECKING:
    from adr.analysis.align import Alignment
    from adr.analysis.analyze import LineAnalysis

__all__ = ["edit_alignment", "edited_spans"]

_VOWEL_CHARS = set("aeiouyɑɐɒæɔəɚɛɜɝɪʊʌᵻɨʉ")


def _spread(
    symbols: Sequence[str], old: Sequence[Phone], t0: float, t1: float, word: int
) -> list[Phone]:
    """New phones over [t0, t1]: the old boundaries when the counts match, else shares
    proportional to a nominal length (vowel 2, consonant 1)."""
    if len(symbols) == len(old) and old:
        return [Phone(s, p.start, p.end, word) for s, p in zip(symbols, old)]
    weights = np.array([2.0 if s[0] in _VOWEL_CHARS else 1.0 for s in symbols])
    edges = t0 + (t1 - t0) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return [Phone(s, float(a), float(b), word) for s, a, b in zip(symbols, edges, edges[1:])]


def _absorb_inserts(ops: list[list[Any]]) -> list[list[Any]]:
    """Turn each insertion into a substitution of its neighbouring word (module doc)."""
    out: list[list[Any]] = []
    pending: tuple[int, int] | None = None
    for tag, i1, i2, j1, j2 in ops:
        if tag == "insert" and out:
            prev = out[-1]
            if prev[0] == "equal" and prev[2] - prev[1] > 1:
                prev[2], prev[4] = prev[2] - 1, prev[4] - 1
                out.append(["replace", i1 - 1, i1, j1 - 1, j2])
            else:
                prev[0], prev[4] = "replace", j2
        elif tag == "insert":
            pending = (j1, j2)
        elif pending is not None:
            if tag == "equal" and i2 - i1 > 1:
                out += [
                    ["replace", i1, i1 + 1, pending[0], j1 + 1],
                    ["equal", i1 + 1, i2, j1 + 1, j2],
                ]
            else:
                out.append(["replace", i1, i2, pending[0], j2])
            pending = None
        else:
            out.append([tag, i1, i2, j1, j2])
    return out


def edit_alignment(alignment: Alignment, text: str) -> Alignment:
    """The alignment of ``text`` on the timing of an aligned line (module doc: the rule).

    Parameters
    ----------
    alignment : Alignment
        The analysed line's words and phones.
    text : str
        The text to speak; normalized with :func:`adr.analysis.phonemes.normalize_text`.

    Returns
    -------
    Alignment
        ``alignment`` itself when the words are the same; otherwise new words and phones
        (method gets ``"+edited"``; pauses are ``"sil"`` phones).
    """
    from adr.analysis.align import Alignment
    from adr.analysis.phonemes import SILENCE, normalize_text, phonemize_words

    old = [w.text for w in alignment.words]
    new = normalize_text(text)
    if not new:
        raise AdrError(repr(text), "no words to speak")
    if old == new:
        return alignment
    ipa = phonemize_words(new)
    by_word: dict[int, list[Phone]] = {}
    for p in alignment.phones:
        by_word.setdefault(p.word, []).append(p)
    ops = _absorb_inserts(
        [list(o) for o in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()]
    )
    phones: list[Phone] = []
    cleared: list[tuple[float, float]] = []  # old spans whose pauses are dropped
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            for k in range(i2 - i1):
                phones += [dataclasses.replace(p, word=j1 + k) for p in by_word.get(i1 + k, [])]
        elif tag == "replace":
            if i2 - i1 == j2 - j1:
                pairs = [((i, i + 1), (j, j + 1)) for i, j in zip(range(i1, i2), range(j1, j2))]
            else:
                pairs = [((i1, i2), (j1, j2))]
            for (a1, a2), (b1, b2) in pairs:
                t0, t1 = alignment.words[a1].start, alignment.words[a2 - 1].end
                if b2 - b1 > a2 - a1 and a2 < len(old):  # more words: take the pause after
                    t1 = max(t1, alignment.words[a2].start)
                cleared.append((t0, t1))
                olds = [p for i in range(a1, a2) for p in by_word.get(i, [])]
                symbols = [s for j in range(b1, b2) for s in ipa[j]]
                spread = _spread(symbols, olds, t0, t1, b1)
                k = 0
                for j in range(b1, b2):  # give each new word its own phones' index
                    for p in spread[k : k + len(ipa[j])]:
                        phones.append(dataclasses.replace(p, word=j))
                    k += len(ipa[j])
    for p in by_word.get(-1, []):
        if not any(p.start < b and p.end > a for a, b in cleared):
            phones.append(dataclasses.replace(p, symbol=SILENCE))
    phones.sort(key=lambda p: (p.start, p.end))
    words = []
    for j, w in enumerate(new):
        mine = [p for p in phones if p.word == j]
        conf = next(
            (
                alignment.words[i1 + (j - j1)].confidence
                for tag, i1, _, j1, j2 in ops
                if tag == "equal" and j1 <= j < j2
            ),
            0.0,
        )
        words.append(Word(w, min(p.start for p in mine), max(p.end for p in mine), conf))
    return Alignment(
        tuple(words),
        tuple(phones),
        alignment.score,
        float(np.mean([w.confidence for w in words])),
        alignment.method + "+edited",
    )


def edited_spans(line: LineAnalysis, alignment: Alignment) -> list[tuple[float, float]]:
    """Session-second spans of the words that differ from the analysed ones."""
    before = [w.text.lower() for w in line.alignment.words]
    after = [w.text.lower() for w in alignment.words]
    ops = difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes()
    spans = [
        (w.start, w.end)
        for tag, _, _, j1, j2 in ops
        if tag != "equal"
        for w in alignment.words[j1:j2]
    ]
    spans += [
        (w.start, w.end)
        for tag, i1, i2, _, _ in ops
        if tag == "delete"
        for w in line.alignment.words[i1:i2]
    ]
    return spans

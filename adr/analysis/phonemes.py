"""Words to phones: text normalization, espeak-ng IPA phones, a fixed phone inventory.

Phones are IPA symbols as espeak-ng (through phonemizer) writes them for US English, with
stress marks removed and multi-character phones kept whole: affricates (``tʃ dʒ``),
diphthongs (``aɪ aʊ eɪ oʊ ɔɪ``), r-coloured vowels (``ɚ ɝ``) and long vowels (``iː``). espeak's
own units that join a vowel and an r (``ɪɹ``, ``ɑːɹ``, ``aɪɚ``) are split into their phones.
:data:`PHONES` is the fixed inventory (plus ``"sil"`` for silence and ``"spn"`` for anything
unknown); :func:`phone_id` maps a symbol to its index.

The module also holds the ARPAbet <-> IPA mapping the aligner uses (CMU dictionary phones).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from typing import Any

from adr.core.errors import AdrError

__all__ = [
    "PHONES",
    "SILENCE",
    "SPOKEN_NOISE",
    "phone_id",
    "normalize_text",
    "phonemize_words",
    "split_phones",
    "ARPABET_TO_IPA",
    "ipa_to_arpabet",
    "number_to_words",
]

SILENCE = "sil"
SPOKEN_NOISE = "spn"

_CONSONANTS = ("p b t d k ɡ f v θ ð s z ʃ ʒ h tʃ dʒ m n ŋ l ɹ r w j ɾ ʔ x ç ʍ ɬ").split()
_VOWELS = (
    "i iː ɪ e eː ɛ æ a aː ɑ ɑː ɒ ɔ ɔː o oː ʊ u uː ʌ ə əː ɚ ɜ ɜː ɝ ɐ ᵻ ɨ ʉ y"
    " aɪ aʊ eɪ oʊ ɔɪ əʊ eə ɪə ʊə iə"
).split()

#: The fixed phone inventory: English espeak-ng IPA phones, then silence and spoken noise.
PHONES: tuple[str, ...] = tuple(_CONSONANTS + _VOWELS + [SILENCE, SPOKEN_NOISE])
_PHONE_INDEX = {p: i for i, p in enumerate(PHONES)}
_MULTI = sorted((p for p in PHONES[:-2] if len(p) > 1), key=len, reverse=True)
_DROP = dict.fromkeys(map(ord, "ˈˌ\u0329\u0361\u032f-|"), None)  # stress, syllabic, tie, dash

#: CMU dictionary (ARPAbet, stress removed) to IPA phones of :data:`PHONES`.
ARPABET_TO_IPA: dict[str, str] = {
    "AA": "ɑː",
    "AE": "æ",
    "AH": "ʌ",
    "AO": "ɔː",
    "AW": "aʊ",
    "AY": "aɪ",
    "EH": "ɛ",
    "ER": "ɚ",
    "EY": "eɪ",
    "IH": "ɪ",
    "IY": "iː",
    "OW": "oʊ",
    "OY": "ɔɪ",
    "UH": "ʊ",
    "UW": "uː",
    "B": "b",
    "CH": "tʃ",
    "D": "d",
    "DH": "ð",
    "F": "f",
    "G": "ɡ",
    "HH": "h",
    "JH": "dʒ",
    "K": "k",
    "L": "l",
    "M": "m",
    "N": "n",
    "NG": "ŋ",
    "P": "p",
    "R": "ɹ",
    "S": "s",
    "SH": "ʃ",
    "T": "t",
    "TH": "θ",
    "V": "v",
    "W": "w",
    "Y": "j",
    "Z": "z",
    "ZH": "ʒ",
    "SIL": SILENCE,
}
# IPA phones with no ARPAbet twin of the same symbol, mapped to the nearest CMU phone.
_IPA_EXTRA = {
    "i": "IY",
    "ɑ": "AA",
    "ɔ": "AO",
    "u": "UW",
    "ə": "AH",
    "ɐ": "AH",
    "ᵻ": "IH",
    "ɨ": "IH",
    "ɜ": "ER",
    "ɜː": "ER",
    "ɝ": "ER",
    "əː": "ER",
    "ɾ": "T",
    "ʔ": "T",
    "r": "R",
    "e": "EH",
    "eː": "EY",
    "a": "AE",
    "aː": "AA",
    "ɒ": "AA",
    "o": "OW",
    "oː": "AO",
    "əʊ": "OW",
    "eə": "EH R",
    "ɪə": "IH R",
    "ʊə": "UH R",
    "iə": "IY AH",
    "x": "K",
    "ç": "HH",
    "ʍ": "W",
    "ɬ": "L",
    "ʉ": "UW",
    "y": "UW",
}
_IPA_TO_ARPA = {v: k for k, v in ARPABET_TO_IPA.items()} | _IPA_EXTRA

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    " fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
_SYMBOLS = {"%": " percent ", "&": " and ", "+": " plus ", "@": " at ", "$": " dollars "}

_backend: Any = None
_cache: dict[str, tuple[str, ...]] = {}
_lock = threading.Lock()


def phone_id(symbol: str) -> int:
    """Index of ``symbol`` in :data:`PHONES`; unknown symbols map to ``"spn"``."""
    return _PHONE_INDEX.get(symbol, _PHONE_INDEX[SPOKEN_NOISE])


def number_to_words(n: int) -> str:
    """Spell a non-negative integer in English words (``42`` -> ``"forty two"``)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for value, name in _SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            tail = "" if rest == 0 else " " + number_to_words(rest)
            return f"{number_to_words(head)} {name}{tail}"
    raise AssertionError("unreachable")


def _spell_digits(match: re.Match[str]) -> str:
    digits = match.group(0)
    if len(digits) > 12 or (len(digits) > 1 and digits.startswith("0")):
        return " " + " ".join(_ONES[int(d)] for d in digits) + " "
    return " " + number_to_words(int(digits)) + " "


def normalize_text(text: str) -> list[str]:
    """Split a line into lowercase words for alignment.

    Punctuation is stripped (apostrophes inside words are kept: ``don't``), hyphens and
    slashes split words, digits are spelled out simply (``"42"`` -> ``forty two``, a decimal
    point is read ``point``, leading zeros digit by digit), ``% & + @ $`` become words.

    Parameters
    ----------
    text : str
        A scripted or recognized line.

    Returns
    -------
    list of str
        The words, possibly empty.
    """
    t = unicodedata.normalize("NFKC", text).lower().replace("’", "'").replace("‘", "'")
    t = re.sub(r"(\d),(\d{3})", r"\1\2", t)
    t = re.sub(r"\$(\d+(?:\.\d+)?)", r"\1 dollars", t)
    t = re.sub(r"(\d)\.(\d)", r"\1 point \2", t)
    for sym, word in _SYMBOLS.items():
        t = t.replace(sym, word)
    t = re.sub(r"\d+", _spell_digits, t)
    t = re.sub(r"[^\w']+", " ", t).replace("_", " ")
    words = []
    for raw in t.split():
        w = raw.strip("'")
        if w:
            words.append(w)
    return words


def split_phones(ipa: str) -> tuple[str, ...]:
    """Split an IPA string (one word, any separators) into phones of :data:`PHONES`.

    Stress, syllabic and tie marks are dropped; the longest known phone is taken first; a
    length mark stays attached to its vowel; a character outside the inventory becomes a
    phone of its own (which :func:`phone_id` maps to ``"spn"``).
    """
    s = "".join(ipa.translate(_DROP).split())
    phones: list[str] = []
    i = 0
    while i < len(s):
        match = next((m for m in _MULTI if s.startswith(m, i)), s[i])
        i += len(match)
        if i < len(s) and s[i] == "ː" and not match.endswith("ː"):
            match += "ː"
            i += 1
        if match == "ː":  # stray length mark
            continue
        phones.append(match)
    return tuple(phones)


def _get_backend() -> Any:
    global _backend
    if _backend is None:
        try:
            from phonemizer.backend import EspeakBackend
        except ImportError:
            raise AdrError("phonemizer", "package phonemizer is not installed") from None
        try:
            _backend = EspeakBackend(
                "en-us",
                preserve_punctuation=False,
                with_stress=False,
                language_switch="remove-flags",
            )
        except RuntimeError as exc:
            raise AdrError("espeak-ng", f"espeak-ng is not usable ({exc})") from None
    return _backend


def phonemize_words(words: list[str]) -> list[tuple[str, ...]]:
    """IPA phones of each word (US English, espeak-ng), one espeak call per batch.

    Parameters
    ----------
    words : list of str
        Words, normally from :func:`normalize_text`.

    Returns
    -------
    list of tuple of str
        Phones per word, same length as ``words``; a word espeak gives nothing for (pure
        punctuation) has ``("spn",)``. Results are cached per process.
    """
    keys = [w.lower().strip() for w in words]
    with _lock:
        todo = sorted({k for k in keys if k and k not in _cache})
        if todo:
            from phonemizer.separator import Separator

            out = _get_backend().phonemize(
                todo, separator=Separator(phone="|", word=" ", syllable=None), strip=True, njobs=1
            )
            for word, ipa in zip(todo, out):
                _cache[word] = split_phones(ipa) or (SPOKEN_NOISE,)
        return [_cache.get(k, (SPOKEN_NOISE,)) if k else (SPOKEN_NOISE,) for k in keys]


def ipa_to_arpabet(phones: tuple[str, ...] | list[str]) -> list[str]:
    """Map IPA phones to CMU ARPAbet (stressless) for the pocketsphinx dictionary.

    Phones outside the mapping (``"spn"``, stray symbols) are dropped.
    """
    out: list[str] = []
    for p in phones:
        arpa = _IPA_TO_ARPA.get(p)
        if arpa and arpa != "SIL":
            out.extend(arpa.split())
    return out

"""Text normalization, espeak-ng phones and the phone inventory."""

from __future__ import annotations

import shutil

import pytest

from adr.analysis import phonemes
from adr.analysis.phonemes import PHONES, normalize_text, phone_id, phonemize_words, split_phones

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")


def test_normalize_text_strips_punctuation_and_spells_numbers() -> None:
    assert normalize_text("Hello, World!  It's 42 -- ok?") == [
        "hello",
        "world",
        "it's",
        "forty",
        "two",
        "ok",
    ]
    assert normalize_text("3.5% of $1,200") == [
        "three",
        "point",
        "five",
        "percent",
        "of",
        "one",
        "thousand",
        "two",
        "hundred",
        "dollars",
    ]
    assert normalize_text("agent 007") == ["agent", "zero", "zero", "seven"]
    assert normalize_text(" ... ") == []


def test_number_to_words() -> None:
    assert phonemes.number_to_words(0) == "zero"
    assert phonemes.number_to_words(115) == "one hundred fifteen"
    assert phonemes.number_to_words(2024) == "two thousand twenty four"


def test_split_phones_keeps_multi_character_phones() -> None:
    assert split_phones("tʃˈɜːtʃ") == ("tʃ", "ɜː", "tʃ")
    assert split_phones("f|aɪɚ") == ("f", "aɪ", "ɚ")
    assert split_phones("n ɪɹ") == ("n", "ɪ", "ɹ")
    assert split_phones("dʒˌʌdʒ") == ("dʒ", "ʌ", "dʒ")


def test_inventory_and_ids() -> None:
    assert len(set(PHONES)) == len(PHONES)
    assert PHONES[-2:] == ("sil", "spn")
    for p in ("tʃ", "dʒ", "aɪ", "aʊ", "eɪ", "oʊ", "ɔɪ", "ɚ", "ɝ", "iː", "ɹ"):
        assert PHONES[phone_id(p)] == p
    assert phone_id("☃") == phone_id("spn")


@needs_espeak
def test_phonemize_words() -> None:
    out = phonemize_words(["church", "boy", "fire", "measure", "Judge"])
    assert out[0] == ("tʃ", "ɜː", "tʃ")
    assert out[1] == ("b", "ɔɪ")
    assert out[2] == ("f", "aɪ", "ɚ")
    assert "ʒ" in out[3]
    assert out[4] == ("dʒ", "ʌ", "dʒ")
    for phones in out:
        assert all(p in PHONES for p in phones)
        assert not any(c in "".join(phones) for c in "ˈˌ")


@needs_espeak
def test_phonemize_is_cached_and_order_preserving() -> None:
    words = ["nobody", "told", "me", "nobody"]
    first = phonemize_words(words)
    assert first[0] == first[3]
    assert phonemize_words(list(reversed(words))) == list(reversed(first))
    assert phonemize_words([]) == []


def test_ipa_to_arpabet() -> None:
    assert phonemes.ipa_to_arpabet(("tʃ", "ɜː", "tʃ")) == ["CH", "ER", "CH"]
    assert phonemes.ipa_to_arpabet(("ð", "ə", "spn")) == ["DH", "AH"]

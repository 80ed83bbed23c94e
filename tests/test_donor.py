"""Donor renditions (adr.voice.donor): one voice's timing imposed on the other voice."""

from __future__ import annotations

import numpy as np
import pytest

from adr.analysis.align import Alignment
from adr.core.errors import AdrError
from adr.core.types import Phone, Prosody, Word
from adr.voice.donor import FEMALE_MIN_F0_HZ, PAUSE_S, choose_donor, donor_line

TEXT = "The jacket is supposed to look wet, she just climbed out of the river."
RATE = 16000
STRETCH, SHIFT = 1.3, 0.2


def _warp(t: float) -> float:
    return SHIFT + STRETCH * t


@pytest.fixture(scope="module")
def target() -> tuple[Alignment, float, float]:
    """MAYA's alignment of TEXT, stretched by 1.3 and shifted by 0.2 s; (alignment, start, end)."""
    from adr.demo.tts import VOICES, synthesize

    utt = synthesize(VOICES["MAYA"], [TEXT])[0]
    words = tuple(Word(w.text, _warp(w.start), _warp(w.end)) for w in utt.alignment.words)
    phones = tuple(
        Phone(p.symbol, _warp(p.start), _warp(p.end), p.word) for p in utt.alignment.phones
    )
    return Alignment(words, phones, 1.0, 1.0, "test"), 0.0, _warp(utt.duration) + 0.3


def _prosody(alignment: Alignment, end: float, hz: float) -> Prosody:
    """A flat ``hz`` contour, voiced inside the words, 10 ms frames."""
    times = np.arange(int(end / 0.01)) * 0.01
    voiced = np.zeros(len(times), bool)
    for w in alignment.words:
        voiced |= (times >= w.start) & (times < w.end)
    f0 = np.where(voiced, hz, 0.0).astype(np.float32)
    return Prosody(0.0, 0.01, f0, voiced, np.full(len(times), -20.0, np.float32))


def _median_f0(audio: np.ndarray) -> float:
    import parselmouth

    f0 = parselmouth.Sound(audio.astype(np.float64), RATE).to_pitch(0.01, 60, 500)
    f = f0.selected_array["frequency"]
    return float(np.median(f[f > 0]))


def _inside_share(audio: np.ndarray, spans: list[tuple[float, float]]) -> float:
    e = audio.astype(np.float64) ** 2
    inside = sum(e[int(a * RATE) : int(b * RATE)].sum() for a, b in spans)
    return float(inside / e.sum())


def test_choose_donor() -> None:
    assert choose_donor(110.0) == "JOE"
    assert choose_donor(FEMALE_MIN_F0_HZ) == "MAYA"
    assert choose_donor(230.0) == "MAYA"
    assert choose_donor(float("nan")) == "JOE"


def test_joe_on_maya_timing(target: tuple[Alignment, float, float]) -> None:
    alignment, start, end = target
    line = donor_line(TEXT, alignment, _prosody(alignment, end, 150.0), start, end, RATE, "JOE")
    assert line.audio.dtype == np.float32
    assert len(line.audio) == round((end - start) * RATE)
    assert line.donor == "JOE" and line.f0_source == "line"
    assert line.anchored_words == len(alignment.words)
    assert np.all(np.diff(line.target_times) > 0) and np.all(np.diff(line.donor_times) > 0)
    words = alignment.words
    assert _inside_share(line.audio, [(words[0].start - 0.05, words[-1].end + 0.05)]) > 0.9
    assert np.max(np.abs(line.audio[: int((words[0].start - 0.05) * RATE)])) < 1e-4
    # each word's span holds some of the donor's speech (words land where they are asked to)
    for w in words:
        seg = line.audio[int(w.start * RATE) : int(w.end * RATE)]
        assert np.sqrt(np.mean(seg.astype(np.float64) ** 2)) > 0.005, w.text
    assert abs(_median_f0(line.audio) / 150.0 - 1.0) < 0.05
    again = donor_line(TEXT, alignment, _prosody(alignment, end, 150.0), start, end, RATE, "JOE")
    np.testing.assert_array_equal(line.audio, again.audio)


def test_maya_auto_pitch_and_pause(target: tuple[Alignment, float, float]) -> None:
    alignment, start, end = target
    # open a 0.4 s pause after "wet": later words move 0.4 s later
    cut = [w.text for w in alignment.words].index("wet")
    moved = lambda t: t + 0.4  # noqa: E731
    words = alignment.words[: cut + 1] + tuple(
        Word(w.text, moved(w.start), moved(w.end)) for w in alignment.words[cut + 1 :]
    )
    phones = tuple(
        p
        if p.word <= cut and p.word >= 0
        else Phone(p.symbol, moved(p.start), moved(p.end), p.word)
        for p in alignment.phones
        if p.word >= 0
    )
    paused = Alignment(words, phones, 1.0, 1.0, "test")
    end = end + 0.4
    line = donor_line(TEXT, paused, _prosody(paused, end, 220.0), start, end, 22050)
    assert line.donor == "MAYA" and len(line.audio) == round(end * 22050)
    a, b = words[cut].end + 0.05, words[cut + 1].start - 0.05
    gap = line.audio[int(a * 22050) : int(b * 22050)]
    assert words[cut + 1].start - words[cut].end >= PAUSE_S + 0.3
    assert np.max(np.abs(gap)) < 1e-4
    import parselmouth

    f = parselmouth.Sound(line.audio.astype(np.float64), 22050).to_pitch(0.01, 60, 500)
    hz = f.selected_array["frequency"]
    assert abs(np.median(hz[hz > 0]) / 220.0 - 1.0) < 0.05


def test_missing_f0_falls_back_to_donor_contour(target: tuple[Alignment, float, float]) -> None:
    alignment, start, end = target
    pro = _prosody(alignment, end, 150.0)
    # octave errors and gaps: only a few scattered frames, most of them implausible
    f0 = np.where(np.arange(pro.num_frames) % 9 == 0, pro.f0, 0.0)
    f0[::27] = 900.0
    noisy = Prosody(0.0, 0.01, f0.astype(np.float32), f0 > 0, pro.energy)
    line = donor_line(TEXT, alignment, noisy, start, end, RATE, "JOE", median_f0=130.0)
    assert line.f0_source == "donor"
    assert abs(_median_f0(line.audio) / 130.0 - 1.0) < 0.1


def test_word_lists_differ(target: tuple[Alignment, float, float]) -> None:
    alignment, start, end = target
    # the analysis lost "supposed" and heard "jacket" as "jackets"; an extra word at the end
    keep = [i for i, w in enumerate(alignment.words) if w.text != "supposed"]
    words = [alignment.words[i] for i in keep]
    words[1] = Word("jackets", words[1].start, words[1].end)
    last = words[-1]
    words.append(Word("again", last.end + 0.05, last.end + 0.25))
    phones = tuple(
        Phone(p.symbol, p.start, p.end, keep.index(p.word))
        for p in alignment.phones
        if p.word in keep
    )
    odd = Alignment(tuple(words), phones, 0.5, 0.5, "test")
    end = end + 0.3
    line = donor_line(TEXT, odd, _prosody(odd, end, 150.0), start, end, RATE, "MAYA")
    assert len(line.audio) == round(end * RATE)
    assert line.anchored_words == len(words) - 2
    assert _inside_share(line.audio, [(words[0].start - 0.05, words[-1].end + 0.05)]) > 0.9


def test_errors_name_the_line(target: tuple[Alignment, float, float]) -> None:
    alignment, start, end = target
    pro = _prosody(alignment, end, 150.0)
    with pytest.raises(AdrError, match="101"):
        donor_line("  ", alignment, pro, start, end, RATE, cue_id="101")
    with pytest.raises(AdrError, match="jacket"):
        donor_line(TEXT, alignment, pro, end, start, RATE)
    with pytest.raises(AdrError, match="unknown donor"):
        donor_line(TEXT, alignment, pro, start, end, RATE, "NOBODY")


@pytest.mark.slow
def test_donor_is_intelligible(target: tuple[Alignment, float, float]) -> None:
    from adr.metrics import transcribe_for_wer, word_error_rate

    alignment, start, end = target
    line = donor_line(TEXT, alignment, _prosody(alignment, end, 150.0), start, end, RATE, "JOE")
    assert word_error_rate(TEXT, transcribe_for_wer(line.audio, RATE)) <= 0.2


def test_donor_speech_is_synthesized_once_per_text(
    target: tuple[Alignment, float, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enrollment asks for each line's donor once per damaged copy: the synthesizer (about
    0.5 s a line) runs once per (voice, text), and the cached rendition gives the same audio."""
    import adr.demo.tts as tts
    from adr.voice import donor as donor_mod

    alignment, start, end = target
    calls: list[str] = []
    real = tts.synthesize

    def counting(voice, texts, **kw):  # the real synthesizer, counted
        calls.extend(texts)
        return real(voice, texts, **kw)

    monkeypatch.setattr(tts, "synthesize", counting)
    monkeypatch.setattr(donor_mod, "_spoken_cache", donor_mod.OrderedDict())
    first = donor_line(TEXT, alignment, _prosody(alignment, end, 140.0), start, end, RATE, "JOE")
    shifted = _prosody(alignment, end, 170.0)
    second = donor_line(TEXT, alignment, shifted, start, end, RATE, "JOE")
    assert len(calls) == 1
    assert abs(_median_f0(second.audio) / 170.0 - 1.0) < 0.05  # same words, new contour
    again = donor_line(TEXT, alignment, _prosody(alignment, end, 140.0), start, end, RATE, "JOE")
    np.testing.assert_array_equal(first.audio, again.audio)
    assert len(calls) == 1

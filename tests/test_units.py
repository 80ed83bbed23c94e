"""adr.voice.units: a line spoken with the actor's own frames, chosen by phone."""

from __future__ import annotations

import numpy as np
import pytest

from adr.core.types import Phone, Prosody
from adr.voice.evidence import line_frames
from adr.voice.units import SILENCE, UnitBank, bank_line, join_banks, select_units
from adr.voice.vocoder import MEL

_COLOUR = {"a": 0.0, "b": 1.0, "c": 2.0}  # each phone's frames carry their own mel value


def _line(symbols: str, seconds: float = 0.2, pause: float = 0.1) -> tuple[list[Phone], float]:
    phones, t = [], pause
    for s in symbols:
        phones.append(Phone(s, round(t, 4), round(t + seconds, 4), 0))
        t += seconds
    return phones, t + pause


def _prosody(duration: float, f0: float) -> Prosody:
    n = int(duration / 0.01) + 1
    return Prosody(
        start=0.0,
        frame_period=0.01,
        f0=np.full(n, f0),
        voiced=np.ones(n, dtype=bool),
        energy=np.full(n, -20.0),
    )


def _mel(phones: list[Phone], duration: float, n_mels: int = 8) -> np.ndarray:
    n = line_frames(duration)
    t = (np.arange(n) + 0.5) * MEL.frame_period
    mel = np.full((n_mels, n), MEL.log_floor, dtype=np.float32)
    for p in phones:
        inside = (t >= p.start) & (t < p.end)
        mel[:, inside] = _COLOUR[p.symbol] + np.linspace(0, 0.1, inside.sum())[None, :]
    return mel


def test_every_speech_frame_comes_from_the_same_phone_and_silence_stays_silent() -> None:
    lines = []
    for k, symbols in enumerate(("abc", "cab", "bca")):
        phones, dur = _line(symbols)
        lines.append(bank_line(_mel(phones, dur), phones, _prosody(dur, 120.0), 0.0, k))
    bank = join_banks(lines)
    assert bank.num_frames == sum(b.num_frames for b in lines)
    assert set(bank.phone) == {"a", "b", "c", SILENCE}
    target, dur = _line("cabba", seconds=0.15)
    n = line_frames(dur)
    out = select_units(bank, target, _prosody(dur, 125.0), 0.0, n)
    assert out.shape == (8, n)
    t = (np.arange(n) + 0.5) * MEL.frame_period
    for p in target:
        inside = (t >= p.start) & (t < p.end)
        got = out[0, inside]
        assert np.all(np.abs(got - _COLOUR[p.symbol]) <= 0.1 + 1e-6), (p.symbol, got)
    assert np.all(out[:, t < target[0].start] == MEL.log_floor)
    # leave-one-out: no frame of an excluded line is used (its phones are still covered)
    only = join_banks(lines[:1])
    with_two = join_banks([lines[0], lines[1]])
    out2 = select_units(with_two, target, _prosody(dur, 125.0), 0.0, n, exclude_line=1)
    assert np.array_equal(out2, select_units(only, target, _prosody(dur, 125.0), 0.0, n))


def test_a_phone_the_bank_never_heard_still_speaks_and_bad_banks_are_refused() -> None:
    phones, dur = _line("ab")
    bank = bank_line(_mel(phones, dur), phones, _prosody(dur, 120.0), 0.0)
    target, tdur = _line("ca")
    n = line_frames(tdur)
    out = select_units(bank, target, _prosody(tdur, 120.0), 0.0, n)
    t = (np.arange(n) + 0.5) * MEL.frame_period
    c = (t >= target[0].start) & (t < target[0].end)
    assert np.all(out[:, c] > MEL.log_floor)  # some speech frame, not silence
    with pytest.raises(ValueError, match="N frames"):
        UnitBank(np.zeros((8, 3)), ("a",), np.zeros(3), np.zeros(3), np.zeros(3), (), ())
    with pytest.raises(ValueError, match="no bank"):
        join_banks([])

"""Conform (timing by DTW, partial repair, scene match), warp and loudness, on generated audio."""

from __future__ import annotations

import numpy as np
import pytest
from deliver_session import SR, speech

from adr.core.errors import AdrError
from adr.core.types import Word
from adr.deliver import conform as C
from adr.deliver import loudness as L
from adr.deliver import warp as W


@pytest.fixture(scope="module")
def line() -> tuple[np.ndarray, tuple[Word, ...]]:
    """A festival line at 48 kHz and its word times (seconds from its first sample)."""
    ((x, words, _),) = speech(["Roll sound, we are losing the light, so hurry up."])
    return x, words


def _noise(n: int, level: float, seed: int = 3) -> np.ndarray:
    from scipy.signal import lfilter

    v = lfilter([1.0], [1.0, -0.9], np.random.default_rng(seed).standard_normal(n))
    return v / np.sqrt(np.mean(v**2)) * level


def _placed(x: np.ndarray, at: float, n: int) -> np.ndarray:
    out = np.zeros(n)
    a = round(at * SR)
    out[a : a + len(x)] = x[: n - a]
    return out


def test_place_take() -> None:
    t = C.place_take(np.zeros(10), np.arange(1, 5, dtype=float), 8 / SR, SR)
    assert t.tolist() == [0] * 8 + [1, 2]
    t = C.place_take(np.zeros(5), np.ones(3), -1 / SR, SR)
    assert t.tolist() == [1, 1, 0, 0, 0]


def test_dtw_offset_and_warp_word_boundaries(line) -> None:
    x, words = line
    n = len(x) + round(0.6 * SR)
    prod = _placed(x, 0.3, n)
    ref = tuple(Word(w.text, w.start + 0.3, w.end + 0.3) for w in words)
    noisy = prod + _noise(n, np.sqrt(np.mean(prod**2)) * 10 ** (-5 / 20))  # 5 dB SNR

    # a take 40 ms late: a plain offset
    take = _placed(x, 0.34, n)
    w = W.estimate_warp(take, noisy, SR, max_shift=0.3)
    assert w.method == "offset"
    assert w.offset == pytest.approx(-0.04, abs=0.006)
    moved = W.apply_warp(take, SR, w)
    xc = np.fft.irfft(np.fft.rfft(moved, 2 * n) * np.conj(np.fft.rfft(prod, 2 * n)))
    lag = int(np.argmax(xc))
    assert min(lag, 2 * n - lag) < 0.006 * SR

    # a take that drifts: first words 8 % faster, the rest 6 % slower
    import librosa

    b = round(words[2].start * SR)
    y = np.concatenate(
        [
            librosa.effects.time_stretch(x[:b], rate=1.08),
            librosa.effects.time_stretch(x[b:], rate=0.94),
        ]
    )

    def m(t: float) -> float:
        s = t * SR
        return 0.3 + (s / 1.08 if s <= b else b / 1.08 + (s - b) / 0.94) / SR

    take_words = tuple(Word(q.text, m(q.start), m(q.end)) for q in words)
    take = _placed(y, 0.3, n)
    before = W.word_boundary_error(ref, take_words)
    w = W.estimate_warp(take, noisy, SR, max_shift=0.3)
    after = W.word_boundary_error(ref, W.warp_words(take_words, w, 0.0))
    assert w.method == "warp"
    assert before.median > 0.03
    assert after.median < 0.015 and after.p90 < 0.04, (before, after)
    # the rendered warp puts the speech where the production has it
    out = W.apply_warp(take, SR, w)
    env = [np.convolve(np.abs(v), np.ones(480) / 480, "same")[::480] for v in (out, prod, take)]
    assert np.corrcoef(env[0], env[1])[0, 1] > np.corrcoef(env[2], env[1])[0, 1]
    assert W.TimeWarp.from_dict(w.to_dict()).to_dict() == w.to_dict()


def test_apply_warp_keeps_pitch_and_length() -> None:
    t = np.arange(SR) / SR
    x = 0.5 * np.sin(2 * np.pi * 220 * t)
    w = W.TimeWarp("warp", 0.0, np.array([0.0, 1.0]), np.array([0.0, 1.1]))
    y = W.apply_warp(x, SR, w, length=round(1.1 * SR))
    assert len(y) == round(1.1 * SR)
    seg = y[SR // 10 : SR]
    f = np.fft.rfftfreq(len(seg), 1 / SR)[
        np.argmax(np.abs(np.fft.rfft(seg * np.hanning(len(seg)))))
    ]
    assert f == pytest.approx(220, abs=2)
    assert np.sqrt(np.mean(seg**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)
    shifted = W.apply_warp(x, SR, W.TimeWarp("offset", 0.01))
    assert np.array_equal(shifted[480:], x[:-480]) and not shifted[:480].any()


def test_splice_bit_identical_outside_and_equal_power() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(-0.5, 0.5, 4800).astype(np.float32)
    rep = rng.uniform(-0.5, 0.5, 4800)
    out = C.splice(base, rep, [(1000, 2000), (3000, 3200)], 100)
    keep = np.ones(4800, bool)
    keep[900:2100] = keep[2900:3300] = False
    assert np.array_equal(out[keep], base[keep].astype(np.float64))
    assert np.array_equal(out[1000:2000], rep[1000:2000])
    # equal power: gains g (rising) and h satisfy g^2 + h^2 = 1 in each crossfade
    ones = C.splice(np.zeros(4800), np.ones(4800), [(1000, 2000)], 100)
    comp = C.splice(np.ones(4800), np.zeros(4800), [(1000, 2000)], 100)
    np.testing.assert_allclose(ones[900:1000] ** 2 + comp[900:1000] ** 2, 1.0, atol=1e-12)
    assert np.all(np.diff(ones[900:1000]) > 0) and np.all(np.diff(ones[2000:2100]) < 0)
    with pytest.raises(AdrError):
        C.splice(base, rep[:10], [], 10)


def test_snap_spans_and_choose_repair() -> None:
    words = [Word("a", 1.0, 1.3), Word("b", 1.4, 1.8), Word("c", 2.0, 2.5)]
    cuts = C.boundaries(words)
    assert C.snap_spans([(1.5, 1.6)], cuts, 0.9, 3.0) == ((1.4, 1.8),)
    assert C.snap_spans([(1.35, 1.5)], cuts, 0.9, 3.0) == ((1.3, 1.8),)  # from the pause
    assert C.snap_spans([(1.1, 1.2), (1.5, 1.6)], cuts, 0.9, 3.0, min_gap=0.2) == ((1.0, 1.8),)
    assert C.snap_spans([(0.5, 1.1)], cuts, 0.9, 3.0) == ((0.9, 1.3),)  # clipped to the cue
    assert C.choose_repair("auto", "", [(1.4, 1.8)], ["burst"], 3.0)[0] == "partial"
    assert C.choose_repair("auto", "", [(1.4, 1.8)], ["noise"], 3.0)[0] == "whole"
    assert C.choose_repair("auto", "", [(0.0, 2.0)], ["burst"], 3.0)[0] == "whole"
    assert C.choose_repair("auto", "", [], [], 3.0)[0] == "whole"
    assert C.choose_repair("auto", "please: repair=whole", [(1.4, 1.8)], ["burst"], 3.0) == (
        "whole",
        "cue note",
    )
    assert C.choose_repair("whole", "Repair: partial", [(1.4, 1.8)], ["noise"], 3.0)[0] == "partial"
    assert C.choose_repair("partial", "", [], [], 3.0)[0] == "whole"
    with pytest.raises(AdrError, match="repair mode"):
        C.ConformOptions(repair="some")
    opts = C.ConformOptions(repair="whole", crossfade=0.02)
    assert C.ConformOptions.from_dict(opts.to_dict()) == opts


def test_loudness_measures_and_specs() -> None:
    import pyloudnorm

    rng = np.random.default_rng(1)
    x = rng.standard_normal(6 * SR) * 0.05 * np.repeat(rng.uniform(0.05, 1, 60), SR // 10)
    ref = pyloudnorm.Meter(SR).integrated_loudness(x)
    assert L.gated_loudness(x, SR) == pytest.approx(ref, abs=0.05)
    assert L.integrated_loudness(x, SR) == pytest.approx(ref, abs=1e-9)
    for name, target in (("-24", -24.0), ("ebu", -23.0)):
        y, rep = L.normalize_loudness(x, SR, name)
        assert pyloudnorm.Meter(SR).integrated_loudness(y) == pytest.approx(target, abs=0.1)
        assert rep.after == pytest.approx(target, abs=0.1)
    mask = np.zeros(len(x), bool)
    mask[SR : 3 * SR] = True
    y, rep = L.normalize_loudness(x, SR, "dialog", dialog_mask=mask)
    assert L.gated_loudness(y, SR, mask) == pytest.approx(-27.0, abs=0.1)
    assert L.StemLoudness.from_dict(rep.to_dict()) == rep
    with pytest.raises(AdrError, match="unknown loudness spec"):
        L.loudness_spec("-31")


def test_true_peak_limiter() -> None:
    t = np.arange(3 * SR) / SR
    # a hot, inter-sample-peaky signal: a high tone plus a square-ish burst
    x = 0.9 * np.sin(2 * np.pi * 11_025.3 * t) * (t < 1) + 0.95 * np.sign(
        np.sin(2 * np.pi * 100 * t)
    ) * (t > 2)
    assert L.true_peak_db(x, SR) > -0.5
    y, reduction = L.limit_true_peak(x, SR, -2.0)
    assert L.true_peak_db(y, SR) <= -1.95
    assert reduction > 1.0
    quiet = x * 0.1
    same, r0 = L.limit_true_peak(quiet, SR, -2.0)
    assert r0 == 0.0 and np.array_equal(same, quiet)
    y, rep = L.normalize_loudness(x * 0.05, SR, "-24")
    assert rep.true_peak <= -1.95 and rep.after == pytest.approx(-24.0, abs=0.1)


def test_room_tone_and_bed() -> None:
    rng = np.random.default_rng(2)
    n = 6 * SR
    floor = rng.standard_normal(n) * 0.003
    loud = floor.copy()
    loud[SR : 2 * SR] += rng.standard_normal(SR) * 0.3  # "speech"
    allowed = np.ones(n, bool)
    allowed[4 * SR : 5 * SR] = False
    tone = C.room_tone(loud, SR, allowed)
    assert len(tone) >= SR and np.sqrt(np.mean(tone**2)) == pytest.approx(0.003, rel=0.2)
    bed = C.tone_bed(tone, 10 * SR, SR)
    assert len(bed) == 10 * SR and np.sqrt(np.mean(bed**2)) == pytest.approx(0.003, rel=0.2)
    assert not C.tone_bed(np.ones(10), 100, SR).any()
    assert len(C.room_tone(loud, SR, np.zeros(n, bool))) == 0


def test_conform_line_partial_and_whole(line) -> None:
    x, words = line
    n = len(x) + round(0.4 * SR)
    dry = _placed(x, 0.2, n)
    w = tuple(Word(q.text, q.start + 0.2, q.end + 0.2) for q in words)
    floor = _noise(n, 0.002, seed=5)
    burst = (w[4].start + 0.02, w[4].start + 0.2)  # inside "losing"
    b0, b1 = round(burst[0] * SR), round(burst[1] * SR)
    prod = (dry + floor).astype(np.float32)
    prod[b0:b1] += (0.3 * np.random.default_rng(4).standard_normal(b1 - b0)).astype(np.float32)
    take = 0.5 * dry  # clean, 6 dB down, on time
    tone = C.room_tone(
        prod,
        SR,
        np.r_[np.ones(round(0.15 * SR), bool), np.zeros(n - round(0.15 * SR), bool)],
        min_run=0.1,
    )
    out, res = C.conform_line(
        prod,
        take,
        SR,
        start=10.0,
        cue_id="7",
        words=tuple(Word(q.text, q.start + 10, q.end + 10) for q in w),
        damage=[(burst[0] + 10, burst[1] + 10, "burst")],
        tone=tone,
    )
    assert res.mode == "partial" and len(res.spans) == 1
    s0, s1 = res.spans[0]
    assert s0 == pytest.approx(w[4].start + 10) and s1 == pytest.approx(w[4].end + 10)
    assert res.gain_db == pytest.approx(6.0, abs=1.0)
    assert res.warp.method == "offset" and abs(res.warp.offset) < 0.006
    fade = round(0.015 * SR)
    a, b = round((s0 - 10) * SR), round((s1 - 10) * SR)
    keep = np.ones(n, bool)
    keep[a - fade : b + fade] = False
    assert np.array_equal(out[keep], prod[keep].astype(np.float64))
    assert np.sqrt(np.mean(out[b0:b1] ** 2)) < 0.5 * np.sqrt(
        np.mean(prod[b0:b1].astype(float) ** 2)
    )
    assert res.room_tone_loudness is not None
    assert C.ConformResult.from_dict(res.to_dict()).to_dict() == res.to_dict()

    out, res = C.conform_line(
        prod,
        take,
        SR,
        start=10.0,
        notes="repair=whole",
        damage=[(burst[0] + 10, burst[1] + 10, "burst")],
    )
    assert res.mode == "whole"
    assert np.array_equal(out[:1], prod[:1].astype(np.float64)) or abs(out[0] - prod[0]) < 1e-3
    assert np.max(np.abs(out[b0:b1])) < 0.7 * np.max(np.abs(prod[b0:b1]))
    with pytest.raises(AdrError, match="silent"):
        C.conform_line(prod, np.zeros(n), SR, start=0.0)


def test_dtw_refuses_an_unlike_take() -> None:
    (x, _, _), (y, _, _) = speech(
        ["Roll sound, we are losing the light.", "Nobody moves until I say so, is that clear?"]
    )
    n = max(len(x), len(y))
    w = W.estimate_warp(np.pad(y, (0, n - len(y))), np.pad(x, (0, n - len(x))), SR)
    assert w.method == "none" and w.cost > 0.75  # another sentence: keep the take in place
    assert W.estimate_warp(np.zeros(n), np.pad(x, (0, n - len(x))), SR).method == "none"


def test_production_loudness_under_noise(line) -> None:
    x, words = line
    speech_mask = np.zeros(len(x), bool)
    for w in words:
        speech_mask[round(w.start * SR) : round(w.end * SR)] = True
    truth = L.speech_loudness(x, SR, speech_mask)
    for snr in (20, 5):
        noise = _noise(len(x), np.sqrt(np.mean(x[speech_mask] ** 2)) * 10 ** (-snr / 20), seed=snr)
        value, used, method = L.production_loudness(x + noise, SR, speech_mask)
        assert method == "gap-subtracted" and np.array_equal(used, speech_mask)
        assert value == pytest.approx(truth, abs=0.5)
        assert L.speech_loudness(x + noise, SR, speech_mask) > value  # the noise adds level
    # no gaps: falls back to the denoised line
    value, _, method = L.production_loudness(x, SR, np.ones(len(x), bool), denoised=0.5 * x)
    assert method == "denoised" and value == pytest.approx(L.speech_loudness(0.5 * x, SR), abs=1e-9)
    # damaged spans are left out while at least half the speech remains
    bad = np.zeros(len(x), bool)
    bad[round(words[1].start * SR) : round(words[1].end * SR)] = True
    _, used, _ = L.production_loudness(x, SR, speech_mask, exclude=bad)
    assert not (used & bad).any() and used.sum() > 0.5 * speech_mask.sum()

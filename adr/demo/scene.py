"""The demo scene's sound: rooms, film-set noise and the production mix.

Everything here is a pure function of arrays and a seeded ``numpy.random.Generator``:

* :func:`room_impulse_response` -- direct sound, a few early reflections and an exponentially
  decaying, low-passed noise tail with a chosen RT60;
* noise generators, each returning unit-RMS noise, shape (N,): :func:`ambience` (room tone),
  :func:`generator_hum` (mains harmonics and an engine), :func:`wind` (gusty low rumble),
  :func:`traffic` (brown-noise rumble with passing cars), :func:`babble` (other speech,
  reversed and overlapped), :func:`door_slam` and :func:`dog_bark` (sudden bursts);
* :func:`mix_production` -- places the reverberant lines on the scene timeline with each
  line's noise scaled so that the line's SNR (speech power over all noise power within the
  line) is exactly the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adr.analysis.rooms import lowpass as _lowpass
from adr.analysis.rooms import room_impulse_response
from adr.core.records import Record
from adr.core.timebase import seconds_to_samples

__all__ = [
    "NOISE_KINDS",
    "Condition",
    "MixResult",
    "room_impulse_response",
    "ambience",
    "generator_hum",
    "wind",
    "traffic",
    "babble",
    "door_slam",
    "dog_bark",
    "make_noise",
    "snr_db",
    "mix_production",
]

#: Noise kinds :func:`make_noise` knows (``"clean"`` adds nothing but the room tone).
NOISE_KINDS = ("clean", "generator", "wind", "traffic", "babble", "door", "dog")


@dataclass(frozen=True)
class Condition(Record):
    """Recording condition of one line.

    Attributes
    ----------
    kind : str
        One of :data:`NOISE_KINDS`.
    snr_db : float or None
        Target speech-to-noise ratio within the line; None for a clean line.
    rt60 : float
        Reverberation time of the room in seconds.
    """

    kind: str
    snr_db: float | None
    rt60: float

    def __post_init__(self) -> None:
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"unknown noise kind {self.kind!r}")
        if (self.kind == "clean") != (self.snr_db is None):
            raise ValueError("a clean line has no SNR target, a noisy one needs one")


def _unit(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0
    return (x / rms).astype(np.float32) if rms > 0 else x.astype(np.float32)


def _bandpass(x: np.ndarray, lo: float, hi: float, sr: int, order: int = 2) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    sos = butter(order, [lo, min(hi, 0.45 * sr)], btype="band", fs=sr, output="sos")
    return sosfilt(sos, x)


def _slow_envelope(n: int, sr: int, rng: np.random.Generator, rate: float) -> np.ndarray:
    """A smooth random positive envelope varying at about ``rate`` Hz, mean about 1."""
    hop = max(int(sr / (4 * rate)), 1)
    knots = rng.standard_normal(n // hop + 3)
    smooth = np.convolve(knots, np.hanning(5) / np.hanning(5).sum(), mode="same")
    env = np.interp(np.arange(n) / hop, np.arange(len(smooth)), smooth)
    return np.exp(0.8 * env).astype(np.float64)


def ambience(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Room tone: soft pink-ish noise with a little low air-conditioning rumble, shape (n,)."""
    white = rng.standard_normal(n)
    pinkish = _lowpass(white, 1200.0, sr, order=1) + 0.3 * _lowpass(white, 150.0, sr, order=2)
    return _unit(pinkish)


def generator_hum(n: int, sr: int, rng: np.random.Generator, mains: float = 50.0) -> np.ndarray:
    """A location generator: mains harmonics with a slow wobble plus a diesel engine, shape (n,)."""
    t = np.arange(n) / sr
    drift = 1.0 + 0.004 * np.sin(2 * np.pi * 0.13 * t + rng.uniform(0, 6.28))
    phase = 2 * np.pi * mains * np.cumsum(drift) / sr
    hum = sum((1.0 / k**0.8) * np.sin(k * phase + rng.uniform(0, 6.28)) for k in range(1, 12))
    firing = 1.0 + 0.6 * np.sin(2 * np.pi * 24.5 * t) ** 2
    engine = _bandpass(rng.standard_normal(n), 60.0, 900.0, sr) * firing
    return _unit(_unit(hum) + 0.8 * _unit(engine))


def wind(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Wind on a microphone: low-passed noise, amplitude-modulated by gusts, shape (n,)."""
    white = rng.standard_normal(n)
    gusts = _slow_envelope(n, sr, rng, rate=0.7)
    body = _lowpass(white, 250.0, sr, order=2) * gusts
    whistle = _bandpass(white, 600.0, 1500.0, sr) * gusts**1.5 * 0.05
    return _unit(body + whistle)


def traffic(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Distant traffic: brown-noise rumble with passing cars swelling up, shape (n,)."""
    from scipy.signal import butter, sosfilt

    brown = np.cumsum(rng.standard_normal(n))
    brown = sosfilt(butter(2, 25.0, btype="high", fs=sr, output="sos"), brown)
    rumble = _unit(_lowpass(brown, 400.0, sr, order=2))
    t = np.arange(n) / sr
    cars = np.zeros(n)
    for _ in range(max(1, int(n / sr / 2.5))):
        t0, width = rng.uniform(0, n / sr), rng.uniform(0.6, 1.5)
        swell = 1.0 / (1.0 + ((t - t0) / width) ** 2)
        cars += swell * _unit(_bandpass(rng.standard_normal(n), 80.0, 2500.0, sr))
    return _unit(rumble + 1.2 * cars)


def babble(n: int, sr: int, rng: np.random.Generator, sources: list[np.ndarray]) -> np.ndarray:
    """Crowd murmur: several utterances, reversed, looped and overlapped, shape (n,).

    ``sources`` are speech signals at ``sr`` (at least one).
    """
    out = np.zeros(n)
    for k in range(min(6, max(len(sources), 1) * 2)):
        src = np.asarray(sources[k % len(sources)], dtype=np.float64)[::-1]
        if len(src) == 0:
            continue
        reps = int(np.ceil((n + len(src)) / len(src))) + 1
        loop = np.tile(src, reps)
        start = int(rng.integers(0, len(src)))
        out += _unit(loop[start : start + n]) * rng.uniform(0.6, 1.0)
    return _unit(_lowpass(out, 3500.0, sr, order=2))


def door_slam(n: int, sr: int, rng: np.random.Generator, times: list[float]) -> np.ndarray:
    """Door slams at ``times`` (seconds into the output): a thump, a crack and a rattle."""
    out = np.zeros(n)
    length = seconds_to_samples(0.5, sr)
    t = np.arange(length) / sr
    for when in times:
        crack = rng.standard_normal(length) * np.exp(-t / 0.012)
        thump = np.sin(2 * np.pi * rng.uniform(60, 110) * t) * np.exp(-t / 0.07) * 3.0
        rattle = _bandpass(rng.standard_normal(length), 800.0, 4000.0, sr) * np.exp(-t / 0.12)
        event = crack + thump + 0.5 * rattle * (1 + np.sin(2 * np.pi * 17 * t))
        _add_at(out, event, seconds_to_samples(when, sr))
    return _unit(out)


def dog_bark(n: int, sr: int, rng: np.random.Generator, times: list[float]) -> np.ndarray:
    """Dog barks at ``times``: short harmonic chirps with a falling pitch and a rough edge."""
    out = np.zeros(n)
    for when in times:
        for j in range(int(rng.integers(2, 4))):
            dur = rng.uniform(0.12, 0.2)
            t = np.arange(seconds_to_samples(dur, sr)) / sr
            f0 = np.linspace(rng.uniform(550, 700), rng.uniform(300, 400), len(t))
            phase = 2 * np.pi * np.cumsum(f0) / sr
            voice = sum(np.sin(k * phase) * np.exp(-abs(k * 500 - 1400) / 900) for k in range(1, 9))
            env = np.minimum(t / 0.012, 1.0) * np.exp(-t / (0.4 * dur))
            rough = _bandpass(rng.standard_normal(len(t)), 800.0, 3500.0, sr) * 0.3
            _add_at(out, (voice + rough) * env, seconds_to_samples(when + 0.28 * j, sr))
    return _unit(out)


def _add_at(out: np.ndarray, event: np.ndarray, start: int) -> None:
    if start >= len(out):
        return
    stop = min(len(out), start + len(event))
    out[max(start, 0) : stop] += event[max(-start, 0) : stop - start]


def make_noise(
    kind: str,
    n: int,
    sr: int,
    rng: np.random.Generator,
    babble_sources: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Unit-RMS noise of ``kind`` (one of :data:`NOISE_KINDS` except ``"clean"``), shape (n,).

    Bursts (``door``, ``dog``) get one or two events inside the middle 80 % of the span.
    """
    span = n / sr
    if kind == "generator":
        return generator_hum(n, sr, rng, mains=float(rng.choice([50.0, 60.0])))
    if kind == "wind":
        return wind(n, sr, rng)
    if kind == "traffic":
        return traffic(n, sr, rng)
    if kind == "babble":
        if not babble_sources:
            raise ValueError("babble needs speech sources")
        return babble(n, sr, rng, babble_sources)
    if kind in ("door", "dog"):
        count = 1 if span < 2.5 else 2
        times = sorted(rng.uniform(0.1 * span, 0.8 * span, size=count).tolist())
        return door_slam(n, sr, rng, times) if kind == "door" else dog_bark(n, sr, rng, times)
    raise ValueError(f"no noise generator for {kind!r}")


def snr_db(speech: np.ndarray, noise: np.ndarray) -> float:
    """Speech power over noise power in dB (both shape (N,))."""
    ps = float(np.mean(np.square(speech, dtype=np.float64)))
    pn = float(np.mean(np.square(noise, dtype=np.float64)))
    return float(10 * np.log10(ps / pn)) if pn > 0 else float("inf")


@dataclass(frozen=True, eq=False)
class MixResult:
    """The production mix and its parts.

    Attributes
    ----------
    audio : np.ndarray, shape (N,), float32
        The production track.
    speech : np.ndarray, shape (N,), float32
        The reverberant dialogue alone (same gain as in ``audio``).
    line_gains : tuple of float
        Gain applied to each dry line (reverberation has unit direct path).
    snrs : tuple of float
        Measured SNR of each line within its span (inf-free: clean lines see the room tone).
    """

    audio: np.ndarray
    speech: np.ndarray
    line_gains: tuple[float, ...]
    snrs: tuple[float, ...]


def mix_production(
    lines: list[np.ndarray],
    offsets: list[int],
    spans: list[tuple[int, int]],
    conditions: list[Condition],
    total: int,
    sr: int,
    seed: int,
    babble_sources: list[np.ndarray],
    *,
    speech_dbfs: float = -26.0,
    room_tone_db: float = -48.0,
) -> MixResult:
    """Mix the scene.

    Parameters
    ----------
    lines : list of np.ndarray, each shape (L_i,)
        Dry lines at ``sr``.
    offsets : list of int
        Sample of the scene at which each line's first sample sits.
    spans : list of (int, int)
        Each line's speech span (first word start, last word end) in scene samples; the SNR
        is measured there.
    conditions : list of Condition
        One per line.
    total : int
        Scene length in samples.
    sr : int
        Sample rate (48000).
    seed : int
        Seed of rooms and noise.
    babble_sources : list of np.ndarray
        Speech at ``sr`` for babble.
    speech_dbfs : float
        RMS level of each reverberant line within its span.
    room_tone_db : float
        Level of the continuous room tone relative to ``speech_dbfs``.

    Returns
    -------
    MixResult
    """
    from scipy.signal import fftconvolve

    rng = np.random.default_rng(seed)
    speech = np.zeros(total)
    noise = np.zeros(total)
    target = 10 ** (speech_dbfs / 20)
    bed = ambience(total, sr, rng) * target * 10 ** (room_tone_db / 20)
    gains = []
    for line, off, (s0, s1), cond in zip(lines, offsets, spans, conditions):
        wet = fftconvolve(line, room_impulse_response(cond.rt60, sr, rng))
        stop = min(total, off + len(wet))
        placed = np.zeros(total)
        placed[off:stop] = wet[: stop - off]
        gain = target / np.sqrt(np.mean(placed[s0:s1] ** 2))
        speech += gain * placed
        gains.append(float(gain))
    for (s0, s1), cond in zip(spans, conditions):
        if cond.snr_db is None:
            continue
        pad = seconds_to_samples(0.3, sr)
        fade = seconds_to_samples(0.2, sr)
        a, b = max(0, s0 - pad), min(total, s1 + pad)
        burst = make_noise(cond.kind, b - a, sr, rng, babble_sources).astype(np.float64)
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade))
        burst[:fade] *= ramp
        burst[-fade:] *= ramp[::-1]
        # choose g so that |bed + noise + g*burst|^2 over the span hits the target exactly
        base = (bed + noise)[s0:s1]
        part = np.zeros(total)
        part[a:b] = burst
        part = part[s0:s1]
        want = np.mean(speech[s0:s1] ** 2) / 10 ** (cond.snr_db / 10) * (s1 - s0)
        qa, qb, qc = np.dot(part, part), 2 * np.dot(base, part), np.dot(base, base) - want
        g = (-qb + np.sqrt(max(qb * qb - 4 * qa * qc, 0.0))) / (2 * qa)
        noise[a:b] += g * burst
    noise += bed
    mix = speech + noise
    peak = float(np.max(np.abs(mix)))
    master = 0.95 / peak if peak > 0.95 else 1.0
    snrs = tuple(snr_db(speech[s0:s1], noise[s0:s1]) for s0, s1 in spans)
    return MixResult(
        (mix * master).astype(np.float32),
        (speech * master).astype(np.float32),
        tuple(g * master for g in gains),
        snrs,
    )

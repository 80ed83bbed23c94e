"""Damage generated in code: what production noise and rooms do to a clean line.

At enrollment the restorer is trained to give back an actor's clean line from a damaged
copy of it (:mod:`adr.voice.restorer`). The damage is made here from seeded random numbers,
never from recordings (the product must not need the development corpus):

* stationary noise of a random colour (spectral slope -6..+3 dB/octave, white to brown);
* mains hum, 50 or 60 Hz with decaying harmonics;
* wind-like gusts: low-passed noise under a slow random envelope;
* babble: other lines of the same material, shifted, reversed and summed (never the line
  itself), standing in for a crowd;
* impulsive bursts (20-300 ms) and dropouts (10-120 ms of near silence);
* a synthetic room (:func:`adr.analysis.rooms.room_impulse_response`, RT60 0.15-0.7 s).

Every kind is drawn independently; the noise mix is then scaled to an SNR drawn from
``snr_range`` against the (reverberant) speech power. Pure functions of arrays and a
``numpy.random.Generator``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adr.core.timebase import seconds_to_samples

__all__ = ["DamageSpec", "coloured_noise", "hum", "gusts", "babble", "damage_line"]


@dataclass(frozen=True)
class DamageSpec:
    """How a line is damaged (drawn per copy).

    Attributes
    ----------
    snr_range : tuple of float
        SNR in dB, drawn uniformly.
    p_room, p_hum, p_gusts, p_babble, p_bursts, p_dropouts : float
        Probability of each kind of damage in one copy.
    """

    snr_range: tuple[float, float] = (-10.0, 20.0)
    p_room: float = 0.6
    p_hum: float = 0.25
    p_gusts: float = 0.3
    p_babble: float = 0.35
    p_bursts: float = 0.3
    p_dropouts: float = 0.15


def coloured_noise(
    n: int, sample_rate: int, slope_db_per_octave: float, rng: np.random.Generator
) -> np.ndarray:
    """Gaussian noise (N,) whose spectrum falls by ``slope`` dB per octave (0: white)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sample_rate)
    f[0] = f[1] if n > 1 else 1.0
    spec *= (f / 1000.0) ** (slope_db_per_octave / (20.0 * np.log10(2.0)))
    x = np.fft.irfft(spec, n)
    return (x / (np.std(x) + 1e-12)).astype(np.float32)


def hum(n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Mains hum (N,): 50 or 60 Hz and harmonics with random phases, unit RMS."""
    base = float(rng.choice([50.0, 60.0])) * float(rng.uniform(0.995, 1.005))
    t = np.arange(n) / sample_rate
    x = np.zeros(n)
    for k in range(1, 12):
        if base * k >= sample_rate / 2:
            break
        x += (
            (0.6 ** (k - 1))
            * float(rng.uniform(0.3, 1.0))
            * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi))
        )
    return (x / (np.std(x) + 1e-12)).astype(np.float32)


def gusts(n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Wind-like gusts (N,): brown noise under a slow random envelope, unit RMS."""
    x = coloured_noise(n, sample_rate, -9.0, rng)
    knots = max(2, int(n / sample_rate * 3) + 2)
    env = np.interp(np.arange(n), np.linspace(0, n, knots), rng.gamma(1.0, 1.0, knots))
    y = x * env
    return (y / (np.std(y) + 1e-12)).astype(np.float32)


def babble(
    n: int, others: Sequence[np.ndarray], rng: np.random.Generator, voices: int = 4
) -> np.ndarray:
    """A crowd (N,) from other lines (each shifted, half reversed), unit RMS; zeros if none."""
    pool = [np.asarray(o, dtype=np.float32) for o in others if len(o)]
    if not pool:
        return np.zeros(n, dtype=np.float32)
    y = np.zeros(n, dtype=np.float32)
    for _ in range(voices):
        o = pool[int(rng.integers(len(pool)))]
        if rng.random() < 0.5:
            o = o[::-1]
        o = np.tile(o, int(np.ceil(n / len(o))) + 1)
        start = int(rng.integers(0, len(o) - n + 1))
        y += o[start : start + n] / (np.std(o) + 1e-12)
    return (y / (np.std(y) + 1e-12)).astype(np.float32)


def _bursts(n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    y = np.zeros(n, dtype=np.float32)
    for _ in range(int(rng.integers(1, 4))):
        length = seconds_to_samples(float(rng.uniform(0.02, 0.3)), sample_rate)
        start = int(rng.integers(0, max(1, n - length)))
        seg = coloured_noise(length, sample_rate, float(rng.uniform(-6, 0)), rng)
        seg *= np.exp(-np.arange(len(seg)) / max(1, len(seg) / 3)) * float(rng.uniform(2, 6))
        y[start : start + len(seg)] += seg[: n - start]
    return y


def damage_line(
    clean: np.ndarray,
    sample_rate: int,
    rng: np.random.Generator,
    others: Sequence[np.ndarray] = (),
    spec: DamageSpec = DamageSpec(),
) -> tuple[np.ndarray, float]:
    """One damaged copy of a clean line.

    Parameters
    ----------
    clean : np.ndarray, shape (N,)
    sample_rate : int
    rng : np.random.Generator
    others : sequence of np.ndarray
        Other lines of the material (for babble).
    spec : DamageSpec

    Returns
    -------
    damaged : np.ndarray, shape (N,), float32
        Same timing as ``clean`` (the room's direct sound stays at sample 0); peak <= 0.99.
    snr_db : float
        The SNR drawn.
    """
    from scipy.signal import fftconvolve

    from adr.analysis.rooms import room_impulse_response

    x = np.asarray(clean, dtype=np.float64)
    n = len(x)
    if n == 0:
        return x.astype(np.float32), 0.0
    if rng.random() < spec.p_room:
        rir = room_impulse_response(
            float(rng.uniform(0.15, 0.7)), sample_rate, rng, drr_db=float(rng.uniform(-6.0, 8.0))
        )
        x = fftconvolve(x, rir)[:n]
    noise = coloured_noise(n, sample_rate, float(rng.uniform(-6.0, 3.0)), rng).astype(np.float64)
    noise *= float(rng.uniform(0.2, 1.0))
    for p, make in (
        (spec.p_hum, lambda: hum(n, sample_rate, rng)),
        (spec.p_gusts, lambda: gusts(n, sample_rate, rng)),
        (spec.p_babble, lambda: babble(n, others, rng)),
    ):
        if rng.random() < p:
            noise += float(rng.uniform(0.5, 1.5)) * make()
    if rng.random() < spec.p_bursts:
        noise += _bursts(n, sample_rate, rng)
    snr = float(rng.uniform(*spec.snr_range))
    p_speech = float(np.mean(x**2)) + 1e-20
    p_noise = float(np.mean(noise**2)) + 1e-20
    y = x + noise * np.sqrt(p_speech / p_noise / 10.0 ** (snr / 10.0))
    if rng.random() < spec.p_dropouts:
        for _ in range(int(rng.integers(1, 3))):
            length = seconds_to_samples(float(rng.uniform(0.01, 0.12)), sample_rate)
            start = int(rng.integers(0, max(1, n - length)))
            y[start : start + length] *= 0.01
    peak = float(np.max(np.abs(y)))
    if peak > 0.99:
        y *= 0.99 / peak
    return y.astype(np.float32), snr

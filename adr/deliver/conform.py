"""Conform a rendered take to the production line: timing, partial repair and scene match.

Pure functions on mono float arrays (48 kHz in ``adr export``); files live in
:mod:`adr.deliver.export`.

**Timing.** A take is placed at its cue time (:func:`place_take`) and its timing refined
against the production guide track by DTW (:mod:`adr.deliver.warp`): a small offset, a time warp
where the render drifts, or nothing where the DTW is not trusted.

**Repair.** Partial or whole-line replacement, spans snapped to words and spliced with
crossfades outside them: :mod:`adr.deliver.repair`.

**Scene match.** The take's gain makes its loudness over the line's words equal to the
production's over the same words (without an alignment: the take's frames within 30 dB of
its loudest), damaged spans left out: the production's speech power less the noise power of
its gaps, or, where the line has too few gaps or too little SNR, the loudness of the
denoised production (:func:`adr.deliver.loudness.production_loudness`). An optional room-tone bed
(:mod:`adr.deliver.tone`) is cut from the production's quietest gaps outside
every cue and laid under the replacement, at most ``room_tone_below`` dB under the speech.

CLI contract: none; ``adr export`` (:func:`adr.deliver.export.export_session`) calls
:func:`conform_line` per rendered cue with :class:`ConformOptions`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.records import Record
from adr.core.timebase import seconds_to_samples
from adr.core.types import Phone, Word, strict_from_dict
from adr.deliver.loudness import production_loudness, speech_loudness
from adr.deliver.repair import REPAIR_MODES, boundaries, choose_repair, snap_spans, splice
from adr.deliver.tone import room_tone, tone_bed
from adr.deliver.warp import TimeWarp, apply_warp, estimate_warp, frame_level_db

__all__ = [
    "REPAIR_MODES",
    "CONFORM_VERSION",
    "ConformOptions",
    "ConformResult",
    "place_take",
    "boundaries",
    "snap_spans",
    "splice",
    "choose_repair",
    "room_tone",
    "tone_bed",
    "conform_line",
]

#: Bumped whenever conforming changes its output; part of ``adr export``'s rerun keys.
CONFORM_VERSION = 4


@dataclass(frozen=True)
class ConformOptions(Record):
    """Choices for conforming takes (see the module docstring).

    ``repair`` is ``"auto"``, ``"partial"`` or ``"whole"``; ``snap`` is ``"word"`` or
    ``"phone"``; times are seconds, levels dB.
    """

    repair: str = "auto"
    snap: str = "word"
    crossfade: float = 0.015
    align: bool = True
    max_shift: float = 0.3
    warp_tolerance: float = 0.02
    max_cost: float = 0.75
    room_tone: bool = True
    room_tone_below: float = 12.0
    max_partial: float = 0.5
    partial_min_snr: float = 15.0

    def __post_init__(self) -> None:
        if self.repair not in REPAIR_MODES:
            raise AdrError(
                self.repair, f"unknown repair mode (choose from {', '.join(REPAIR_MODES)})"
            )
        if self.snap not in ("word", "phone"):
            raise AdrError(self.snap, "snap must be 'word' or 'phone'")


@dataclass(frozen=True)
class ConformResult:
    """How one cue was conformed.

    Attributes
    ----------
    cue_id : str
    mode : str
        ``"partial"`` or ``"whole"``.
    reason : str
        Why that mode.
    spans : tuple of (float, float)
        Replaced stretches, session seconds (crossfades lie outside them).
    warp : TimeWarp
    gain_db : float
        Gain applied to the take.
    production_loudness, take_loudness : float
        Speech loudness (LKFS) of the production line and of the take before gain.
    room_tone_loudness : float or None
        Loudness of the room-tone bed when one was laid, LKFS.
    loudness_method : str
        How ``production_loudness`` was measured (:func:`adr.deliver.loudness.production_loudness`).
    """

    cue_id: str
    mode: str
    reason: str
    spans: tuple[tuple[float, float], ...]
    warp: TimeWarp
    gain_db: float
    production_loudness: float
    take_loudness: float
    room_tone_loudness: float | None = None
    loudness_method: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in _LEVELS:  # JSON has no -inf: silence is written as null
            if d[k] is not None and not math.isfinite(d[k]):
                d[k] = None
        d["spans"] = [[round(a, 6), round(b, 6)] for a, b in self.spans]
        d["warp"] = self.warp.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConformResult:
        d = dict(data)
        for k in ("production_loudness", "take_loudness"):
            if d.get(k) is None:
                d[k] = float("-inf")
        d["spans"] = tuple((float(a), float(b)) for a, b in d.get("spans", ()))
        d["warp"] = TimeWarp.from_dict(d["warp"])
        return strict_from_dict(cls, d)


_LEVELS = ("production_loudness", "take_loudness", "room_tone_loudness")


# --------------------------------------------------------------------------- placement


def place_take(
    timeline: np.ndarray, take: np.ndarray, start: float, sample_rate: int
) -> np.ndarray:
    """A copy of ``timeline`` (N,) with ``take`` (M,) written over it from ``start`` seconds
    (parts outside the timeline are dropped)."""
    out = np.array(timeline, copy=True)
    a = seconds_to_samples(start, sample_rate)
    lo, hi = max(a, 0), min(a + len(take), len(out))
    if hi > lo:
        out[lo:hi] = take[lo - a : hi - a]
    return out


# --------------------------------------------------------------------------- one line


def conform_line(
    production: np.ndarray,
    take: np.ndarray,
    sample_rate: int,
    *,
    start: float,
    cue_id: str = "",
    notes: str = "",
    words: Sequence[Word] = (),
    phones: Sequence[Phone] = (),
    damage: Sequence[tuple[float, float, str]] = (),
    guide: np.ndarray | None = None,
    guide_lead: float = 0.0,
    tone: np.ndarray | None = None,
    options: ConformOptions = ConformOptions(),
) -> tuple[np.ndarray, ConformResult]:
    """Conform one take to its production line.

    Parameters
    ----------
    production : np.ndarray, shape (N,)
        The production line over exactly the cue (session time ``start`` at sample 0).
    take : np.ndarray, shape (N,)
        The rendered take over the same span.
    words, phones : sequences
        The production line's alignment (session s), for snapping and speech frames.
    damage : sequence of (start, end, kind)
        Damaged spans (session s) from the analysis.
    guide : np.ndarray, shape (M,), optional
        Denoised production from ``guide_lead`` s before the cue (default: ``production``).
    tone : np.ndarray, shape (K,), optional
        Room-tone material (:func:`room_tone`).

    Returns
    -------
    line : np.ndarray, shape (N,), float64
        The repaired (partial) or replaced (whole) line.
    result : ConformResult
    """
    n = len(production)
    if len(take) != n:
        raise AdrError(f"cue {cue_id}", f"take has {len(take)} samples, the cue {n}")
    if guide is None:
        guide, guide_lead = production, 0.0
    warp = (
        estimate_warp(
            take,
            guide,
            sample_rate,
            lead=guide_lead,
            max_shift=options.max_shift,
            tolerance=options.warp_tolerance,
            max_cost=options.max_cost,
        )
        if options.align
        else TimeWarp()
    )
    aligned = apply_warp(take, sample_rate, warp, n)
    mask = np.zeros(n, dtype=bool)
    for w in words:
        mask[
            max(0, seconds_to_samples(w.start - start, sample_rate)) : max(
                0, seconds_to_samples(w.end - start, sample_rate)
            )
        ] = True
    if not mask.any():
        level = frame_level_db(aligned, sample_rate, max(1, int(n / sample_rate / 0.01)))
        frames = np.repeat(level > level.max() - 30.0, int(0.01 * sample_rate))
        mask[: len(frames)] = frames[:n]
    lead = seconds_to_samples(guide_lead, sample_rate)
    prod_seg = np.asarray(guide[lead : lead + n], dtype=np.float64)
    prod_seg = np.pad(prod_seg, (0, n - len(prod_seg)))
    damaged = np.zeros(n, dtype=bool)
    for a, b, _ in damage:
        damaged[
            max(0, seconds_to_samples(a - start, sample_rate)) : max(
                0, seconds_to_samples(b - start, sample_rate)
            )
        ] = True
    prod_l, speech, method = production_loudness(
        production, sample_rate, mask, denoised=prod_seg, exclude=damaged
    )
    take_l = speech_loudness(aligned, sample_rate, speech)
    if not math.isfinite(take_l):
        raise AdrError(f"cue {cue_id}", "the rendered take is silent")
    gain_db = float(np.clip(prod_l - take_l, -30.0, 30.0)) if math.isfinite(prod_l) else 0.0
    replacement = aligned * 10 ** (gain_db / 20)
    bed_l = None
    if options.room_tone and tone is not None and len(tone):
        bed = tone_bed(tone, n, sample_rate)
        bed_l = speech_loudness(bed, sample_rate)
        cap = (prod_l if math.isfinite(prod_l) else take_l + gain_db) - options.room_tone_below
        if math.isfinite(bed_l):
            if bed_l > cap:
                bed, bed_l = bed * 10 ** ((cap - bed_l) / 20), cap
            replacement = replacement + bed
        else:
            bed_l = None
    end = start + n / sample_rate
    cuts = boundaries(words, phones, options.snap)
    fade_s = options.crossfade
    spans = snap_spans(
        [(a, b) for a, b, _ in damage], cuts, start + fade_s, end - fade_s, 2 * fade_s
    )
    rest = np.ones(n, dtype=bool)  # outside the spans: how noisy is what a partial repair keeps?
    for a, b in spans:
        rest[
            max(0, seconds_to_samples(a - start - fade_s, sample_rate)) : seconds_to_samples(
                b - start + fade_s, sample_rate
            )
        ] = False
    x = np.asarray(production, dtype=np.float64)
    gaps = rest & ~mask
    if (rest & mask).any() and gaps.sum() >= 0.1 * sample_rate:
        p_noise = float(np.mean(x[gaps] ** 2))
        p_speech = float(np.mean(x[rest & mask] ** 2)) - p_noise
        rest_snr = 10 * math.log10(max(p_speech, 1e-12) / p_noise) if p_noise > 0 else math.inf
    else:
        rest_snr = math.inf
    mode, why = choose_repair(
        options.repair,
        notes,
        spans,
        [k for *_, k in damage],
        n / sample_rate,
        options.max_partial,
        rest_snr,
        options.partial_min_snr,
    )
    fade = seconds_to_samples(fade_s, sample_rate)
    if mode == "whole":
        spans = ((start + fade_s, end - fade_s),)
    idx = [
        (seconds_to_samples(a - start, sample_rate), seconds_to_samples(b - start, sample_rate))
        for a, b in spans
    ]
    line = splice(np.asarray(production), replacement, idx, fade)
    return line, ConformResult(
        cue_id, mode, why, tuple(spans), warp, gain_db, prod_l, take_l, bed_l, method
    )

"""Partial or whole-line repair of a cue: which, where, and the splice.

:func:`choose_repair` picks partial or whole-line replacement per cue: a cue note
``repair=partial`` or ``repair=whole`` wins; then the option (``"auto"``, ``"partial"``,
``"whole"``). ``"auto"`` repairs partially when the line has damaged spans, none of them
sustained noise, together at most half the line, and the rest of the line is clean enough:
outside the spans, speech power (in the words, less the noise) over noise power (between
the words) of at least ``partial_min_snr`` dB, the level below which the damage stage flags
a line. Damage spans are snapped outward to word (or phone) boundaries (:func:`snap_spans`)
and replaced with equal-power crossfades placed *outside* the span (:func:`splice`), so
production samples outside span + crossfade are copied bit for bit. Whole-line replacement
puts its crossfades just inside the cue.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from adr.core.errors import AdrError
from adr.core.types import Phone, Word

__all__ = ["REPAIR_MODES", "boundaries", "choose_repair", "snap_spans", "splice"]

REPAIR_MODES = ("auto", "partial", "whole")
_NOTE = re.compile(r"\brepair\s*[:=]\s*(partial|whole)\b", re.IGNORECASE)


def boundaries(
    words: Sequence[Word], phones: Sequence[Phone] = (), level: str = "word"
) -> np.ndarray:
    """Sorted cut points (session s): word starts and ends, or every phone boundary."""
    if level == "phone" and phones:
        pts = [t for p in phones for t in (p.start, p.end)]
    else:
        pts = [t for w in words for t in (w.start, w.end)]
    return np.unique(np.asarray(pts, dtype=np.float64))


def snap_spans(
    spans: Sequence[tuple[float, float]],
    cuts: np.ndarray,
    lo: float,
    hi: float,
    min_gap: float = 0.0,
) -> tuple[tuple[float, float], ...]:
    """Widen spans (session s) to the enclosing cut points, clip to [lo, hi], merge close ones."""
    out: list[list[float]] = []
    for s, e in sorted((max(lo, a), min(hi, b)) for a, b in spans):
        if e <= s:
            continue
        before, after = cuts[cuts <= s + 1e-9], cuts[cuts >= e - 1e-9]
        s2 = float(before[-1]) if len(before) else s
        e2 = float(after[0]) if len(after) else e
        s2, e2 = max(lo, s2), min(hi, e2)
        if out and s2 - out[-1][1] <= min_gap:
            out[-1][1] = max(out[-1][1], e2)
        else:
            out.append([s2, e2])
    return tuple((a, b) for a, b in out)


def splice(
    base: np.ndarray, replacement: np.ndarray, spans: Sequence[tuple[int, int]], fade: int
) -> np.ndarray:
    """Replace ``base[a:b]`` by ``replacement[a:b]`` for each span, equal-power crossfades of
    ``fade`` samples just outside each span; every other sample is ``base``'s, bit for bit
    (the result is float64; float32 input converts exactly).

    Parameters
    ----------
    base, replacement : np.ndarray, shape (N,)
    spans : sequence of (int, int)
        Sample ranges, non-overlapping, at least ``2 * fade`` apart.
    """
    if len(base) != len(replacement):
        raise AdrError("splice", f"lengths differ ({len(base)} vs {len(replacement)})")
    out = np.array(base, dtype=np.float64)  # float32 -> float64 is exact
    rep = np.asarray(replacement, dtype=np.float64)
    for a, b in spans:
        a, b = max(0, int(a)), min(len(out), int(b))
        out[a:b] = rep[a:b]
        for lo, hi, rising in ((max(0, a - fade), a, True), (b, min(len(out), b + fade), False)):
            if hi <= lo:
                continue
            t = (np.arange(hi - lo) + 0.5 + (fade - (hi - lo) if rising else 0)) / fade
            g = np.sin(0.5 * np.pi * t) if rising else np.cos(0.5 * np.pi * t)
            h = np.sqrt(np.maximum(0.0, 1.0 - g**2))
            out[lo:hi] = base[lo:hi].astype(np.float64) * h + rep[lo:hi] * g
    return out


def choose_repair(
    requested: str,
    notes: str,
    spans: Sequence[tuple[float, float]],
    kinds: Sequence[str],
    duration: float,
    max_partial: float = 0.5,
    rest_snr: float = math.inf,
    min_rest_snr: float = 15.0,
) -> tuple[str, str]:
    """``("partial" | "whole", why)`` for one cue (see the module docstring).

    ``rest_snr`` is the SNR (dB) of the line outside the damaged spans; ``"auto"`` replaces
    the whole line when it is below ``min_rest_snr``.
    """
    m = _NOTE.search(notes or "")
    mode = m.group(1).lower() if m else requested
    source = "cue note" if m else f"repair={requested}"
    covered = sum(b - a for a, b in spans)
    if mode == "whole":
        return "whole", source
    if not spans:
        return "whole", f"{source}: no localized damage"
    if mode == "partial":
        return "partial", source
    if "noise" in kinds:
        return "whole", "auto: sustained noise"
    if covered > max_partial * duration:
        return "whole", f"auto: damage covers {covered / duration:.0%} of the line"
    if rest_snr < min_rest_snr:
        return "whole", f"auto: the rest of the line is noisy too (SNR {rest_snr:.0f} dB)"
    return "partial", f"auto: {len(spans)} damaged span(s), {covered:.2f} s"

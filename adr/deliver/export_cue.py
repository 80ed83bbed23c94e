"""One cue of ``adr export``: its take conformed to the production, and marked as synthetic.

:func:`conform_cue` gathers what :func:`adr.deliver.conform.conform_line` needs (the
production under the cue, the take, a denoised guide track, room tone from the production
around the cue, the cue's analysed words, phones and damage); :func:`mark_synthetic` gives
the replaced audio adr's watermark again where the conform washed it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.names import child_path
from adr.core.timebase import DELIVERY_RATE
from adr.core.types import Cue, Take
from adr.deliver.conform import ConformOptions, ConformResult, conform_line
from adr.deliver.tone import room_tone
from adr.ingest.session import Session

__all__ = ["conform_cue", "mark_synthetic", "read_production"]

_SR = DELIVERY_RATE
_TONE_WINDOW = 10.0  # seconds either side of a cue searched for room tone


def read_production(session: Session) -> np.ndarray:
    from adr.ingest.media import read_audio

    return read_audio(session.audio[0].path, sample_rate=_SR).mono()


def conform_cue(
    session: Session,
    cue: Cue,
    take: Take,
    production: np.ndarray,
    a: int,
    b: int,
    cues: Sequence[Cue],
    opts: ConformOptions,
    denoise: str,
) -> tuple[np.ndarray, ConformResult]:
    from adr.analysis.analyze import load_analysis
    from adr.analysis.denoise import denoise as run_denoise
    from adr.ingest.media import read_audio

    n = b - a
    prod = np.zeros(n, dtype=np.float32)
    lo, hi = max(a, 0), min(b, len(production))
    prod[lo - a : hi - a] = production[lo:hi]
    audio = read_audio(session.root / take.path, sample_rate=_SR).mono()
    rendered = np.zeros(n)
    rendered[: min(n, len(audio))] = audio[:n]
    margin = int((opts.max_shift + 0.2) * _SR)
    g0, g1 = max(0, a - margin), min(len(production), b + margin)
    guide = run_denoise(production[g0:g1].astype(np.float32), _SR, method=denoise)
    w0, w1 = max(0, a - int(_TONE_WINDOW * _SR)), min(len(production), b + int(_TONE_WINDOW * _SR))
    allowed = np.ones(w1 - w0, dtype=bool)  # the window of the production searched for tone
    for c in cues:
        allowed[
            max(0, round((c.start - 0.1) * _SR) - w0) : max(0, round((c.end + 0.1) * _SR) - w0)
        ] = False
    tone = room_tone(production[w0:w1], _SR, allowed) if opts.room_tone else None
    words: Sequence[Any] = ()
    phones: Sequence[Any] = ()
    damage: list[tuple[float, float, str]] = []
    notes = cue.notes
    if (child_path(session.analysis_dir, cue.id, ".json", "cue id")).exists():
        line = load_analysis(session, cue.id)
        words, phones = line.alignment.words, line.alignment.phones
        damage = [(s.start, s.end, s.kind) for s in line.damage.spans]
    start = a / _SR
    try:
        return conform_line(
            prod,
            rendered,
            _SR,
            start=start,
            cue_id=cue.id,
            notes=notes,
            words=words,
            phones=phones,
            damage=damage,
            guide=guide,
            guide_lead=(a - g0) / _SR,
            tone=tone,
            options=opts,
        )
    except AdrError as exc:  # name the take file ("the rendered take is silent" ...)
        raise AdrError(
            session.root / take.path,
            f"cue {cue.id}: {exc.problem}; render it again (adr render --cue {cue.id} --force)",
        ) from None


def mark_synthetic(line: np.ndarray, conform: ConformResult, start: float) -> np.ndarray:
    """The conformed line with adr's watermark where it is synthetic: a time warp (WSOLA)
    can wash out the mark the take was rendered with (measured on the demo: 0.96 -> 0.46), so
    the replaced audio is marked again when its detection falls under 0.8 (the whole line, or
    only the replaced spans of a partial repair: the actor's recording stays unmarked)."""
    from adr.deliver.watermark import detect, embed

    spans = (
        [(0, len(line))]
        if conform.mode == "whole"
        else [
            (max(0, round((a - start) * _SR)), min(len(line), round((b - start) * _SR)))
            for a, b in conform.spans
        ]
    )
    out = np.asarray(line, dtype=np.float32).copy()
    for i, j in spans:
        if j - i >= _SR // 4 and detect(out[i:j], _SR) < 0.8:
            out[i:j] = embed(out[i:j], _SR)
    return out

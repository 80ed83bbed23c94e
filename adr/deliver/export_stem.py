"""The dialog stem of ``adr export``: the production with the conformed cues spliced in.

Built in one float32 buffer (the production's own when it is long enough) and normalized in
place by :func:`adr.deliver.stem_loudness.normalize_stem`, so a long reel costs one copy of
its audio.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from adr.core.names import child_path
from adr.core.types import Cue
from adr.ingest.session import Session

__all__ = ["build_stem", "dialog_spans"]


def build_stem(
    session: Session, production: np.ndarray, deliveries: Iterable[Any], n: int, tr0: int
) -> np.ndarray:
    """The production with every delivered cue spliced in.

    Parameters
    ----------
    session : Session
    production : np.ndarray, shape (M,)
        The production at 48 kHz. Overwritten when it is float32 and at least ``n`` long:
        the stem is then made in its buffer (the caller must not use it afterwards).
    deliveries : iterable of adr.deliver.export.CueDelivery
        Cues with a ``file`` are spliced in at their ``time_reference``.
    n : int
        Stem length in samples (the picture's).
    tr0 : int
        Time reference (samples since midnight) of the stem's first sample.

    Returns
    -------
    np.ndarray, shape (n,), float32
    """
    import soundfile as sf

    if production.dtype == np.float32 and production.flags.writeable and len(production) >= n:
        stem = production[:n]
    else:
        stem = np.zeros(n, dtype=np.float32)
        stem[: min(n, len(production))] = production[:n]
    for d in deliveries:
        if d.file:
            x, _ = sf.read(str(session.root / d.file), dtype="float32")
            a = d.time_reference - tr0
            lo, hi = max(a, 0), min(a + len(x), n)
            if hi > lo:
                stem[lo:hi] = x[lo - a : hi - a]
    return stem


def dialog_spans(session: Session, cues: Sequence[Cue]) -> list[tuple[float, float]]:
    """Dialog spans in seconds for the dialog-gated spec: each cue's aligned words, else the cue."""
    from adr.analysis.analyze import load_analysis

    spans: list[tuple[float, float]] = []
    for c in cues:
        words: list[tuple[float, float]] = []
        if child_path(session.analysis_dir, c.id, ".json", "cue id").exists():
            words = [(w.start, w.end) for w in load_analysis(session, c.id).alignment.words]
        spans.extend(words or [(c.start, c.end)])
    return spans

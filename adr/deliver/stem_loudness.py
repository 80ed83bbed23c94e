"""Loudness normalization of a long stem in bounded memory (block-wise :mod:`adr.deliver.loudness`).

:func:`normalize_stem` does what :func:`adr.deliver.loudness.normalize_loudness` does (same gain,
limiter and result, to floating-point noise) but in place on one float32 stem (all but a
final scalar gain, left to the writer), reading it in
blocks of :data:`BLOCK` samples: no float64 copy and no 4x oversampled copy of the whole
stem is made, so its memory beyond the stem is constant in the stem's length.

- **loudness** (:func:`stem_loudness`): the K-weighting filters run block by block with their
  state carried over; the squared samples are summed per segment between 400 ms gating
  block edges (the same edges as BS.1770-4 / pyloudnorm), and the gates are applied to the
  block powers at the end (a few floats per 100 ms);
- **true peak** (:func:`stem_true_peak`): each block is oversampled with :data:`_PAD` samples
  of context either side, more than the polyphase filter's half length, so block edges do
  not change it;
- **limiter**: each pass of :func:`adr.deliver.loudness.limit_true_peak` is one sweep: a
  block's gain is computed from the peaks over the block widened by the look-ahead (minimum
  filter and moving average, +-5 ms each) and applied one block later, once the next block no
  longer needs the unlimited samples; whether a further pass runs depends on the true peak of the
  whole result, measured by a sweep in between. The gain reduction is kept only where it is
  below 1 (per block, from the first to the last reduced sample), for the report.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from adr.core.errors import AdrError
from adr.core.timebase import seconds_to_samples
from adr.deliver.loudness import (
    _BLOCK,
    _LIMIT_WINDOW,
    _MAX_GAIN_DB,
    LoudnessSpec,
    StemLoudness,
    _oversampled_peak,
    block_edges,
    gate_block_powers,
    k_stages,
    loudness_spec,
)

__all__ = ["BLOCK", "normalize_stem", "stem_loudness", "stem_true_peak"]

#: Samples read per block.
BLOCK = 1 << 18
_PAD = 64  # context for the 4x polyphase filter (its half length is 10 input samples)


def _check(x: np.ndarray) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.ndim != 1 or not np.issubdtype(x.dtype, np.floating):
        raise AdrError(
            "stem",
            f"expected a mono float array of shape (N,), got "
            f"{getattr(x, 'shape', None)} {getattr(x, 'dtype', None)}",
        )
    return x


def _blocks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for lo in range(0, n, size):
        yield lo, min(n, lo + size)


def _read(x: np.ndarray, lo: int, hi: int, scale: float) -> np.ndarray:
    """``x[lo:hi] * scale`` as float64, shape (hi - lo,)."""
    return x[lo:hi].astype(np.float64) * scale


def _peaks(x: np.ndarray, lo: int, hi: int, scale: float) -> np.ndarray:
    """Oversampled peak of ``x * scale`` around each sample of ``lo:hi``, shape (hi - lo,)."""
    a, b = max(0, lo - _PAD), min(len(x), hi + _PAD)
    return _oversampled_peak(_read(x, a, b, scale))[lo - a : hi - a]


class _BlockMeter:
    """K-weighted mean square of the 400 ms gating blocks of a signal fed in order."""

    def __init__(self, n: int, sample_rate: int) -> None:
        self.n, self.pos = n, 0
        self.stages = k_stages(sample_rate)
        self.state = [np.zeros(max(len(s.a), len(s.b)) - 1) for s in self.stages]
        size = int(_BLOCK * sample_rate)
        if n < size:  # one block over everything (as adr.deliver.loudness._block_power)
            self.lo, self.hi, self.div = np.array([0]), np.array([n]), float(max(n, 1))
        else:
            self.lo, self.hi = block_edges(n, sample_rate)
            self.div = float(size)
        self.edges = np.unique(np.concatenate([[0, n], self.lo, self.hi]))
        self.seg = np.zeros(len(self.edges) - 1)

    def feed(self, x: np.ndarray) -> None:
        """Add the next ``len(x)`` samples (float64, shape (m,))."""
        from scipy.signal import lfilter

        m = len(x)
        if not m:
            return
        y = x
        for i, st in enumerate(self.stages):
            y, self.state[i] = lfilter(st.b, st.a, y, zi=self.state[i])
            y = st.passband_gain * y
        inside = self.edges[(self.edges > self.pos) & (self.edges < self.pos + m)] - self.pos
        parts = np.add.reduceat(y * y, np.concatenate([[0], inside]).astype(np.intp))
        first = int(np.searchsorted(self.edges, self.pos, side="right")) - 1
        self.seg[first : first + len(parts)] += parts
        self.pos += m

    def powers(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean square and centre sample of each block, both shape (B,)."""
        cs = np.concatenate([[0.0], np.cumsum(self.seg)])
        z = cs[np.searchsorted(self.edges, self.hi)] - cs[np.searchsorted(self.edges, self.lo)]
        return z / self.div, (self.lo + self.hi) // 2


def _in_spans(centres: np.ndarray, spans: Sequence[tuple[int, int]], n: int) -> np.ndarray:
    """Which ``centres`` (sorted sample indices, shape (B,)) lie in a ``[a, b)`` span."""
    c = np.minimum(centres, max(n - 1, 0))
    keep = np.zeros(len(c), dtype=bool)
    for a, b in spans:
        keep[np.searchsorted(c, a, side="left") : np.searchsorted(c, min(b, n), side="left")] = True
    return keep if n else keep[:0]


def stem_loudness(
    x: np.ndarray,
    sample_rate: int,
    *,
    scale: float = 1.0,
    dialog: Sequence[tuple[float, float]] | None = None,
) -> float:
    """BS.1770-4 gated loudness of ``x * scale``, read block-wise, LKFS (``-inf``: silence).

    Parameters
    ----------
    x : np.ndarray, shape (N,)
    sample_rate : int
    scale : float
        Gain the samples are read with.
    dialog : sequence of (start, end) in seconds, optional
        Only blocks whose centre lies in one of these spans count (None: all blocks; then
        this equals :func:`adr.deliver.loudness.integrated_loudness`).
    """
    x = _check(x)
    meter = _BlockMeter(len(x), sample_rate)
    for lo, hi in _blocks(len(x), BLOCK):
        meter.feed(_read(x, lo, hi, scale))
    z, centres = meter.powers()
    if dialog is not None:
        spans = [
            (max(0, seconds_to_samples(a, sample_rate)), max(0, seconds_to_samples(b, sample_rate)))
            for a, b in dialog
        ]
        z = z[_in_spans(centres, spans, len(x))]
    return gate_block_powers(z)


def stem_true_peak(x: np.ndarray, *, scale: float = 1.0) -> float:
    """True peak of ``x * scale`` (4x oversampling, block-wise), dBTP; ``-inf`` for silence.

    Parameters
    ----------
    x : np.ndarray, shape (N,)
    """
    x = _check(x)
    peak = max(
        (float(_peaks(x, lo, hi, scale).max()) for lo, hi in _blocks(len(x), BLOCK)), default=0.0
    )
    return float(20 * np.log10(peak)) if peak > 0 else float("-inf")


def _limit_pass(
    x: np.ndarray, scale: float, target: float, w: int, reduced: dict[int, tuple[int, np.ndarray]]
) -> None:
    """One limiter pass: ``x[:] = x * scale * gain`` in place (see the module docstring)."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    n = len(x)
    pending: tuple[int, int, np.ndarray] | None = None

    def apply(lo: int, hi: int, gain: np.ndarray) -> None:
        x[lo:hi] = _read(x, lo, hi, scale) * gain
        idx = np.flatnonzero(gain < 1.0)
        if not len(idx):
            return
        a, b = lo + int(idx[0]), lo + int(idx[-1]) + 1
        if lo in reduced:
            a0, old = reduced[lo]
            a, b = min(a, a0), max(b, a0 + len(old))
        total = np.ones(b - a)
        if lo in reduced:
            total[a0 - a : a0 - a + len(old)] = old
        total *= gain[a - lo : b - lo]
        reduced[lo] = (a, total.astype(np.float32))

    # A block reads its neighbours 2w + _PAD deep: the previous one must still be unlimited.
    for lo, hi in _blocks(n, max(BLOCK, 2 * w + _PAD + 1)):
        c0, c1 = max(0, lo - 2 * w), min(n, hi + 2 * w)
        need = np.minimum(1.0, target / np.maximum(_peaks(x, c0, c1, scale), 1e-12))
        gain = uniform_filter1d(
            minimum_filter1d(need, 2 * w + 1, mode="nearest"), 2 * w + 1, mode="nearest"
        )[lo - c0 : hi - c0]
        if pending is not None:  # the previous block: this one no longer reads it unlimited
            apply(*pending)
        pending = (lo, hi, np.minimum(gain, 1.0))
    if pending is not None:
        apply(*pending)


def _limit(
    x: np.ndarray, sample_rate: int, scale: float, ceiling_db: float
) -> tuple[float, float, float]:
    """:func:`adr.deliver.loudness.limit_true_peak` of ``x * scale``, in place.

    Returns
    -------
    scale : float
        The gain ``x`` is now to be read with (1.0 once a pass has run).
    reduction_db : float
        Largest gain reduction, dB.
    peak : float
        Linear true peak of the result (``nan`` when 6 passes ran: not measured).
    """
    w = max(1, int(_LIMIT_WINDOW * sample_rate))
    ceiling = 10 ** (ceiling_db / 20)
    reduced: dict[int, tuple[int, np.ndarray]] = {}
    peak = float("nan")
    for _ in range(6):
        peak = max(
            (float(_peaks(x, lo, hi, scale).max()) for lo, hi in _blocks(len(x), BLOCK)),
            default=0.0,
        )
        if not len(x) or peak <= ceiling * 10 ** (-0.02 / 20):
            break
        _limit_pass(x, scale, ceiling * 10 ** (-0.1 / 20), w, reduced)
        scale, peak = 1.0, float("nan")
    low = min((float(t.min()) for _, t in reduced.values()), default=1.0)
    reduction = float(-20 * np.log10(low)) if len(x) else 0.0
    return scale, max(reduction, 0.0), peak


def normalize_stem(
    x: np.ndarray,
    sample_rate: int,
    spec: str | LoudnessSpec,
    *,
    dialog: Sequence[tuple[float, float]] | None = None,
) -> tuple[StemLoudness, float]:
    """Gain ``x`` to the spec's loudness under its true-peak ceiling, in place but for a
    final scalar gain.

    The block-wise :func:`adr.deliver.loudness.normalize_loudness`: same measures, gain, limiter and
    report, to floating-point noise (``x`` keeps its dtype, float32 for a stem). The result
    is ``x * gain``: the last gain is returned rather than applied, so that a writer applies
    it in float64 while quantizing (``adr.ingest.bwf.write_bwf(..., gain=gain)``) and samples the
    limiter did not touch are rounded once, as by :func:`adr.deliver.loudness.normalize_loudness`.

    Parameters
    ----------
    x : np.ndarray, shape (N,)
        A mono stem, overwritten with the result divided by ``gain``.
    spec : str or LoudnessSpec
        See :data:`adr.deliver.loudness.SPECS`.
    dialog : sequence of (start, end) in seconds, optional
        Dialog spans for the ``"dialog"`` gating (None: every block counts).

    Returns
    -------
    report : StemLoudness
        The loudness gain is capped at +-40 dB; a silent stem is left unchanged.
    gain : float
        Linear factor still to apply to ``x``.
    """
    s = loudness_spec(spec)
    x = _check(x)

    def measure(scale: float) -> float:
        return stem_loudness(
            x, sample_rate, scale=scale, dialog=dialog if s.gating == "dialog" else None
        )

    before = measure(1.0)
    if not np.isfinite(before):
        return StemLoudness(s.name, before, before, 0.0, stem_true_peak(x)), 1.0
    gain_db = float(np.clip(s.target - before, -_MAX_GAIN_DB, _MAX_GAIN_DB))
    scale, limited = 10 ** (gain_db / 20), 0.0
    for attempt in range(4):
        scale, reduction, peak = _limit(x, sample_rate, scale, s.true_peak)
        limited = max(limited, reduction)
        after = measure(scale)
        error = s.target - after
        if abs(error) <= 0.05 or attempt == 3 or abs(gain_db + error) > _MAX_GAIN_DB:
            break
        gain_db += error
        scale *= 10 ** (error / 20)
    if np.isnan(peak):
        true_peak = stem_true_peak(x, scale=scale)
    else:
        true_peak = float(20 * np.log10(peak)) if peak > 0 else float("-inf")
    return StemLoudness(s.name, before, after, gain_db, true_peak, limited), scale

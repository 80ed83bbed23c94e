"""Frame-level conditioning features for the voice model.

A line's phones, prosody and (optionally) lip track arrive on their own time grids; the
voice model needs them on its own frame grid (``frame_period = hop / sample_rate``). Frame
``t`` covers ``[start + t * frame_period, start + (t + 1) * frame_period)`` and is sampled
at its centre. Audio of ``T`` frames is exactly ``T * hop`` samples, so the timing of a
render is exact by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.timebase import seconds_to_frames, seconds_to_samples
from adr.core.types import LipTrack, Phone, Prosody

__all__ = [
    "FrameFeatures",
    "frame_features",
    "loudness_db",
    "interpolate_f0",
    "SILENCE_DB",
    "DEFAULT_F0",
]

#: Loudness floor in dB relative to full scale (digital silence is clamped here).
SILENCE_DB = -100.0
#: F0 used for a line with no voiced frame at all, in Hz.
DEFAULT_F0 = 120.0
_ENERGY_WINDOW = 0.025  # seconds, as adr.analysis.prosody

_ARRAYS = {
    "phone_ids": np.int64,
    "phone_pos": np.float32,
    "phone_dur": np.float32,
    "f0": np.float32,
    "voiced": np.float32,
    "loudness": np.float32,
    "lips": np.float32,
    "lip_mask": np.float32,
}


@dataclass(frozen=True, eq=False)
class FrameFeatures:
    """Conditioning of one line on the model's frame grid.

    Attributes
    ----------
    start : float
        Time of the start of frame 0, seconds from the session start.
    frame_period : float
        Seconds per frame (the model's ``hop_length / sample_rate``).
    phone_ids : np.ndarray, shape (T,), int64
        Index of the frame's phone in the phone inventory.
    phone_pos : np.ndarray, shape (T,), float32
        Position of the frame centre within its phone, 0 (start) to 1 (end).
    phone_dur : np.ndarray, shape (T,), float32
        Duration of the frame's phone in seconds.
    f0 : np.ndarray, shape (T,), float32
        F0 in Hz, interpolated through unvoiced frames (always > 0).
    voiced : np.ndarray, shape (T,), float32
        1 where the frame is voiced, else 0.
    loudness : np.ndarray, shape (T,), float32
        Loudness in dB relative to full scale (see :func:`loudness_db`).
    lips : np.ndarray, shape (T, 2), float32
        Lip opening and relative mouth width (0 where absent).
    lip_mask : np.ndarray, shape (T,), float32
        1 where ``lips`` holds a measurement, else 0.
    """

    start: float
    frame_period: float
    phone_ids: np.ndarray
    phone_pos: np.ndarray
    phone_dur: np.ndarray
    f0: np.ndarray
    voiced: np.ndarray
    loudness: np.ndarray
    lips: np.ndarray
    lip_mask: np.ndarray

    def __post_init__(self) -> None:
        for name, dtype in _ARRAYS.items():
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype))
        n = len(self.phone_ids)
        for name in _ARRAYS:
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"FrameFeatures: {name} has {len(getattr(self, name))} frames, "
                    f"phone_ids has {n}"
                )
        if self.lips.shape != (n, 2):
            raise ValueError(f"FrameFeatures: lips must have shape ({n}, 2)")

    @property
    def num_frames(self) -> int:
        return len(self.phone_ids)

    @property
    def duration(self) -> float:
        """Length in seconds (``num_frames * frame_period``)."""
        return self.num_frames * self.frame_period

    def crop(self, first: int, count: int) -> FrameFeatures:
        """Frames ``first .. first + count - 1`` as a new :class:`FrameFeatures`."""
        sl = slice(first, first + count)
        return FrameFeatures(
            start=self.start + first * self.frame_period,
            frame_period=self.frame_period,
            **{name: getattr(self, name)[sl] for name in _ARRAYS},
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"start": self.start, "frame_period": self.frame_period}
        for name in _ARRAYS:
            d[name] = getattr(self, name).tolist()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrameFeatures:
        expected = {"start", "frame_period", *_ARRAYS}
        if set(data) != expected:
            raise ValueError(
                f"FrameFeatures: fields {sorted(set(data) ^ expected)} unknown or missing"
            )
        d = dict(data)
        for name, dtype in _ARRAYS.items():
            d[name] = np.asarray(d[name], dtype=dtype)
        if d["lips"].size == 0:
            d["lips"] = d["lips"].reshape(0, 2)
        return cls(**d)


def loudness_db(audio: np.ndarray, sr: int, frame_period: float) -> np.ndarray:
    """RMS level in dB re full scale over a 25 ms window centred on each frame's centre.

    This is the definition of :attr:`adr.core.types.Prosody.energy` that
    ``adr.analysis.prosody.frame_energy_db`` uses (same window, same reference), evaluated on the
    model's frame grid, so features built from a :class:`Prosody` or from this function agree
    in training and in rendering.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        Samples in [-1, 1].
    sr : int
        Sample rate in Hz.
    frame_period : float
        Seconds per frame; frame ``t`` is centred at ``(t + 0.5) * frame_period``.

    Returns
    -------
    np.ndarray, shape (T,), float32
        ``T = round(N / (sr * frame_period))``; values >= :data:`SILENCE_DB`.
    """
    x = np.asarray(audio, dtype=np.float64)
    n_frames = seconds_to_frames(len(x) / sr, frame_period)
    win = max(seconds_to_samples(_ENERGY_WINDOW, sr), 1)
    csum = np.concatenate([[0.0], np.cumsum(x * x)])
    centres = np.array(
        [seconds_to_samples((t + 0.5) * frame_period, sr) for t in range(n_frames)], dtype=np.int64
    ).reshape(-1)
    lo = np.clip(centres - win // 2, 0, len(x))
    hi = np.clip(centres + win - win // 2, 0, len(x))
    power = (csum[hi] - csum[lo]) / win
    return np.maximum(10.0 * np.log10(np.maximum(power, 1e-20)), SILENCE_DB).astype(np.float32)


def interpolate_f0(f0: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Fill unvoiced frames by interpolating log F0 between voiced neighbours.

    Parameters
    ----------
    f0, voiced : np.ndarray, shape (T,)

    Returns
    -------
    np.ndarray, shape (T,), float32, all > 0 (edges hold the nearest voiced value;
    :data:`DEFAULT_F0` where nothing is voiced).
    """
    f0 = np.asarray(f0, dtype=np.float64)
    v = np.asarray(voiced, dtype=bool) & (f0 > 0)
    if not v.any():
        return np.full(len(f0), DEFAULT_F0, dtype=np.float32)
    idx = np.arange(len(f0))
    return np.exp(np.interp(idx, idx[v], np.log(f0[v]))).astype(np.float32)


def _phone_track(
    phones: Sequence[Phone], centres: np.ndarray, inventory: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    index = {p: i for i, p in enumerate(inventory)}
    if "sil" not in index:
        raise AdrError("phone inventory", "has no 'sil' phone")
    unknown = index.get("spn", index["sil"])
    ids = np.full(len(centres), index["sil"], dtype=np.int64)
    pos = np.full(len(centres), 0.5, dtype=np.float32)
    dur = np.zeros(len(centres), dtype=np.float32)
    ordered = sorted(phones, key=lambda p: p.start)
    starts = np.array([p.start for p in ordered])
    ends = np.array([p.end for p in ordered])
    if len(ordered):
        k = np.searchsorted(starts, centres, side="right") - 1  # last phone starting <= centre
        inside = (k >= 0) & (centres < ends[np.clip(k, 0, None)])
        for f in np.nonzero(inside)[0]:
            p = ordered[k[f]]
            ids[f] = index.get(p.symbol, unknown)
            d = max(p.end - p.start, 1e-6)
            pos[f] = np.clip((centres[f] - p.start) / d, 0.0, 1.0)
            dur[f] = d
    # frames outside every phone: position and duration within their run of silence
    t = 0
    while t < len(centres):
        if dur[t] > 0:
            t += 1
            continue
        u = t
        while u < len(centres) and dur[u] == 0:
            u += 1
        run = u - t
        span = (centres[-1] - centres[0]) / max(1, len(centres) - 1) if len(centres) > 1 else 0.01
        dur[t:u] = run * span
        pos[t:u] = (np.arange(run) + 0.5) / run
        t = u
    return ids, pos, dur


def _lip_track(lips: LipTrack | None, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(centres)
    if lips is None or lips.num_frames == 0:
        return np.zeros((n, 2), dtype=np.float32), np.zeros(n, dtype=np.float32)
    opening = np.asarray(lips.opening, dtype=np.float64)
    width = np.asarray(lips.width, dtype=np.float64)
    ok = np.asarray(lips.face, dtype=bool) & np.isfinite(opening) & np.isfinite(width)
    ref = np.median(width[ok]) if ok.any() else 1.0
    rel_width = np.where(ok, width / max(ref, 1e-6) - 1.0, 0.0)
    # a positive av_offset means the audio is late: audio time t shows video time t - offset
    video_t = centres - lips.av_offset
    idx = np.floor((video_t - lips.start) * lips.fps).astype(np.int64)
    valid = (idx >= 0) & (idx < lips.num_frames)
    idx = np.clip(idx, 0, lips.num_frames - 1)
    mask = valid & ok[idx]
    feats = np.stack([np.where(ok, opening, 0.0)[idx], rel_width[idx]], axis=1)
    feats[~mask] = 0.0
    return feats.astype(np.float32), mask.astype(np.float32)


def frame_features(
    phones: Sequence[Phone],
    prosody: Prosody,
    lips: LipTrack | None,
    *,
    start: float,
    end: float,
    frame_period: float,
    phone_inventory: Sequence[str],
) -> FrameFeatures:
    """Resample a line's phones, prosody and lips onto the model's frame grid.

    Parameters
    ----------
    phones : sequence of Phone
        Timed phones (seconds from the session start); frames outside every phone are
        ``"sil"``, symbols missing from the inventory become ``"spn"`` (or ``"sil"``).
    prosody : Prosody
        F0, voicing and energy (dB, as :func:`loudness_db` defines it) on any frame grid.
    lips : LipTrack or None
        Mouth measurements; ``None`` gives zero features with mask 0.
    start, end : float
        The span to render, seconds from the session start.
    frame_period : float
        The model's seconds per frame.
    phone_inventory : sequence of str
        The model's phone symbols (must contain ``"sil"``).

    Returns
    -------
    FrameFeatures
        ``T = round((end - start) / frame_period)`` frames starting at ``start``.
    """
    if not end > start:
        raise AdrError(f"{start:.3f}-{end:.3f}", "line end must be after its start")
    if prosody.num_frames == 0:
        raise AdrError("prosody", "has no frames")
    n = seconds_to_frames(end - start, frame_period)
    centres = start + (np.arange(n) + 0.5) * frame_period
    ids, pos, dur = _phone_track(phones, centres, phone_inventory)

    p_times = prosody.times
    voiced_src = np.asarray(prosody.voiced, dtype=bool) & (np.asarray(prosody.f0) > 0)
    f0_src = interpolate_f0(prosody.f0, voiced_src)
    f0 = np.exp(np.interp(centres, p_times, np.log(f0_src)))
    nearest = np.clip(
        np.round((centres - prosody.start) / prosody.frame_period).astype(np.int64),
        0,
        prosody.num_frames - 1,
    )
    voiced = voiced_src[nearest]
    loud = np.interp(
        centres, p_times, np.maximum(np.asarray(prosody.energy, np.float64), SILENCE_DB)
    )
    lip_feats, lip_mask = _lip_track(lips, centres)
    return FrameFeatures(
        start=start,
        frame_period=frame_period,
        phone_ids=ids,
        phone_pos=pos,
        phone_dur=dur,
        f0=f0,
        voiced=voiced,
        loudness=loud,
        lips=lip_feats,
        lip_mask=lip_mask,
    )

"""The actor's own frames, chosen by phone: a line spoken in the actor's voice from the script.

A restorer that speaks from a synthetic donor either keeps the donor's voice (and its
clarity) or converts it to the actor's (and blurs the words): measured in docs/decisions.md.
Unit selection takes the other road: every frame of the line is a frame the actor really
said, chosen from their clean enrollment lines by what the script's alignment says is spoken
there. The bank (:func:`bank_line` per line, :func:`join_banks`) holds each enrollment
frame's log-mel, its phone (the enrollment alignment's), its relative position inside that
phone, its neighbouring phones and its log F0;
:func:`select_units` picks, for every frame of the target line, one bank frame by a target
cost (same phone, nearby position, same neighbours, nearby F0, same voicing) and a join
cost (how far the picked frame is from the one that followed the previous pick in its own
line: runs of consecutive frames cost nothing), by Viterbi over the best candidates per
frame.

Pure functions on arrays; frames are :data:`adr.voice.vocoder.MEL`'s grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adr.core.types import Phone, Prosody
from adr.voice.evidence import controls_on_grid, frame_times
from adr.voice.vocoder import MEL

__all__ = ["SILENCE", "UnitBank", "bank_line", "join_banks", "select_units"]

#: Label of frames outside every phone (and of silence phones).
SILENCE = "_"
_SILENCE_SYMBOLS = {"", "sil", "sp", "spn", "_", "pau"}
_CANDIDATES = 12  # bank frames kept per target frame
_W_POSITION, _W_F0, _W_VOICING, _W_JOIN, _W_CONTEXT = 1.0, 2.0, 1.0, 0.6, 1.0


@dataclass(frozen=True, eq=False)
class UnitBank:
    """An actor's frames with what they say.

    Attributes
    ----------
    mel : np.ndarray, shape (n_mels, N), float32
        Log-mel of the enrollment lines, one after another.
    phone : tuple of str, length N
        The phone each frame lies in (:data:`SILENCE` outside phones).
    position : np.ndarray, shape (N,)
        Relative position inside that phone, 0..1.
    lf0 : np.ndarray, shape (N,)
        log F0 (Hz) where voiced, else 0.
    line : np.ndarray, shape (N,), int
        Which line a frame comes from (frames ``i`` and ``i + 1`` of the same line are
        consecutive in the recording).
    before, after : tuple of str, length N
        The phones before and after the frame's phone in its line (:data:`SILENCE` at the
        edges): the target cost prefers a frame heard in the same context, weighted toward
        the neighbour it is nearer to.
    """

    mel: np.ndarray
    phone: tuple[str, ...]
    position: np.ndarray
    lf0: np.ndarray
    line: np.ndarray
    before: tuple[str, ...]
    after: tuple[str, ...]

    def __post_init__(self) -> None:
        n = self.mel.shape[-1]
        per_frame = (self.phone, self.position, self.lf0, self.line, self.before, self.after)
        if any(len(a) != n for a in per_frame):
            raise ValueError("UnitBank: every per-frame array must have the mel's N frames")

    @property
    def num_frames(self) -> int:
        return int(self.mel.shape[-1])


def _label(symbol: str) -> str:
    s = symbol.strip()
    return SILENCE if s.lower() in _SILENCE_SYMBOLS else s


def _frame_phones(
    phones: Sequence[Phone], times: np.ndarray
) -> tuple[list[str], np.ndarray, list[str], list[str]]:
    """Per frame at ``times`` (session seconds): phone label, relative position (T,), and
    the labels of the phones before and after it."""
    n = len(times)
    labels, before, after = [SILENCE] * n, [SILENCE] * n, [SILENCE] * n
    pos = np.zeros(n, dtype=np.float64)
    seq = [p for p in phones if p.end > p.start]
    names = [_label(p.symbol) for p in seq]
    for k, p in enumerate(seq):
        inside = np.flatnonzero((times >= p.start) & (times < p.end))
        prev = names[k - 1] if k else SILENCE
        nxt = names[k + 1] if k + 1 < len(seq) else SILENCE
        for i in inside:
            labels[i], before[i], after[i] = names[k], prev, nxt
        pos[inside] = (times[inside] - p.start) / (p.end - p.start)
    return labels, pos, before, after


def _log_f0(prosody: Prosody, start: float, n: int) -> np.ndarray:
    f0, voiced, _ = controls_on_grid(prosody, start, n)
    return np.where((voiced > 0.5) & (f0 > 0), np.log(np.maximum(f0, 1.0)), 0.0)


def bank_line(
    mel: np.ndarray, phones: Sequence[Phone], prosody: Prosody, start: float, line: int = 0
) -> UnitBank:
    """One clean line as a bank.

    Parameters
    ----------
    mel : np.ndarray, shape (n_mels, T)
        The line's log-mel (:func:`adr.voice.vocoder.log_mel`, at the reference level).
    phones : sequence of Phone
        Its alignment (session seconds).
    prosody : Prosody
        Its F0 and voicing.
    start : float
        Session time of the mel's first frame.
    line : int
        Index stored with every frame.
    """
    m = np.asarray(mel, dtype=np.float32)
    n = m.shape[-1]
    labels, pos, before, after = _frame_phones(phones, frame_times(n, start))
    return UnitBank(
        m,
        tuple(labels),
        pos,
        _log_f0(prosody, start, n),
        np.full(n, line),
        tuple(before),
        tuple(after),
    )


def join_banks(banks: Sequence[UnitBank]) -> UnitBank:
    """The banks one after another (their ``line`` indices kept)."""
    if not banks:
        raise ValueError("join_banks: no bank")
    return UnitBank(
        np.concatenate([b.mel for b in banks], axis=1),
        tuple(p for b in banks for p in b.phone),
        np.concatenate([b.position for b in banks]),
        np.concatenate([b.lf0 for b in banks]),
        np.concatenate([b.line for b in banks]),
        tuple(p for b in banks for p in b.before),
        tuple(p for b in banks for p in b.after),
    )


def select_units(
    bank: UnitBank,
    phones: Sequence[Phone],
    prosody: Prosody,
    start: float,
    n_frames: int,
    *,
    exclude_line: int | None = None,
) -> np.ndarray:
    """The line ``phones`` says, spoken with the bank's frames.

    Parameters
    ----------
    bank : UnitBank
    phones : sequence of Phone
        The target line's alignment (session seconds).
    prosody : Prosody
        The target line's F0 and voicing (the target cost prefers frames near its F0).
    start : float
        Session time of the first target frame.
    n_frames : int
        ``T``.
    exclude_line : int, optional
        Bank frames of this line are not used (leave-one-out at enrollment).

    Returns
    -------
    np.ndarray, shape (n_mels, T), float32
        Silence frames of the target are the mel floor; a phone the bank never heard takes
        frames of the same voicing from anywhere in the bank.
    """
    times = frame_times(n_frames, start)
    labels, pos, before, after = _frame_phones(phones, times)
    lf0 = _log_f0(prosody, start, n_frames)
    allowed = np.ones(bank.num_frames, dtype=bool)
    if exclude_line is not None:
        allowed &= bank.line != exclude_line
    by_phone: dict[str, np.ndarray] = {}
    names = np.asarray(bank.phone, dtype=object)
    b_before = np.asarray(bank.before, dtype=object)
    b_after = np.asarray(bank.after, dtype=object)
    for name in set(labels) - {SILENCE}:
        hit = np.flatnonzero((names == name) & allowed)
        by_phone[name] = hit if hit.size else np.flatnonzero((names != SILENCE) & allowed)
    out = np.full((bank.mel.shape[0], n_frames), MEL.log_floor, dtype=np.float32)
    speech = [i for i, lab in enumerate(labels) if lab != SILENCE]
    if not speech or not any(len(v) for v in by_phone.values()):
        return out
    # candidates and target costs, frame by frame
    cands: list[np.ndarray] = []
    costs: list[np.ndarray] = []
    for i in speech:
        pool = by_phone[labels[i]]
        c = _W_POSITION * np.abs(bank.position[pool] - pos[i])
        c = c + _W_CONTEXT * (
            (b_before[pool] != before[i]) * (1.0 - pos[i]) + (b_after[pool] != after[i]) * pos[i]
        )
        voiced_b = bank.lf0[pool] > 0
        if lf0[i] > 0:
            c = c + np.where(voiced_b, _W_F0 * np.abs(bank.lf0[pool] - lf0[i]), _W_VOICING)
        else:
            c = c + np.where(voiced_b, _W_VOICING, 0.0)
        keep = np.argsort(c, kind="stable")[:_CANDIDATES]
        cands.append(pool[keep])
        costs.append(c[keep])
    # Viterbi: a pick that continues the previous one in its recording joins for free
    mel = bank.mel
    acc, back = costs[0].copy(), []
    for k in range(1, len(speech)):
        prev, cur = cands[k - 1], cands[k]
        nxt = np.minimum(prev + 1, bank.num_frames - 1)
        join = np.abs(mel[:, nxt][:, :, None] - mel[:, cur][:, None, :]).mean(axis=0)  # (P, C)
        join = np.where(
            (prev[:, None] + 1 == cur[None, :]) & (bank.line[nxt][:, None] == bank.line[cur]),
            0.0,
            _W_JOIN * join,
        )
        if speech[k] != speech[k - 1] + 1:  # a silence between: no join
            join = np.zeros_like(join)
        total = acc[:, None] + join
        back.append(np.argmin(total, axis=0))
        acc = total[back[-1], np.arange(len(cur))] + costs[k]
    j = int(np.argmin(acc))
    picks = [0] * len(speech)
    for k in range(len(speech) - 1, -1, -1):
        picks[k] = int(cands[k][j])
        if k:
            j = int(back[k - 1][j])
    out[:, speech] = mel[:, picks]
    return out

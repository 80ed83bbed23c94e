"""pocketsphinx behind the aligner (:mod:`adr.analysis.align`): decoders and their output.

A forced-alignment decoder per line (:func:`decoder`; each word added as its own
pronunciation, :func:`add_words`), the two-pass alignment (:func:`run_alignment`: words, then
phones, 10 ms frames), the text-free phone loop that the confidence is measured against
(:func:`free_classes`, broad phone classes per frame), and the projection of the
recognizer's ARPAbet phones onto a word's espeak phones by an edit-distance path
(:func:`project_phones`). The acoustic model ships in the pocketsphinx wheel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adr.analysis import phonemes

__all__ = ["add_words", "broad_class", "decoder", "free_classes", "project_phones", "run_alignment"]

_decoders: dict[str, Any] = {}
_BROAD = {
    p: c
    for c, group in {
        "V": "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW",
        "S": "B D G K P T CH JH",
        "F": "F V TH DH S Z SH ZH HH",
        "N": "M N NG",
        "A": "L R W Y",
        "Q": "SIL",
    }.items()
    for p in group.split()
}


def decoder(beam: float) -> Any:
    """A fresh forced-alignment decoder for ``beam`` (about 0.05 s to build).

    Its dictionary starts with one word: every word the aligner uses is added as its own
    pronunciation (``adr_...``). It is not reused across lines, so a line's alignment does
    not depend on the lines aligned before it (docs/decisions.md, "align: ...").
    """
    import os
    import tempfile

    from pocketsphinx import Decoder

    fd, path = tempfile.mkstemp(prefix="adr-align-", suffix=".dict")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("adr_ah AH\n")
        dec = Decoder(
            dict=path, bestpath=False, loglevel="FATAL", beam=beam, pbeam=beam, wbeam=beam * 1e20
        )
    finally:
        os.unlink(path)
    return dec


def pron_name(arpa: list[str]) -> str:
    return "adr_" + "_".join(a.lower() for a in arpa)


def add_words(dec: Any, prons: list[list[str]]) -> list[str]:
    """Add each pronunciation to a fresh decoder as its own word; returns the word names."""
    names = [pron_name(a) for a in prons]
    new = list(dict(zip(names, prons)).items())
    for k, (name, arpa) in enumerate(new):
        dec.add_word(name, " ".join(arpa), update=k == len(new) - 1)
    return names


def run_alignment(dec: Any, pcm: bytes, names: list[str]) -> list[tuple[str, int, int, int, list]]:
    """Two-pass alignment; returns (word, start frame, end frame, score, phones) per entry,
    phones as (ARPAbet, start frame, end frame)."""
    dec.set_align_text(" ".join(names))
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    if dec.hyp() is None:
        raise RuntimeError("no word alignment")
    dec.set_alignment()
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    result = []
    for w in dec.get_alignment():
        phones = [(p.name, p.start, p.start + p.duration) for p in w]
        result.append((w.name, w.start, w.start + w.duration, w.score, phones))
    return result


def project_phones(
    ipa: tuple[str, ...], segs: list[tuple[str, int, int]]
) -> list[tuple[float, float]]:
    """Times (in frames, float) for each espeak phone of a word, from the recognizer's
    ARPAbet phone segments of that word, by a minimum edit-distance path."""
    target = [" ".join(phonemes.ipa_to_arpabet([p])) for p in ipa]
    n, m = len(ipa), len(segs)
    cost = np.zeros((n + 1, m + 1))
    cost[:, 0] = np.arange(n + 1)
    cost[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            sub = 0.0 if segs[j - 1][0] in target[i - 1].split() else 1.0
            cost[i, j] = min(cost[i - 1, j - 1] + sub, cost[i - 1, j] + 1, cost[i, j - 1] + 1)
    # Backtrack: owner[j] = espeak phones that take segment j's time.
    owner: list[list[int]] = [[] for _ in range(m)]
    i, j = n, m
    pending: list[int] = []
    ops: list[tuple[str, int, int]] = []
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            sub = 0.0 if segs[j - 1][0] in target[i - 1].split() else 1.0
            if cost[i, j] == cost[i - 1, j - 1] + sub:
                ops.append(("m", i - 1, j - 1))
                i, j = i - 1, j - 1
                continue
        if i > 0 and (j == 0 or cost[i, j] == cost[i - 1, j] + 1):
            ops.append(("i", i - 1, -1))
            i -= 1
        else:
            ops.append(("d", -1, j - 1))
            j -= 1
    ops.reverse()
    last_seg = -1
    for op, pi, sj in ops:
        if op == "m":
            owner[sj].extend(pending + [pi])
            pending = []
            last_seg = sj
        elif op == "i":
            pending.append(pi)
        else:
            last_seg = sj
    if pending:
        owner[last_seg if last_seg >= 0 else m - 1].extend(pending)
    # Segments nobody owns give their time to the previous owned one (or the next).
    spans: list[tuple[list[int], float, float]] = []
    for j, seg in enumerate(segs):
        if owner[j]:
            spans.append((owner[j], float(seg[1]), float(seg[2])))
        elif spans:
            spans[-1] = (spans[-1][0], spans[-1][1], float(seg[2]))
        else:
            spans.append(([], float(seg[1]), float(seg[2])))
    if spans and not spans[0][0] and len(spans) > 1:
        spans[1] = (spans[1][0], spans[0][1], spans[1][2])
        spans.pop(0)
    times: list[tuple[float, float]] = [(0.0, 0.0)] * n
    for members, t0, t1 in spans:
        members = sorted(members)
        step = (t1 - t0) / max(len(members), 1)
        for k, pi in enumerate(members):
            times[pi] = (t0 + k * step, t0 + (k + 1) * step)
    return times


def broad_class(symbol: str) -> str:
    arpa = phonemes.ipa_to_arpabet([symbol])
    return _BROAD.get(arpa[0], "Q") if arpa else "Q"


def free_classes(pcm: bytes, n_frames: int) -> np.ndarray:
    """Broad phone class per frame from a free phone-loop decode, shape (n_frames,)."""
    dec = _decoders.get("allphone")
    if dec is None:
        import os

        from pocketsphinx import Decoder, get_model_path

        lm = os.path.join(get_model_path(), "en-us", "en-us-phone.lm.bin")
        dec = Decoder(
            allphone=lm, bestpath=False, loglevel="FATAL", lw=2.0, beam=1e-20, pbeam=1e-20
        )
        _decoders["allphone"] = dec
    dec.reinit_feat()  # the feature state (CMN) of the previous line would carry over
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    free = np.full(n_frames + 1, "Q")
    for seg in dec.seg() or ():
        free[seg.start_frame : seg.end_frame + 1] = _BROAD.get(seg.word, "Q")
    return free

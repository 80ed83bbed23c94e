"""A reel's *line groups*: the smallest runs of consecutive cues that ``adr analyze`` must
analyse together for each line to come out as in one run over the whole reel.

Some of the analysis looks beyond one line: the denoiser runs once over each stretch of lines
less than 2 s apart (a line's denoised audio depends on where its stretch starts), Whisper
reads lines packed into 28 s windows, and blind lines (no script text) carry Whisper's
language detection from one window to the next. No stretch, window or detection crosses from
one group to another, so a group analysed whole and alone gives the lines of an
uninterrupted run; a group analysed in part does not. ``adr analyze``
(:func:`adr.analysis.analyze.analyze_session`) and ``adr batch``
(:mod:`adr.film.chunks`) both redo a group with any line that is not current whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from adr.core.types import Cue

__all__ = ["line_groups"]


def line_groups(cues: Sequence[Cue], duration: float, context: float) -> list[list[str]]:
    """A reel's cues (in cue-sheet order) in the smallest runs of consecutive cues that
    ``adr analyze`` treats together: no denoise stretch, no Whisper window and no chain of
    blind lines (Whisper's language detection) crosses from one group to another."""
    from adr.analysis.asr import _pack
    from adr.analysis.line import _DENOISE_BRIDGE, _window

    n = len(cues)
    if n == 0:
        return []
    windows = [_window(c, duration, context) for c in cues]
    tied = [False] * n  # tied[k]: cue k must be in the group of cue k - 1

    def tie(members: Sequence[int]) -> None:
        lo, hi = min(members), max(members)
        for k in range(lo + 1, hi + 1):
            tied[k] = True

    order = sorted(range(n), key=lambda i: windows[i][0])
    block: list[int] = []
    end = None
    for i in order:  # the denoiser's stretches
        if block and end is not None and windows[i][0] - end < _DENOISE_BRIDGE:
            block.append(i)
            end = max(end, windows[i][1])
        else:
            if len(block) > 1:
                tie(block)
            block, end = [i], windows[i][1]
    if len(block) > 1:
        tie(block)
    for blind in (False, True):  # Whisper's packed windows
        group = [i for i in range(n) if bool(cues[i].text.strip()) != blind]
        for members in _pack([windows[i][1] - windows[i][0] for i in group], 1.0, 28.0):
            if len(members) > 1:
                tie([group[k] for k in members])
        if blind and len(group) > 1:  # a language found in one window is kept for the next
            tie(group)
    groups: list[list[str]] = []
    for k, cue in enumerate(cues):
        if groups and tied[k]:
            groups[-1].append(cue.id)
        else:
            groups.append([cue.id])
    return groups

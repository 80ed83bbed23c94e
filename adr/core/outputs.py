"""Outputs are checked before they are kept, and again before they are trusted.

:func:`check_take_audio` refuses a rendered take that is not worth delivering (NaN or
infinite samples, silence, a DC offset, saturation: what a diverged voice model produces) with
one line naming the cue and the voice. :func:`take_is_current` decides whether a take on
disk may be skipped by a rerun: only when its key file, its JSON and its WAV all read back,
agree with the take about to be made, and the WAV holds every sample its JSON promises;
anything else (a corrupt JSON, a WAV cut short by a crash or a full disk) counts as missing
and is made again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.fsio import read_json
from adr.core.timebase import seconds_to_samples
from adr.core.types import Take

__all__ = ["check_take_file", "check_take_audio", "take_is_current", "take_samples"]

#: Below this peak a take is silent.
SILENT_PEAK = 1e-5
#: A mean beyond this share of the peak is a DC offset, not speech.
MAX_DC_SHARE = 0.1
#: Share of the sounding samples at full scale beyond which a take is saturated.
MAX_FULL_SCALE_SHARE = 0.01
_FULL_SCALE = 0.999


def take_samples(take: Take) -> int:
    """Number of samples of a take's audio: the cue's length at the take's rate."""
    return seconds_to_samples(take.end, take.sample_rate) - seconds_to_samples(
        take.start, take.sample_rate
    )


def check_take_audio(audio: np.ndarray, cue_id: str, actor: str) -> np.ndarray:
    """Return ``audio`` (N,) if it is a plausible take, else raise :class:`AdrError`.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        The take, before clipping to [-1, 1].
    cue_id, actor : str
        Named in the error.

    Raises
    ------
    AdrError
        ``"cue 101: the take spoken by voice ANNA holds NaN or infinite samples ..."``: not
        finite, silent, DC (``|mean| > 0.1 * peak``) or saturated (more than 1 % of the
        sounding samples at or beyond full scale).
    """
    x = np.asarray(audio)
    problem = ""
    if x.size == 0:
        problem = "is empty"
    elif not np.all(np.isfinite(x)):
        problem = "holds NaN or infinite samples"
    else:
        peak = float(np.max(np.abs(x)))
        sounding = np.abs(x) > SILENT_PEAK
        if peak < SILENT_PEAK:
            problem = "is silent"
        elif abs(float(np.mean(x))) > MAX_DC_SHARE * peak:
            problem = f"is a DC offset (mean {float(np.mean(x)):+.3f}, peak {peak:.3f})"
        elif np.mean(np.abs(x[sounding]) >= _FULL_SCALE) > MAX_FULL_SCALE_SHARE:
            share = float(np.mean(np.abs(x[sounding]) >= _FULL_SCALE))
            problem = f"is saturated ({share:.0%} of its samples at full scale)"
    if problem:
        raise AdrError(
            f"cue {cue_id}",
            f"the take spoken by voice {actor} {problem}; it was "
            "not kept (the voice model may be damaged: enroll "
            "the actor again)",
        )
    return x


def _read(path: Path) -> Any:
    try:
        return read_json(path)
    except AdrError:
        return None


def take_is_current(take: Take, wav: Path, meta: Path, key_file: Path, key: str) -> bool:
    """True when the take on disk is complete, readable and made from the same inputs.

    Parameters
    ----------
    take : Take
        The take a render would write now (its JSON must equal this).
    wav, meta, key_file : Path
        ``renders/<cue>.wav``, ``renders/<cue>.json`` and ``renders/.keys/<cue>.json``.
    key : str
        The render key of the current inputs.

    Returns
    -------
    bool
        False when any file is missing, does not parse, holds another key or take, or the
        WAV is not at the take's rate or holds fewer (or more) samples than the take spans.
    """
    import soundfile as sf

    if not (wav.is_file() and meta.is_file() and key_file.is_file()):
        return False
    stored_key = _read(key_file)
    if not isinstance(stored_key, dict) or stored_key.get("key") != key:
        return False
    stored = _read(meta)
    try:
        if Take.from_dict(stored).to_dict() != take.to_dict():
            return False
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    try:
        info = sf.info(str(wav))
    except (sf.LibsndfileError, RuntimeError, OSError):
        return False
    return (
        int(info.samplerate) == int(take.sample_rate)
        and info.channels == 1
        and int(info.frames) == take_samples(take)
    )


def check_take_file(take: Take, wav: Path) -> None:
    """Refuse a take WAV that does not hold the take whole (one line naming the file).

    Raises
    ------
    AdrError
        ``wav`` does not read as audio, is not mono at the take's rate, or holds fewer (or
        more) samples than the take spans (a copy cut short, a render interrupted by
        another tool).
    """
    import soundfile as sf

    again = f"render it again (adr render --cue {take.cue_id} --force)"
    try:
        info = sf.info(str(wav))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AdrError(wav, f"the rendered take does not read as audio ({exc}); {again}") from None
    if int(info.samplerate) != int(take.sample_rate) or info.channels != 1:
        raise AdrError(
            wav,
            f"the rendered take is {info.channels} channel(s) at "
            f"{info.samplerate} Hz, not mono at {take.sample_rate} Hz; {again}",
        )
    want = take_samples(take)
    if int(info.frames) != want:
        what = "cut short" if info.frames < want else "longer than its cue"
        raise AdrError(
            wav, f"the rendered take is {what} ({info.frames} of {want} samples); {again}"
        )

"""The clean lines of an enrollment: utterances, transcripts, phones, prosody, examples.

Steps 2-3 of ``adr enroll`` (:mod:`adr.voice.enroll`): a file's speech is cut into utterances
(one per file when its text is given, else one per VAD region, regions over 20 s cut at their
quietest point) and transcribed by Whisper where no text is given; each utterance gets its
phones (forced alignment) and prosody (Praat), no denoiser (the material is clean), and, with
a picture, its lip track; then a training example on the model's frame grid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.fsio import write_json
from adr.core.timebase import seconds_to_frames, seconds_to_samples
from adr.core.types import LipTrack, Phone, Prosody
from adr.voice.material import RATE, FileMaterial

__all__ = ["analyse_clean_line", "analyse_file", "cut", "training_example", "transcribe_file"]


def analyse_clean_line(
    audio: np.ndarray, sample_rate: int, text: str, *, start: float = 0.0
) -> tuple[tuple[Phone, ...], Prosody]:
    """Phones (forced alignment at 16 kHz) and prosody of a clean line, no denoiser.

    Parameters
    ----------
    audio : np.ndarray, shape (N,)
        Mono speech at ``sample_rate``.
    text : str
        What is said.
    start : float
        Time of ``audio[0]`` in seconds, added to every time.

    Raises
    ------
    AdrError
        When the aligner fails or falls back to uniform timing.
    """
    from adr.analysis.align import align
    from adr.analysis.denoise import resample
    from adr.analysis.prosody import extract_prosody

    alignment = align(resample(audio, sample_rate, RATE), text, start=start, front_end="none")
    if alignment.method.endswith("(uniform)"):
        raise AdrError(repr(text[:40]), "the aligner found no path through the text")
    return alignment.phones, extract_prosody(audio, sample_rate, start=start, denoise="none")


def training_example(
    audio: np.ndarray,
    phones: Sequence[Phone],
    prosody: Prosody,
    voice_config: Any,
    *,
    start: float = 0.0,
    lips: LipTrack | None = None,
) -> Any:
    """A :class:`~adr.voice.train.TrainingExample` of a line on the model's frame grid.

    ``audio`` (N,) is at the model rate; ``T = round(N / hop)`` frames from ``start``, and
    the audio is padded or cut to ``T * hop`` samples.
    """
    from adr.voice.features import frame_features
    from adr.voice.train import TrainingExample

    vc = voice_config
    n = max(1, seconds_to_frames(len(audio) / vc.sample_rate, vc.frame_period))
    feats = frame_features(
        phones,
        prosody,
        lips,
        start=start,
        end=start + n * vc.frame_period,
        frame_period=vc.frame_period,
        phone_inventory=vc.phone_inventory,
    )
    x = np.asarray(audio, dtype=np.float32)[: n * vc.hop_length]
    return TrainingExample(np.pad(x, (0, n * vc.hop_length - len(x))), feats)


def cut(x: np.ndarray, sr: int, a: float, b: float) -> np.ndarray:
    return x[seconds_to_samples(a, sr) : seconds_to_samples(b, sr)]


def split_regions(regions: Sequence[Any], x16: np.ndarray, longest: float = 20.0) -> list[tuple]:
    """(start, end) of the VAD regions; longer ones cut at their quietest 50 ms in the
    middle half."""
    out: list[tuple[float, float]] = []
    todo = [(r.start, r.end) for r in regions]
    while todo:
        a, b = todo.pop(0)
        if b - a <= longest:
            out.append((a, b))
            continue
        w, q = int(0.05 * RATE), (b - a) / 4
        seg = cut(x16, RATE, a + q, b - q)
        n = len(seg) // w
        k = int(np.argmin(np.mean(seg[: n * w].reshape(n, w) ** 2, axis=1))) if n else 0
        todo[:0] = [(a, a + q + (k + 0.5) * 0.05), (a + q + (k + 0.5) * 0.05, b)]
    return out


def transcribe_file(
    fm: FileMaterial, x16: np.ndarray, regions: list, whisper: str | None
) -> tuple[FileMaterial, list[dict]]:
    """Whisper per utterance; the file's language is that of most of its speech."""
    from adr.analysis.asr import transcribe

    utts: list[dict] = []
    langs: dict[str, list[Any]] = {}
    for a, b in split_regions(regions, x16):
        tr = transcribe(cut(x16, RATE, a, b), model=whisper, language=None, start=a)
        lang = langs.setdefault(tr.language, [0.0, []])
        lang[0] += b - a
        lang[1].append(tr.language_probability)
        if tr.language == "en" and tr.text.strip():
            utts.append({"start": a, "end": b, "text": tr.text.strip()})
    code = max(langs, key=lambda c: langs[c][0]) if langs else ""
    prob = float(np.mean(langs[code][1])) if langs else 0.0
    return dataclasses.replace(fm, language=code, language_probability=round(prob, 3)), utts


def lips_of(video: str | Path, a: float, b: float, x16: np.ndarray) -> dict:
    from adr.analysis.avsync import estimate_av_offset
    from adr.analysis.lips import track_lips

    res = track_lips(video, start=a, end=b)
    av = estimate_av_offset(res.track, cut(x16, RATE, a, b), RATE, audio_start=a)
    return av.apply(res.track).to_dict()


def analyse_file(w: dict, vc: Any, name: str, tick: Any) -> list[tuple[str, Any, np.ndarray, dict]]:
    """Phones and prosody of a file's utterances (cached in ``w["data"]``), as examples."""
    out = []
    for u in w["data"].get("utterances", []):
        a, b = u["start"], u["end"]
        if "phones" not in u and "skipped" not in u:
            try:
                phones, pros = analyse_clean_line(
                    cut(w["xm"], vc.sample_rate, a, b), vc.sample_rate, u["text"], start=a
                )
                u["phones"], u["prosody"] = [p.to_dict() for p in phones], pros.to_dict()
                if w["video"] is not None:
                    u["lips"] = lips_of(w["video"], a, b, w["x16"])
            except AdrError as exc:
                u["skipped"] = exc.problem
            write_json(w["cpath"], w["data"])
        tick()
        if "phones" in u:
            lips = LipTrack.from_dict(u["lips"]) if u.get("lips") else None
            ex = training_example(
                cut(w["xm"], vc.sample_rate, a, b),
                [Phone.from_dict(p) for p in u["phones"]],
                Prosody.from_dict(u["prosody"]),
                vc,
                start=a,
                lips=lips,
            )
            out.append((f"{name}@{a:.2f}-{b:.2f}", ex, cut(w["x16"], RATE, a, b), u))
    return out

"""Enrollment material: can an actor's recordings make a voice? (used by :mod:`adr.voice.enroll`).

Per file: length, minutes of speech (Silero VAD, :mod:`adr.analysis.vad`), noise floor (of the
20 ms block levels, the lower of the 20th percentile outside speech and the 5th percentile
overall, so that tightly cut files are not judged by their speech) and SNR (active speech
level over the floor), clipping (fraction of samples at full scale), language (Whisper, for
files without text). Over the material: speech minutes and phone coverage of the texts.

Refusals: a file that is unreadable, clipped (> 1 % of samples), noisy (SNR < 15 dB) or
confidently not English; less than 0.5 min of speech in all. The SNR estimate is a cheap
energy statistic that reads high in non-stationary noise (what 15 dB means in true SNR:
docs/decisions.md, "material: ..."). Warnings: under 2 min of speech (thin), phone coverage
under 80 %, files without speech. The limits are a
:class:`MaterialLimits`. :func:`check_material` never raises for bad material; call
:meth:`MaterialReport.raise_for_refusals` to get the one-line :class:`AdrError`.

Texts (``texts=``): ``None`` (a ``NAME.txt`` next to ``NAME.wav`` is used, otherwise the file
is transcribed), a transcript table file (``name<TAB>text`` per line, as ``adr demo`` writes),
one entry per audio file (the text itself, a ``.txt`` path, or ``None``), or a mapping from
file name (or stem) to text. See :func:`resolve_texts`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.records import Record
from adr.core.timebase import seconds_to_samples
from adr.core.types import strict_from_dict

__all__ = [
    "MaterialLimits",
    "FileMaterial",
    "MaterialReport",
    "check_material",
    "resolve_texts",
    "TextsArg",
]

RATE = 16_000  # VAD, Whisper and aligner rate
_BLOCK = 0.02
_NO_SPEECH = "no speech found; the file is not used"
TextsArg = str | Path | Sequence[str | Path | None] | Mapping[str, str] | None


@dataclass(frozen=True)
class MaterialLimits(Record):
    """Where material is refused (``min_minutes``, ``max_clipping`` as a fraction,
    ``min_snr_db``, ``min_language_probability`` of a non-English language) or warned
    about (``thin_minutes``, ``min_coverage`` as a fraction)."""

    min_minutes: float = 0.5
    thin_minutes: float = 2.0
    max_clipping: float = 0.01
    min_snr_db: float = 15.0
    min_coverage: float = 0.8
    min_language_probability: float = 0.8


@dataclass(frozen=True)
class FileMaterial:
    """What one recording holds.

    Attributes
    ----------
    path : str
    seconds, speech_seconds : float
        Length, and speech found by the VAD.
    noise_floor_db : float
        dBFS (-100 for digital silence).
    snr_db : float or None
        Speech level over the noise floor (None without speech).
    clipping : float
        Fraction of samples at full scale (|x| >= 0.999).
    language, language_probability : str, float
        Whisper's language of the speech (``""`` when not checked).
    error : str
        Why the file could not be read (``""`` when it could).
    problems, notes : tuple of str
        Refusal reasons and warnings (from :func:`judge_file`).
    """

    path: str
    seconds: float = 0.0
    speech_seconds: float = 0.0
    noise_floor_db: float = -100.0
    snr_db: float | None = None
    clipping: float = 0.0
    language: str = ""
    language_probability: float = 0.0
    error: str = ""
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "problems": list(self.problems),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileMaterial:
        d = dict(data)
        for k in ("problems", "notes"):
            d[k] = tuple(d.get(k, ()))
        return strict_from_dict(cls, d)


@dataclass(frozen=True)
class MaterialReport:
    """Whether an actor's recordings can make a voice.

    Attributes
    ----------
    actor : str
    files : tuple of FileMaterial
    speech_minutes : float
        Speech in the files without problems.
    noise_floor_db : float
        Highest (worst) file noise floor, dBFS.
    snr_db : float or None
        Lowest (worst) file SNR.
    clipping : float
        Fraction of clipped samples over all files.
    phone_coverage : float or None
        Fraction of the 39 CMU (ARPAbet) phones, which the English phones of the model's
        inventory map to, seen in the texts (None without texts).
    refusals, warnings : tuple of str
        One-line ``"<file or actor>: <reason>"`` strings.
    """

    actor: str
    files: tuple[FileMaterial, ...]
    speech_minutes: float
    noise_floor_db: float
    snr_db: float | None
    clipping: float
    phone_coverage: float | None
    refusals: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.refusals

    def raise_for_refusals(self) -> None:
        """Raise :class:`AdrError` naming the first refused file (or the actor), one line."""
        if self.refusals:
            where, _, why = self.refusals[0].partition(": ")
            more = "; ".join(self.refusals[1:])
            raise AdrError(where, why + (f"; also {more}" if more else ""))

    def summary(self) -> str:
        """A few lines for people."""
        cov = "unknown" if self.phone_coverage is None else f"{self.phone_coverage:.0%}"
        snr = "n/a" if self.snr_db is None else f"{self.snr_db:.0f} dB"
        lines = [
            f"{self.actor or 'material'}: {len(self.files)} files, "
            f"{self.speech_minutes:.2f} min of speech, SNR {snr}, noise floor "
            f"{self.noise_floor_db:.0f} dBFS, clipping {self.clipping:.3%}, "
            f"phone coverage {cov}"
        ]
        lines += [f"  refused: {r}" for r in self.refusals]
        return "\n".join(lines + [f"  warning: {w}" for w in self.warnings])

    def to_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "files": [f.to_dict() for f in self.files],
            "refusals": list(self.refusals),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MaterialReport:
        d = dict(data)
        d["files"] = tuple(FileMaterial.from_dict(f) for f in d.get("files", ()))
        for k in ("refusals", "warnings"):
            d[k] = tuple(d.get(k, ()))
        return strict_from_dict(cls, d)


def _levels(x: np.ndarray, regions: Sequence[Any]) -> tuple[float, float | None, float]:
    """(noise floor dBFS, SNR dB or None, speech seconds) of 16 kHz audio (N,)."""
    w = int(_BLOCK * RATE)
    n = len(x) // w
    power = (
        np.mean(x[: n * w].astype(np.float64).reshape(n, w) ** 2, axis=1) if n else np.zeros(1)
    )  # (n,)
    centres = (np.arange(len(power)) + 0.5) * _BLOCK
    inside = np.zeros(len(power), bool)
    for r in regions:
        inside |= (centres >= r.start) & (centres < r.end)
    # tightly cut files have few blocks outside speech: the quietest blocks of the speech
    # itself (pauses, closures) then bound the floor
    quiet = float(np.percentile(power, 5))
    if np.sum(~inside) >= 10:
        quiet = min(quiet, float(np.percentile(power[~inside], 20)))
    floor = max(10 * np.log10(max(quiet, 1e-10)), -100.0)
    speech = power[inside]
    if not speech.size or speech.max() <= 0:
        return floor, None, 0.0
    active = speech[speech >= speech.max() * 1e-4]  # blocks within 40 dB of the loudest
    return floor, 10 * np.log10(float(active.mean())) - floor, sum(r.duration for r in regions)


def inspect_file(
    path: Path, sample_rate: int
) -> tuple[FileMaterial, np.ndarray, np.ndarray, list[Any]]:
    """Read one recording.

    Returns
    -------
    (FileMaterial, np.ndarray (N16,), np.ndarray (N,), list of adr.analysis.vad.Region)
        Its (unjudged) stats, its mono audio at 16 kHz and at ``sample_rate``, and its speech
        regions (seconds from the file start). Unreadable: ``error`` set, empty arrays.
    """
    from adr.analysis.denoise import resample
    from adr.analysis.vad import speech_regions
    from adr.ingest.media import read_audio

    try:
        audio = read_audio(path)
    except AdrError as exc:
        empty = np.zeros(0, np.float32)
        return FileMaterial(str(path), error=exc.problem), empty, empty, []
    clipping = float(np.mean(np.max(np.abs(audio.samples), axis=0) >= 0.999))
    x = audio.mono()
    x16 = resample(x, audio.sample_rate, RATE)
    regions = speech_regions(x16, RATE)
    floor, snr, speech = _levels(x16, regions)
    fm = FileMaterial(
        str(path),
        round(audio.duration, 3),
        round(float(speech), 3),
        round(float(floor), 1),
        None if snr is None else round(float(snr), 1),
        round(clipping, 5),
    )
    return fm, x16, resample(x, audio.sample_rate, sample_rate), regions


def judge_file(fm: FileMaterial, limits: MaterialLimits) -> FileMaterial:
    """The file with its ``problems`` and ``notes`` worked out from its stats."""
    problems, notes = [], []
    if fm.error:
        problems.append(f"unreadable ({fm.error})")
    else:
        if fm.clipping > limits.max_clipping:
            problems.append(
                f"heavy clipping ({fm.clipping:.1%} of samples at full scale; "
                f"at most {limits.max_clipping:.0%})"
            )
        if fm.snr_db is not None and fm.snr_db < limits.min_snr_db:
            problems.append(
                f"too noisy (SNR {fm.snr_db:.0f} dB, noise floor "
                f"{fm.noise_floor_db:.0f} dBFS; at least {limits.min_snr_db:.0f} dB)"
            )
        if (
            fm.language not in ("", "en")
            and fm.language_probability >= limits.min_language_probability
        ):
            problems.append(
                f"not English (detected {fm.language}, p={fm.language_probability:.2f})"
            )
        if fm.speech_seconds == 0:
            notes.append(_NO_SPEECH)
    return dataclasses.replace(fm, problems=tuple(problems), notes=tuple(notes))


def phone_coverage(texts: Sequence[str]) -> float:
    """Fraction of the 39 CMU phones (ARPAbet, through espeak IPA) the texts contain."""
    from adr.analysis.phonemes import (
        ARPABET_TO_IPA,
        ipa_to_arpabet,
        normalize_text,
        phonemize_words,
    )

    seen: set[str] = set()
    for text in texts:
        for phones in phonemize_words(normalize_text(text)):
            seen.update(ipa_to_arpabet(phones))
    every = set(ARPABET_TO_IPA) - {"SIL"}
    return len(seen & every) / len(every)


def material_report(
    actor: str, files: Sequence[FileMaterial], texts: Sequence[str] | None, limits: MaterialLimits
) -> MaterialReport:
    """Judge every file and the material as a whole."""
    files = [judge_file(f, limits) for f in files]
    minutes = sum(f.speech_seconds for f in files if not f.problems) / 60
    refusals = [f"{f.path}: {p}" for f in files for p in f.problems]
    warnings = [f"{f.path}: {n}" for f in files for n in f.notes]
    who = actor or "material"
    if minutes < limits.min_minutes:
        refusals.append(
            f"{who}: too little speech ({minutes:.2f} min; at least "
            f"{limits.min_minutes} min needed)"
        )
    elif minutes < limits.thin_minutes:
        warnings.append(
            f"{who}: thin material ({minutes:.2f} min of speech; "
            f"{limits.thin_minutes:.0f} min or more gives a better voice)"
        )
    coverage = phone_coverage(texts) if texts else None
    if coverage is not None and coverage < limits.min_coverage:
        warnings.append(f"{who}: low phone coverage ({coverage:.0%} of English phones)")
    snrs = [f.snr_db for f in files if f.snr_db is not None]
    total = sum(f.seconds for f in files)
    return MaterialReport(
        actor,
        tuple(files),
        round(minutes, 3),
        max((f.noise_floor_db for f in files if f.seconds), default=-100.0),
        min(snrs) if snrs else None,
        round(sum(f.clipping * f.seconds for f in files) / total, 5) if total else 0.0,
        None if coverage is None else round(coverage, 3),
        tuple(refusals),
        tuple(warnings),
    )


def _read_text(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AdrError(p, f"cannot read text file ({exc})") from None


def resolve_texts(audio_paths: Sequence[str | Path], texts: TextsArg) -> list[str | None]:
    """The given text of each audio file, ``None`` where it must be transcribed.

    Parameters
    ----------
    audio_paths : sequence of paths
    texts : None, path, sequence or mapping
        See the module docstring. A single string that is not an existing file is the
        text of the only audio file.
    """
    paths = [Path(p) for p in audio_paths]
    if texts is None:
        return [
            _read_text(p.with_suffix(".txt")) if p.with_suffix(".txt").is_file() else None
            for p in paths
        ]
    if isinstance(texts, (str, Path)):
        table = Path(texts)
        if not table.is_file():
            if len(paths) == 1 and isinstance(texts, str):
                return [texts.strip() or None]
            raise AdrError(table, "text file not found")
        if table.suffix == ".txt" and len(paths) == 1:
            return [_read_text(table) or None]
        rows = [ln.split("\t", 1) for ln in _read_text(table).splitlines() if "\t" in ln]
        if not rows:
            raise AdrError(table, "not a transcript table (name<TAB>text per line)")
        texts = {name.strip(): text.strip() for name, text in rows}
    if isinstance(texts, Mapping):
        by_name = {Path(k).stem: v for k, v in texts.items()}
        by_name |= {Path(k).name: v for k, v in texts.items()}
        return [(by_name.get(p.name) or by_name.get(p.stem) or "").strip() or None for p in paths]
    items = list(texts)
    if len(items) != len(paths):
        raise AdrError("texts", f"{len(items)} texts for {len(paths)} audio files")
    out: list[str | None] = []
    for t in items:
        is_file = isinstance(t, Path) or (str(t).endswith(".txt") and Path(str(t)).is_file())
        text = "" if t is None else _read_text(Path(t)) if is_file else str(t).strip()
        out.append(text or None)
    return out


def check_material(
    audio_paths: Sequence[str | Path],
    texts: TextsArg = None,
    *,
    actor: str = "",
    limits: MaterialLimits = MaterialLimits(),
    language_check: bool = True,
) -> MaterialReport:
    """Check an actor's recordings before enrolling (never raises for bad material).

    Parameters
    ----------
    audio_paths : sequence of paths
        The recordings.
    texts : see the module docstring
        Phone coverage comes from them. Files without text get a language check (Whisper
        language detection on their first 30 s of speech) unless ``language_check=False``.
    actor : str
        Named in the refusals about the whole material.
    limits : MaterialLimits

    Returns
    -------
    MaterialReport
        :meth:`MaterialReport.raise_for_refusals` turns its refusals into an AdrError.
    """
    paths = [Path(p) for p in audio_paths]
    given = resolve_texts(paths, texts)
    files = []
    for path, text in zip(paths, given):
        fm, x16, _, regions = inspect_file(path, RATE)
        if language_check and text is None and regions:
            from adr.analysis.asr import detect_language

            speech = np.concatenate(
                [
                    x16[seconds_to_samples(r.start, RATE) : seconds_to_samples(r.end, RATE)]
                    for r in regions
                ]
            )
            code, prob = detect_language(speech[: 30 * RATE])
            fm = dataclasses.replace(fm, language=code, language_probability=round(prob, 3))
        files.append(fm)
    return material_report(actor, files, [t for t in given if t] or None, limits)

"""Enrollment data for the restorer: each clean line, damaged many ways, paired with itself.

For every clean line of the actor (already aligned and measured by enrollment) this builds
:class:`~adr.voice.train_restorer.RestorerExample` pairs: the line's evidence
(:func:`adr.voice.speak.line_inputs`) once from the clean line itself and once per damaged
copy (:func:`adr.voice.damage_sim.damage_line`: noise, hum, gusts, babble of the actor's
other lines, bursts, dropouts, rooms), each denoised and measured exactly as a production
line is at render (:func:`adr.voice.evidence.take_evidence`; prosody of the damaged copy by
:func:`adr.analysis.prosody.extract_prosody` behind the same denoiser), against the clean
line's log-mel at the reference level. The clean copy's donor follows the clean alignment
and F0; each damaged copy is also force-aligned to the script on its own (as
:func:`adr.analysis.analyze.analyze_line` aligns a production line, with the same uniform
fallback when nothing is audible) and its donor follows that alignment and the damaged
copy's F0, so the restorer learns to use a donor that is as misplaced as at render.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adr.core.progress import ProgressEvent, ProgressHook, null_progress
from adr.core.types import Phone, Prosody, Word
from adr.voice.evidence import (
    controls_on_grid,
    fit_frames,
    line_frames,
    noisy_mel,
    reference_gain_db,
    take_evidence,
)
from adr.voice.restorer import RestorerConfig, RestorerInputs
from adr.voice.train_restorer import RestorerExample, RestorerTrainConfig
from adr.voice.vocoder import MEL, log_mel

__all__ = [
    "CleanLine",
    "words_from_phones",
    "restorer_examples",
    "actor_f0_median",
    "train_actor_restorer",
    "clean_line",
    "restorer_configs",
]


@dataclass(frozen=True, eq=False)
class CleanLine:
    """One aligned clean line of the enrollment material.

    Attributes
    ----------
    text : str
    words : tuple of Word
    phones : tuple of Phone
    prosody : Prosody
    start, end : float
        Seconds (in the source file) of ``audio[0]`` and of its end.
    audio : np.ndarray, shape (N,)
        The line at ``sample_rate``.
    sample_rate : int
    """

    text: str
    words: tuple[Word, ...]
    phones: tuple[Phone, ...]
    prosody: Prosody
    start: float
    end: float
    audio: np.ndarray
    sample_rate: int

    def inputs(
        self, config: RestorerConfig, audio: np.ndarray, denoised: np.ndarray | None = None
    ) -> RestorerInputs:
        """The line's restorer inputs (:func:`adr.voice.speak.line_inputs`) on its own
        words, phones and prosody, with ``audio`` (N,) at :attr:`sample_rate` as the take."""
        from adr.voice.speak import line_inputs

        return line_inputs(
            self.text,
            self.words,
            self.phones,
            self.prosody,
            self.start,
            self.end,
            config,
            audio=audio,
            sample_rate=self.sample_rate,
            denoised=denoised,
        )


def words_from_phones(text: str, phones: Sequence[Phone]) -> tuple[Word, ...]:
    """Word spans from phones' word indices into ``normalize_text(text)``."""
    from adr.analysis.phonemes import normalize_text

    tokens = normalize_text(text)
    spans: dict[int, list[float]] = {}
    for p in phones:
        if 0 <= p.word < len(tokens):
            s = spans.setdefault(p.word, [p.start, p.end])
            s[0], s[1] = min(s[0], p.start), max(s[1], p.end)
    return tuple(Word(tokens[i], a, b) for i, (a, b) in sorted(spans.items()))


def actor_f0_median(lines: Sequence[CleanLine]) -> float:
    """Median F0 (Hz) over the voiced frames of all lines (0 when none is voiced)."""
    f0 = np.concatenate(
        [np.asarray(ln.prosody.f0)[np.asarray(ln.prosody.voiced, bool)] for ln in lines]
        or [np.zeros(0)]
    )
    f0 = f0[(f0 > 40) & (f0 < 800)]
    return float(np.median(f0)) if f0.size else 0.0


def _scaled(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``audio`` at the reference level (as :func:`take_evidence` scales a take)."""
    gain = 10.0 ** (reference_gain_db(audio, sample_rate) / 20.0)
    return (np.asarray(audio, dtype=np.float32) * np.float32(gain)).astype(np.float32)


def _damaged_alignment(
    noisy: np.ndarray, denoised: np.ndarray, line: CleanLine
) -> tuple[tuple[Word, ...], tuple[Phone, ...]]:
    """Words and phones of a damaged copy of ``line``, aligned as a production line is."""
    from adr.analysis.align import align, uniform_alignment
    from adr.core.errors import AdrError

    try:
        al = align(noisy, line.text, start=line.start, denoised=denoised)
    except AdrError as exc:
        if not exc.problem.startswith("no speech"):
            raise
        al = uniform_alignment(line.text, line.start, line.end)
    return al.words, al.phones


def restorer_examples(
    lines: Sequence[CleanLine],
    config: RestorerConfig,
    train_config: RestorerTrainConfig,
    *,
    progress: ProgressHook | None = None,
) -> list[RestorerExample]:
    """Training pairs: per line, its clean evidence and ``damaged_copies`` damaged ones.

    Lines the donor cannot speak (no word to say) are skipped.
    """
    from adr.analysis.denoise import denoise, resample
    from adr.analysis.prosody import extract_prosody
    from adr.core.errors import AdrError
    from adr.voice.damage_sim import damage_line
    from adr.voice.speak import line_inputs

    report = progress or null_progress
    rng = np.random.default_rng(train_config.seed + 7)
    out: list[RestorerExample] = []
    pool = [np.asarray(ln.audio, dtype=np.float32) for ln in lines]
    for i, ln in enumerate(lines):
        report(ProgressEvent("enroll: damage", i, len(lines), "line"))
        n = line_frames(ln.end - ln.start)
        clean = _scaled(ln.audio, ln.sample_rate)
        target = fit_frames(log_mel(resample(clean, ln.sample_rate, MEL.sample_rate)).numpy(), n)
        try:
            base = ln.inputs(config, clean, denoised=clean)
        except AdrError:
            continue
        out.append(RestorerExample(base, target.astype(np.float32)))
        if not config.use_take:
            continue
        others = [p for j, p in enumerate(pool) if j != i]
        for _ in range(train_config.damaged_copies):
            noisy, _ = damage_line(ln.audio, ln.sample_rate, rng, others)
            den = denoise(noisy, ln.sample_rate)
            pros = extract_prosody(noisy, ln.sample_rate, start=ln.start, denoised=den)
            if train_config.donor_from_damage:
                try:
                    ex = line_inputs(
                        ln.text,
                        *_damaged_alignment(noisy, den, ln),
                        pros,
                        ln.start,
                        ln.end,
                        config,
                        audio=noisy,
                        sample_rate=ln.sample_rate,
                        denoised=den,
                    )
                except AdrError:
                    continue
            else:
                take, rel, gain_db = take_evidence(noisy, ln.sample_rate, n, denoised=den)
                f0, voiced, energy = controls_on_grid(pros, ln.start, n)
                ex = dataclasses.replace(
                    base,
                    take_mel=take,
                    reliability=rel,
                    f0=f0,
                    voiced=voiced,
                    loudness=energy,
                    noisy_mel=noisy_mel(noisy, ln.sample_rate, n, gain_db)
                    if config.use_noisy
                    else None,
                )
            out.append(RestorerExample(ex, target.astype(np.float32)))
    report(ProgressEvent("enroll: damage", len(lines), len(lines), "line"))
    return out


def train_actor_restorer(
    train: Sequence[CleanLine],
    held: Sequence[CleanLine],
    config: RestorerConfig,
    train_config: RestorerTrainConfig,
    work_dir: str,
    *,
    progress: ProgressHook | None = None,
    resume: bool = True,
) -> tuple[object, dict[str, list[float]]]:
    """Build the pairs, train the restorer and measure it on the held-back lines.

    Returns
    -------
    restorer : Restorer
    scores : dict of str to list of float
        Per held-back line, re-spoken from its own clean evidence: ``speaker_similarity``
        (GE2E cosine to training lines), ``speaker_similarity_original`` (the original's own,
        the ceiling), ``f0_corr`` and ``f0_rmse_cents`` against the original.
    """
    from adr import metrics
    from adr.voice.donor import choose_donor
    from adr.voice.speak import speak
    from adr.voice.train_restorer import train_restorer

    report = progress or null_progress
    if not config.f0_median:  # the actor's pitch picks the donor voice and its F0 fallback
        f0 = actor_f0_median(train)
        config = dataclasses.replace(
            config, f0_median=round(f0, 1), donor=choose_donor(f0) if f0 > 0 else config.donor
        )
    examples = restorer_examples(train, config, train_config, progress=progress)
    model = train_restorer(
        examples, config, train_config, work_dir, progress=progress, resume=resume
    )
    refs = [
        np.asarray(train[int(i)].audio) for i in np.linspace(0, len(train) - 1, min(10, len(train)))
    ]
    sr = train[0].sample_rate if train else 16000
    scores: dict[str, list[float]] = {}
    for k, ln in enumerate(held):
        report(ProgressEvent("enroll: evaluate", k, len(held), "line"))
        inputs = ln.inputs(config, ln.audio)
        y = speak(model, inputs)
        pitch = metrics.f0_metrics(
            ln.audio, _to_rate(y, MEL.sample_rate, ln.sample_rate, len(ln.audio)), ln.sample_rate
        )
        for name, v in (
            ("speaker_similarity", metrics.speaker_similarity(y, MEL.sample_rate, refs, sr)),
            (
                "speaker_similarity_original",
                metrics.speaker_similarity(ln.audio, ln.sample_rate, refs, sr),
            ),
            ("f0_corr", pitch.correlation),
            ("f0_rmse_cents", pitch.rmse_cents),
        ):
            scores.setdefault(name, []).append(float(v))
    report(ProgressEvent("enroll: evaluate", len(held), len(held), "line"))
    return model, scores


def _to_rate(y: np.ndarray, sr_in: int, sr_out: int, n: int) -> np.ndarray:
    from adr.analysis.denoise import resample

    z = resample(np.asarray(y, dtype=np.float32), sr_in, sr_out)[:n]
    return np.pad(z, (0, n - len(z))).astype(np.float32)


def restorer_configs(
    engine: str,
    quality: str,
    config: RestorerConfig | None,
    train_config: RestorerTrainConfig | None,
) -> tuple[RestorerConfig | None, RestorerTrainConfig | None]:
    """The restorer's config and training preset for an enrollment (``None`` unless the
    engine is ``"restorer"``). A preset starts from the shipped base restorer unless the
    config given has another architecture (then from random weights, as the preset's base
    could not fit); a training config given is used as it is."""
    if engine != "restorer":
        return None, None
    from adr.voice.base_restorer import base_config, same_architecture
    from adr.voice.train_restorer import restorer_preset

    rc = config or RestorerConfig()
    if train_config is not None:
        return rc, train_config
    tc = restorer_preset(quality)
    if tc.base and config is not None and not same_architecture(base_config(tc.base), rc):
        tc = dataclasses.replace(tc, base="")
    return rc, tc


def clean_line(u: dict, x16: np.ndarray, sample_rate: int = 16000) -> CleanLine:
    """An analysed clean utterance (enrollment cache entry ``u``, its audio) as a CleanLine."""
    phones = tuple(Phone.from_dict(p) for p in u["phones"])
    return CleanLine(
        u["text"],
        words_from_phones(u["text"], phones),
        phones,
        Prosody.from_dict(u["prosody"]),
        float(u["start"]),
        float(u["end"]),
        np.asarray(x16, dtype=np.float32),
        sample_rate,
    )

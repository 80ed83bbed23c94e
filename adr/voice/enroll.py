"""``adr enroll``: turn an actor's clean recordings into a voice under ``voices/ACTOR``.

1. Check the material (:func:`check_material`, in :mod:`adr.voice.material`): speech minutes,
   noise floor/SNR, clipping, language, phone coverage. Refusals raise :class:`AdrError`
   naming the file or actor; warnings stay in the report.
2. Utterances: one per file when its text is given (the file's speech extent, VAD), else
   one per VAD region (regions over 20 s cut at their quietest point), transcribed by
   Whisper with language detection.
3. Phones (forced alignment) and prosody (Praat) per utterance, no denoiser (the material is
   clean): :func:`~adr.voice.enroll_lines.analyse_clean_line`. Cached per file in
   ``.train/files/``, so a rerun does not redo transcription or alignment. Lines the aligner
   cannot follow are skipped (warning).
4. A few lines are held back (1-3, evenly spaced, when there are 6 or more), the rest train
   the model with the preset (checkpoints in ``.train/ckpt-<key>``: an interrupted
   enrollment resumes there); the held-back lines are re-spoken from their own features and
   measured: speaker similarity (GE2E cosine to training lines; the original's own as
   ceiling) and F0 correlation/RMSE against the original.
5. ``model.safetensors`` + ``voice.json`` (:func:`adr.voice.voicefile.save_voice`, with source
   hashes, minutes, date and metrics), ``voiceprint.json`` (what ``adr analyze`` identifies
   actors with) and ``enrollment.json`` (this result and the key of its inputs). A rerun with
   the same inputs finds the key and returns at once.

Consent: ``enroll_actor`` refuses to start without the actor's consent record
(:class:`adr.core.consent.ConsentRecord`, for this actor id); it is stored in ``voice.json``
under the voice's seal. A rerun with another record reuses the training and replaces the
record (the old one goes to the voice's consent history).

CLI contract: ``adr enroll ACTOR --audio F... --consent FILE [--text T...] [--video V...]
[--quality Q] [--fresh]`` is ``enroll_actor(ACTOR, F, consent=read_consent(FILE), texts=T (a
single value as is), video_paths=V, voices_root=<--voices>, quality=Q, progress=<hook>,
resume=not fresh)`` then
``print(result.summary())``; ``adr enroll ACTOR --check ...`` is ``report = check_material(F,
T, actor=ACTOR)``, ``print(report.summary())``, ``report.raise_for_refusals()``. Errors are
:class:`AdrError` (one line, exit 2); Ctrl-C leaves a checkpoint that the rerun resumes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.cache import cache_key
from adr.core.consent import ConsentRecord
from adr.core.errors import AdrError
from adr.core.fsio import ensure_dir, read_json, write_json
from adr.core.names import is_valid_name
from adr.core.progress import ProgressEvent, ProgressHook, null_progress
from adr.voice.enroll_lines import (
    analyse_clean_line,
    analyse_file,
    training_example,
    transcribe_file,
)
from adr.voice.enroll_record import EnrollResult, file_sha, finished_enrollment
from adr.voice.material import (
    RATE,
    FileMaterial,
    MaterialLimits,
    MaterialReport,
    TextsArg,
    check_material,
    inspect_file,
    material_report,
    resolve_texts,
)

__all__ = [
    "EnrollResult",
    "MaterialLimits",
    "MaterialReport",
    "analyse_clean_line",
    "check_material",
    "enroll_actor",
    "training_example",
]

ENROLL_VERSION = 1
_LIMITS = MaterialLimits()


def _voiced_loudness(features: Sequence[Any]) -> float | None:
    """Median loudness (dBFS) of the voiced frames of some FrameFeatures."""
    v = np.concatenate([f.loudness[f.voiced > 0] for f in features])
    return round(float(np.median(v)), 2) if v.size else None


def _train_ddsp(
    train: Sequence[tuple],
    held: Sequence[tuple],
    vc: Any,
    tc: Any,
    ckpt: Path,
    *,
    progress: ProgressHook | None,
    resume: bool,
) -> tuple[Any, dict[str, list]]:
    """Train the harmonic-plus-noise model and measure it on the held-back lines."""
    from adr import metrics
    from adr.voice.train import train_voice

    report = progress or null_progress
    model = train_voice(
        [ex for _, ex, _, _ in train], vc, tc, ckpt, progress=progress, resume=resume
    )
    sr = vc.sample_rate
    scores: dict[str, list[float]] = {}
    refs = [train[int(i)][1].audio for i in np.linspace(0, len(train) - 1, min(10, len(train)))]
    for k, (_, ex, _, _) in enumerate(held):
        report(ProgressEvent("enroll: evaluate", k, len(held), "line"))
        y = model.render(ex.features)
        f0 = metrics.f0_metrics(ex.audio, y, sr)
        for name, v in (
            ("speaker_similarity", metrics.speaker_similarity(y, sr, refs, sr)),
            ("speaker_similarity_original", metrics.speaker_similarity(ex.audio, sr, refs, sr)),
            ("f0_corr", f0.correlation),
            ("f0_rmse_cents", f0.rmse_cents),
        ):
            scores.setdefault(name, []).append(v)
    report(ProgressEvent("enroll: evaluate", len(held), len(held), "line"))
    return model, scores


def enroll_actor(
    actor: str,
    audio_paths: Sequence[str | Path],
    *,
    texts: TextsArg = None,
    video_paths: Sequence[str | Path | None] | None = None,
    voices_root: str | Path = "voices",
    quality: str = "fast",
    progress: ProgressHook | None = None,
    resume: bool = True,
    voice_config: Any = None,
    train_config: Any = None,
    limits: MaterialLimits = _LIMITS,
    whisper_model: str | None = None,
    engine: str = "restorer",
    restorer_config: Any = None,
    restorer_train_config: Any = None,
    consent: ConsentRecord | None = None,
) -> EnrollResult:
    """Enroll an actor (``adr enroll``); see the module docstring for the steps.

    Parameters
    ----------
    actor : str
        Actor id (letters, digits, ``._-``); the voice goes to ``voices_root/actor``.
    audio_paths : sequence of paths
        Clean recordings of the actor (anything :func:`adr.ingest.media.read_audio` reads).
    texts : None, path, sequence or mapping
        What each file says (see :mod:`adr.voice.material`); files without text are transcribed.
    video_paths : sequence of paths (or None entries), optional
        Picture of each recording with the same timing: the model then learns lip features.
    quality : str
        Training preset (:func:`adr.voice.train.preset`): ``"fast"``, ``"default"``, ``"best"``.
    progress : callable, optional
        Receives :class:`ProgressEvent` (stages ``"enroll: read"``, ``"enroll: transcribe"``,
        ``"enroll: align"``, ``"train voice"``, ``"enroll: evaluate"``).
    resume : bool
        Reuse a finished voice and continue interrupted training; ``False`` trains again
        from scratch (the per-file analysis cache is still used).
    voice_config, train_config : VoiceConfig, TrainConfig, optional
        Override the model (default: :data:`adr.analysis.phonemes.PHONES`, lips when videos are
        given) and the preset (the record says ``"custom"`` unless it equals the preset).
    limits : MaterialLimits
        Refusal and warning thresholds.
    whisper_model : str, optional
        Whisper model for files without text (default: the shipped one).
    engine : str
        ``"restorer"`` (default): train the speech restorer (:mod:`adr.voice.restorer`,
        rendered through the universal HiFi-GAN); ``"ddsp"``: the harmonic-plus-noise model
        of format-1 voices (``voice_config`` / ``train_config`` apply to it).
    restorer_config, restorer_train_config : RestorerConfig, RestorerTrainConfig, optional
        Override the restorer (its donor voice and median F0 are set from the material)
        and its preset (:func:`adr.voice.train_restorer.restorer_preset` of ``quality``).
    consent : ConsentRecord
        The actor's consent (required; its ``actor`` must be ``actor``).

    Returns
    -------
    EnrollResult

    Raises
    ------
    AdrError
        Bad actor id, no consent or consent for another actor, refused material (one line
        naming the file or actor), no usable line.
    """
    from adr.analysis.phonemes import PHONES
    from adr.analysis.speakers import make_voiceprint
    from adr.voice.enroll_restorer import restorer_configs
    from adr.voice.train import preset
    from adr.voice.train_restorer import restorer_preset
    from adr.voice.training import training_state
    from adr.voice.voice_model import VoiceConfig
    from adr.voice.voicefile import EnrollmentRecord, SourceFile, save_voice

    if not is_valid_name(actor) or actor == "unknown":
        raise AdrError(actor, "actor id must be 1-64 letters, digits, '.', '_' or '-'")
    if consent is None:
        raise AdrError(
            actor,
            "no consent record: a voice is the actor's likeness; give the "
            "actor's consent (adr enroll --consent FILE, or the --consent-* flags)",
        )
    if consent.actor != actor:
        raise AdrError(actor, f"the consent record is for actor {consent.actor}, not {actor}")
    paths = [Path(p) for p in audio_paths]
    if not paths:
        raise AdrError(actor, "no enrollment audio given")
    videos = list(video_paths) if video_paths else [None] * len(paths)
    if len(videos) != len(paths):
        raise AdrError(actor, f"{len(videos)} videos for {len(paths)} audio files")
    given = resolve_texts(paths, texts)
    tc = train_config or preset(quality)
    vc = voice_config or VoiceConfig(
        phone_inventory=PHONES, lips=any(v is not None for v in videos)
    )
    if engine not in ("restorer", "ddsp"):
        raise AdrError(engine, "unknown voice engine (restorer or ddsp)")
    rc, rtc = restorer_configs(engine, quality, restorer_config, restorer_train_config)
    report = progress or null_progress
    folder, hashes = Path(voices_root) / actor, [file_sha(p) for p in paths]
    vshas = [None if v is None else file_sha(Path(v)) for v in videos]
    key = cache_key(
        (
            ENROLL_VERSION,
            actor,
            hashes,
            given,
            vshas,
            vc.to_dict(),
            tc.to_dict(),
            whisper_model,
            limits.to_dict(),
            engine,
            None if rc is None or rtc is None else [rc.to_dict(), rtc.to_dict()],
        )
    )
    done = finished_enrollment(folder, key) if resume else None
    if done is not None:
        from adr.voice.voicefile import update_consent

        update_consent(folder, consent)  # a new record replaces the old one (history kept)
        return dataclasses.replace(done, consent_id=consent.consent_id)
    cache_dir = ensure_dir(folder / ".train" / "files")

    # material and transcripts (cached per file)
    files: list[FileMaterial] = []
    work: list[dict[str, Any]] = []
    for i, (path, sha, text, video) in enumerate(zip(paths, hashes, given, videos)):
        report(ProgressEvent("enroll: read", i, len(paths), "file", {"file": path.name}))
        fm, x16, xm, regions = inspect_file(path, vc.sample_rate)
        cpath = (
            cache_dir
            / f"{cache_key((sha, text, vshas[i], vc.sample_rate, whisper_model), length=24)}.json"
        )
        data = read_json(cpath) if sha and cpath.is_file() else {}
        if "language" in data:
            fm = dataclasses.replace(fm, **data["language"])
        files.append(fm)
        work.append(
            {
                "x16": x16,
                "xm": xm,
                "regions": regions,
                "video": video,
                "cpath": cpath,
                "text": text,
                "data": data,
            }
        )
    report(ProgressEvent("enroll: read", len(paths), len(paths), "file"))
    material_report(actor, files, None, limits).raise_for_refusals()
    todo = [i for i, w in enumerate(work) if "utterances" not in w["data"] and w["regions"]]
    for k, i in enumerate(todo):
        w, d = work[i], work[i]["data"]
        report(ProgressEvent("enroll: transcribe", k, len(todo), "file"))
        if w["text"] is not None:  # the file's speech extent is one utterance
            r0, r1 = w["regions"][0].start, w["regions"][-1].end
            d["utterances"] = [
                {
                    "start": max(0.0, r0 - 0.1),
                    "text": w["text"],
                    "end": min(len(w["x16"]) / RATE, r1 + 0.1),
                }
            ]
        else:
            files[i], d["utterances"] = transcribe_file(
                files[i], w["x16"], w["regions"], whisper_model
            )
            d["language"] = {
                "language": files[i].language,
                "language_probability": files[i].language_probability,
            }
        write_json(w["cpath"], d)
    if todo:
        report(ProgressEvent("enroll: transcribe", len(todo), len(todo), "file"))
    texts_all = [u["text"] for w in work for u in w["data"].get("utterances", [])]
    material = material_report(actor, files, texts_all, limits)
    material.raise_for_refusals()

    # phones and prosody (cached), examples
    n_utts, done_utts, lines = len(texts_all), [0], []

    def tick() -> None:
        done_utts[0] += 1
        report(ProgressEvent("enroll: align", done_utts[0], n_utts, "line"))

    for w, path in zip(work, paths):
        lines += analyse_file(w, vc, path.name, tick)
    skipped = tuple(
        f"{p.name}@{u['start']:.2f}: skipped ({u['skipped']})"
        for w, p in zip(work, paths)
        for u in w["data"].get("utterances", [])
        if "skipped" in u
    )
    material = dataclasses.replace(material, warnings=material.warnings + skipped)
    if not lines:
        raise AdrError(actor, "no usable line: transcription or alignment failed everywhere")

    # hold back, train, evaluate
    n_hold = 0 if len(lines) < 6 else min(3, max(1, len(lines) // 10))
    hold = {int(i) for i in np.linspace(0, len(lines) - 1, n_hold + 2)[1:-1]}
    train = [ln for i, ln in enumerate(lines) if i not in hold]
    held = [ln for i, ln in enumerate(lines) if i in hold]
    ckpt = folder / ".train" / f"ckpt-{key[:16]}"
    for old in (folder / ".train").glob("ckpt-*"):
        if old != ckpt or not resume:
            shutil.rmtree(old, ignore_errors=True)
    model: Any = None
    restorer: Any = None
    if engine == "restorer":
        if rc is None or rtc is None:
            raise AdrError(actor, "the restorer engine needs its configurations")
        from adr.voice.bandext import profile_from_files, with_profile
        from adr.voice.enroll_restorer import clean_line, train_actor_restorer

        rc = with_profile(rc, profile_from_files(paths))  # the band above 11 kHz, native rate
        restorer, scores = train_actor_restorer(
            [clean_line(u, x) for _, _, x, u in train],
            [clean_line(u, x) for _, _, x, u in held],
            rc,
            rtc,
            str(ckpt),
            progress=progress,
            resume=resume,
        )
    else:
        model, scores = _train_ddsp(train, held, vc, tc, ckpt, progress=progress, resume=resume)
    state = training_state(ckpt) or {}
    sr = vc.sample_rate
    record = EnrollmentRecord(
        actor=actor,
        sources=tuple(SourceFile(str(p), h, f.seconds) for p, h, f in zip(paths, hashes, files)),
        minutes=round(sum(len(ex.audio) for _, ex, _, _ in train) / sr / 60, 3),
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        preset=quality
        if (rtc or tc) == (restorer_preset(quality) if rtc else preset(quality))
        else "custom",
        steps=int(state.get("step", 0)),
        train_seconds=float(state.get("elapsed_seconds", 0.0)),
        metrics={
            k: round(float(np.nanmean(v)), 4) for k, v in scores.items() if np.isfinite(v).any()
        },
        loudness_db=_voiced_loudness([ex.features for _, ex, _, _ in train]),
    )

    # save: voice, voiceprint, enrollment.json (written last: marks the enrollment finished)
    save_voice(folder, model, vc, record, restorer, consent=consent)
    speech = [x for _, _, x, _ in lines if len(x) >= 0.5 * RATE] or [lines[0][2]]
    picks = sorted({int(i) for i in np.linspace(0, len(speech) - 1, min(20, len(speech)))})
    vp = make_voiceprint(actor, [speech[i] for i in picks], RATE)
    write_json(folder / "voiceprint.json", vp.to_dict())
    result = EnrollResult(
        actor,
        str(folder),
        material,
        record,
        len(lines),
        tuple(name for name, _, _, _ in held),
        consent_id=consent.consent_id,
    )
    write_json(
        folder / "enrollment.json",
        {"format_version": ENROLL_VERSION, "key": key, "result": result.to_dict()},
    )
    return result

"""Build the demo production: enrollment speech, the noisy scene, the picture, the truth.

Layout under ``out_dir``::

    enrollment/<ACTOR>/<ACTOR>_NNN.wav, transcript.tsv    clean speech, native rate
    scene/lines/<cue>.wav, <cue>.json                     dry lines and their timing
    scene/clean48k/<cue>.wav                              dry lines at 48 kHz, mix gain
    scene/production.wav                                  48 kHz / 24-bit Broadcast WAV
    scene/dialogue.wav                                    its reverberant dialogue alone
    scene/picture.mp4                                     talking head, AAC audio, timecode
    ground_truth.json

Each stage writes its files atomically and then a small manifest (``.manifest/<stage>.json``)
holding a hash of everything it was made from; a rerun skips a stage whose manifest matches
and whose files all exist.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from adr.analysis.avsync import SHUTTER
from adr.core.cache import cache_key
from adr.core.fsio import atomic_path, ensure_dir, read_json, write_json, write_text
from adr.core.progress import ProgressEvent, ProgressHook
from adr.core.timebase import (
    DELIVERY_RATE,
    samples_to_seconds,
    seconds_to_frames,
    seconds_to_samples,
)
from adr.core.types import Cue, Word
from adr.demo.picture import LOOKS, make_rig, openness_track, render_frame, write_picture
from adr.demo.scene import Condition, mix_production
from adr.demo.text import SCENE_LINES, enrollment_sentences
from adr.demo.truth import ActorInfo, DemoProduction, GroundTruth, LineTruth
from adr.demo.tts import VOICES, Alignment, synthesize

__all__ = ["build_demo", "CONDITIONS", "START_TIMECODE"]

START_TIMECODE = "01:00:00:00"
_VERSION = 3
_SEED = 20260522

#: Recording condition of the ten lines, in scene order (two clean, two at -5 dB).
CONDITIONS: tuple[Condition, ...] = (
    Condition("clean", None, 0.25),
    Condition("generator", 20.0, 0.3),
    Condition("wind", 10.0, 0.2),
    Condition("traffic", 5.0, 0.35),
    Condition("babble", 0.0, 0.45),
    Condition("clean", None, 0.4),
    Condition("door", -5.0, 0.3),
    Condition("dog", 10.0, 0.25),
    Condition("traffic", 15.0, 0.5),
    Condition("generator", -5.0, 0.3),
)


def _key(*parts: Any) -> str:
    return cache_key(parts, length=16)


def _stage(root: Path, name: str, key: str, run: Callable[[], list[str]]) -> str:
    """Run a build stage unless it is already complete; return the digest of its files.

    ``run`` writes the stage's files and returns their paths relative to ``root``. The stage
    is skipped when its manifest holds ``key`` and all listed files exist. The digest (a
    hash of the files' bytes) goes into the keys of later stages, so that they are redone
    whenever an earlier stage's output changes.
    """
    manifest = root / ".manifest" / f"{name}.json"
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if old.get("key") == key and all((root / p).is_file() for p in old.get("outputs", [])):
            return str(old.get("digest", ""))
    outputs = run()
    digest = hashlib.sha256()
    for rel in outputs:
        digest.update(rel.encode())
        digest.update((root / rel).read_bytes())
    write_json(manifest, {"key": key, "outputs": outputs, "digest": digest.hexdigest()[:16]})
    return digest.hexdigest()[:16]


def _write_wav(path: Path, audio: np.ndarray, sr: int, subtype: str = "PCM_16") -> None:
    import soundfile as sf

    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.clip(audio, -1.0, 1.0), sr, subtype=subtype)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    audio, sr = sf.read(str(path), dtype="float32", always_2d=False)
    return audio, int(sr)


def _to_48k(audio: np.ndarray, sr: int) -> np.ndarray:
    """Resample to 48 kHz keeping time zero (sample n maps to n * 48000 / sr exactly)."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(sr, DELIVERY_RATE)
    return resample_poly(audio.astype(np.float64), DELIVERY_RATE // g, sr // g)


def _report(
    progress: ProgressHook | None, stage: str, done: float, total: float, unit: str = "step"
) -> None:
    if progress is not None:
        progress(ProgressEvent(stage, done, total, unit))


def _enroll(root: Path, actor: str, seconds: float, seed: int) -> list[str]:
    """Synthesize about ``seconds`` of speech for ``actor``; return the written files."""
    voice = VOICES[actor]
    folder = Path("enrollment") / actor
    for stale in (root / folder).glob(f"{actor}_*.wav"):  # from an earlier, different build
        stale.unlink()
    rows: list[tuple[str, str]] = []
    total = 0.0
    count = max(6, int(seconds / 2.6) + 2)
    texts = enrollment_sentences(seed, count * 3)
    used = 0
    while total < seconds:
        batch = texts[used : used + count]
        used += len(batch)
        for utt in synthesize(voice, batch, align=False):
            if total >= seconds:
                break
            name = f"{actor}_{len(rows) + 1:03d}.wav"
            _write_wav(root / folder / name, utt.audio, utt.sample_rate)
            rows.append((name, utt.text))
            total += utt.duration
        count = max(2, int((seconds - total) / 2.6) + 2)
    write_text(root / folder / "transcript.tsv", "".join(f"{f}\t{t}\n" for f, t in rows))
    return [str(folder / f) for f, _ in rows] + [str(folder / "transcript.tsv")]


def _synth_lines(root: Path, cue_ids: list[str]) -> list[str]:
    outputs = []
    for actor in VOICES:
        idx = [i for i, line in enumerate(SCENE_LINES) if line.character == actor]
        utts = synthesize(VOICES[actor], [SCENE_LINES[i].text for i in idx], align=True)
        for i, utt in zip(idx, utts):
            base = root / "scene" / "lines" / cue_ids[i]
            _write_wav(base.with_suffix(".wav"), utt.audio, utt.sample_rate)
            assert utt.alignment is not None
            write_json(base.with_suffix(".json"), utt.alignment.to_dict())
            outputs += [f"scene/lines/{cue_ids[i]}.wav", f"scene/lines/{cue_ids[i]}.json"]
    return outputs


def _layout(alignments: list[Alignment], fps: int, seed: int) -> tuple[list[int], int]:
    """48 kHz scene sample of each dry line's first sample, and the scene length in samples."""
    rng = np.random.default_rng(seed)
    offsets = []
    speech_at = 1.2  # first word of the scene
    for al in alignments:
        off = seconds_to_samples(speech_at - al.speech_start, DELIVERY_RATE)
        offsets.append(off)
        speech_at = samples_to_seconds(off, DELIVERY_RATE) + al.speech_end + rng.uniform(0.6, 1.5)
    end = samples_to_seconds(offsets[-1], DELIVERY_RATE) + alignments[-1].speech_end + 1.0
    frames = seconds_to_frames(end, 1.0 / fps) + 1  # the frame holding ``end`` is the last
    return offsets, frames


def build_demo(
    out_dir: Path, *, quick: bool = False, fps: int = 25, progress: ProgressHook | None = None
) -> DemoProduction:
    """Build (or finish building) the demo production in ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Production folder (created).
    quick : bool
        About 35 s of enrollment speech per actor instead of 2 minutes 10 s.
    fps : int
        Picture frame rate (integer rates: 24, 25, 30 ...).
    progress : callable, optional
        Receives :class:`adr.core.progress.ProgressEvent` for each stage.

    Returns
    -------
    DemoProduction
    """
    import soundfile as sf

    root = ensure_dir(Path(out_dir)).resolve()
    enroll_seconds = 35.0 if quick else 130.0
    cue_ids = [str(101 + i) for i in range(len(SCENE_LINES))]
    steps = ["enrollment"] * len(VOICES) + ["lines", "mix", "picture", "truth"]
    stage_name = "demo"
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        _report(progress, stage_name, done, len(steps))

    _report(progress, stage_name, 0, len(steps))
    # festival runs in its own process: synthesize its actors while piper works on JOE
    order = sorted(VOICES, key=lambda a: VOICES[a].engine != "piper")
    seeds = {actor: _SEED + k for k, actor in enumerate(VOICES)}
    digests: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = {
            pool.submit(
                _stage,
                root,
                f"enroll-{a}",
                _key(_VERSION, "enroll", a, enroll_seconds, seeds[a], VOICES[a].to_dict()),
                functools.partial(_enroll, root, a, enroll_seconds, seeds[a]),
            ): a
            for a in order
        }
        for job in as_completed(jobs):
            digests[jobs[job]] = job.result()
            step()
    actors = []
    for actor in VOICES:
        rows = (root / "enrollment" / actor / "transcript.tsv").read_text("utf-8").splitlines()
        secs = sum(
            sf.info(str(root / "enrollment" / actor / r.split("\t")[0])).duration for r in rows
        )
        v = VOICES[actor]
        actors.append(
            ActorInfo(
                actor,
                actor,
                f"{v.engine}:{v.name}",
                v.sample_rate,
                f"enrollment/{actor}",
                len(rows),
                round(secs, 3),
            )
        )

    lines_key = _key(
        _VERSION,
        "lines",
        [s.to_dict() for s in SCENE_LINES],
        {a: v.to_dict() for a, v in VOICES.items()},
    )
    lines_digest = _stage(root, "lines", lines_key, lambda: _synth_lines(root, cue_ids))
    step()
    alignments = [
        Alignment.from_dict(read_json(root / "scene" / "lines" / f"{c}.json")) for c in cue_ids
    ]
    dry = [_read_wav(root / "scene" / "lines" / f"{c}.wav") for c in cue_ids]
    offsets, num_frames = _layout(alignments, fps, _SEED)
    total = seconds_to_samples(num_frames / fps, DELIVERY_RATE)
    offsets_s = [samples_to_seconds(o, DELIVERY_RATE) for o in offsets]

    mix_key = _key(
        _VERSION,
        "mix",
        lines_digest,
        fps,
        [c.to_dict() for c in CONDITIONS],
        sorted(digests.items()),
    )
    mix_digest = _stage(
        root, "mix", mix_key, lambda: _mix(root, cue_ids, dry, alignments, offsets, total, fps)
    )
    step()
    mix_info = read_json(root / "scene" / "mix.json")

    phones_scene = [[p.to_phone(o) for p in al.phones] for al, o in zip(alignments, offsets_s)]
    speakers = [line.character for line in SCENE_LINES]
    starts = [al.speech_start + o for al, o in zip(alignments, offsets_s)]
    shot = _shots(starts, speakers, num_frames, fps)
    openness = openness_track([p for ps in phones_scene for p in ps], num_frames, fps)
    pic_key = _key(
        _VERSION,
        "picture",
        lines_digest,
        mix_digest,
        fps,
        [x.to_dict() for x in LOOKS.values()],
        {"shutter": SHUTTER},
    )
    _stage(root, "picture", pic_key, lambda: _picture(root, shot, openness, fps, progress))
    step()

    lines = []
    cues = []
    for i, (line, al, off) in enumerate(zip(SCENE_LINES, alignments, offsets_s)):
        cond = CONDITIONS[i]
        start, end = al.speech_start + off, al.speech_end + off
        reason = "clean" if cond.snr_db is None else f"{cond.kind} noise, SNR {cond.snr_db:g} dB"
        cues.append(
            Cue(cue_ids[i], line.character, line.character, start, end, line.text, reason=reason)
        )
        lines.append(
            LineTruth(
                cue_ids[i],
                line.character,
                line.character,
                line.text,
                start,
                end,
                cond.snr_db,
                float(mix_info["snrs"][i]),
                cond.kind,
                cond.rt60,
                tuple(Word(w.text, w.start + off, w.end + off, w.confidence) for w in al.words),
                tuple(phones_scene[i]),
                tuple(p.label for p in al.phones),
                f"scene/lines/{cue_ids[i]}.wav",
                dry[i][1],
                f"scene/clean48k/{cue_ids[i]}.wav",
                off,
            )
        )
    truth = GroundTruth(
        fps,
        START_TIMECODE,
        DELIVERY_RATE,
        num_frames,
        tuple(lines),
        shot,
        tuple(round(float(v), 4) for v in openness),
    )
    truth_path = root / "ground_truth.json"
    text = json.dumps(truth.to_dict(), indent=1, ensure_ascii=False) + "\n"
    if not truth_path.is_file() or truth_path.read_text("utf-8") != text:
        write_text(truth_path, text)
    step()
    return DemoProduction(
        root,
        tuple(actors),
        tuple(cues),
        fps,
        START_TIMECODE,
        root / "scene" / "production.wav",
        root / "scene" / "dialogue.wav",
        root / "scene" / "picture.mp4",
        truth_path,
        truth,
    )


def _mix(
    root: Path,
    cue_ids: list[str],
    dry: list[tuple[np.ndarray, int]],
    alignments: list[Alignment],
    offsets: list[int],
    total: int,
    fps: int,
) -> list[str]:
    lines48 = [_to_48k(a, sr) for a, sr in dry]
    spans = [
        (
            o + seconds_to_samples(al.speech_start, DELIVERY_RATE),
            o + seconds_to_samples(al.speech_end, DELIVERY_RATE),
        )
        for o, al in zip(offsets, alignments)
    ]
    sources = []
    for actor in VOICES:
        folder = root / "enrollment" / actor
        for name in sorted(folder.glob("*.wav"))[:3]:
            audio, sr = _read_wav(name)
            sources.append(_to_48k(audio, sr))
    result = mix_production(
        lines48, offsets, spans, list(CONDITIONS), total, DELIVERY_RATE, _SEED + 7, sources
    )
    outputs = []
    for cue, line, gain in zip(cue_ids, lines48, result.line_gains):
        _write_wav(root / "scene" / "clean48k" / f"{cue}.wav", line * gain, DELIVERY_RATE, "PCM_24")
        outputs.append(f"scene/clean48k/{cue}.wav")
    _write_production(root / "scene" / "production.wav", result.audio, fps)
    _write_wav(root / "scene" / "dialogue.wav", result.speech, DELIVERY_RATE, "PCM_24")
    write_json(
        root / "scene" / "mix.json",
        {"snrs": list(result.snrs), "line_gains": list(result.line_gains)},
    )
    return outputs + ["scene/production.wav", "scene/dialogue.wav", "scene/mix.json"]


def _write_production(path: Path, audio: np.ndarray, fps: int) -> None:
    from adr.core.timecode import FrameRate, timecode_to_samples
    from adr.ingest.bwf import BextInfo, write_bwf

    reference = timecode_to_samples(START_TIMECODE, FrameRate(Fraction(fps)), DELIVERY_RATE)
    bext = BextInfo(
        description="adr demo production: scene boom track",
        originator="adr demo",
        originator_reference="ADRDEMO",
        origination_date="2026-01-01",
        origination_time="00:00:00",
        time_reference=reference,
        coding_history=f"A=PCM,F={DELIVERY_RATE},W=24,M=mono,T=adr demo\r\n",
    )
    write_bwf(path, audio, DELIVERY_RATE, bext=bext, bits=24)


def _shots(starts: list[float], speakers: list[str], num_frames: int, fps: int) -> tuple[str, ...]:
    """Actor on screen per frame: cut 0.2 s before each line, hold between lines."""
    cuts = [seconds_to_frames(max(s - 0.2, 0.0), 1.0 / fps) for s in starts]
    shot = []
    k = 0
    for f in range(num_frames):
        while k + 1 < len(cuts) and f >= cuts[k + 1]:
            k += 1
        shot.append(speakers[k])
    return tuple(shot)


def _picture(
    root: Path, shot: tuple[str, ...], openness: np.ndarray, fps: int, progress: ProgressHook | None
) -> list[str]:
    audio, sr = _read_wav(root / "scene" / "production.wav")
    rigs = {actor: make_rig(LOOKS[actor]) for actor in sorted(set(shot))}
    n = len(shot)

    def frame(i: int) -> np.ndarray:
        return render_frame(rigs[shot[i]], float(openness[i]))

    def tick(i: int) -> None:
        if i % 50 == 0 or i == n - 1:
            _report(progress, "demo picture", i + 1, n, "frame")

    write_picture(root / "scene" / "picture.mp4", frame, n, fps, audio, sr, START_TIMECODE, tick)
    return ["scene/picture.mp4"]

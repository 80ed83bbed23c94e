"""Benchmark ``adr analyze`` on the demo production against its ground truth.

The demo scene (10 lines, 3 actors, a talking-head picture; :func:`adr.demo.build_demo`) is
analyzed as built (``demo``: its own mix of clean, 20, 15, 10, 5, 0 and -5 dB lines, with a
door and a dog) and remixed at one SNR for every line (``clean``, ``10 dB``, ``0 dB``,
``-5 dB``): the same reverberant dialogue, each line's noise kind (the two clean lines get
traffic and babble) scaled with the demo's own mixer (:func:`adr.demo.scene.mix_production`,
same seed). Each condition runs twice through :func:`adr.analysis.analyze.analyze_session`,
in a fresh session: **script** mode (the cue sheet carries the text) and **blind** mode (no
text: the line is recognized).

Measured per condition and mode:

- WER of the text the line is aligned to (script mode: the script, 0 by construction) and of
  Whisper's transcript, against the true text (pooled over words, :mod:`adr.metrics`);
- word and phone boundary error (starts and ends, median and 90th percentile, ms) of the
  alignment against the synthesizer's timing; words paired by spelling, phones paired inside
  paired words by symbol (unpaired ones are not counted: ``pairs`` says how many were);
- F0 gross error rate (voiced in both, more than 20 % off) and voicing error (frames where
  voicing differs) of the analysis prosody against Praat on the dry line, over the cue span;
- actor identification error rate (pyannote.metrics through
  :func:`adr.analysis.speakers.identification_error_rate`; voiceprints made from the demo's
  enrollment sets with :func:`adr.analysis.speakers.make_voiceprint`; ``unknown`` counts as an
  error);
- A/V offset error (truth: 0, the picture is drawn from the lines' phone timing) of the
  scene-wide estimate, and of the estimate with the audio shifted by -3 and +2 frames;
- damage flags: precision and recall against "needs replacement" = the line's SNR is 0 dB or
  below, or its noise is a burst (door, dog); lines at 5 dB are left out of both; SNR
  estimate error on noisy lines;
- analysis real-time factor: wall seconds of ``analyze_session`` over the cues' audio
  seconds (and over the scene's), CPU seconds, per-stage seconds (the lines' ``timings``),
  load average. Models are loaded once beforehand (reported apart).

Writes ``bench/results/results_analysis.json`` and ``bench/results/results_analysis.md``.
Run from the project root (no corpus needed; about 6-8 minutes on 2 shared cores)::

    .venv/bin/python -m bench.bench_analysis [--demo DIR] [--work DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import platform
import resource
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.fsio import read_json, write_json, write_text
from bench.measure import git_commit

ROOT = Path(__file__).resolve().parents[1]

RATE = 16_000
#: Condition name -> SNR for every line (None: clean; "demo": the production as built).
CONDITIONS: dict[str, Any] = {
    "demo": "demo",
    "clean": None,
    "10 dB": 10.0,
    "0 dB": 0.0,
    "-5 dB": -5.0,
}
MODES = ("script", "blind")
#: Noise kind given to the demo's clean lines when a condition adds noise to every line.
FILL = {0: "traffic", 5: "babble"}
BURST_KINDS = ("door", "dog")
AV_SHIFTS = (-3, 2)  # frames


# --------------------------------------------------------------------------- material


def remix(prod: Any, snr_db: float | None) -> Any:
    """The demo scene mixed again with every line at ``snr_db`` (None: no noise but the
    room tone); returns :class:`adr.demo.scene.MixResult` plus each line's noise kind."""
    from adr.core.timebase import DELIVERY_RATE, seconds_to_samples
    from adr.demo.build import _SEED, _read_wav, _to_48k
    from adr.demo.build import CONDITIONS as DEMO_CONDITIONS
    from adr.demo.scene import Condition, mix_production
    from adr.demo.tts import Alignment

    root, gt = prod.root, prod.ground_truth
    als = [
        Alignment.from_dict(read_json(root / "scene" / "lines" / f"{ln.cue_id}.json"))
        for ln in gt.lines
    ]
    lines48 = [_to_48k(*_read_wav(root / ln.dry_path)) for ln in gt.lines]
    offsets = [seconds_to_samples(ln.offset, DELIVERY_RATE) for ln in gt.lines]
    spans = [
        (
            o + seconds_to_samples(a.speech_start, DELIVERY_RATE),
            o + seconds_to_samples(a.speech_end, DELIVERY_RATE),
        )
        for o, a in zip(offsets, als)
    ]
    total = seconds_to_samples(gt.num_frames / gt.fps, DELIVERY_RATE)
    sources = [
        _to_48k(*_read_wav(p))
        for a in prod.actors
        for p in sorted((root / a.enrollment_dir).glob("*.wav"))[:3]
    ]
    conds = []
    for i, c in enumerate(DEMO_CONDITIONS):
        if snr_db is None:
            conds.append(Condition("clean", None, c.rt60))
        else:
            conds.append(Condition(c.kind if c.kind != "clean" else FILL[i], float(snr_db), c.rt60))
    result = mix_production(
        lines48, offsets, spans, conds, total, DELIVERY_RATE, _SEED + 7, sources
    )
    return result, [c.kind for c in conds]


def voiceprints(prod: Any, folder: Path) -> None:
    """``folder/ACTOR/voiceprint.json`` for each demo actor, from its enrollment WAVs."""
    import soundfile as sf

    from adr.analysis.denoise import resample
    from adr.analysis.speakers import make_voiceprint

    for a in prod.actors:
        path = folder / a.actor / "voiceprint.json"
        if path.is_file():
            continue
        utts = []
        for wav in sorted((prod.root / a.enrollment_dir).glob("*.wav")):
            x, sr = sf.read(str(wav), dtype="float32")
            utts.append(resample(x, sr, RATE))
        write_json(path, make_voiceprint(a.actor, utts, RATE).to_dict())


def make_session(name: str, prod: Any, audio_path: Path, work: Path, blind: bool) -> Any:
    from adr.ingest.session import create_session

    folder = work / "sessions" / name
    if folder.exists():
        shutil.rmtree(folder)
    s = create_session(name, prod.picture, [audio_path], root=work / "sessions")
    cues = [dataclasses.replace(c, text="") if blind else c for c in prod.cues]
    s.write_cues(cues)
    return s


# --------------------------------------------------------------------------- measures


def _key(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


def _pairs(ref: list[str], hyp: list[str]) -> list[tuple[int, int]]:
    """Index pairs of equal items in the longest matching blocks of two sequences."""
    sm = difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False)
    return [(m.a + k, m.b + k) for m in sm.get_matching_blocks() for k in range(m.size)]


def boundary_pairs(
    truth: Any, line: Any
) -> tuple[list[float], list[float], list[float], list[float]]:
    """(reference, estimate) boundary times of paired words and of paired phones.

    ``line`` is a :class:`adr.analysis.analyze.LineAnalysis` or an
    :class:`adr.analysis.align.Alignment`.
    """
    alignment = getattr(line, "alignment", line)
    tw = list(truth.words)
    aw = list(alignment.words)
    w_ref: list[float] = []
    w_hyp: list[float] = []
    p_ref: list[float] = []
    p_hyp: list[float] = []
    for i, j in _pairs([_key(w.text) for w in tw], [_key(w.text) for w in aw]):
        w_ref += [tw[i].start, tw[i].end]
        w_hyp += [aw[j].start, aw[j].end]
        tp = [p for p in truth.phones if p.word == i]
        ap = list(alignment.word_phones(j))
        for a, b in _pairs([p.symbol for p in tp], [p.symbol for p in ap]):
            p_ref += [tp[a].start, tp[a].end]
            p_hyp += [ap[b].start, ap[b].end]
    return w_ref, w_hyp, p_ref, p_hyp


def f0_errors(line: Any, truth: Any, prod: Any) -> tuple[int, int, int, int]:
    """(frames voiced in both, gross errors among them, frames, voicing disagreements) of the
    line's prosody over the cue span, against Praat on the dry line."""
    import soundfile as sf

    from adr.analysis.denoise import resample
    from adr.analysis.prosody import PLAIN, praat_f0

    dry, sr = sf.read(str(prod.root / truth.dry_path), dtype="float32")
    dry = resample(dry, sr, RATE)
    pr = line.prosody
    n = len(pr.f0)
    # the dry line's first sample is at truth.offset; put it on the prosody frame grid
    x = np.zeros(int(round((n * pr.frame_period + 1.0) * RATE)), np.float32)
    shift = int(round((truth.offset - pr.start) * RATE))
    src = dry[max(0, -shift) :]
    x[max(0, shift) : max(0, shift) + len(src)] = src[: len(x) - max(0, shift)]
    ref_f0, ref_v = praat_f0(
        x[: int(round(n * pr.frame_period * RATE))],
        RATE,
        n,
        frame_period=pr.frame_period,
        settings=PLAIN,
    )
    t = pr.start + np.arange(n) * pr.frame_period
    span = (t >= truth.start) & (t < truth.end)
    est_v = np.asarray(pr.voiced, bool) & (np.asarray(pr.f0) > 0)
    both = span & ref_v & est_v
    gross = np.abs(np.asarray(pr.f0)[both] / ref_f0[both] - 1.0) > 0.2
    return int(both.sum()), int(gross.sum()), int(span.sum()), int(np.sum(span & (ref_v != est_v)))


def scene_lips(session: Any) -> Any:
    """The scene's lip track (:class:`adr.analysis.lip_records.LipResult`) that ``adr analyze``
    cached in ``analysis/scene/lips.json``."""
    from adr.analysis.lip_records import LipResult
    from adr.analysis.scene import _stitch

    blocks = read_json(session.analysis_dir / "scene" / "lips.json")["blocks"]
    return _stitch([LipResult.from_dict(b["lips"]) for b in blocks])


def shifted_av(
    session: Any, lines: list[Any], shifts: tuple[float, ...], fps: float, options: Any
) -> list[dict[str, float]]:
    """Scene A/V offset with the production audio delayed by each of ``shifts`` (frames).

    The scene is denoised once (one stretch over all lines) and the denoised audio shifted.
    """
    from adr.analysis.line import _denoise_lines, _window
    from adr.analysis.scene import scene_av_offset
    from adr.ingest.media import read_audio

    audio = read_audio(session.audio[0].path, sample_rate=RATE).mono()
    scene = scene_lips(session)
    windows = [_window(ln.cue, len(audio) / RATE, options.context) for ln in lines]
    margin = (max(abs(s) for s in shifts) + 1) / fps
    a0, a1 = max(0.0, windows[0][0] - margin), min(len(audio) / RATE, windows[-1][1] + margin)
    den = np.zeros_like(audio)
    i0 = int(round(a0 * RATE))
    part = _denoise_lines(audio, RATE, [(a0, a1)], options.denoise)[0]
    den[i0 : i0 + len(part)] = part
    out = []
    for shift in shifts:
        n = int(round(shift / fps * RATE))
        moved = np.roll(den, n)
        cut = [(w[0], moved[int(round(w[0] * RATE)) : int(round(w[1] * RATE))]) for w in windows]
        av = scene_av_offset(scene, cut, RATE)
        out.append(
            {
                "shift_frames": shift,
                "estimate_frames": round(av.offset_seconds * fps, 3),
                "error_ms": round(1000 * (av.offset_seconds - shift / fps), 1),
                "confidence": round(av.confidence, 3),
            }
        )
    return out


def _stats(ref: list[float], hyp: list[float]) -> dict[str, Any]:
    from adr.metrics import boundary_errors

    b = boundary_errors(ref, hyp)
    return {
        "median_ms": None if b.count == 0 else round(1000 * b.median, 1),
        "p90_ms": None if b.count == 0 else round(1000 * b.p90, 1),
        "pairs": b.count,
    }


def measure(
    prod: Any,
    lines: list[Any],
    kinds: list[str],
    targets: list[float | None],
    true_snrs: list[float],
    failed: dict[str, str],
) -> dict[str, Any]:
    """Every accuracy measure of one analyzed session against the ground truth.

    ``kinds``, ``targets`` (each line's SNR condition, None: clean) and ``true_snrs`` (the SNR
    measured in the mix over the line) are in scene order; ``lines`` holds the analyzed
    cues, ``failed`` the others (cue id -> error). A failed line counts in the WERs with no
    words recognized and is left out of the other measures.
    """
    order = [t.cue_id for t in prod.ground_truth.lines]
    kinds = [kinds[order.index(ln.cue.id)] for ln in lines]
    true_snrs_all, targets_all = true_snrs, targets
    targets = [targets_all[order.index(ln.cue.id)] for ln in lines]
    true_snrs = [true_snrs_all[order.index(ln.cue.id)] for ln in lines]
    from adr.analysis.speakers import SpeakerMatch, identification_error_rate, to_annotation
    from adr.metrics import word_errors

    truth = {t.cue_id: t for t in prod.ground_truth.lines}
    out: dict[str, Any] = {}
    wt = wr = ww = 0
    w_ref: list[float] = []
    w_hyp: list[float] = []
    p_ref: list[float] = []
    p_hyp: list[float] = []
    voiced = gross = frames = vdiff = 0
    ref_matches, hyp_matches = [], []
    tp = fp = fn = tn = 0
    snr_err = []
    per_line = []
    for ln, kind, line_snr, true_snr in zip(lines, kinds, targets, true_snrs):
        t = truth[ln.cue.id]
        e_text = word_errors(t.text, ln.text)
        e_whisper = word_errors(t.text, ln.transcript.text)
        wt, wr, ww = wt + e_text.errors, wr + e_whisper.errors, ww + e_text.words
        a, b, c, d = boundary_pairs(t, ln)
        w_ref, w_hyp, p_ref, p_hyp = w_ref + a, w_hyp + b, p_ref + c, p_hyp + d
        v, g, f, vd = f0_errors(ln, t, prod)
        voiced, gross, frames, vdiff = voiced + v, gross + g, frames + f, vdiff + vd
        ref_matches.append(SpeakerMatch(t.actor, 1.0, start=t.start, end=t.end))
        hyp_matches.append(
            SpeakerMatch(ln.speaker.actor, ln.speaker.score, start=t.start, end=t.end)
        )
        positive = (line_snr is not None and line_snr <= 0) or (
            kind in BURST_KINDS and line_snr is not None
        )
        negative = not positive and (line_snr is None or line_snr >= 10)
        flagged = ln.damage.flagged
        if positive:
            tp, fn = tp + flagged, fn + (not flagged)
        elif negative:
            fp, tn = fp + flagged, tn + (not flagged)
        if line_snr is not None:
            snr_err.append(ln.damage.snr_db - true_snr)
        per_line.append(
            {
                "cue": ln.cue.id,
                "actor": t.actor,
                "identified": ln.speaker.actor,
                "speaker_score": round(ln.speaker.score, 3),
                "noise": kind,
                "true_snr_db": None if line_snr is None else round(true_snr, 1),
                "snr_estimate_db": ln.damage.snr_db,
                "flagged": flagged,
                "needs_replacement": positive if (positive or negative) else None,
                "reason": ln.damage.reason,
                "wer_whisper": round(e_whisper.rate, 3),
                "transcript": ln.transcript.text,
                "text": ln.text,
                "alignment_confidence": round(ln.alignment.confidence, 3),
                "av_offset_ms": None if ln.av is None else round(1000 * ln.av.offset_seconds, 1),
                "warnings": list(ln.warnings),
                "timings": ln.timings,
            }
        )
    for cid in failed:
        words = word_errors(truth[cid].text, "").words
        wt, wr, ww = wt + words, wr + words, ww + words
    out["failed"] = failed
    out["wer_text"] = round(wt / ww, 4) if ww else None
    out["wer_whisper"] = round(wr / ww, 4) if ww else None
    out["word_boundary"] = _stats(w_ref, w_hyp)
    out["phone_boundary"] = _stats(p_ref, p_hyp)
    out["f0_gross_error"] = round(gross / voiced, 4) if voiced else None
    out["voicing_error"] = round(vdiff / frames, 4) if frames else None
    out["actor_ier"] = round(
        identification_error_rate(to_annotation(ref_matches), to_annotation(hyp_matches)), 4
    )
    av = [ln.av for ln in lines if ln.av is not None]
    if av:
        out["av_offset_ms"] = round(1000 * av[0].offset_seconds, 1)
        out["av_error_ms"] = round(abs(1000 * av[0].offset_seconds), 1)
        out["av_confidence"] = round(av[0].confidence, 3)
    out["flags"] = {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
    }
    noisy = [abs(e) for e in snr_err]
    out["snr_abs_error_db"] = round(float(np.mean(noisy)), 2) if noisy else None
    out["lines"] = per_line
    return out


# --------------------------------------------------------------------------- running


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(
    demo_dir: Path,
    work: Path,
    conditions: list[str],
    modes: list[str],
    log: Any = print,
    partial: Path | None = None,
) -> dict[str, Any]:
    from adr.analysis.analyze import AnalysisOptions, analyze_session, load_analysis
    from adr.demo import build_demo
    from adr.demo.build import _write_production
    from adr.demo.scene import snr_db

    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    prod = build_demo(demo_dir, quick=True)
    work.mkdir(parents=True, exist_ok=True)
    voices = work / "voices"
    voiceprints(prod, voices)
    options = AnalysisOptions()
    gt = prod.ground_truth
    scene_seconds = gt.num_frames / gt.fps
    cue_seconds = sum(c.end - c.start for c in prod.cues)

    # load every model once (Whisper, aligner, speaker encoder, dlib, DeepFilterNet)
    clock = time.perf_counter()
    warm = make_session("warmup", prod, prod.production_audio, work, blind=False)
    analyze_session(warm, voices_root=voices, cue_ids=[prod.cues[0].id], options=options)
    load_seconds = time.perf_counter() - clock
    log(f"models loaded and one line analyzed in {load_seconds:.1f} s")

    results: dict[str, Any] = {}
    for cond in conditions:
        snr = CONDITIONS[cond]
        if snr == "demo":
            audio_path = prod.production_audio
            kinds = [ln.noise for ln in gt.lines]
            targets = [ln.snr_db for ln in gt.lines]
            true_snrs = [ln.measured_snr_db for ln in gt.lines]
        else:
            mix, kinds = remix(prod, snr)
            audio_path = work / "audio" / f"production_{cond.replace(' ', '')}.wav"
            audio_path.parent.mkdir(parents=True, exist_ok=True)
            _write_production(audio_path, mix.audio, gt.fps)
            rate = 48_000
            targets = [snr] * len(gt.lines)
            true_snrs = []
            for ln in gt.lines:
                a, b = int(round(ln.start * rate)), int(round(ln.end * rate))
                true_snrs.append(snr_db(mix.speech[a:b], mix.audio[a:b] - mix.speech[a:b]))
        for mode in modes:
            name = f"{cond.replace(' ', '').replace('-', 'minus')}-{mode}"
            session = make_session(name, prod, audio_path, work, blind=mode == "blind")
            cpu, clock = _cpu(), time.perf_counter()
            failed: dict[str, str] = {}
            try:
                lines = analyze_session(session, voices_root=voices, options=options)
            except AdrError as exc:  # cues it could not analyze; the others are on disk
                lines = [
                    load_analysis(session, c.id)
                    for c in prod.cues
                    if (session.analysis_dir / f"{c.id}.json").is_file()
                ]
                done = {ln.cue.id for ln in lines}
                failed = {c.id: str(exc) for c in prod.cues if c.id not in done}
            wall, cpu = time.perf_counter() - clock, _cpu() - cpu
            entry = measure(prod, lines, kinds, targets, true_snrs, failed)
            stages: dict[str, float] = {}
            for ln in lines:
                for k, v in ln.timings.items():
                    stages[k] = stages.get(k, 0.0) + v
            entry["speed"] = {
                "wall_seconds": round(wall, 2),
                "cpu_seconds": round(cpu, 2),
                "rtf_cue_audio": round(wall / cue_seconds, 3),
                "rtf_scene": round(wall / scene_seconds, 3),
                "cpu_per_cue_audio_second": round(cpu / cue_seconds, 3),
                "stage_seconds": {
                    k: round(v, 2) for k, v in sorted(stages.items(), key=lambda kv: -kv[1])
                },
                "load_average": round(os.getloadavg()[0], 2),
            }
            if mode == "script" and "av_offset_ms" in entry:
                entry["av_shifted"] = shifted_av(session, lines, AV_SHIFTS, gt.fps, options)
            results[f"{cond}|{mode}"] = entry
            if partial is not None:
                write_json(partial, {"results": results})
            log(
                f"{cond:6s} {mode:6s} wall {wall:5.1f} s (RTF {wall / cue_seconds:.2f}) "
                f"WER {entry['wer_whisper']} flags {entry['flags']} IER {entry['actor_ier']}"
            )
    return {
        "what": "adr analyze on the demo production (quick build), remixed per condition",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": git_commit(),
        "machine": machine(load_start),
        "scene_seconds": round(scene_seconds, 2),
        "cue_seconds": round(cue_seconds, 2),
        "lines": len(prod.cues),
        "model_load_seconds": round(load_seconds, 2),
        "wall_seconds": round(time.perf_counter() - t_start, 1),
        "options": options.to_dict(),
        "results": results,
    }


def machine(load_start: float) -> dict[str, Any]:
    """The machine a run measured on, with the load average at its start and now."""
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_start": round(load_start, 2),
        "load_end": round(os.getloadavg()[0], 2),
    }


def _fmt(v: Any, spec: str = "{}") -> str:
    return "—" if v is None else spec.format(v)


def render_markdown(report: dict[str, Any]) -> str:
    """The report's tables as markdown."""
    m = report["machine"]
    rows = [
        "## Analysis (`bench/bench_analysis.py`)",
        "",
        f"- date: {report['date']}, git commit `{report['git_commit']}`, "
        f"{report['lines']} lines, {report['cue_seconds']} s of cues in a "
        f"{report['scene_seconds']} s scene; machine: {m['cores']} cores shared with other "
        f"work, load average {m['load_start']} at start, {m['load_end']} at end; models "
        f"loaded beforehand in {report['model_load_seconds']} s; whole run "
        f"{report['wall_seconds'] / 60:.1f} min",
        "",
        "| condition | mode | WER text | WER Whisper | word bound. med / p90 (ms) | "
        "phone bound. med / p90 (ms) | F0 gross err | voicing err | actor IER | "
        "A/V err (ms) | flags P / R | not analyzed | SNR err (dB) | RTF cues (scene) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in report["results"].items():
        cond, mode = key.split("|")
        wb, pb, fl, sp = r["word_boundary"], r["phone_boundary"], r["flags"], r["speed"]
        rows.append(
            f"| {cond} | {mode} | {_fmt(r['wer_text'], '{:.3f}')} | "
            f"{_fmt(r['wer_whisper'], '{:.3f}')} | {_fmt(wb['median_ms'])} / "
            f"{_fmt(wb['p90_ms'])} | {_fmt(pb['median_ms'])} / {_fmt(pb['p90_ms'])} | "
            f"{_fmt(r['f0_gross_error'], '{:.3f}')} | {_fmt(r['voicing_error'], '{:.3f}')} | "
            f"{_fmt(r['actor_ier'], '{:.2f}')} | {_fmt(r.get('av_error_ms'))} | "
            f"{_fmt(fl['precision'], '{:.2f}')} / {_fmt(fl['recall'], '{:.2f}')} | "
            f"{len(r.get('failed', {}))} | "
            f"{_fmt(r['snr_abs_error_db'], '{:.1f}')} | {sp['rtf_cue_audio']:.2f} "
            f"({sp['rtf_scene']:.2f}) |"
        )
    rows += [
        "",
        "Per-stage seconds (all 10 lines; shared stages split by line length):",
        "",
        "| condition | mode | wall s | CPU s | " + " | ".join(_STAGES) + " |",
        "|---|---|---|---|" + "---|" * len(_STAGES),
    ]
    for key, r in report["results"].items():
        cond, mode = key.split("|")
        sp = r["speed"]
        st = sp["stage_seconds"]
        rows.append(
            f"| {cond} | {mode} | {sp['wall_seconds']:.1f} | {sp['cpu_seconds']:.1f} | "
            + " | ".join(_fmt(st.get(s), "{:.2f}") for s in _STAGES)
            + " |"
        )
    shifted = [
        (k.split("|")[0], s) for k, r in report["results"].items() for s in r.get("av_shifted", [])
    ]
    if shifted:
        rows += [
            "",
            "A/V offset with the audio shifted (script mode): "
            + "; ".join(
                f"{c} {s['shift_frames']:+d} fr -> error {s['error_ms']:+.0f} ms "
                f"(conf {s['confidence']:.2f})"
                for c, s in shifted
            ),
        ]
    return "\n".join(rows) + "\n"


_STAGES = ("denoise", "vad", "asr", "align", "prosody", "speaker", "damage", "lips", "av")


def main(argv: list[str] | None = None) -> int:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--demo",
        type=Path,
        default=ROOT / "sessions" / "demo-production",
        help="demo production folder (built if missing)",
    )
    ap.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/adr-bench-analysis"),
        help="scratch folder for sessions, voiceprints and remixed audio",
    )
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "results_analysis.json"
    )
    ap.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the markdown from an existing results JSON",
    )
    args = ap.parse_args(argv)
    if args.render_only:
        md = render_markdown(read_json(args.out))
        write_text(args.out.with_suffix(".md"), md)
        print(md)
        return 0
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    bad = [c for c in conditions if c not in CONDITIONS]
    if bad:
        ap.error(f"unknown condition(s) {bad}; choose from {list(CONDITIONS)}")
    report = run(
        args.demo,
        args.work,
        conditions,
        [m.strip() for m in args.modes.split(",") if m.strip()],
        log=lambda s: print(s, flush=True),
        partial=args.work / "partial.json",
    )
    write_json(args.out, report)
    md = render_markdown(report)
    write_text(args.out.with_suffix(".md"), md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark what ``adr`` delivers: word timing and lip sync of the delivered lines.

The demo production (:func:`adr.demo.build_demo`, quick build) goes through the pipeline as a
user runs it, through the library API: a session with the demo's cue sheet (script mode),
:func:`adr.analysis.analyze.analyze_session`, :func:`adr.voice.render.render_session` of every
cue (in the actors' demo voices ``bench/work/voices/demo-ACTOR/<preset>`` made by
``bench/run.py``; none is trained here) and :func:`adr.deliver.export.export_session`
(conform, splice, room tone, the loudness-normalized dialog stem, 48 kHz/24-bit BWF whose
sample 0 is the picture start).

Three sources of the scene are measured the same way: ``production`` (the noisy production
audio), ``delivered`` (the dialog stem read back) and ``clean`` (the demo's dry lines at their
true offsets: the ceiling). Each cue window (the session's cue, frame-snapped, with the
analysis's context) is denoised as ``adr analyze`` does (:func:`adr.analysis.line._denoise_lines`)
and

- force-aligned to the cue's text with :func:`adr.analysis.align.align` (so the production
  measure is exactly the analysis's own; the aligner does not depend on the lines aligned
  before); word starts and ends against the demo's ground truth (paired by spelling,
  :func:`bench.bench_analysis.boundary_pairs`): median and 90th percentile error, ms;
- put through the analysis's lip-sync estimate :func:`adr.analysis.analyze.scene_av_offset` with the
  scene's mouth track the analysis cached (``analysis/scene/lips.json``); the picture is
  drawn from the true phone timing, so the true offset is 0.

Both per condition (the demo lines' SNR; the A/V estimate then uses that condition's lines
only), over all lines, and over the lines the analysis flagged for replacement.
Writes ``bench/results/results_delivery.json`` and ``bench/results/results_delivery.md``;
about 2 minutes on 2 shared cores, no corpus::

    .venv/bin/python -m bench.bench_delivery [--demo DIR] [--work DIR] [--preset fast]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.fsio import read_json, write_json, write_text
from bench.bench_analysis import (
    RATE,
    _stats,
    boundary_pairs,
    machine,
    make_session,
    scene_lips,
    voiceprints,
)
from bench.measure import git_commit

ROOT = Path(__file__).resolve().parents[1]

SOURCES = ("production", "delivered", "clean")


@dataclass(frozen=True)
class LineTiming:
    """One line of one source, aligned and paired with the ground truth.

    Attributes
    ----------
    cue_id, condition : str
        The cue and its noise condition (:func:`condition_of`).
    ref, hyp : tuple of float
        Paired true and aligned word boundary times (starts and ends), session seconds,
        shape (2 * paired words,) each.
    error : str
        Why the line could not be aligned ("" when it was).
    """

    cue_id: str
    condition: str
    ref: tuple[float, ...] = ()
    hyp: tuple[float, ...] = ()
    error: str = ""


def condition_of(truth: Any) -> str:
    """The demo line's SNR condition: ``"clean"`` or ``"<snr> dB"``."""
    return "clean" if truth.snr_db is None else f"{truth.snr_db:g} dB"


def group_order(conditions: Sequence[str]) -> list[str]:
    """Distinct conditions, clean first, then by falling SNR."""

    def rank(c: str) -> float:
        return float("inf") if c == "clean" else float(c.split()[0])

    return sorted(set(conditions), key=rank, reverse=True)


def line_timing(truth: Any, alignment: Any, condition: str) -> LineTiming:
    """Word boundaries of ``alignment`` paired with the ground-truth line ``truth``."""
    ref, hyp, _, _ = boundary_pairs(truth, alignment)
    return LineTiming(truth.cue_id, condition, tuple(ref), tuple(hyp))


def boundary_summary(lines: Sequence[LineTiming]) -> dict[str, Any]:
    """Median / 90th percentile word boundary error (ms) pooled over ``lines``."""
    ref = [t for ln in lines for t in ln.ref]
    hyp = [t for ln in lines for t in ln.hyp]
    out = _stats(ref, hyp)
    out["lines"] = len(lines)
    out["not_aligned"] = sum(bool(ln.error) for ln in lines)
    return out


def av_estimate(
    scene: Any, segments: Sequence[tuple[float, np.ndarray]], sample_rate: int
) -> dict[str, Any]:
    """The analysis's scene A/V offset over ``segments`` (session start s, audio (N_i,)).

    Returns ``offset_ms`` (positive: audio late; truth 0 on the demo), ``confidence``.
    """
    from adr.analysis.analyze import scene_av_offset

    av = scene_av_offset(scene, list(segments), sample_rate)
    return {
        "offset_ms": round(1000 * av.offset_seconds, 1),
        "confidence": round(av.confidence, 3),
        "lines": len(segments),
    }


# --------------------------------------------------------------------------- material


def link_voices(prod: Any, folder: Path, preset: str, source: Path) -> Path:
    """``folder/ACTOR`` -> ``source/demo-ACTOR/preset`` for each demo actor (symlinks)."""
    folder.mkdir(parents=True, exist_ok=True)
    for a in prod.actors:
        target = (source / f"demo-{a.actor}" / preset).resolve()
        if not (target / "voice.json").is_file():
            raise AdrError(target, "no enrolled demo voice; run bench/run.py (quick) first")
        link = folder / a.actor
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target, target_is_directory=True)
    return folder


def clean_scene(prod: Any, length: int) -> np.ndarray:
    """The dry lines at their true offsets, silence elsewhere, 16 kHz, shape (length,)."""
    import soundfile as sf

    from adr.analysis.denoise import resample

    out = np.zeros(length, np.float32)
    for ln in prod.ground_truth.lines:
        x, sr = sf.read(str(prod.root / ln.dry_path), dtype="float32")
        x = resample(x if x.ndim == 1 else x.mean(axis=1), sr, RATE)
        i = int(round(ln.offset * RATE))
        out[i : i + len(x)] = x[: max(0, length - i)]
    return out


def measure_source(
    audio: np.ndarray, cues: Sequence[Any], truths: dict[str, Any], context: float, method: str
) -> tuple[list[LineTiming], dict[str, tuple]]:
    """Align every cue of one source and keep its denoised window for the A/V estimate.

    Returns the lines' timings (cue order) and cue id -> (window start s, denoised audio).
    """
    from adr.analysis.align import align
    from adr.analysis.line import _denoise_lines, _segment, _window

    duration = len(audio) / RATE
    windows = [_window(c, duration, context) for c in cues]
    den = _denoise_lines(audio, RATE, windows, method)
    timings, segments = [], {}
    for cue, (t0, t1), d in zip(cues, windows, den):
        t = truths[cue.id]
        seg = _segment(audio, RATE, t0, t1)
        segments[cue.id] = (t0, d)
        try:
            al = align(seg, cue.text, start=t0, denoised=d)
        except AdrError as exc:
            timings.append(LineTiming(cue.id, condition_of(t), error=str(exc)))
            continue
        timings.append(line_timing(t, al, condition_of(t)))
    return timings, segments


# --------------------------------------------------------------------------- running


def deliver(prod: Any, work: Path, voices: Path) -> dict[str, Any]:
    """Session -> analyze -> render (every cue) -> export, as a user runs them.

    Returns
    -------
    dict
        ``session`` (folder), ``stem`` (dialog stem, relative to it), ``stem_loudness``,
        ``repair`` (cue id -> conform mode), ``seconds`` (wall seconds per step), ``log``.
    """
    from adr.analysis.analyze import analyze_session
    from adr.deliver.export import export_session
    from adr.voice.render import render_session

    seconds: dict[str, float] = {}
    session = make_session("delivery", prod, prod.production_audio, work, blind=False)
    prints = work / "voiceprints"
    voiceprints(prod, prints)
    clock = time.perf_counter()
    lines = analyze_session(session, voices_root=prints)
    seconds["analyze"] = time.perf_counter() - clock
    clock = time.perf_counter()
    takes = render_session(session, voices_root=voices, cue_ids=[c.id for c in session.read_cues()])
    seconds["render"] = time.perf_counter() - clock
    clock = time.perf_counter()
    result = export_session(session)
    seconds["export"] = time.perf_counter() - clock
    return {
        "session": str(session.root),
        "stem": result.stem,
        "stem_loudness": result.stem_loudness.to_dict(),
        "repair": {d.cue_id: d.conform.mode for d in result.cues if d.conform},
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "log": [
            f"analyzed {len(lines)} lines in {seconds['analyze']:.1f} s",
            f"rendered {len(takes)} takes in {seconds['render']:.1f} s",
            f"exported {len(result.cues)} cues and {result.stem} in {seconds['export']:.1f} s",
        ],
    }


def run(
    demo_dir: Path, work: Path, voices_dir: Path, preset: str, log: Any = print
) -> dict[str, Any]:
    """Deliver the demo scene and measure it (module docstring); returns the report.

    ``demo_dir``: the demo production (built when missing); ``work``: scratch folder
    (``sessions/delivery``, ``voiceprints``, ``voices``: links to ``voices_dir``'s
    ``demo-ACTOR/<preset>`` voices); ``log`` receives progress lines.
    """
    from adr.analysis.analyze import AnalysisOptions, load_analysis
    from adr.demo import build_demo
    from adr.ingest.media import read_audio
    from adr.ingest.session import load_session

    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    prod = build_demo(demo_dir, quick=True)
    work.mkdir(parents=True, exist_ok=True)
    voices = link_voices(prod, work / "voices", preset, voices_dir)
    done = deliver(prod, work, voices)
    for message in done["log"]:
        log(message)
    session = load_session(Path(done["session"]))
    cues = session.read_cues()  # the session's cue sheet: times snapped to frames
    lines = [load_analysis(session, c.id) for c in cues]
    options = AnalysisOptions()
    truths = {t.cue_id: t for t in prod.ground_truth.lines}
    flagged = [ln.cue.id for ln in lines if ln.damage.flagged]
    scene = scene_lips(session)

    production = read_audio(session.audio[0].path, sample_rate=RATE).mono()
    audio = {
        "production": production,
        "delivered": read_audio(session.root / done["stem"], sample_rate=RATE).mono(),
        "clean": clean_scene(prod, len(production)),
    }
    groups = {
        c: [cue.id for cue in cues if condition_of(truths[cue.id]) == c]
        for c in group_order([condition_of(t) for t in truths.values()])
    }
    groups["all"] = [c.id for c in cues]
    groups["flagged"] = flagged
    sources: dict[str, Any] = {}
    for name in SOURCES:
        clock = time.perf_counter()
        timings, segments = measure_source(
            audio[name], cues, truths, options.context, options.denoise
        )
        by_id = {t.cue_id: t for t in timings}
        sources[name] = {
            "groups": {
                g: {
                    "word_boundary": boundary_summary([by_id[i] for i in ids]),
                    "av": av_estimate(scene, [segments[i] for i in ids], RATE) if ids else None,
                }
                for g, ids in groups.items()
            },
            "lines": [
                {
                    "cue": t.cue_id,
                    "condition": t.condition,
                    "error": t.error,
                    "word_boundary": _stats(list(t.ref), list(t.hyp)),
                }
                for t in timings
            ],
            "seconds": round(time.perf_counter() - clock, 1),
        }
        a = sources[name]["groups"]["all"]
        log(f"{name:10s} word boundary {a['word_boundary']} A/V {a['av']}")
    ref, hyp = [], []
    for ln in lines:
        r, h, _, _ = boundary_pairs(truths[ln.cue.id], ln)
        ref, hyp = ref + r, hyp + h
    reference = {
        "word_boundary": _stats(ref, hyp),
        "av_offset_ms": None
        if not lines or lines[0].av is None
        else round(1000 * lines[0].av.offset_seconds, 1),
    }
    mine = sources["production"]["groups"]["all"]
    reference["production_reproduces_analysis"] = (
        reference["word_boundary"]["median_ms"] == mine["word_boundary"]["median_ms"]
        and reference["word_boundary"]["p90_ms"] == mine["word_boundary"]["p90_ms"]
        and reference["av_offset_ms"] == mine["av"]["offset_ms"]
    )
    return {
        "what": "adr analyze -> render (every cue) -> export on the demo production (quick "
        "build); delivered dialog stem vs production audio vs dry lines",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": git_commit(),
        "machine": machine(load_start),
        "voices": {
            a.actor: os.path.relpath(os.readlink(voices / a.actor), ROOT) for a in prod.actors
        },
        "preset": preset,
        "lines": len(cues),
        "flagged": flagged,
        "repair": done["repair"],
        "stem": done["stem"],
        "stem_loudness": done["stem_loudness"],
        "analysis_reference": reference,
        "step_seconds": done["seconds"],
        "wall_seconds": round(time.perf_counter() - t_start, 1),
        "groups": {g: len(ids) for g, ids in groups.items()},
        "sources": sources,
    }


def _cell(v: Any) -> str:
    return "—" if v is None else f"{v:g}"


def _ratio(a: Any, b: Any) -> str:
    return "—" if a is None or not b else f"{a / b:.2f}"


def render_markdown(report: dict[str, Any]) -> str:
    """The report as markdown: one row per condition, delivered vs production vs clean."""
    m, s = report["machine"], report["sources"]
    rows = [
        "## Delivered lines (`bench/bench_delivery.py`)",
        "",
        f"- date: {report['date']}, git commit `{report['git_commit']}`, {report['lines']} "
        f"demo lines, every one rendered ({report['preset']} demo voices) and exported; "
        f"flagged by the analysis: {', '.join(report['flagged']) or 'none'}; machine: "
        f"{m['cores']} cores shared with other work, load {m['load_start']} -> {m['load_end']}; "
        f"steps (s): "
        + ", ".join(f"{k} {v}" for k, v in report["step_seconds"].items())
        + f"; whole run {report['wall_seconds'] / 60:.1f} min",
        "- word boundary error (ms, median / p90) of the cue text force-aligned to each "
        "source, against the demo's true word times; A/V offset (ms, truth 0) of the "
        "analysis's lip-sync estimate over the row's lines; d/p: delivered over production",
        "- production measured here = `adr analyze`'s own result on the session: "
        + (
            "yes"
            if report["analysis_reference"].get("production_reproduces_analysis")
            else f"no (analysis: {report['analysis_reference']})"
        ),
        "",
        "| condition (lines) | word bound. production | delivered | clean | d/p median | "
        "d/p p90 | A/V production | A/V delivered | A/V clean |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for g, n in report["groups"].items():
        if not n:
            continue
        wb = {k: s[k]["groups"][g]["word_boundary"] for k in SOURCES}
        av = {k: s[k]["groups"][g]["av"] for k in SOURCES}
        cells = [f"{_cell(wb[k]['median_ms'])} / {_cell(wb[k]['p90_ms'])}" for k in SOURCES]
        rows.append(
            f"| {g} ({n}) | " + " | ".join(cells) + " | "
            f"{_ratio(wb['delivered']['median_ms'], wb['production']['median_ms'])} | "
            f"{_ratio(wb['delivered']['p90_ms'], wb['production']['p90_ms'])} | "
            + " | ".join(f"{av[k]['offset_ms']:+.0f} ({av[k]['confidence']:.2f})" for k in SOURCES)
            + " |"
        )
    rows += [
        "",
        "A/V cells: offset ms (confidence). Conform repair per cue: "
        + ", ".join(f"{c} {r}" for c, r in report["repair"].items())
        + ".",
    ]
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--demo",
        type=Path,
        default=ROOT / "bench" / "work" / "demo",
        help="demo production folder (built if missing)",
    )
    ap.add_argument(
        "--work",
        type=Path,
        default=ROOT / "bench" / "work" / "delivery",
        help="scratch folder (session, voiceprints, voice links)",
    )
    ap.add_argument(
        "--voices",
        type=Path,
        default=ROOT / "bench" / "work" / "voices",
        help="bench voice cache holding demo-ACTOR/PRESET voices",
    )
    ap.add_argument("--preset", default="fast", help="training preset of the demo voices")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "results_delivery.json"
    )
    ap.add_argument("--render-only", action="store_true", help="markdown from the JSON again")
    args = ap.parse_args(argv)
    if not args.render_only:
        report = run(
            args.demo, args.work, args.voices, args.preset, log=lambda s: print(s, flush=True)
        )
        write_json(args.out, report)
    md = render_markdown(read_json(args.out))
    write_text(args.out.with_suffix(".md"), md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark: every system on the same degraded lines, every measure, one report.

Run from the project root (needs ``../shared/corpus``; without it only ``--probe`` works)::

    .venv/bin/python bench/run.py --quick    # 4 lines x 4 conditions + 1 real pair, < 10 min
    .venv/bin/python bench/run.py --full     # 12 lines x 4 conditions + 2 real pairs

Writes ``bench/results.json`` and ``bench/results.md`` (``results_full.*`` with ``--full``;
see bench/README.md). Measures per
system and condition: WER (Whisper base), speaker similarity to the speaker's other clean
lines (GE2E), DNSMOS OVRL/SIG/BAK, PESQ (wb), STOI (aligned systems only), F0 RMSE and
correlation against the clean line; speed as real-time factor per system, with the
one-time model loads and each system's peak memory measured apart, in fresh processes.

adr's own render runs in script and blind mode (``bench/adr_system.py``), in voices enrolled
per speaker first (``--voice-preset``; cached in ``bench/work/voices``, so only the first run
trains); ``--no-adr`` leaves it out.

Full mode is sized to run in under an hour on 2 unloaded cores from an empty voice cache
(with ``--demo``): what costs time is training adr's voices (``fast`` preset: 800 steps or
3.5 min, whichever ends first: about 3 min per voice with its alignment unloaded) and measuring
(about 4 s of processing per second of line, every system and measure together). So it
keeps the quick mode's four corpus speakers (VCTK p225 and p226, LJSpeech, LibriSpeech
1998) with three utterances each instead of one (12 lines per synthetic condition instead
of 4), two VoiceBank pairs instead of one (two fold voices) and the demo production's ten
lines: 9 voices and 60 lines, estimated at 49-51 min unloaded from the measured parts
(62 min measured at load average 2.5-10; 40.3 min at load 1.3-1.5 with the 3 demo voices
already cached; bench/README.md). Its voices use the
``fast`` preset like the quick mode's (the ``default`` preset's 14 min per voice would need
over 2 hours for the same voices); the corpus speakers' voices are cached apart
(``fast-full``: they are enrolled on fewer files), the demo actors' are shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from adr import metrics as M  # noqa: E402
from adr.core.errors import AdrError  # noqa: E402
from adr.core.fsio import read_json, write_json, write_text  # noqa: E402
from bench.adr_system import (  # noqa: E402
    ADR_KEYS,
    AdrRender,
    VoiceBank,
    demo_enrollment_sets,
    enroll_voices,
    plan_voices,
    voice_table,
)
from bench.conditions import (  # noqa: E402
    BENCH_RATE,
    CONDITIONS,
    DEMO,
    REAL,
    BenchLine,
    BenchSet,
    build_set,
    corpus_root,
    demo_utterances,
    load_corpus,
)
from bench.systems import SYSTEM_KEYS, System, default_systems, make_system  # noqa: E402

#: All measures, in report order.
METRICS = ("wer", "similarity", "dnsmos", "pesq", "stoi", "f0")
#: Measures that need no learned model (fast; used by the unit test).
ALGORITHMIC_METRICS = ("pesq", "stoi", "f0")

QUICK_LINES = (
    "vctk:p225_020",
    "vctk:p226_011",
    "ljspeech:LJ001-0011",
    "librispeech:1998-15444-0007",
    "voicebank:p287_002",
)
#: ``--full``: the quick lines and two more per speaker, one more real pair (docstring).
FULL_LINES = (
    *QUICK_LINES,
    "vctk:p225_011",
    "vctk:p225_016",
    "vctk:p226_005",
    "vctk:p226_024",
    "ljspeech:LJ001-0028",
    "ljspeech:LJ001-0029",
    "librispeech:1998-15444-0001",
    "librispeech:1998-15444-0006",
    "voicebank:p287_004",
)

# column -> (title, format, higher is better)
COLUMNS = {
    "wer": ("WER (Whisper base)", "{:.3f}", False),
    "similarity": ("Speaker similarity (GE2E cosine)", "{:.3f}", True),
    "dnsmos_ovrl": ("DNSMOS OVRL", "{:.2f}", True),
    "dnsmos_sig": ("DNSMOS SIG", "{:.2f}", True),
    "dnsmos_bak": ("DNSMOS BAK", "{:.2f}", True),
    "pesq": ("PESQ (wb)", "{:.2f}", True),
    "stoi": ("STOI", "{:.3f}", True),
    "f0_rmse_cents": ("F0 RMSE vs clean (cents)", "{:.0f}", False),
    "f0_corr": ("F0 correlation vs clean", "{:.3f}", True),
    "rtf": ("Real-time factor (processing s / audio s)", "{:.3f}", False),
}

#: The issue's targets for adr's render (see :func:`targets`).
SIMILARITY_TARGET, WER_POINTS, F0_TARGET, DNSMOS_TARGET = 0.80, 0.10, 0.90, 3.0
HARDEST = "-5 dB"
CEILING, FLOOR, PEER = "clean original", "noisy input", "noisereduce"


def results_stem(mode: str) -> str:
    """File name (no suffix) of a mode's results: ``results`` (quick), ``results_full``."""
    return "results" if mode == "quick" else f"results_{mode}"


# --------------------------------------------------------------------------- measuring


def _nan_to_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 5)


def measure(
    audio: np.ndarray,
    line: BenchLine,
    references: Sequence[np.ndarray],
    aligned: bool,
    metrics: Sequence[str] = METRICS,
) -> dict[str, Any]:
    """Every requested measure of one system output for one line.

    Parameters
    ----------
    audio : np.ndarray, shape (N',)
        The system's output at ``line.sample_rate``.
    references : sequence of np.ndarray
        Other clean lines of the speaker (speaker similarity; skipped if empty).
    aligned : bool
        Whether ``audio`` is sample-aligned with ``line.clean`` (STOI only then).

    Returns
    -------
    dict
        Column name -> value (``None`` where not measured).
    """
    sr = line.sample_rate
    out: dict[str, Any] = {}
    clock = time.perf_counter

    def timed(name: str, t0: float) -> None:
        out[f"time_{name}"] = round(clock() - t0, 3)

    try:
        if "wer" in metrics and line.text:
            t0 = clock()
            hyp = M.transcribe_for_wer(audio, sr)
            counts = M.word_errors(line.text, hyp)
            out.update(
                wer=counts.rate, wer_errors=counts.errors, wer_words=counts.words, hypothesis=hyp
            )
            timed("wer", t0)
        if "similarity" in metrics and references:
            t0 = clock()
            out["similarity"] = M.speaker_similarity(audio, sr, references, sr)
            timed("similarity", t0)
        if "dnsmos" in metrics:
            t0 = clock()
            d = M.dnsmos(audio, sr)
            out.update(dnsmos_ovrl=d.ovrl, dnsmos_sig=d.sig, dnsmos_bak=d.bak)
            timed("dnsmos", t0)
        if "pesq" in metrics:
            t0 = clock()
            out["pesq"] = M.pesq_score(line.clean, audio, sr)
            timed("pesq", t0)
        if "stoi" in metrics and aligned and len(audio) == len(line.clean):
            t0 = clock()
            out["stoi"] = M.stoi_score(line.clean, audio, sr)
            timed("stoi", t0)
        if "f0" in metrics:
            t0 = clock()
            f = M.f0_metrics(line.clean, audio, sr)
            out.update(
                f0_rmse_cents=f.rmse_cents,
                f0_corr=f.correlation,
                f0_gross=f.gross_error,
                f0_voicing=f.voicing_error,
            )
            timed("f0", t0)
    except AdrError as exc:  # a measure that cannot run on this output (too short ...)
        out["error"] = str(exc)
    return {k: (_nan_to_none(v) if isinstance(v, float) else v) for k, v in out.items()}


def warm_up(metrics: Sequence[str]) -> dict[str, float]:
    """Load each model-based measure once on 1 s of audio; seconds per measure."""
    t = np.arange(BENCH_RATE) / BENCH_RATE
    tone = (0.2 * np.sin(2 * np.pi * 150 * t) * np.hanning(len(t))).astype(np.float32)
    calls: dict[str, Callable[[], object]] = {
        "wer": lambda: M.transcribe_for_wer(tone, BENCH_RATE),
        "similarity": lambda: M.speaker_embedding(tone, BENCH_RATE),
        "dnsmos": lambda: M.dnsmos(tone, BENCH_RATE),
    }
    out = {}
    for name, call in calls.items():
        if name in metrics:
            t0 = time.perf_counter()
            call()
            out[name] = round(time.perf_counter() - t0, 2)
    return out


def run_bench(
    bench: BenchSet,
    systems: Sequence[System],
    metrics: Sequence[str] = METRICS,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every system on every line and measure its output.

    Outputs with identical samples (the noisy input and the clean original under the
    ``clean`` condition) are measured once.

    Returns
    -------
    list of dict
        One row per line x system: ids, ``seconds`` (processing time), ``first_call``
        (true for a system's first line, which includes its loading), ``measured`` (false
        where the measures were copied from an identical output) and the measures with
        their costs (``time_<measure>``, seconds).
    """
    rows: list[dict[str, Any]] = []
    cache: dict[tuple[str, str, bool], dict[str, Any]] = {}
    seen: set[str] = set()
    t_start = time.perf_counter()
    for i, line in enumerate(bench.lines):
        refs = bench.references(line)
        for system in systems:
            t0 = time.perf_counter()
            audio = np.asarray(system.process(line), dtype=np.float32)
            seconds = time.perf_counter() - t0
            key = (line.utterance, hashlib.sha1(audio.tobytes()).hexdigest(), system.aligned)
            measured = key not in cache
            if measured:
                cache[key] = measure(audio, line, refs, system.aligned, metrics)
            info = dict(getattr(system, "last_info", None) or {})  # adr: timings, fallback
            rows.append(
                {
                    "line": line.id,
                    "utterance": line.utterance,
                    "condition": line.condition,
                    "system": system.name,
                    "duration": round(line.duration, 3),
                    "seconds": round(seconds, 4),
                    "first_call": system.name not in seen,
                    "measured": measured,
                    **cache[key],
                    **info,
                }
            )
            seen.add(system.name)
        if log is not None:
            log(f"[{i + 1}/{len(bench.lines)}] {line.id}  ({time.perf_counter() - t_start:.0f} s)")
    return rows


# --------------------------------------------------------------------------- summary


def summarize(
    rows: Sequence[dict[str, Any]], conditions: Sequence[str], systems: Sequence[str]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Mean of each measure per condition and system (WER pooled over words).

    Returns
    -------
    dict
        ``summary[condition][system][column]`` -> value or ``None``; also ``"lines"``.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for cond in conditions:
        out[cond] = {}
        for sys_name in systems:
            sel = [r for r in rows if r["condition"] == cond and r["system"] == sys_name]
            cell: dict[str, Any] = {"lines": len(sel)}
            words = sum(r.get("wer_words", 0) for r in sel)
            cell["wer"] = (sum(r.get("wer_errors", 0) for r in sel) / words) if words else None
            for col in COLUMNS:
                if col in ("wer", "rtf"):
                    continue
                vals = [r[col] for r in sel if r.get(col) is not None]
                cell[col] = float(np.mean(vals)) if vals else None
            timed = [r for r in sel if not r["first_call"]] or sel
            audio_s = sum(r["duration"] for r in timed)
            cell["rtf"] = sum(r["seconds"] for r in timed) / audio_s if audio_s else None
            if any("adr_analyze_seconds" in r or "adr_fallback" in r for r in sel):
                done = [r for r in timed if "adr_analyze_seconds" in r]
                done_s = sum(r["duration"] for r in done)
                cell["fallbacks"] = sum(1 for r in sel if r.get("adr_fallback"))
                for part in ("analyze", "render"):
                    cell[f"rtf_{part}"] = (
                        sum(r[f"adr_{part}_seconds"] for r in done) / done_s if done_s else None
                    )
            out[cond][sys_name] = {
                k: _nan_to_none(v) if isinstance(v, float) else v for k, v in cell.items()
            }
    return out


def _cell(value: float | None, base: float | None, fmt: str) -> str:
    if value is None:
        return "—"
    text = fmt.format(value)
    if base is not None and base != 0 and value is not None:
        text += f" (×{value / base:.2f})"
    return text


def _fmt(value: float | None, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets for each adr system and condition, met or not.

    Targets: speaker similarity >= 0.80; WER at most 10 points above the clean original's
    (same lines); F0 correlation >= 0.9; DNSMOS OVRL >= 3.0; and under ``-5 dB`` a WER below,
    and a DNSMOS OVRL above, both the noisy input and noisereduce (all measured in this run).

    Returns
    -------
    list of dict
        ``system``, ``target``, ``condition``, ``value`` (text), ``met`` (bool or None where
        not measurable).
    """
    s = report["summary"]
    conditions = [c for c in report["conditions"] if c in s]
    out: list[dict[str, Any]] = []

    def add(system: str, target: str, cond: str, value: str, met: bool | None) -> None:
        out.append(
            {"system": system, "target": target, "condition": cond, "value": value, "met": met}
        )

    for name in [n for n in report["systems"] if n.startswith("adr render")]:
        for c in conditions:
            cell, ceil = s[c][name], s[c].get(CEILING, {})
            sim, wer, f0, mos = (
                cell.get(k) for k in ("similarity", "wer", "f0_corr", "dnsmos_ovrl")
            )
            add(
                name,
                f"speaker similarity ≥ {SIMILARITY_TARGET:.2f}",
                c,
                _fmt(sim, "{:.3f}"),
                None if sim is None else sim >= SIMILARITY_TARGET,
            )
            cw = ceil.get("wer")
            if wer is not None and cw is not None:
                add(
                    name,
                    f"WER within {WER_POINTS * 100:.0f} points of clean",
                    c,
                    f"{wer:.3f} vs {cw:.3f}",
                    wer - cw <= WER_POINTS + 1e-9,
                )
            else:
                add(name, f"WER within {WER_POINTS * 100:.0f} points of clean", c, "—", None)
            add(
                name,
                f"F0 correlation ≥ {F0_TARGET:.1f}",
                c,
                _fmt(f0, "{:.3f}"),
                None if f0 is None else f0 >= F0_TARGET,
            )
            add(
                name,
                f"DNSMOS OVRL ≥ {DNSMOS_TARGET:.1f}",
                c,
                _fmt(mos, "{:.2f}"),
                None if mos is None else mos >= DNSMOS_TARGET,
            )
        if HARDEST in s:
            cell = s[HARDEST][name]
            for col, label, better in (
                ("wer", "WER", lambda a, b: a < b),
                ("dnsmos_ovrl", "DNSMOS OVRL", lambda a, b: a > b),
            ):
                v = cell.get(col)
                others = [s[HARDEST].get(p, {}).get(col) for p in (FLOOR, PEER)]
                met = None if v is None or None in others else all(better(v, o) for o in others)
                value = (
                    "—"
                    if v is None
                    else (
                        f"{v:.3f} vs {_fmt(others[0], '{:.3f}')} / {_fmt(others[1], '{:.3f}')}"
                        if col == "wer"
                        else f"{v:.2f} vs {_fmt(others[0], '{:.2f}')} / {_fmt(others[1], '{:.2f}')}"
                    )
                )
                add(
                    name,
                    f"{label} beats noisy input and noisereduce at {HARDEST}",
                    HARDEST,
                    value,
                    met,
                )
    return out


def _targets_md(report: dict[str, Any]) -> list[str]:
    found = targets(report)
    if not found:
        return []
    conditions = [c for c in report["conditions"] if c in report["summary"]]
    lines = [
        "## Issue #6 targets for adr's render",
        "",
        f"Speaker similarity ≥ {SIMILARITY_TARGET:.2f}; WER within "
        f"{WER_POINTS * 100:.0f} points of the clean original's WER on the same lines; F0 "
        f"correlation ≥ {F0_TARGET:.1f}; DNSMOS OVRL ≥ {DNSMOS_TARGET:.1f}; at {HARDEST} "
        "a WER below and a DNSMOS above both the noisy input and noisereduce (values: "
        "adr vs noisy input / noisereduce). All from this run; **met** / not met per "
        "condition, — where not measured (no transcript).",
        "",
    ]
    for name in dict.fromkeys(t["system"] for t in found):
        mine = [t for t in found if t["system"] == name]
        lines += [
            f"### {name}",
            "",
            "| target | " + " | ".join(conditions) + " | overall |",
            "|---|" + "---|" * (len(conditions) + 1),
        ]
        for target in dict.fromkeys(t["target"] for t in mine):
            cells, met, judged = [], 0, 0
            for c in conditions:
                t = next((t for t in mine if t["target"] == target and t["condition"] == c), None)
                if t is None:
                    cells.append("")
                    continue
                if t["met"] is None:
                    cells.append(t["value"])
                    continue
                judged += 1
                met += bool(t["met"])
                cells.append(f"{t['value']} **met**" if t["met"] else f"{t['value']} not met")
            overall = f"met in {met} of {judged}" if judged else "not measured"
            lines.append(f"| {target} | " + " | ".join(cells) + f" | {overall} |")
        lines.append("")
    return lines


def _headline_md(report: dict[str, Any]) -> list[str]:
    """One table of the three headline measures (what the project README shows)."""
    s, systems = report["summary"], report["systems"]
    conditions = [c for c in report["conditions"] if c in s]
    lines = [
        "## Headline: WER / speaker similarity / DNSMOS OVRL",
        "",
        "| condition | " + " | ".join(systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for c in conditions:
        cells = [
            " / ".join(
                _fmt(s[c][n].get(k), f)
                for k, f in (("wer", "{:.2f}"), ("similarity", "{:.2f}"), ("dnsmos_ovrl", "{:.2f}"))
            )
            for n in systems
        ]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return lines + [
        "",
        "WER lower is better (— without transcripts), similarity and DNSMOS "
        "higher; ratios to the noisy input are in the per-measure tables below.",
        "",
    ]


def _demo_md(report: dict[str, Any]) -> list[str]:
    """Per-line table of the demo production (its lines have their own SNRs)."""
    rows = [r for r in report.get("rows", []) if r["condition"] == DEMO.name]
    if not rows:
        return []
    meta = {ln["id"]: ln for ln in report.get("lines", [])}
    systems = [n for n in report["systems"] if any(r["system"] == n for r in rows)]
    lines = [
        "## Demo production, per line (WER / speaker similarity / DNSMOS OVRL)",
        "",
        "| line | speaker | noise, target SNR | " + " | ".join(systems) + " |",
        "|---|---|---|" + "---|" * len(systems),
    ]
    for lid in dict.fromkeys(r["line"] for r in rows):
        m = meta.get(lid, {})
        snr = m.get("snr_db")
        noise = f"{m.get('noise') or 'clean'}, {'—' if snr is None else f'{snr:g} dB'}"
        cells = []
        for n in systems:
            r = next((r for r in rows if r["line"] == lid and r["system"] == n), {})
            cell = " / ".join(
                _fmt(r.get(k), f)
                for k, f in (("wer", "{:.2f}"), ("similarity", "{:.2f}"), ("dnsmos_ovrl", "{:.2f}"))
            )
            cells.append(cell + (" (kept)" if r.get("adr_fallback") else ""))
        lines.append(
            f"| {lid.split('@')[0]} | {m.get('speaker', '')} | {noise} | "
            + " | ".join(cells)
            + " |"
        )
    if any(r.get("adr_fallback") for r in rows):
        lines += ["", "(kept) = adr could not re-speak the line and kept the production audio."]
    return lines + [""]


def _adr_speed_md(report: dict[str, Any]) -> list[str]:
    names = [n for n in report["systems"] if n.startswith("adr render")]
    if not names:
        return []
    rows = report.get("rows", [])
    lines = [
        "### adr render in this run (per line, each system's first line excluded)",
        "",
        "| system | lines | re-spoken | kept production audio | analysis RTF | "
        "synthesis RTF | total RTF |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in names:
        mine = [r for r in rows if r["system"] == n]
        timed = [r for r in mine if not r["first_call"] and "adr_analyze_seconds" in r]
        audio = sum(r["duration"] for r in timed)

        def rtf(key: str, timed: list = timed, audio: float = audio) -> str:
            return f"{sum(r[key] for r in timed) / audio:.3f}" if audio else "—"

        kept = sum(1 for r in mine if r.get("adr_fallback"))
        lines.append(
            f"| {n} | {len(mine)} | {len(mine) - kept} | {kept} | "
            f"{rtf('adr_analyze_seconds')} | {rtf('adr_render_seconds')} | "
            f"{rtf('seconds')} |"
        )
    whys = sorted({r["adr_fallback"] for r in rows if r.get("adr_fallback")})
    if whys:
        lines += [
            "",
            "Why lines were kept: "
            + "; ".join(whys[:6])
            + (f" (and {len(whys) - 6} more)" if len(whys) > 6 else ""),
        ]
    voices = report.get("voices") or []
    if voices:
        done = [
            v for v in voices if not v.get("error") and v.get("wall_seconds") and v.get("minutes")
        ]
        per = [v["wall_seconds"] / 60 / v["minutes"] for v in done]
        lines += [
            "",
            f"### Voices (preset `{report.get('voice_preset', '?')}`, cached in "
            "`bench/work/voices`)",
            "",
        ]
        lines += voice_table(voices)
        if per:
            train = [v["train_seconds"] / 60 for v in done]
            lines += [
                "",
                f"Enrollment (material checks, transcription where needed, "
                f"alignment, training, held-back evaluation) took "
                f"{np.median(per):.1f} min of wall time per minute of speech (median; "
                f"{min(per):.1f}-{max(per):.1f}); training {np.median(train):.1f} min "
                "per voice (median), bounded by the preset's time budget.",
            ]
        first = report.get("enroll_seconds")
        if first is not None:
            lines += [
                "",
                f"Enrollment in this run: {first / 60:.1f} min "
                f"({sum(1 for v in voices if v.get('reused'))} of {len(voices)} voices "
                "reused from the cache).",
            ]
    return lines + [""]


def render_markdown(report: dict[str, Any]) -> str:
    """The report as markdown: the targets, one table per measure (conditions x systems),
    the demo production per line, speed, memory and the voices."""
    systems = report["systems"]
    conditions = [c for c in report["conditions"] if c in report["summary"]]
    s = report["summary"]
    base = systems[0]
    m = report["machine"]
    bench_s = report.get("bench_seconds")
    lines = [
        "# adr benchmark results",
        "",
        f"- date: {report['date']}, mode: `{report['mode']}`, git commit: "
        f"`{report['git_commit']}`, wall time {report['wall_seconds'] / 60:.1f} min"
        + (f" ({bench_s / 60:.1f} min without enrolling voices)" if bench_s else ""),
        f"- machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; load average "
        f"{m['load_start']} at start, {m['load_end']} at end (the 2 cores were shared: "
        "timings are noisy)",
        f"- lines: {report['line_count']} degraded lines from {report['utterance_count']} "
        "clean utterances; values are means over lines, WER pooled over words; "
        f"(×r) = ratio to `{base}` in the same condition",
        "",
    ]
    lines += _headline_md(report)
    lines += _targets_md(report)
    for col, (title, fmt, higher) in COLUMNS.items():
        if not any(s[c][n].get(col) is not None for c in conditions for n in systems):
            continue
        lines += [
            f"## {title} — {'higher' if higher else 'lower'} is better",
            "",
            "| condition | " + " | ".join(systems) + " |",
            "|---|" + "---|" * len(systems),
        ]
        for c in conditions:
            b = s[c][base].get(col) if col != "rtf" else None  # no ratio to ~0 s of work
            cells = [_cell(s[c][n].get(col), b if n != base else None, fmt) for n in systems]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += _demo_md(report)
    lines += [
        "## Speed and memory (fresh process per system)",
        "",
        "| system | one-time load (s) | real-time factor | peak RSS (MB) |",
        "|---|---|---|---|",
    ]
    for name, p in report.get("probes", {}).items():
        if "error" in p:
            lines.append(f"| {name} | error: {p['error']} | | |")
        else:
            lines.append(
                f"| {name} | {p['load_seconds']:.2f} | {p['rtf']:.3f} | {p['peak_rss_mb']:.0f} |"
            )
    probe_line = report.get("probe_line") or "a real bench line (0 dB)"
    lines += [
        "",
        f"Peers: a 5 s generated line. adr rows: {probe_line} in its speaker's "
        "voice; their load is the models' and the voice's first load, the real-time "
        "factor analysis plus synthesis (blind mode includes Whisper's language "
        "identification, and a second pass where it hears another language).",
        "",
    ]
    lines += _adr_speed_md(report)
    lines += [
        "One-time loads of the measuring models (s, incl. a first 1 s call): "
        + ", ".join(f"{k} {v}" for k, v in report.get("metric_load_seconds", {}).items()),
        "",
        "Mean cost per measured output (s): "
        + ", ".join(f"{k} {v}" for k, v in report.get("measure_seconds", {}).items()),
        "",
        "## Notes",
        "",
    ]
    lines += [f"- {n}" for n in report.get("notes", [])]
    lines += ["", "Data: " + ATTRIBUTION, ""]
    return "\n".join(lines)


ATTRIBUTION = (
    "VCTK (CC BY 4.0, CSTR, University of Edinburgh); LibriSpeech (CC BY 4.0, V. Panayotov "
    "et al.); LJSpeech (public domain); VoiceBank-DEMAND (CC BY 4.0, C. Valentini-Botinhao, "
    "2017); Google Speech Commands background noise (CC BY 4.0); Freesound noise clips (CC0 "
    "or CC BY, authors in ../shared/corpus/MANIFEST.tsv); spatialaudio room responses (CC0)."
)

NOTES = [
    "Synthetic conditions: the clean line convolved with a measured room response (direct "
    "path at sample 0) plus a random stretch of a real noise recording, SNR over the whole "
    "line (including pauses, so speech-active SNR is somewhat higher); seeded per line.",
    "The clean-original column is the ceiling; under `clean` the noisy input is the clean "
    "line itself. LibriSpeech lines have no transcript: no WER for them.",
    "Speaker similarity: cosine of the GE2E embedding to the mean embedding of up to 6 other "
    "clean lines of the same speaker.",
    "RTF excludes each system's first line (its loading); the probe table measures load, "
    "RTF and peak RSS in a fresh process (RSS includes Python, numpy and the adr imports: "
    "compare against `baseline`). DeepFilterNet3 builds a fresh network state per call "
    "(~0.5-1 s, in a background thread after each call), which the probe RTF includes.",
]

ADR_NOTES = [
    "adr render: each line is one cue from its first to its last sample, analysed as `adr "
    "analyze` does (DeepFilterNet3 front end, Whisper base, forced alignment, Praat prosody; "
    "no picture) and spoken by `adr.voice.render.render_line` in the speaker's enrolled voice "
    "(`adr.voice.respeak.respeak`), resampled to 16 kHz. Script mode gives the line's transcript, "
    "blind mode none (Whisper's text is spoken). LibriSpeech lines have no transcript: script "
    "mode recognizes their text too. The actor is given (as on a cue sheet), not identified.",
    "adr voices: enrolled with `adr.voice.enroll.enroll_actor` on the speaker's clean corpus "
    "utterances that are not bench lines of the run (corpus order, up to 3 min; transcripts "
    "given, LibriSpeech transcribed by Whisper). Where less than 25 s remains (VCTK and "
    "VoiceBank in --full) the speaker's lines are split into folds, each rendered by a voice "
    "enrolled on the other folds: no line is rendered by a voice that heard it. The corpus "
    "has only 1-1.5 min per VCTK/LibriSpeech speaker and 29 s for VoiceBank p287, so those "
    "voices are thin (material minimum lowered to 12 s of speech for the bench). Demo actors "
    "enroll on the demo's own enrollment sets.",
    "adr render is not sample-aligned with the clean line (STOI not measured; PESQ aligns "
    "itself); F0 is compared frame by frame, which is meaningful because the take keeps the "
    "line's timing. A line adr cannot re-speak keeps the production audio (counted below).",
    "Training runs under the preset's wall-clock budget on cores shared with other work: "
    "under load a voice gets fewer steps (see the voices table), so quality depends on the "
    "machine's load during the first run. torch runs with 1 thread (faster than 2 under "
    "contention: 0.38 vs 1.2-1.8 s per training step measured here).",
]


# --------------------------------------------------------------------------- probes


def _probe_line(wav: Path | None, text: str) -> BenchLine:
    """The line a probe runs on: a real line for adr (``wav``), else a generated 5 s one."""
    if wav is not None:
        import soundfile as sf

        x, sr = sf.read(str(wav), dtype="float32")
        return BenchLine(
            "probe", "probe", "probe", text, "probe", 0.0, noisy=x, clean=x, sample_rate=sr
        )
    rng = np.random.default_rng(0)
    n = 5 * BENCH_RATE
    t = np.arange(n) / BENCH_RATE
    phase = 2 * np.pi * np.cumsum(140 * (1 + 0.08 * np.sin(2 * np.pi * 3 * t))) / BENCH_RATE
    clean = sum(np.sin(k * phase) / k for k in range(1, 30))
    clean = 0.2 * clean / np.max(np.abs(clean)) * np.abs(np.sin(2 * np.pi * 2 * t))
    noisy = clean + 0.05 * rng.standard_normal(n)
    return BenchLine(
        "probe",
        "probe",
        "probe",
        "",
        "probe",
        0.0,
        noisy=noisy.astype(np.float32),
        clean=clean.astype(np.float32),
    )


def probe(
    key: str, voice: Path | None = None, wav: Path | None = None, text: str = ""
) -> dict[str, Any]:
    """Load time, real-time factor and peak RSS of one built-in system, in this process.

    adr keys need an enrolled ``voice`` folder and a real line (``wav``, its ``text``).
    """
    out: dict[str, Any] = {}
    if key != "baseline":
        if key in ADR_KEYS:
            if voice is None or wav is None:
                raise AdrError(key, "the adr probe needs a voice and a line")
            system: System = AdrRender(key.split("-")[1], VoiceBank({}, default=voice))
        else:
            system = make_system(key)
        line = _probe_line(wav if key in ADR_KEYS else None, text)
        t0 = time.perf_counter()
        system.process(line)
        first = time.perf_counter() - t0
        if getattr(system, "last_info", {}).get("adr_fallback"):
            raise AdrError(key, f"probe line not re-spoken: {system.last_info['adr_fallback']}")
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            system.process(line)
            times.append(time.perf_counter() - t0)
            time.sleep(1.0)  # lets a background re-initialization finish, as in a real run
        steady = float(np.median(times))
        out.update(load_seconds=max(0.0, first - steady), rtf=steady / line.duration)
    else:
        out.update(load_seconds=0.0, rtf=0.0)
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def _peak_rss_mb() -> float:
    """Peak resident memory of this process since it started (``VmHWM``). ``ru_maxrss``
    would also count the parent's peak, which Linux carries over through fork and exec."""
    try:
        for text_line in Path("/proc/self/status").read_text().splitlines():
            if text_line.startswith("VmHWM:"):
                return float(text_line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_probes(
    keys: Sequence[str], adr_line: dict[str, str] | None = None, threads: int = 1
) -> dict[str, dict[str, Any]]:
    """:func:`probe` each key in a fresh Python process (so RSS and loads are its own).

    ``adr_line`` (``voice``, ``wav``, ``text``) is what the adr keys run on."""
    out = {}
    for key in ("baseline", *keys):
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--probe",
            key,
            "--threads",
            str(threads),
        ]
        if key in ADR_KEYS:
            if not adr_line:
                continue
            cmd += [
                "--probe-voice",
                adr_line["voice"],
                "--probe-wav",
                adr_line["wav"],
                "--probe-text",
                adr_line["text"],
            ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
        try:
            out[key] = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            out[key] = {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    return out


# --------------------------------------------------------------------------- report


def measure_costs(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Mean seconds per call of each measure, over the outputs actually measured."""
    out = {}
    for name in METRICS:
        vals = [r[f"time_{name}"] for r in rows if r.get("measured") and f"time_{name}" in r]
        if vals:
            out[name] = round(float(np.mean(vals)), 2)
    return out


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for text_line in Path("/proc/cpuinfo").read_text().splitlines():
            if text_line.startswith("model name"):
                cpu = text_line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_start": round(os.getloadavg()[0], 1),
    }


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def make_report(
    rows: list[dict[str, Any]],
    bench: BenchSet,
    systems: Sequence[System],
    mode: str,
    machine: dict[str, Any],
    wall: float,
    probes: dict[str, Any],
    loads: dict[str, float],
    **extra: Any,
) -> dict[str, Any]:
    """Everything of a run as one JSON-able dict; ``extra`` (``voices``, ``voice_preset``,
    ``enroll_seconds``, ``bench_seconds``) is stored as given."""
    names = [s.name for s in systems]
    conditions = [c.name for c in CONDITIONS] + [REAL.name, DEMO.name]
    present = [c for c in conditions if any(r["condition"] == c for r in rows)]
    machine = {**machine, "load_end": round(os.getloadavg()[0], 1)}
    adr = any(n.startswith("adr render") for n in names)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": mode,
        "git_commit": git_commit(),
        "machine": machine,
        "wall_seconds": round(wall, 1),
        "systems": names,
        "conditions": present,
        "line_count": len(bench.lines),
        "utterance_count": len({ln.utterance for ln in bench.lines}),
        "summary": summarize(rows, present, names),
        "probes": probes,
        "metric_load_seconds": loads,
        "measure_seconds": measure_costs(rows),
        "notes": NOTES + (ADR_NOTES if adr else []),
        **extra,
        "lines": [ln.to_dict() for ln in bench.lines],
        "rows": rows,
    }


def _probe_line_for_adr(bench: BenchSet, bank: VoiceBank, folder: Path) -> dict[str, str] | None:
    """Write the first ``0 dB`` line with a transcript and a voice for the adr probes."""
    import soundfile as sf

    for line in bench.lines:
        voice = bank.folder(line)
        if line.condition == "0 dB" and line.text and voice is not None:
            folder.mkdir(parents=True, exist_ok=True)
            wav = folder / "line.wav"
            sf.write(str(wav), line.noisy, line.sample_rate)
            return {
                "voice": str(voice),
                "wav": str(wav),
                "text": line.text,
                "line": f"{line.id} ({line.duration:.1f} s)",
            }
    return None


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="5 utterances (default)")
    g.add_argument("--full", action="store_true", help="14 utterances (results_full.*)")
    g.add_argument("--probe", choices=("baseline", *SYSTEM_KEYS, *ADR_KEYS), help=argparse.SUPPRESS)
    g.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite results.md (and results_full.md) from the JSON",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench", help="folder for results.*")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--demo",
        type=Path,
        metavar="DIR",
        help="also run the demo production's lines (built in DIR if needed)",
    )
    ap.add_argument(
        "--voice-preset",
        choices=("fast", "default"),
        default="fast",
        help="training preset of adr's voices (default: fast)",
    )
    ap.add_argument("--no-adr", action="store_true", help="leave adr's render out")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is faster on busy shared cores)"
    )
    ap.add_argument("--probe-voice", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--probe-wav", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--probe-text", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        if args.probe in ADR_KEYS:
            import torch

            torch.set_num_threads(args.threads)
        print(json.dumps(probe(args.probe, args.probe_voice, args.probe_wav, args.probe_text)))
        return 0
    if args.render_only:
        for stem in (results_stem("quick"), results_stem("full")):
            if (args.out / f"{stem}.json").exists():
                report = read_json(args.out / f"{stem}.json")
                write_text(args.out / f"{stem}.md", render_markdown(report))
        return 0

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    os.environ.setdefault("OMP_NUM_THREADS", "2")
    root = corpus_root()
    if root is None:
        log("bench: ../shared/corpus is absent (set ADR_CORPUS): nothing to run")
        return 2
    import torch

    torch.set_num_threads(args.threads)
    mode = "full" if args.full else "quick"
    voice_preset = args.voice_preset
    machine = machine_info()
    t_start = time.perf_counter()
    utterances = load_corpus(root)
    ids = [u.id for u in utterances]
    chosen = [i for i in (FULL_LINES if args.full else QUICK_LINES) if i in ids]
    production = None
    if args.demo is not None:
        from adr.demo import build_demo

        production = build_demo(args.demo, quick=True)
        demo = demo_utterances(production)
        utterances += demo
        chosen += [u.id for u in demo]
    bench = build_set(utterances, chosen, root=root, seed=args.seed)
    log(f"bench: {mode}, {len(bench.lines)} lines from {len(chosen)} utterances")
    systems = default_systems()
    extra: dict[str, Any] = {}
    adr_line = None
    if not args.no_adr:
        t0 = time.perf_counter()
        sets = demo_enrollment_sets(production) if production is not None else {}
        plans = plan_voices(bench, voice_preset, sets, tag="full" if args.full else "")
        log(
            f"bench: {len(plans)} adr voices (preset {voice_preset}; trained only where the "
            "cache in bench/work/voices has no finished voice with the same inputs)"
        )
        bank = enroll_voices(plans, voice_preset, log=log)
        systems = default_systems(bank)
        extra.update(
            voice_preset=voice_preset,
            voices=[i.to_dict() for i in bank.infos],
            enroll_seconds=round(time.perf_counter() - t0, 1),
        )
        adr_line = _probe_line_for_adr(bench, bank, ROOT / "bench" / "work" / "probe")
        if adr_line:
            extra["probe_line"] = f"`{adr_line['line']}`"
    log("bench: probing systems in fresh processes")
    probes = run_probes(
        (*SYSTEM_KEYS, *ADR_KEYS) if adr_line else SYSTEM_KEYS, adr_line, args.threads
    )
    log("bench: loading measuring models")
    loads = warm_up(METRICS)
    rows = run_bench(bench, systems, METRICS, log=log)
    wall = time.perf_counter() - t_start
    if "enroll_seconds" in extra:
        extra["bench_seconds"] = round(wall - extra["enroll_seconds"], 1)
    report = make_report(rows, bench, systems, mode, machine, wall, probes, loads, **extra)
    stem = results_stem(mode)
    write_json(args.out / f"{stem}.json", report)
    write_text(args.out / f"{stem}.md", render_markdown(report))
    log(f"bench: wrote {args.out / stem}.md in {report['wall_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

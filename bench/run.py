"""The benchmark: every system on the same degraded lines, every measure, one report.

Run from the project root (needs ``../shared/corpus``; without it only ``--probe`` works)::

    .venv/bin/python bench/run.py --quick    # 5 lines x 4 conditions + 1 real pair, < 10 min
    .venv/bin/python bench/run.py --full     # 40 lines + 6 real pairs, about 30-60 min

Writes ``bench/results.json`` and ``bench/results.md`` (see bench/README.md). Measures per
system and condition: WER (Whisper base), speaker similarity to the speaker's other clean
lines (GE2E), DNSMOS OVRL/SIG/BAK, PESQ (wb), STOI (aligned systems only), F0 RMSE and
correlation against the clean line; speed as real-time factor per system, with the
one-time model loads and each system's peak memory measured apart, in fresh processes.
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
from adr.errors import AdrError  # noqa: E402
from adr.fsio import read_json, write_json, write_text  # noqa: E402
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
    "vctk:p225_020", "vctk:p226_011", "ljspeech:LJ001-0011",
    "librispeech:1998-15444-0007", "voicebank:p287_002",
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


def full_lines(ids: Sequence[str]) -> list[str]:
    """All VCTK, the first 10 LJSpeech, 2 per LibriSpeech speaker, all VoiceBank pairs."""
    out, per_libri, lj = [], {}, 0
    for uid in ids:
        src = uid.split(":")[0]
        if src == "librispeech":
            spk = uid.split(":")[1].split("-")[0]
            per_libri[spk] = per_libri.get(spk, 0) + 1
            if per_libri[spk] > 2:
                continue
        if src == "ljspeech":
            lj += 1
            if lj > 10:
                continue
        out.append(uid)
    return out


# --------------------------------------------------------------------------- measuring


def _nan_to_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 5)


def measure(audio: np.ndarray, line: BenchLine, references: Sequence[np.ndarray],
            aligned: bool, metrics: Sequence[str] = METRICS) -> dict[str, Any]:
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
            out.update(wer=counts.rate, wer_errors=counts.errors, wer_words=counts.words,
                       hypothesis=hyp)
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
            out.update(f0_rmse_cents=f.rmse_cents, f0_corr=f.correlation,
                       f0_gross=f.gross_error, f0_voicing=f.voicing_error)
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


def run_bench(bench: BenchSet, systems: Sequence[System], metrics: Sequence[str] = METRICS,
              log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
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
            rows.append({
                "line": line.id, "utterance": line.utterance, "condition": line.condition,
                "system": system.name, "duration": round(line.duration, 3),
                "seconds": round(seconds, 4), "first_call": system.name not in seen,
                "measured": measured, **cache[key],
            })
            seen.add(system.name)
        if log is not None:
            log(f"[{i + 1}/{len(bench.lines)}] {line.id}  "
                f"({time.perf_counter() - t_start:.0f} s)")
    return rows


# --------------------------------------------------------------------------- summary


def summarize(rows: Sequence[dict[str, Any]], conditions: Sequence[str],
              systems: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
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
            out[cond][sys_name] = {k: _nan_to_none(v) if isinstance(v, float) else v
                                   for k, v in cell.items()}
    return out


def _cell(value: float | None, base: float | None, fmt: str) -> str:
    if value is None:
        return "—"
    text = fmt.format(value)
    if base is not None and base != 0 and value is not None:
        text += f" (×{value / base:.2f})"
    return text


def render_markdown(report: dict[str, Any]) -> str:
    """The report as markdown: one table per measure, conditions x systems."""
    systems = report["systems"]
    conditions = [c for c in report["conditions"] if c in report["summary"]]
    s = report["summary"]
    base = systems[0]
    m = report["machine"]
    lines = [
        "# adr benchmark results",
        "",
        f"- date: {report['date']}, mode: `{report['mode']}`, git commit: "
        f"`{report['git_commit']}`, wall time {report['wall_seconds'] / 60:.1f} min",
        f"- machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; load average "
        f"{m['load_start']} at start, {m['load_end']} at end (the 2 cores were shared: "
        "timings are noisy)",
        f"- lines: {report['line_count']} degraded lines from {report['utterance_count']} "
        "clean utterances; values are means over lines, WER pooled over words; "
        f"(×r) = ratio to `{base}` in the same condition",
        "",
    ]
    for col, (title, fmt, higher) in COLUMNS.items():
        if not any(s[c][n].get(col) is not None for c in conditions for n in systems):
            continue
        lines += [f"## {title} — {'higher' if higher else 'lower'} is better", "",
                  "| condition | " + " | ".join(systems) + " |",
                  "|---|" + "---|" * len(systems)]
        for c in conditions:
            b = s[c][base].get(col) if col != "rtf" else None  # no ratio to ~0 s of work
            cells = [_cell(s[c][n].get(col), b if n != base else None, fmt) for n in systems]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Speed and memory (fresh process per system, 5 s generated line)", "",
              "| system | one-time load (s) | real-time factor | peak RSS (MB) |",
              "|---|---|---|---|"]
    for name, p in report.get("probes", {}).items():
        if "error" in p:
            lines.append(f"| {name} | error: {p['error']} | | |")
        else:
            lines.append(f"| {name} | {p['load_seconds']:.2f} | {p['rtf']:.3f} | "
                         f"{p['peak_rss_mb']:.0f} |")
    lines += ["", "One-time loads of the measuring models (s, incl. a first 1 s call): "
              + ", ".join(f"{k} {v}" for k, v in report.get("metric_load_seconds", {}).items()),
              "", "Mean cost per measured output (s): "
              + ", ".join(f"{k} {v}" for k, v in report.get("measure_seconds", {}).items()),
              "", "## Notes", ""]
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


# --------------------------------------------------------------------------- probes


def probe(key: str) -> dict[str, Any]:
    """Load time, real-time factor and peak RSS of one built-in system, in this process."""
    rng = np.random.default_rng(0)
    n = 5 * BENCH_RATE
    t = np.arange(n) / BENCH_RATE
    phase = 2 * np.pi * np.cumsum(140 * (1 + 0.08 * np.sin(2 * np.pi * 3 * t))) / BENCH_RATE
    clean = sum(np.sin(k * phase) / k for k in range(1, 30))
    clean = (0.2 * clean / np.max(np.abs(clean)) * np.abs(np.sin(2 * np.pi * 2 * t)))
    noisy = clean + 0.05 * rng.standard_normal(n)
    line = BenchLine("probe", "probe", "probe", "", "probe", 0.0,
                noisy=noisy.astype(np.float32), clean=clean.astype(np.float32))
    out: dict[str, Any] = {}
    if key != "baseline":
        system = make_system(key)
        t0 = time.perf_counter()
        system.process(line)
        first = time.perf_counter() - t0
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            system.process(line)
            times.append(time.perf_counter() - t0)
            time.sleep(1.0)  # lets a background re-initialization finish, as in a real run
        steady = float(np.median(times))
        out.update(load_seconds=max(0.0, first - steady), rtf=steady / 5.0)
    else:
        out.update(load_seconds=0.0, rtf=0.0)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return out


def run_probes(keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """:func:`probe` each key in a fresh Python process (so RSS and loads are its own)."""
    out = {}
    for key in ("baseline", *keys):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--probe", key]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
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
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "load_start": round(os.getloadavg()[0], 1)}


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, timeout=10)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def make_report(rows: list[dict[str, Any]], bench: BenchSet, systems: Sequence[System],
                mode: str, machine: dict[str, Any], wall: float,
                probes: dict[str, Any], loads: dict[str, float]) -> dict[str, Any]:
    names = [s.name for s in systems]
    conditions = [c.name for c in CONDITIONS] + [REAL.name, DEMO.name]
    present = [c for c in conditions if any(r["condition"] == c for r in rows)]
    machine = {**machine, "load_end": round(os.getloadavg()[0], 1)}
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": mode, "git_commit": git_commit(), "machine": machine,
        "wall_seconds": round(wall, 1), "systems": names, "conditions": present,
        "line_count": len(bench.lines),
        "utterance_count": len({ln.utterance for ln in bench.lines}),
        "summary": summarize(rows, present, names), "probes": probes,
        "metric_load_seconds": loads, "measure_seconds": measure_costs(rows),
        "notes": NOTES,
        "lines": [ln.to_dict() for ln in bench.lines], "rows": rows,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="5 lines (default)")
    g.add_argument("--full", action="store_true", help="40 lines + 6 real pairs")
    g.add_argument("--probe", choices=("baseline", *SYSTEM_KEYS), help=argparse.SUPPRESS)
    g.add_argument("--render-only", action="store_true",
                   help="rewrite results.md from an existing results.json")
    ap.add_argument("--out", type=Path, default=ROOT / "bench", help="folder for results.*")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--demo", type=Path, metavar="DIR",
                    help="also run the demo production's lines (built in DIR if needed)")
    args = ap.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe)))
        return 0
    if args.render_only:
        report = read_json(args.out / "results.json")
        write_text(args.out / "results.md", render_markdown(report))
        return 0

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    os.environ.setdefault("OMP_NUM_THREADS", "2")
    root = corpus_root()
    if root is None:
        log("bench: ../shared/corpus is absent (set ADR_CORPUS): nothing to run")
        return 2
    mode = "full" if args.full else "quick"
    machine = machine_info()
    t_start = time.perf_counter()
    utterances = load_corpus(root)
    ids = [u.id for u in utterances]
    chosen = full_lines(ids) if args.full else [i for i in QUICK_LINES if i in ids]
    if args.demo is not None:
        from adr.demo import build_demo

        demo = demo_utterances(build_demo(args.demo, quick=True))
        utterances += demo
        chosen += [u.id for u in demo]
    bench = build_set(utterances, chosen, root=root, seed=args.seed)
    log(f"bench: {mode}, {len(bench.lines)} lines from {len(chosen)} utterances")
    systems = default_systems()
    log("bench: probing systems in fresh processes")
    probes = run_probes(SYSTEM_KEYS)
    log("bench: loading measuring models")
    loads = warm_up(METRICS)
    rows = run_bench(bench, systems, METRICS, log=log)
    report = make_report(rows, bench, systems, mode, machine,
                         time.perf_counter() - t_start, probes, loads)
    write_json(args.out / "results.json", report)
    write_text(args.out / "results.md", render_markdown(report))
    log(f"bench: wrote {args.out / 'results.md'} in {report['wall_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

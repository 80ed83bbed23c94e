"""The benchmark's measuring: systems run on lines, every measure, speed and memory.

:func:`run_bench` runs every system on every line and measures each output
(:func:`measure`: WER, speaker similarity, DNSMOS, PESQ, STOI, F0, each through
:mod:`adr.metrics`); :func:`summarize` averages them per condition and system;
:func:`run_probes` measures each system's load time, real-time factor and peak memory in a
fresh process (``python -m bench.run --probe KEY``). The CLI is :mod:`bench.run`; the
Markdown tables are :mod:`bench.tables`.
"""

from __future__ import annotations

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
from pathlib import Path
from typing import Any

import numpy as np

from adr import metrics as M
from adr.core.errors import AdrError
from bench.adr_system import ADR_KEYS, AdrRender, VoiceBank
from bench.conditions import BENCH_RATE, BenchLine, BenchSet
from bench.systems import System, make_system
from bench.tables import COLUMNS

ROOT = Path(__file__).resolve().parents[1]

#: All measures, in report order.
METRICS = ("wer", "similarity", "dnsmos", "pesq", "stoi", "f0")
#: Measures that need no learned model (fast; used by the unit test).
ALGORITHMIC_METRICS = ("pesq", "stoi", "f0")


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


def start(name: str, threads: int) -> tuple[Callable[[str], None], Path | None]:
    """A bench command's start: its log (to stderr), torch on ``threads`` threads, and the
    corpus root (``None``, said in the log, when ``../shared/corpus`` is absent)."""

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    os.environ.setdefault("OMP_NUM_THREADS", "2")
    from bench.conditions import corpus_root

    root = corpus_root()
    if root is None:
        log(f"{name}: ../shared/corpus is absent (set ADR_CORPUS): nothing to run")
        return log, None
    import torch

    torch.set_num_threads(threads)
    return log, root


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
            "-m",
            "bench.run",
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

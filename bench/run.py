"""The benchmark's command: every system on the same degraded lines, every measure, one report.

Run from the project root (needs ``../shared/corpus``; without it only ``--probe`` works)::

    .venv/bin/python -m bench.run --quick    # 4 lines x 4 conditions + 1 real pair, < 10 min
    .venv/bin/python -m bench.run --full     # 12 lines x 4 conditions + 2 real pairs

Writes ``bench/results/results.json`` and ``bench/results/results.md`` (``results_full.*`` with
``--full``; see bench/README.md). Measures per system and condition (:mod:`bench.measure`): WER
(Whisper base), speaker similarity to the speaker's other clean lines (GE2E), DNSMOS OVRL/SIG/BAK,
PESQ (wb), STOI (aligned systems only), F0 RMSE and correlation against the clean line; speed as
real-time factor per system, with the one-time model loads and each system's peak memory measured
apart, in fresh processes. The Markdown is :mod:`bench.tables`.

adr's own render runs in script and blind mode (``bench/adr_system.py``), in voices enrolled
per speaker first (``--voice-preset``; cached in ``bench/work/voices``, so only the first run
trains); ``--no-adr`` leaves it out.

Full mode keeps the quick mode's four corpus speakers (VCTK p225 and p226, LJSpeech,
LibriSpeech 1998) with three utterances each instead of one, two VoiceBank pairs instead of
one (two fold voices) and, with ``--demo``, the demo production's ten lines; its voices use
the ``fast`` preset like the quick mode's; the corpus speakers' voices are cached apart
(``fast-full``: they are enrolled on fewer files), the demo actors' are shared. How long it
takes and why it is sized so: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adr.core.fsio import read_json, write_json, write_text
from bench.adr_system import (
    ADR_KEYS,
    VoiceBank,
    demo_enrollment_sets,
    enroll_voices,
    plan_voices,
)
from bench.conditions import (
    CONDITIONS,
    DEMO,
    REAL,
    BenchSet,
    build_set,
    demo_utterances,
    load_corpus,
)
from bench.measure import (  # noqa: F401  (re-exported: bench_oracle, bench_bandwidth, tests)
    ALGORITHMIC_METRICS,
    METRICS,
    _nan_to_none,
    git_commit,
    machine_info,
    measure,
    measure_costs,
    probe,
    run_bench,
    run_probes,
    start,
    summarize,
    warm_up,
)
from bench.systems import SYSTEM_KEYS, System, default_systems
from bench.tables import ADR_NOTES, NOTES, render_markdown, targets  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]

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


def results_stem(mode: str) -> str:
    """File name (no suffix) of a mode's results: ``results`` (quick), ``results_full``."""
    return "results" if mode == "quick" else f"results_{mode}"


def _from_rows(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """A report's fields computed from its rows: conditions present, summary, costs."""
    conditions = [c.name for c in CONDITIONS] + [REAL.name, DEMO.name]
    present = [c for c in conditions if any(r["condition"] == c for r in rows)]
    return {
        "conditions": present,
        "summary": summarize(rows, present, names),
        "measure_seconds": measure_costs(rows),
    }


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
    machine = {**machine, "load_end": round(os.getloadavg()[0], 1)}
    adr = any(n.startswith("adr render") for n in names)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": mode,
        "git_commit": git_commit(),
        "machine": machine,
        "wall_seconds": round(wall, 1),
        "systems": names,
        "line_count": len(bench.lines),
        "utterance_count": len({ln.utterance for ln in bench.lines}),
        **_from_rows(rows, names),
        "probes": probes,
        "metric_load_seconds": loads,
        "notes": NOTES + (ADR_NOTES if adr else []),
        **extra,
        "lines": [ln.to_dict() for ln in bench.lines],
        "rows": rows,
    }


def merge_shards(paths: Sequence[Path]) -> dict[str, Any]:
    """One report from the shards of a run (``--shard K/N``): rows and lines joined, the
    summary and costs recomputed; date, machine, probes and voices from shard 1; wall time
    the longest shard's (they ran at once)."""
    parts = [read_json(p) for p in paths]
    base = dict(parts[0])
    rows = [r for p in parts for r in p["rows"]]
    lines = [ln for p in parts for ln in p["lines"]]
    base.update(
        _from_rows(rows, base["systems"]),
        wall_seconds=max(p["wall_seconds"] for p in parts),
        line_count=len(lines),
        utterance_count=len({ln["utterance"] for ln in lines}),
        lines=lines,
        rows=rows,
        shards=len(parts),
    )
    if "bench_seconds" in base:
        base["bench_seconds"] = max(p.get("bench_seconds", 0.0) for p in parts)
    return base


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
    ap.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results", help="folder for results.*"
    )
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
        "--shard",
        default="",
        help="K/N: measure every N-th line from the K-th (run the N shards at once on N "
        "cores after the voices are enrolled, then --merge N); probes run in shard 1 only",
    )
    ap.add_argument(
        "--merge", type=int, default=0, help="N: join the N shards' results into one report"
    )
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
    if args.merge:
        stem = results_stem("full" if args.full else "quick")
        report = merge_shards(
            [args.out / f"{stem}.shard{k}of{args.merge}.json" for k in range(1, args.merge + 1)]
        )
        write_json(args.out / f"{stem}.json", report)
        write_text(args.out / f"{stem}.md", render_markdown(report))
        return 0
    if args.render_only:
        for stem in (results_stem("quick"), results_stem("full")):
            if (args.out / f"{stem}.json").exists():
                report = read_json(args.out / f"{stem}.json")
                write_text(args.out / f"{stem}.md", render_markdown(report))
        return 0

    log, root = start("bench", args.threads)
    if root is None:
        return 2
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
    shard, shards = (int(v) for v in args.shard.split("/")) if args.shard else (1, 1)
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
    if shards > 1:  # voices are planned on the whole set (VoiceBank folds), lines shared out
        bench = BenchSet(bench.lines[shard - 1 :: shards], bench.utterances)
    probes: dict[str, Any] = {}
    if shard == 1:
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
    stem = results_stem(mode) + (f".shard{shard}of{shards}" if shards > 1 else "")
    write_json(args.out / f"{stem}.json", report)
    write_text(args.out / f"{stem}.md", render_markdown(report))
    log(f"bench: wrote {args.out / stem}.md in {report['wall_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How time and memory grow with the length of a reel (1 to 20 minutes).

A reel of N minutes is the demo production's scene repeated end to end (its production
audio, its cue sheet shifted copy by copy) over a small blank picture of the same length.
Each stage runs as the user runs it, ``adr analyze``, ``adr render`` and ``adr export`` in a
fresh process under ``/usr/bin/time``, which gives the wall time and the peak resident
memory. The lip track is skipped (``--no-lips``: the blank picture has no face; the lip
tracker's own speed is in ``results_lips.json``). Rendering needs the demo actors' voices:
by default the ones ``python -m bench.run --demo`` trained into its cache
(``bench/work/voices/demo-ACTOR/<preset>``, preset ``--voice-preset``, default ``fast``),
linked as ``bench/work/scaling/voices/ACTOR``; ``--voices DIR`` uses a folder of enrolled
voices instead (``adr demo`` fills ``voices/``). Nothing is trained here; without the voices
only analysis is measured. The machine's load average (1 min) is recorded before and after
each stage: timings on shared cores are inflated, growth ratios are what count.

Usage (from the project root)::

    .venv/bin/python -m bench.bench_scaling --minutes 1 5      # quick
    .venv/bin/python -m bench.bench_scaling --minutes 1 5 20   # full
    .venv/bin/python -m bench.bench_scaling --render-only       # table from the JSON
    .venv/bin/python -m bench.bench_scaling --long              # 3 h, 8 channels: memory

``--long`` (issue #11 item 4) measures ``adr session new`` and ``adr analyze`` without a cue
sheet (speech regions become the cues) on a long polyphonic Broadcast WAV generated in a
temporary folder: ``--long-hours`` (3) hours of ``--long-channels`` (8) channels at 48 kHz,
24-bit (RF64, the WAV form past 4 GiB; 12.4 GB for 3 h x 8), low room noise with a few
spoken lines (festival) spread over the reel, under a tiny picture of the same length. It
reports the peak resident memory of each command (the promise: within 2 GiB); the folder is
removed afterwards.

Writes ``bench/results/results_scaling.json`` and ``bench/results/results_scaling.md``: per stage
and reel length the wall and CPU (user + system) time, both as real-time factors, the peak memory
and the load average, and per stage the ratio of the longest to the shortest reel's real-time
factors (1.0 = linear growth). CPU time depends much less than wall time on what else runs on the
machine. Rows of stages and reel lengths not run again are kept from the previous
``results_scaling.json`` (``--fresh`` drops them), so the lengths (and stages: ``--stages render
export``) can be measured one at a time; ``--note`` keeps a remark with the results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.fsio import write_json, write_text

ROOT = Path(__file__).resolve().parents[1]

WORK = ROOT / "bench" / "work" / "scaling"
BENCH_VOICES = ROOT / "bench" / "work" / "voices"
STAGES = ("analyze", "render", "export")
OUTPUT = {"analyze": "analysis", "render": "renders", "export": "deliverables"}


def gray_picture(path: Path, seconds: float, rate: Any, size: str, *options: str) -> None:
    """Write a blank gray H.264 picture of ``seconds`` at ``rate`` frames/s (more ffmpeg output
    ``options`` go before the file name)."""
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"color=c=gray:size={size}:rate={rate}:duration={seconds:.3f}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            *options,
            str(path),
        ],
        check=True,
    )


def build_reel(production: Any, minutes: float, out: Path) -> tuple[Path, Path, list[Any]]:
    """Tile the demo scene to ``minutes``; returns (picture, audio, cues)."""
    import dataclasses

    import soundfile as sf

    from adr.core.timebase import DELIVERY_RATE
    from adr.ingest.media import read_audio

    out.mkdir(parents=True, exist_ok=True)
    scene = read_audio(production.production_audio, sample_rate=DELIVERY_RATE).mono()
    scene_seconds = len(scene) / DELIVERY_RATE
    copies = max(1, int(round(minutes * 60.0 / scene_seconds)))
    seconds = copies * scene_seconds
    audio_path, picture_path = out / "production.wav", out / "picture.mp4"
    if not audio_path.exists():
        sf.write(audio_path, np.tile(scene, copies), DELIVERY_RATE, subtype="PCM_24")
    if not picture_path.exists():
        gray_picture(
            picture_path, seconds, production.fps, "160x90", "-timecode", production.start_timecode
        )
    cues = [
        dataclasses.replace(
            c,
            id=f"{k + 1:02d}-{c.id}",
            start=c.start + k * scene_seconds,
            end=c.end + k * scene_seconds,
        )
        for k in range(copies)
        for c in production.cues
    ]
    return picture_path, audio_path, cues


def timed(cmd: Sequence[str]) -> dict[str, float]:
    """Run ``cmd`` under GNU time; wall and CPU (user + system) seconds, peak resident MiB."""
    stats = WORK / ".time"
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(stats), *cmd],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
    wall, user, system, kib = stats.read_text().split()[-4:]
    return {
        "seconds": float(wall),
        "cpu_seconds": float(user) + float(system),
        "peak_mib": float(kib) / 1024.0,
    }


def link_bench_voices(actors: Sequence[str], preset: str, out: Path) -> Path:
    """A voices folder (``out/ACTOR`` -> the bench cache's ``demo-ACTOR/<preset>``)."""
    out.mkdir(parents=True, exist_ok=True)
    for actor in actors:
        target, link = BENCH_VOICES / f"demo-{actor}" / preset, out / actor
        if link.is_symlink() or link.exists():
            link.unlink()
        if (target / "voice.json").exists():
            link.symlink_to(target, target_is_directory=True)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.0, 5.0])
    ap.add_argument(
        "--demo",
        type=Path,
        default=ROOT / "bench" / "work" / "demo",
        help="the demo production (built if missing)",
    )
    ap.add_argument(
        "--voices",
        type=Path,
        default=None,
        help="folder of enrolled voices (default: the bench's cached demo voices)",
    )
    ap.add_argument(
        "--voice-preset",
        default="fast",
        help="preset of the bench's cached demo voices (default: fast)",
    )
    ap.add_argument(
        "--stages",
        nargs="+",
        choices=STAGES,
        default=list(STAGES),
        help="stages to run (default: all; render and export need the reel's "
        "analysis, from an earlier run if analyze is left out)",
    )
    ap.add_argument(
        "--fresh",
        action="store_true",
        help="drop the rows of earlier runs "
        "(default: rows of stages and reel lengths not run now are kept)",
    )
    ap.add_argument("--note", default="", help="a remark kept in the results")
    ap.add_argument(
        "--long",
        action="store_true",
        help="measure session new and analyze "
        "(speech regions) on a long polyphonic BWF instead of the reels",
    )
    ap.add_argument("--long-hours", type=float, default=3.0)
    ap.add_argument("--long-channels", type=int, default=8)
    ap.add_argument("--long-bits", type=int, choices=(16, 24), default=24)
    ap.add_argument(
        "--tmp",
        type=Path,
        default=None,
        help="where to generate the long reel (default: the system's temporary folder)",
    )
    ap.add_argument(
        "--render-only",
        action="store_true",
        help="print the table of the existing results_scaling.json",
    )
    args = ap.parse_args(argv)
    if args.render_only:
        report = json.loads((ROOT / "bench" / "results" / "results_scaling.json").read_text())
        write_text(
            ROOT / "bench" / "results" / "results_scaling.md", render_markdown(report) + "\n"
        )
        print(render_markdown(report))
        return 0

    if args.long:
        return run_long(args)

    from adr.demo import build_demo
    from adr.ingest.session import create_session

    production = build_demo(args.demo, quick=True)
    actors = [a.actor for a in production.actors]
    voices = args.voices or link_bench_voices(actors, args.voice_preset, WORK / "voices")
    can_render = all((voices / a / "voice.json").exists() for a in actors)
    if not can_render:
        print(f"no voices for {actors} in {voices}: measuring analysis only", file=sys.stderr)
    adr = [
        str(ROOT / ".venv" / "bin" / "adr"),
        "-q",
        "--sessions",
        str(WORK / "sessions"),
        "--voices",
        str(voices),
    ]
    rows = []
    for minutes in args.minutes:
        name = f"reel{minutes:g}min"
        picture, audio, cues = build_reel(production, minutes, WORK / "media" / name)
        session = create_session(name, picture, [audio], root=WORK / "sessions", exist_ok=True)
        if "analyze" in args.stages or not session.cues_path.exists():
            session.write_cues(cues)  # (resets the cues' status: analyze sets it again)
        for stage in STAGES:
            if stage not in args.stages or (stage != "analyze" and not can_render):
                continue
            shutil.rmtree(session.root / OUTPUT[stage], ignore_errors=True)  # from scratch
            extra = ["--no-lips"] if stage == "analyze" else []
            load_before = os.getloadavg()[0]
            result = timed([*adr, stage, name, *extra])
            row = {
                "stage": stage,
                "reel": name,
                "minutes": session.duration / 60.0,
                "cues": len(cues),
                **result,
                "rtf": result["seconds"] / session.duration,
                "cpu_rtf": result["cpu_seconds"] / session.duration,
                "load_before": load_before,
                "load_after": os.getloadavg()[0],
            }
            if stage == "render":  # adr render re-speaks the flagged cues only
                row["rendered"] = len(list(session.renders_dir.glob("*.wav")))
            rows.append(row)
            print(json.dumps(row), flush=True)
    out = ROOT / "bench" / "results" / "results_scaling.json"
    if out.exists() and not args.fresh:  # keep the other reel lengths of earlier runs
        done = {(r["reel"], r["stage"]) for r in rows}
        old = [
            r
            for r in json.loads(out.read_text())["rows"]
            if (r.get("reel"), r["stage"]) not in done
        ]
        rows = sorted(old + rows, key=lambda r: (STAGES.index(r["stage"]), r["minutes"]))
    report = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "note": "fresh process per stage; analysis without lips; 2 shared cores",
        "cpus": os.cpu_count(),
        "voices": str(voices),
        "remark": args.note,
        "rows": rows,
    }
    report["growth"] = growth_ratios(rows)
    if out.exists():
        report["long"] = json.loads(out.read_text()).get("long", [])
    write_json(out, report)
    write_text(ROOT / "bench" / "results" / "results_scaling.md", render_markdown(report) + "\n")
    print(render_markdown(report))
    return 0


def write_long_reel(out: Path, hours: float, channels: int, bits: int) -> tuple[Path, Path]:
    """A long polyphonic BWF (RF64) and a tiny picture of its length; (picture, audio).

    Room noise about -60 dBFS per channel (a 10 s noise block repeated, so generation is
    quick) with four spoken lines at 5 %, 35 %, 65 % and 95 % of the reel, on every channel
    at a different gain (a boom and lavaliers). Written in blocks: memory stays small.
    """
    import soundfile as sf

    from adr.analysis.denoise import resample
    from adr.demo.tts import VOICES, synthesize

    sr = 48000
    seconds = hours * 3600.0
    n = int(round(seconds * sr))
    texts = [
        "Roll sound, we are losing the light.",
        "Nobody moves until I say so.",
        "He said cut, so we stop right here.",
        "Bring the second camera over here.",
    ]
    lines = [
        resample(u.audio, u.sample_rate, sr)
        for u in synthesize(VOICES["KAL"], texts, align=False, peak=0.5)
    ]
    places = [int(f * n) for f in (0.05, 0.35, 0.65, 0.95)]
    gains = np.linspace(1.0, 0.4, channels, dtype=np.float32)
    rng = np.random.default_rng(0)
    block = 10 * sr
    noise = (0.001 * rng.standard_normal((block, channels))).astype(np.float32)
    audio = out / "long_poly.wav"
    subtype = {16: "PCM_16", 24: "PCM_24"}[bits]
    with sf.SoundFile(
        str(audio), "w", samplerate=sr, channels=channels, subtype=subtype, format="RF64"
    ) as fh:
        for a in range(0, n, block):
            b = min(n, a + block)
            x = noise[: b - a].copy()
            for at, line in zip(places, lines):
                lo, hi = max(a, at), min(b, at + len(line))
                if lo < hi:
                    x[lo - a : hi - a] += line[lo - at : hi - at, None] * gains[None, :]
            fh.write(x)
    picture = out / "long_picture.mp4"
    gray_picture(picture, seconds, 25, "64x36", "-g", "250")
    return picture, audio


def run_long(args: argparse.Namespace) -> int:
    """``--long``: peak memory of session new and analyze (speech regions) on a long BWF."""
    import tempfile

    from adr.ingest.session import load_session

    WORK.mkdir(parents=True, exist_ok=True)
    hours, channels, bits = args.long_hours, args.long_channels, args.long_bits
    need = hours * 3600 * 48000 * channels * bits // 8
    tmp_root = args.tmp or Path(tempfile.gettempdir())
    free = shutil.disk_usage(tmp_root).free
    if free < need * 1.1 + 2e9:
        raise SystemExit(
            f"{tmp_root}: {free / 1e9:.1f} GB free, the reel needs "
            f"{need / 1e9:.1f} GB; use --long-bits 16, fewer --long-hours, or --tmp"
        )
    rows = []
    with tempfile.TemporaryDirectory(prefix="adr_long_", dir=tmp_root) as tmp:
        out = Path(tmp)
        picture, audio = write_long_reel(out, hours, channels, bits)
        size = audio.stat().st_size / 1e9
        print(f"wrote {audio} ({size:.1f} GB)", flush=True)
        adr = [
            str(ROOT / ".venv" / "bin" / "adr"),
            "-q",
            "--sessions",
            str(out / "sessions"),
            "--voices",
            str(out / "voices"),
        ]
        date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        for command, argv in (
            (
                "session new",
                ["session", "new", "long", "--picture", str(picture), "--audio", str(audio)],
            ),
            ("analyze (speech regions)", ["analyze", "long", "--no-lips"]),
        ):
            result = timed([*adr, *argv])
            row = {
                "command": command,
                "hours": hours,
                "channels": channels,
                "bits": bits,
                "file_gb": size,
                "date": date,
                **result,
            }
            if command.startswith("analyze"):
                row["cues"] = len(load_session(out / "sessions" / "long").read_cues())
            rows.append(row)
            print(json.dumps(row), flush=True)
    path = ROOT / "bench" / "results" / "results_scaling.json"
    report = json.loads(path.read_text())
    keep = [
        r
        for r in report.get("long", [])
        if (r["hours"], r["channels"], r["bits"]) != (hours, channels, bits)
    ]
    report["long"] = keep + rows
    write_json(path, report)
    write_text(ROOT / "bench" / "results" / "results_scaling.md", render_markdown(report) + "\n")
    print(render_markdown(report))
    return 0 if all(r["peak_mib"] <= 2048 for r in rows) else 1


def render_markdown(report: dict[str, Any]) -> str:
    """The scaling table (one row per stage and reel length) and the growth ratios."""
    lines = [f"Measured {report['date']} ({report['note']}).", ""]
    if report.get("remark"):
        lines[-1:] = ["", report["remark"], ""]
    lines += [
        "| stage | reel (min) | cues | wall (s) | RTF | CPU (s) | CPU RTF "
        "| peak memory (MiB) | load avg before -> after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        load = f"{r['load_before']:.1f} -> {r['load_after']:.1f}" if "load_before" in r else ""
        cpu = f"{r['cpu_seconds']:.0f} | {r['cpu_rtf']:.3f}" if "cpu_seconds" in r else "| "
        cues = f"{r['cues']}" + (f" ({r['rendered']} rendered)" if "rendered" in r else "")
        lines.append(
            f"| {r['stage']} | {r['minutes']:.1f} | {cues} | {r['seconds']:.0f} "
            f"| {r['rtf']:.3f} | {cpu} | {r['peak_mib']:.0f} | {load} |"
        )
    growth = growth_ratios(report["rows"])
    if growth:
        lines += [
            "",
            "| stage | reels (min) | RTF ratio | CPU RTF ratio | peak memory (MiB) |",
            "|---|---|---|---|---|",
        ]
        for g in growth:
            cpu = f"{g['cpu_rtf_ratio']:.2f}" if g["cpu_rtf_ratio"] is not None else ""
            lines.append(
                f"| {g['stage']} | {g['from_minutes']:.1f} -> {g['to_minutes']:.1f} "
                f"| {g['rtf_ratio']:.2f} | {cpu} | {g['from_mib']:.0f} -> "
                f"{g['to_mib']:.0f} |"
            )
        lines.append(
            "\nRatios are longest / shortest reel (1.00 = time grows linearly with the reel)."
        )
    if report.get("long"):
        lines += [
            "",
            "Long polyphonic reel (`--long`: issue #11, within 2 GiB):",
            "",
            "| command | reel (h) | channels | file (GB) | regions (cues) | wall (s) "
            "| CPU (s) | peak memory (MiB) | measured |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in report["long"]:
            lines.append(
                f"| {r['command']} | {r['hours']:.2f} | {r['channels']} x "
                f"{r['bits']}-bit | {r['file_gb']:.1f} | {r.get('cues', '')} "
                f"| {r['seconds']:.0f} | {r['cpu_seconds']:.0f} | {r['peak_mib']:.0f} "
                f"| {r['date']} |"
            )
    return "\n".join(lines)


def growth_ratios(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per stage: real-time factor and CPU real-time factor of the longest reel over the
    shortest's (1.0 = linear growth) and the peak memory of both."""
    out = []
    for stage in STAGES:
        rs = [r for r in rows if r["stage"] == stage]
        if len(rs) < 2:
            continue
        lo, hi = min(rs, key=lambda r: r["minutes"]), max(rs, key=lambda r: r["minutes"])
        cpu = hi["cpu_rtf"] / lo["cpu_rtf"] if "cpu_rtf" in lo and "cpu_rtf" in hi else None
        out.append(
            {
                "stage": stage,
                "from_minutes": lo["minutes"],
                "to_minutes": hi["minutes"],
                "rtf_ratio": hi["rtf"] / lo["rtf"],
                "cpu_rtf_ratio": cpu,
                "from_mib": lo["peak_mib"],
                "to_mib": hi["peak_mib"],
            }
        )
    return out


if __name__ == "__main__":
    sys.exit(main())

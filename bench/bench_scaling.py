"""How time and memory grow with the length of a reel (1 to 20 minutes).

A reel of N minutes is the demo production's scene repeated end to end (its production
audio, its cue sheet shifted copy by copy) over a small blank picture of the same length.
Each stage runs as the user runs it, ``adr analyze``, ``adr render`` and ``adr export`` in a
fresh process under ``/usr/bin/time``, which gives the wall time and the peak resident
memory. The lip track is skipped (``--no-lips``: the blank picture has no face; the lip
tracker's own speed is in ``results_lips.json``). Rendering needs the demo actors' voices
(``adr demo`` enrolls them into ``voices/``); without them only analysis is measured.

Usage (from the project root)::

    .venv/bin/python bench/bench_scaling.py --minutes 1 5      # quick
    .venv/bin/python bench/bench_scaling.py --minutes 1 5 20   # full

Writes ``bench/results_scaling.json`` and prints a markdown table: per stage and reel
length the wall time, real-time factor and peak memory, and the ratio of the longest to the
shortest reel's real-time factor (1.0 = linear growth).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adr.fsio import write_json  # noqa: E402

WORK = ROOT / "bench" / "work" / "scaling"
STAGES = ("analyze", "render", "export")
OUTPUT = {"analyze": "analysis", "render": "renders", "export": "deliverables"}


def build_reel(production: Any, minutes: float, out: Path) -> tuple[Path, Path, list[Any]]:
    """Tile the demo scene to ``minutes``; returns (picture, audio, cues)."""
    import dataclasses

    import soundfile as sf

    from adr.media import read_audio
    from adr.timebase import DELIVERY_RATE

    out.mkdir(parents=True, exist_ok=True)
    scene = read_audio(production.production_audio, sample_rate=DELIVERY_RATE).mono()
    scene_seconds = len(scene) / DELIVERY_RATE
    copies = max(1, int(round(minutes * 60.0 / scene_seconds)))
    seconds = copies * scene_seconds
    audio_path, picture_path = out / "production.wav", out / "picture.mp4"
    if not audio_path.exists():
        sf.write(audio_path, np.tile(scene, copies), DELIVERY_RATE, subtype="PCM_24")
    if not picture_path.exists():
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
             f"color=c=gray:size=160x90:rate={production.fps}:duration={seconds:.3f}",
             "-c:v", "libx264", "-preset", "ultrafast", "-timecode", production.start_timecode,
             str(picture_path)], check=True)
    cues = [dataclasses.replace(c, id=f"{k + 1:02d}-{c.id}", start=c.start + k * scene_seconds,
                                end=c.end + k * scene_seconds)
            for k in range(copies) for c in production.cues]
    return picture_path, audio_path, cues


def timed(cmd: Sequence[str]) -> dict[str, float]:
    """Run ``cmd`` under GNU time; wall seconds and peak resident MiB."""
    stats = WORK / ".time"
    proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", str(stats), *cmd],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
    wall, kib = stats.read_text().split()[-2:]
    return {"seconds": float(wall), "peak_mib": float(kib) / 1024.0}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.0, 5.0])
    ap.add_argument("--demo", type=Path, default=ROOT / "sessions" / "demo-production",
                    help="the demo production (built if missing)")
    ap.add_argument("--voices", type=Path, default=ROOT / "voices")
    args = ap.parse_args(argv)

    from adr.demo import build_demo
    from adr.session import create_session

    production = build_demo(args.demo, quick=True)
    actors = [a.name for a in production.actors]
    can_render = all((args.voices / a / "voice.json").exists() for a in actors)
    adr = [str(ROOT / ".venv" / "bin" / "adr"), "-q", "--sessions", str(WORK / "sessions"),
           "--voices", str(args.voices)]
    rows = []
    for minutes in args.minutes:
        name = f"reel{minutes:g}min"
        picture, audio, cues = build_reel(production, minutes, WORK / "media" / name)
        session = create_session(name, picture, [audio], root=WORK / "sessions", exist_ok=True)
        session.write_cues(cues)
        for stage in STAGES:
            if stage != "analyze" and not can_render:
                continue
            shutil.rmtree(session.root / OUTPUT[stage], ignore_errors=True)  # from scratch
            extra = ["--no-lips"] if stage == "analyze" else []
            result = timed([*adr, stage, name, *extra])
            row = {"stage": stage, "minutes": session.duration / 60.0, "cues": len(cues),
                   **result, "rtf": result["seconds"] / session.duration}
            rows.append(row)
            print(json.dumps(row), flush=True)
    report = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "note": "fresh process per stage; analysis without lips; 2 shared cores",
              "rows": rows}
    write_json(ROOT / "bench" / "results_scaling.json", report)
    print(render_markdown(report))
    return 0


def render_markdown(report: dict[str, Any]) -> str:
    """The scaling table (one row per stage and reel length)."""
    lines = ["| stage | reel (min) | cues | wall (s) | RTF | peak memory (MiB) |",
             "|---|---|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['stage']} | {r['minutes']:.1f} | {r['cues']} | {r['seconds']:.0f} "
                     f"| {r['rtf']:.3f} | {r['peak_mib']:.0f} |")
    for stage in STAGES:
        rs = [r for r in report["rows"] if r["stage"] == stage]
        if len(rs) >= 2:
            lo, hi = min(rs, key=lambda r: r["minutes"]), max(rs, key=lambda r: r["minutes"])
            lines.append(f"\n{stage}: RTF at {hi['minutes']:.0f} min / at {lo['minutes']:.0f} "
                         f"min = {hi['rtf'] / lo['rtf']:.2f} (1.00 = linear); memory "
                         f"{lo['peak_mib']:.0f} -> {hi['peak_mib']:.0f} MiB")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

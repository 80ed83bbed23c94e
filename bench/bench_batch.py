"""Benchmark of ``adr batch`` (issue #13): a film of 3 reels and 3 actors, serial vs batch.

The film is the demo production tiled: its scene is each of the 3 reels, its 3 actors the
cast (``adr demo --quick`` material, restorer steps ``--steps``). Three runs, each from
empty sessions and voices under ``bench/work/batch/``:

- ``serial``: the single commands one after another (``adr enroll`` for each actor, then
  ``adr analyze``, ``adr render``, ``adr export`` for each reel), each its own process;
- ``batch``: ``adr batch FILM`` on a local Ray instance (all cores);
- ``cluster`` (``--cluster``): a local multi-node Ray cluster (``ray start --head`` and two
  ``ray start --address`` worker nodes of one CPU each) through ``--address``; one worker
  node is killed (SIGTERM to its ``ray start --block``) once the first render is written.

Per run: wall time, CPU time (this process's children: the commands, Ray's raylet and
workers as they are reaped; and the sum over the units Ray ran), peak resident memory of
the whole process tree (sampled every 0.2 s from /proc), and whether every deliverable
equals the serial run's (audio samples; text with dates and folders blanked).

Usage (niced on a shared machine)::

    nice -n 19 .venv/bin/python -m bench.bench_batch [--steps 800] [--cluster]

Results: ``bench/results/results_batch.json`` and ``bench/results/results_batch.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "batch"
ADR = [sys.executable, "-m", "adr.cli", "-q"]
REELS = ("reel1", "reel2", "reel3")
CONSENT = """actor = "{actor}"
name = "{actor} (synthetic demo voice)"
granted_by = "adr bench"
granted_on = 2026-01-01
productions = ["reel*"]
uses = ["replace", "edit"]
expires = 2099-12-31
"""


class TreeMemory:
    """Peak resident memory (MiB) of this process's descendants, sampled from /proc."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree_rss(self) -> float:
        parent: dict[int, int] = {}
        rss: dict[int, float] = {}
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text()
                status = (d / "status").read_text()
            except OSError:
                continue
            parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            m = re.search(r"VmRSS:\s+(\d+) kB", status)
            rss[int(d.name)] = int(m.group(1)) / 1024 if m else 0.0
        me, total = os.getpid(), 0.0
        for pid in rss:
            p, seen = pid, 0
            while p in parent and p != me and seen < 64:
                p, seen = parent[p], seen + 1
            if p == me and pid != me:
                total += rss[pid]
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, self._tree_rss())

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(cmd: list[str], **kw: object) -> None:
    subprocess.run(cmd, check=True, cwd=ROOT, **kw)  # type: ignore[call-overload]


def build(steps: int) -> dict:
    """The demo production (quick) and, per actor, a cast folder with its consent."""
    from adr.demo import build_demo

    prod = build_demo(WORK / "demo", quick=True)
    cast = {}
    for info in prod.actors:
        folder = prod.enrollment_dir(info.actor)
        consent = WORK / "consent" / f"{info.actor}.toml"
        consent.parent.mkdir(parents=True, exist_ok=True)
        consent.write_text(CONSENT.format(actor=info.actor))
        cast[info.actor] = (sorted(folder.glob("*.wav")), folder / "transcript.tsv", consent)
    return {"prod": prod, "cast": cast, "steps": steps}


def setup(film: dict, where: Path) -> None:
    """Empty sessions (with the demo cue sheet) and the project file under ``where``."""
    from adr.film.project import CastMember, Project, ProjectOptions, save_project
    from adr.ingest.session import create_session

    if where.exists():
        shutil.rmtree(where)
    prod = film["prod"]
    for reel in REELS:
        s = create_session(reel, prod.picture, [prod.production_audio], root=where / "sessions")
        s.write_cues(list(prod.cues))
    cast = tuple(
        CastMember(a, tuple(str(p) for p in wavs), str(consent), str(text), steps=film["steps"])
        for a, (wavs, text, consent) in film["cast"].items()
    )
    save_project(
        Project(
            "DEMOFILM",
            REELS,
            cast,
            ProjectOptions(),
            path=str(where / "projects" / "DEMOFILM.toml"),
        )
    )


def serial(film: dict, where: Path) -> dict:
    """The single commands, one after another."""
    base = [*ADR, "--sessions", str(where / "sessions"), "--voices", str(where / "voices")]
    times: dict[str, float] = {}
    for actor, (wavs, text, consent) in film["cast"].items():
        clock = time.perf_counter()
        code = (
            "import dataclasses, sys\nfrom adr.core.consent import read_consent\n"
            "from adr.voice.enroll import enroll_actor\n"
            "from adr.voice.train_restorer import restorer_preset\n"
            f"enroll_actor({actor!r}, {[str(w) for w in wavs]!r}, texts={str(text)!r}, "
            f"voices_root={str(where / 'voices')!r}, quality='fast', "
            f"consent=read_consent({str(consent)!r}), restorer_train_config="
            f"dataclasses.replace(restorer_preset('fast'), steps={film['steps']}))\n"
        )
        _run([sys.executable, "-c", code])  # = adr enroll with the project's steps
        times[f"enroll {actor}"] = time.perf_counter() - clock
    for reel in REELS:
        for cmd in ("analyze", "render", "export"):
            clock = time.perf_counter()
            _run([*base, cmd, reel], stdout=subprocess.DEVNULL)
            times[f"{cmd} {reel}"] = time.perf_counter() - clock
    return {"steps": times}


def batch(where: Path, address: str | None = None, kill: subprocess.Popen | None = None) -> dict:
    """``adr batch`` (local Ray, or ``address``); ``kill``: a worker node to stop mid-batch."""
    out = where / "summary.json"
    cmd = [
        *ADR,
        "--sessions",
        str(where / "sessions"),
        "--voices",
        str(where / "voices"),
        "batch",
        "DEMOFILM",
        "--projects",
        str(where / "projects"),
        "--json",
        str(out),
    ]
    if address:
        cmd += ["--address", address]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    killed = None
    if kill is not None:
        while proc.poll() is None and not list((where / "sessions").glob("*/renders/*.wav")):
            time.sleep(0.5)
        if proc.poll() is None:
            kill.send_signal(signal.SIGTERM)
            killed = time.time()
    stdout, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"adr batch failed ({proc.returncode}):\n{stdout}")
    summary = json.loads(out.read_text())
    return {
        "summary": stdout.strip(),
        "units": summary["units"],
        "nodes": summary["nodes"],
        "unit_cpu_seconds": sum(u["cpu_seconds"] for u in summary["units"]),
        "node_killed": killed is not None,
    }


def measure(name: str, fn, *args, **kw) -> dict:  # type: ignore[no-untyped-def]
    cpu0, clock = _children_cpu(), time.perf_counter()
    with TreeMemory() as mem:
        result = fn(*args, **kw)
    result.update(
        run=name,
        wall_seconds=time.perf_counter() - clock,
        cpu_seconds=_children_cpu() - cpu0,
        peak_tree_mb=mem.peak,
    )
    print(
        f"{name}: {result['wall_seconds']:.0f} s wall, {result['cpu_seconds']:.0f} s CPU, "
        f"peak {mem.peak:.0f} MiB",
        flush=True,
    )
    return result


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z|\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")


def deliverables(where: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for reel in REELS:
        for p in sorted((where / "sessions" / reel / "deliverables").rglob("*")):
            if p.is_file() and not p.name.startswith("."):
                key = str(p.relative_to(where))
                if p.suffix == ".wav":
                    out[key] = sf.read(p, dtype="int32")[0]
                elif p.name == "export.json":  # its cache bookkeeping: file times, keys
                    data = json.loads(p.read_text().replace(str(where), "ROOT"))
                    for entry in data.get("keys", {}).values():
                        entry.pop("key", None)
                        entry.pop("stat", None)
                    out[key] = _DATE.sub("DATE", json.dumps(data, sort_keys=True))
                elif p.suffix in (".csv", ".html", ".edl", ".otio", ".json"):
                    out[key] = _DATE.sub("DATE", p.read_text().replace(str(where), "ROOT"))
    return out


def compare(a: dict[str, object], b: dict[str, object]) -> dict:
    """Which deliverables differ; for audio also by how much (largest difference in steps of
    24-bit PCM): a take made in another process can differ in its last bits (tests/
    test_batch.py, ``_PCM_STEPS``)."""
    differ = [
        k
        for k in a
        if k not in b
        or not (np.array_equal(a[k], b[k]) if isinstance(a[k], np.ndarray) else a[k] == b[k])
    ]
    steps = {
        k: int(np.max(np.abs(a[k].astype(np.int64) - b[k])) // 256)  # type: ignore[union-attr,operator]
        for k in differ
        if isinstance(a.get(k), np.ndarray)
        and isinstance(b.get(k), np.ndarray)
        and a[k].shape == b[k].shape  # type: ignore[union-attr]
    }
    return {
        "files": len(a),
        "identical": not differ and sorted(a) == sorted(b),
        "differ": differ,
        "pcm24_steps": steps,
    }


def cluster(film: dict, where: Path) -> dict:
    """A head and two worker nodes of one CPU on this machine; one worker node killed."""
    ray = str(Path(sys.executable).parent / "ray")
    port = "6391"
    _run(
        [
            ray,
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=1",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        stdout=subprocess.DEVNULL,
    )
    nodes = [
        subprocess.Popen(
            [ray, "start", f"--address=127.0.0.1:{port}", "--num-cpus=1", "--block"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        time.sleep(15)  # the nodes register (ray start --block does not say when)
        return measure("cluster", batch, where, address=f"127.0.0.1:{port}", kill=nodes[1])
    finally:
        for n in nodes:
            n.send_signal(signal.SIGTERM)
        for n in nodes:
            n.wait(timeout=60)
        _run([ray, "stop", "--force"], stdout=subprocess.DEVNULL)


def markdown(res: dict) -> str:
    runs = res["runs"]
    rows = [
        "| run | wall (s) | CPU (s) | unit CPU (s) | peak memory (MiB) | deliverables |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        same = r.get("same_as_serial")
        verdict = (
            "reference"
            if same is None
            else (
                f"identical ({same['files']} files)"
                if same["identical"]
                else f"{len(same['differ'])} of {same['files']} differ"
                + (
                    f" (audio by at most {max(same['pcm24_steps'].values())} steps of 24-bit PCM)"
                    if same.get("pcm24_steps")
                    else ""
                )
            )
        )
        rows.append(
            f"| {r['run']} | {r['wall_seconds']:.0f} | {r['cpu_seconds']:.0f} | "
            f"{r.get('unit_cpu_seconds', 0):.0f} | {r['peak_tree_mb']:.0f} | {verdict} |"
        )
    ratio = runs[1]["wall_seconds"] / runs[0]["wall_seconds"]
    head = (
        f"# adr batch benchmark (issue #13)\n\n{res['date']}, commit {res['commit']}, "
        f"{res['cpus']} cores, load before start {res['load']:.1f}; demo scene tiled into "
        f"3 reels x 10 cues, 3 actors, restorer {res['steps']} steps.\n\n"
    )
    unit = [
        "",
        "Per unit (batch run, seconds of wall time in its worker):",
        "",
        "| stage | units | mean | max |",
        "|---|---|---|---|",
    ]
    for stage, v in res["per_unit"].items():
        unit.append(f"| {stage} | {v['n']} | {v['mean']:.1f} | {v['max']:.1f} |")
    return (
        head
        + "\n".join(rows)
        + f"\n\nbatch / serial wall time: {ratio:.2f}\n"
        + "\n".join(unit)
        + "\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=800, help="restorer steps per actor")
    ap.add_argument("--cluster", action="store_true", help="also the multi-node run")
    args = ap.parse_args()
    film = build(args.steps)
    load = os.getloadavg()[0]
    runs = []
    setup(film, WORK / "serial")
    runs.append(measure("serial", serial, film, WORK / "serial"))
    reference = deliverables(WORK / "serial")
    setup(film, WORK / "batch")
    runs.append(measure("batch", batch, WORK / "batch"))
    runs[-1]["same_as_serial"] = compare(deliverables(WORK / "batch"), reference)
    if args.cluster:
        setup(film, WORK / "cluster")
        runs.append(cluster(film, WORK / "cluster"))
        runs[-1]["same_as_serial"] = compare(deliverables(WORK / "cluster"), reference)
    per: dict[str, list[float]] = {}
    for u in runs[1]["units"]:
        if u["status"] == "done":
            per.setdefault(u["stage"], []).append(u["seconds"])
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    res = {
        "date": dt.date.today().isoformat(),
        "commit": commit,
        "cpus": os.cpu_count(),
        "load": load,
        "steps": args.steps,
        "runs": runs,
        "per_unit": {
            k: {"n": len(v), "mean": float(np.mean(v)), "max": float(np.max(v))}
            for k, v in per.items()
        },
    }
    (ROOT / "bench" / "results" / "results_batch.json").write_text(json.dumps(res, indent=1) + "\n")
    (ROOT / "bench" / "results" / "results_batch.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()

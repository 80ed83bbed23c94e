"""How well the take's reliability tells where the denoised take is right (issue #9).

The restorer reads the denoised production line (the take) weighted by a per-frame
reliability computed at render from the local SNR of the take against what the denoiser
removed (:func:`adr.voice.evidence.local_snr_db`, :func:`~adr.voice.evidence.reliability_of`).
This bench checks that mapping against the truth on real speech in real rooms and noises
(:func:`bench.conditions.build_set`): per mel frame of speech (the clean line's frame within
35 dB of its loudest), the take's error is the mean absolute difference of its log-mel from
the clean line's at the same gain, and a frame counts as *usable* when that error is under
:data:`USABLE_ERROR` (log-amplitude, about 4.3 dB). The table gives, per local-SNR bin, the
frames, the mean reliability the product assigns and the fraction actually usable: a
calibrated reliability follows the usable fraction.

Run from the project root (needs ``../shared/corpus``)::

    .venv/bin/python -m bench.bench_reliability   # 12 lines: room only, 10 / 0 / -5 dB

Writes ``bench/results/results_reliability.{json,md}``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.fsio import write_json, write_text
from bench.conditions import CONDITIONS, Condition, build_set, load_corpus
from bench.measure import git_commit, machine_info, start

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "results_reliability"
#: Mean absolute log-mel error (log amplitude) under which a take frame counts as usable.
USABLE_ERROR = 0.5
#: The bench's room without its noise: what the room alone does to the take.
ROOM_ONLY = Condition("room only", None, True)
#: Local-SNR bin edges in dB.
BINS = (-np.inf, -10.0, -5.0, -2.0, 0.0, 2.0, 4.0, 6.0, 10.0, 15.0, np.inf)
_SPEAKERS = ("vctk:p225", "vctk:p226", "ljspeech:LJ", "librispeech:")


def frame_table(noisy: np.ndarray, clean: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """Per speech frame of one line: local SNR (dB), reliability and take error.

    Parameters
    ----------
    noisy, clean : np.ndarray, shape (N,)
        The degraded line and its clean original, sample-aligned, at ``sr``.

    Returns
    -------
    dict of str to np.ndarray, each shape (F,)
        ``snr_db``, ``reliability``, ``error`` over the F speech frames.
    """
    from adr.analysis.denoise import denoise, resample
    from adr.voice.evidence import local_snr_db, reference_gain_db, reliability_of
    from adr.voice.vocoder import MEL, log_mel

    x = np.asarray(noisy, dtype=np.float32)
    d = denoise(x, sr).astype(np.float32)
    n = min(len(x), len(d), len(clean))
    g = np.float32(10.0 ** (reference_gain_db(d[:n], sr) / 20.0))
    take = log_mel(resample(d[:n] * g, sr, MEL.sample_rate)).numpy()
    removed = log_mel(resample((x[:n] - d[:n]) * g, sr, MEL.sample_rate)).numpy()
    # the clean line at its own reference level: the take's level error is part of its error
    gc = np.float32(10.0 ** (reference_gain_db(clean[:n], sr) / 20.0))
    target = log_mel(resample(np.asarray(clean[:n], np.float32) * gc, sr, MEL.sample_rate)).numpy()
    t = min(take.shape[1], removed.shape[1], target.shape[1])
    take, removed, target = take[:, :t], removed[:, :t], target[:, :t]
    snr = local_snr_db(take, removed)
    power = 10.0 * np.log10(np.exp(2.0 * target.astype(np.float64)).sum(axis=0) + 1e-12)
    speech = power >= power.max() - 35.0
    error = np.abs(take - target).mean(axis=0)
    return {
        "snr_db": snr[speech],
        "reliability": reliability_of(snr)[speech],
        "error": error[speech],
    }


def summarize(frames: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Per local-SNR bin: frames, mean reliability, usable fraction, median error."""
    rows = []
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        m = (frames["snr_db"] >= lo) & (frames["snr_db"] < hi)
        k = int(m.sum())
        rows.append(
            {
                "snr_low": None if np.isinf(lo) else lo,
                "snr_high": None if np.isinf(hi) else hi,
                "frames": k,
                "reliability": round(float(frames["reliability"][m].mean()), 3) if k else None,
                "usable": round(float((frames["error"][m] < USABLE_ERROR).mean()), 3)
                if k
                else None,
                "median_error": round(float(np.median(frames["error"][m])), 3) if k else None,
            }
        )
    return rows


def markdown(report: dict[str, Any]) -> str:
    def edge(r: dict[str, Any]) -> str:
        lo = "" if r["snr_low"] is None else f"{r['snr_low']:g}"
        hi = "" if r["snr_high"] is None else f"{r['snr_high']:g}"
        return f"{lo} .. {hi}"

    out = [
        "# The take's reliability against the truth (issue #9)",
        "",
        f"- date {report['date']}, git commit `{report['git_commit']}`, "
        f"{len(report['utterances'])} lines x {', '.join(report['conditions'])}, "
        f"{report['speech_frames']} speech frames",
        f"- usable: the denoised take's log-mel within {USABLE_ERROR} (mean abs) of the clean "
        "line's",
        "",
        "| local SNR (dB) | frames | reliability (mean) | usable | median error |",
        "|---|---|---|---|---|",
    ]
    for r in report["bins"]:
        if r["frames"]:
            out.append(
                f"| {edge(r)} | {r['frames']} | {r['reliability']:.2f} | {r['usable']:.2f} | "
                f"{r['median_error']:.2f} |"
            )
    out += ["", "Per condition (speech frames): mean reliability / usable fraction", ""]
    out += ["| condition | reliability | usable |", "|---|---|---|"]
    for c, v in report["per_condition"].items():
        out.append(f"| {c} | {v['reliability']:.2f} | {v['usable']:.2f} |")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=3, help="utterances per speaker (default 3)")
    ap.add_argument("--conditions", default="room only,10 dB,0 dB,-5 dB")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    log, root = start("bench_reliability", args.threads)
    if root is None:
        return 2
    t0 = time.perf_counter()
    utts = load_corpus(root)
    chosen: list[str] = []
    for spk in _SPEAKERS:
        chosen += [u.id for u in utts if u.id.startswith(spk)][: args.lines]
    conds = [c for c in (ROOM_ONLY, *CONDITIONS) if c.name in args.conditions.split(",")]
    bench = build_set(utts, chosen, conds, root=root, seed=0)
    frames: dict[str, list[np.ndarray]] = {"snr_db": [], "reliability": [], "error": []}
    per_cond: dict[str, dict[str, list[np.ndarray]]] = {}
    for i, line in enumerate(bench.lines):
        f = frame_table(line.noisy, line.clean, line.sample_rate)
        for k, v in f.items():
            frames[k].append(v)
            per_cond.setdefault(line.condition, {}).setdefault(k, []).append(v)
        log(f"[{i + 1}/{len(bench.lines)}] {line.id} ({time.perf_counter() - t0:.0f} s)")
    joined = {k: np.concatenate(v) for k, v in frames.items()}
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": git_commit(),
        "machine": machine_info(),
        "utterances": chosen,
        "conditions": [c.name for c in conds],
        "usable_error": USABLE_ERROR,
        "speech_frames": int(len(joined["error"])),
        "bins": summarize(joined),
        "per_condition": {
            c: {
                "reliability": round(float(np.concatenate(v["reliability"]).mean()), 3),
                "usable": round(float((np.concatenate(v["error"]) < USABLE_ERROR).mean()), 3),
            }
            for c, v in per_cond.items()
        },
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    write_json(args.out.with_suffix(".json"), report)
    write_text(args.out.with_suffix(".md"), markdown(report))
    log(f"bench_reliability: wrote {args.out}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark adr's watermark (issue #12): detection after delivery, false positives, cost.

Takes. Every take ``adr render`` writes is marked by :func:`adr.deliver.watermark.embed`; the
watermark does not depend on who spoke, so the benchmark marks real recorded lines from the
development corpus (VCTK, LJSpeech, LibriSpeech, VoiceBank clean; 1.5-10 s) at 48 kHz, as a
take is marked. Each marked take then goes through the real delivery chain of ``adr export``:

1. ``take``: the marked take as rendered (48 kHz float);
2. ``conformed``: :func:`adr.deliver.conform.conform_line` against its production line (the
   same utterance put in a measured room and real noise at 5 dB SNR, 1.5 s of scene either
   side, at a different level): DTW timing, level match to the production's speech loudness,
   15 ms crossfades (``repair="whole"``, no room tone): the per-cue BWF;
3. ``stem -24``: the scene with the conformed line spliced in, normalized to -24 LKFS with the
   -2 dBTP true-peak limiter (:func:`adr.deliver.stem_loudness.normalize_stem`), cue span;
4. ``stem -27``: the same to -27 LKFS dialog-gated;
5. ``-24 + MP3 128k`` and ``-24 + AAC 128k``: the -24 stem encoded by ffmpeg (libmp3lame /
   native aac, 128 kbit/s) and decoded, realigned by cross-correlation, cue span;
6. ``partial, -24 + AAC``: ``repair="partial"`` with the middle third of the line marked
   damaged, so only that third of the cue is synthetic (and marked), then as 5. Reported, not
   part of the target: a third of a line is often under two seconds of marked audio.

Detection is :func:`adr.deliver.watermark.detect` on the cue span (what ``adr verify`` does
on a per-cue file), threshold :data:`adr.deliver.watermark.THRESHOLD`.

False positives: every speech clip of the corpus that is not a take (LibriSpeech, LJSpeech,
VCTK, CMU Arctic, free-spoken-digits, VoiceBank noisy, AMI, misc MP3s: production-like audio
that never went through adr), detected as is and after the -24 LKFS + AAC chain; plus the
one-second windows ``adr verify`` uses on files longer than 12 s, and the corpus's noise
recordings (non-speech, reported apart).

Cost: DNSMOS P.835 (OVRL, SIG, BAK) of the unmarked and the marked take, and wide-band PESQ of
the marked take against the unmarked one.

Writes ``bench/results/results_watermark.json`` and ``bench/results/results_watermark.md``.
Needs the corpus (``../shared/corpus`` or ``$ADR_CORPUS``): without it, exits 0 after saying
it skipped.
About 10 minutes on 2 shared cores::

    nice -n 10 .venv/bin/python -m bench.bench_watermark [--takes 60] [--dnsmos 60]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

SR = 48_000
PAD = 1.5  # seconds of scene either side of the line
TAKE_SOURCES = (
    "speech_clean/vctk16k_autovc/",
    "speech_clean/ljspeech_coqui/",
    "speech_clean/librispeech_test-other/",
    "speech_clean/voicebank_demand_p287/",
)
STAGES = (
    "take",
    "conformed",
    "stem -24",
    "stem -27",
    "-24 + MP3 128k",
    "-24 + AAC 128k",
    "partial, -24 + AAC",
)
TARGET_STAGES = STAGES[:-1]


def _read(path: Path) -> np.ndarray:
    from adr.ingest.media import read_audio

    return read_audio(path, sample_rate=SR).mono().astype(np.float32)


def _codec(x: np.ndarray, codec: str, work: Path) -> np.ndarray:
    """``x`` (48 kHz) encoded at 128 kbit/s by ffmpeg and decoded, realigned to ``x``."""
    import soundfile as sf

    src, enc = work / "in.wav", work / ("enc.mp3" if codec == "mp3" else "enc.m4a")
    sf.write(src, np.clip(x, -1, 1), SR, subtype="FLOAT")
    args = ["-c:a", "libmp3lame"] if codec == "mp3" else ["-c:a", "aac"]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(src), *args, "-b:a", "128k", str(enc)], check=True
    )
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(enc), "-f", "f32le", "-ac", "1", "-ar", str(SR), "-"],
        check=True,
        capture_output=True,
    ).stdout
    y = np.frombuffer(out, dtype=np.float32).copy()
    # encoder delay: align by cross-correlation over the first 4 s (lags 0..4096 samples)
    from scipy.signal import correlate

    n = min(len(x), len(y), 4 * SR)
    c = correlate(
        y[:n].astype(np.float64), x[: n - 4096].astype(np.float64), mode="valid", method="fft"
    )
    y = y[int(np.argmax(c)) :]
    return np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)]


def _scene(clean: np.ndarray, noise: np.ndarray, rir: np.ndarray, seed: int) -> np.ndarray:
    """The line in a room and noise at 5 dB, PAD s of scene either side, at a set level."""
    from bench.conditions import degrade

    rng = np.random.default_rng(seed)
    pad = np.zeros(int(PAD * SR), dtype=np.float32)
    scene = degrade(np.concatenate([pad, clean, pad]), 5.0, noise, rir, rng)
    level = 10 ** (rng.uniform(-14, -4) / 20)  # production level, unlike the take's
    return (scene / max(1e-6, np.max(np.abs(scene))) * level).astype(np.float32)


def _deliver(
    take: np.ndarray, scene: np.ndarray, span: tuple[int, int], partial: bool
) -> np.ndarray:
    from adr.deliver.conform import ConformOptions, conform_line

    a, b = span
    opts = ConformOptions(
        repair="partial" if partial else "whole",
        room_tone=False,
        max_partial=0.9,
        partial_min_snr=-99.0,
    )
    damage = []
    if partial:
        third = (b - a) / SR / 3
        damage = [(PAD + third, PAD + 2 * third, "burst")]
    line, _ = conform_line(scene[a:b].copy(), take, SR, start=PAD, damage=damage, options=opts)
    stem = scene.copy()
    stem[a:b] = line
    return stem


def _normalized(stem: np.ndarray, spec: str, span: tuple[int, int]) -> np.ndarray:
    from adr.deliver.stem_loudness import normalize_stem

    x = stem.astype(np.float32).copy()
    dialog = [(span[0] / SR, span[1] / SR)] if spec == "-27" else None
    _, gain = normalize_stem(x, SR, spec, dialog=dialog)
    return (x * np.float32(gain)).astype(np.float32)


def corpus_rows(root: Path) -> list[dict[str, str]]:
    import csv

    with open(root / "MANIFEST.tsv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def run(root: Path, n_takes: int, n_dnsmos: int, log: Any, max_fp: int = 0) -> dict[str, Any]:
    from adr import metrics
    from adr.deliver.watermark import THRESHOLD, WATERMARK, detect, detect_windows, embed

    rows = corpus_rows(root)
    speech = [
        r
        for r in rows
        if r["category"].startswith("speech")
        and Path(r["path"]).suffix.lower() in (".wav", ".flac", ".mp3")
    ]
    candidates = [
        r
        for r in speech
        if r["path"].startswith(TAKE_SOURCES)
        and "/noisy/" not in r["path"]
        and 1.5 <= float(r["duration_s"]) <= 10.0
    ]
    step = max(1, len(candidates) // n_takes)
    takes = candidates[::step][:n_takes]
    take_paths = {r["path"] for r in takes}
    noises = [r for r in rows if r["category"] == "noise"]
    rirs = [r for r in rows if r["category"] == "rir"]
    from bench.conditions import _room

    noise_audio = [_read(root / r["path"]) for r in noises]
    rir_audio = [_room(root / r["path"]) for r in rirs]
    per_take = []
    t0 = time.perf_counter()
    embed_seconds = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for i, row in enumerate(takes):
            clean = _read(root / row["path"])
            clean = clean / max(1e-6, float(np.max(np.abs(clean)))) * 0.5
            t = time.perf_counter()
            marked = embed(clean, SR)
            embed_seconds += time.perf_counter() - t
            seed = zlib.crc32(row["path"].encode())
            from adr.analysis.denoise import resample

            scene = _scene(
                clean,
                noise_audio[seed % len(noise_audio)],
                resample(rir_audio[seed % len(rir_audio)], 16000, SR),
                seed,
            )
            a = int(PAD * SR)
            span = (a, a + len(clean))
            stems = {
                "whole": _deliver(marked, scene, span, False),
                "partial": _deliver(marked, scene, span, True),
            }
            n24 = _normalized(stems["whole"], "-24", span)
            versions = {
                "take": marked,
                "conformed": stems["whole"],
                "stem -24": n24,
                "stem -27": _normalized(stems["whole"], "-27", span),
                "-24 + MP3 128k": _codec(n24, "mp3", work),
                "-24 + AAC 128k": _codec(n24, "aac", work),
                "partial, -24 + AAC": _codec(
                    _normalized(stems["partial"], "-24", span), "aac", work
                ),
            }
            conf = {
                k: round(detect(v if k == "take" else v[span[0] : span[1]], SR), 4)
                for k, v in versions.items()
            }
            entry: dict[str, Any] = {
                "path": row["path"],
                "seconds": round(len(clean) / SR, 2),
                "confidence": conf,
                "unmarked": round(detect(clean, SR), 4),
                "pesq": round(metrics.pesq_score(clean, marked, SR), 3),
            }
            if i < n_dnsmos:
                d0, d1 = metrics.dnsmos(clean, SR), metrics.dnsmos(marked, SR)
                entry["dnsmos"] = {
                    "unmarked": {
                        k: round(float(getattr(d0, k)), 3) for k in ("ovrl", "sig", "bak")
                    },
                    "marked": {k: round(float(getattr(d1, k)), 3) for k in ("ovrl", "sig", "bak")},
                }
            per_take.append(entry)
            log(
                f"take {i + 1}/{len(takes)} {row['path']}: "
                + " ".join(f"{v:.2f}" for v in conf.values())
            )
        # false positives: production audio that never went through adr
        fp = []
        others = [r for r in speech if r["path"] not in take_paths]
        for j, row in enumerate(others[:: max(1, len(others) // max_fp)] if max_fp else others):
            x = _read(root / row["path"])
            if len(x) < SR // 4:
                continue
            x = x / max(1e-6, float(np.max(np.abs(x)))) * 0.5
            chained = _codec(_normalized(x, "-24", (0, len(x))), "aac", work)
            e = {
                "path": row["path"],
                "seconds": round(len(x) / SR, 2),
                "source": row["path"].split("/")[1],
                "confidence": round(detect(x, SR), 4),
                "after_chain": round(detect(chained, SR), 4),
            }
            if len(x) / SR > 12.0:
                e["windows"] = [round(w.confidence, 4) for w in detect_windows(x, SR)]
            fp.append(e)
            if j % 25 == 0:
                log(f"false positives: {j} clips")
        nonspeech = [
            {
                "path": r["path"],
                "confidence": round(detect(_read(root / r["path"])[: 30 * SR], SR), 4),
            }
            for r in noises
        ]
    elapsed = time.perf_counter() - t0
    return {
        "takes": per_take,
        "false_positives": fp,
        "noise": nonspeech,
        "threshold": THRESHOLD,
        "watermark": WATERMARK,
        "embed_seconds_per_take_second": embed_seconds / sum(e["seconds"] for e in per_take),
        "elapsed_seconds": round(elapsed, 1),
    }


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    """Rates under the current THRESHOLD and MIN_SECONDS (``adr verify``'s rule: audio under
    MIN_SECONDS is too short to tell, so never a detection); raw rates without the rule too."""
    from adr.deliver.watermark import MIN_SECONDS, THRESHOLD

    thr = THRESHOLD
    takes, fp = res["takes"], res["false_positives"]
    raw = list(fp)
    fp = [
        {
            **e,
            "confidence": e["confidence"] if e["seconds"] >= MIN_SECONDS else 0.0,
            "after_chain": e["after_chain"] if e["seconds"] >= MIN_SECONDS else 0.0,
        }
        for e in fp
    ]
    det = {s: float(np.mean([t["confidence"][s] >= thr for t in takes])) for s in STAGES}
    conf_min = {s: float(np.min([t["confidence"][s] for t in takes])) for s in STAGES}
    delivered = [t["confidence"][s] >= thr for t in takes for s in TARGET_STAGES]
    windows = [c for e in fp for c in e.get("windows", [])]
    with_d = [t for t in takes if "dnsmos" in t]
    cost = (
        {
            k: float(
                np.mean([t["dnsmos"]["unmarked"][k] - t["dnsmos"]["marked"][k] for t in with_d])
            )
            for k in ("ovrl", "sig", "bak")
        }
        if with_d
        else {}
    )
    by_source: dict[str, list[int]] = {}
    for e in fp:
        s = by_source.setdefault(e["source"], [0, 0, 0])
        s[0] += 1
        s[1] += e["confidence"] >= thr
        s[2] += e["after_chain"] >= thr
    return {
        "threshold": thr,
        "min_seconds": MIN_SECONDS,
        "too_short_clips": sum(e["seconds"] < MIN_SECONDS for e in raw),
        "false_positive_rate_no_length_rule": float(np.mean([e["confidence"] >= thr for e in raw])),
        "false_positive_rate_no_length_rule_05": float(
            np.mean([e["confidence"] >= 0.5 for e in raw])
        ),
        "false_positive_clips_1s": sum(e["seconds"] >= MIN_SECONDS for e in raw),
        "takes": len(takes),
        "detection": det,
        "min_confidence": conf_min,
        "detection_all_target_stages": float(np.mean(delivered)),
        "false_positive_clips": len(fp),
        "false_positive_rate": float(np.mean([e["confidence"] >= thr for e in fp])),
        "false_positive_rate_after_chain": float(np.mean([e["after_chain"] >= thr for e in fp])),
        "false_positive_windows": len(windows),
        "false_positive_window_rate": float(np.mean([c >= thr for c in windows]))
        if windows
        else None,
        "unmarked_takes_detected": int(sum(t["unmarked"] >= thr for t in takes)),
        "noise_recordings_detected": [n["path"] for n in res["noise"] if n["confidence"] >= thr],
        "false_positives_by_source": by_source,
        "dnsmos_takes": len(with_d),
        "dnsmos_cost": cost,
        "dnsmos_unmarked_ovrl": float(np.mean([t["dnsmos"]["unmarked"]["ovrl"] for t in with_d]))
        if with_d
        else None,
        "pesq_marked_vs_unmarked": float(np.nanmean([t["pesq"] for t in takes])),
        "pesq_min": float(np.nanmin([t["pesq"] for t in takes])),
    }


def markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    s = summary
    lines = [
        "# Watermark benchmark (issue #12)",
        "",
        f"{meta['date']}, commit {meta['commit']}, {meta['machine']}; "
        f"{meta['elapsed_seconds']:.0f} s. Written by `bench/bench_watermark.py`.",
        "",
        f"## Detection of {s['takes']} marked takes through the delivery chain",
        "",
        "| stage | detected | lowest confidence |",
        "|---|---|---|",
    ]
    for st in STAGES:
        lines.append(f"| {st} | {100 * s['detection'][st]:.1f} % | {s['min_confidence'][st]:.2f} |")
    lines += [
        "",
        f"All delivered stages but the partial repair: "
        f"**{100 * s['detection_all_target_stages']:.1f} %** (target >= 98 %).",
        "",
        "## False positives on production audio that never went through adr",
        "",
        f"Threshold {s['threshold']:g}; audio under {s['min_seconds']:g} s is too short "
        "to tell (never a detection).",
        "",
        f"- {s['false_positive_clips']} corpus speech clips "
        f"({s['false_positive_clips_1s']} of them 1 s or longer; "
        f"{s['too_short_clips']} too short to tell): "
        f"**{100 * s['false_positive_rate']:.2f} %** detected as is, "
        f"{100 * s['false_positive_rate_after_chain']:.2f} % after -24 LKFS + AAC "
        "(target <= 1 %)",
        f"- without the length rule: {100 * s['false_positive_rate_no_length_rule']:.2f} % "
        f"at threshold {s['threshold']:g}, "
        f"{100 * s['false_positive_rate_no_length_rule_05']:.2f} % at 0.5 (the short "
        "free-spoken-digit clips, 0.3-0.9 s at 8 kHz)",
        f"- one-second windows of the clips over 12 s (`adr verify` on a long file): "
        f"{s['false_positive_windows']} windows, "
        + (
            f"{100 * s['false_positive_window_rate']:.2f} % detected"
            if s["false_positive_window_rate"] is not None
            else "none"
        ),
        f"- the takes before marking: {s['unmarked_takes_detected']} of {s['takes']} detected",
        f"- non-speech noise recordings detected: "
        f"{', '.join(s['noise_recordings_detected']) or 'none'}",
        "",
        "| source | clips | detected | after chain |",
        "|---|---|---|---|",
    ]
    for src, (n, d, c) in sorted(s["false_positives_by_source"].items()):
        lines.append(f"| {src} | {n} | {d} | {c} |")
    cost = s["dnsmos_cost"]
    lines += [
        "",
        "## Cost of the watermark",
        "",
        f"DNSMOS on {s['dnsmos_takes']} takes (unmarked OVRL "
        f"{s['dnsmos_unmarked_ovrl']:.2f}): cost OVRL **{cost.get('ovrl', float('nan')):+.3f}**, "
        f"SIG {cost.get('sig', float('nan')):+.3f}, BAK {cost.get('bak', float('nan')):+.3f} "
        "(unmarked minus marked; target <= 0.05).",
        f"PESQ (wide band) of the marked take against the unmarked one: mean "
        f"{s['pesq_marked_vs_unmarked']:.2f}, lowest {s['pesq_min']:.2f}.",
        f"Embedding: {meta['embed_rtf']:.3f} s per second of take on this machine.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from bench.conditions import corpus_root

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--takes", type=int, default=60)
    p.add_argument("--dnsmos", type=int, default=60, help="takes scored with DNSMOS")
    p.add_argument(
        "--max-fp",
        type=int,
        default=0,
        help="at most this many false-positive clips (0: all; the target needs >= 100)",
    )
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    p.add_argument(
        "--rescore",
        action="store_true",
        help="re-summarize the results JSON "
        "under the current threshold and length rule (no measuring)",
    )
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.rescore:
        data = json.loads((out / "results_watermark.json").read_text())
        data["summary"] = summarize(data)
        (out / "results_watermark.json").write_text(json.dumps(data, indent=1) + "\n")
        (out / "results_watermark.md").write_text(markdown(data["summary"], data["meta"]))
        print(markdown(data["summary"], data["meta"]))
        return 0
    root = corpus_root()
    if root is None:
        print("bench_watermark: no corpus (../shared/corpus or $ADR_CORPUS); skipped")
        return 0
    import torch

    torch.set_num_threads(1)
    res = run(
        root, args.takes, args.dnsmos, lambda m: print(m, file=sys.stderr, flush=True), args.max_fp
    )
    summary = summarize(res)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "elapsed_seconds": res["elapsed_seconds"],
        "embed_rtf": res["embed_seconds_per_take_second"],
    }
    (out / "results_watermark.json").write_text(
        json.dumps({"meta": meta, "summary": summary, **res}, indent=1) + "\n"
    )
    (out / "results_watermark.md").write_text(markdown(summary, meta))
    print(markdown(summary, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())

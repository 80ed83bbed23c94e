"""Full band (issue #9, step 5): energy above 11 kHz of the take against the clean original.

The restorer's take is vocoded at 22.05 kHz, so nothing above 11 kHz reaches the 48 kHz
deliverable unless the bandwidth extension learned at enrollment (:mod:`adr.voice.bandext`)
fills it. This bench synthesizes the demo's MAYA voice (festival, 32 kHz native: content up
to 16 kHz): about 75 s of enrollment sentences and 4 held-back lines
(:func:`adr.demo.text.enrollment_sentences`), enrolls a voice from the 32 kHz files
(``RestorerTrainConfig(steps=800, damaged_copies=1)``), then analyses each held-back line
(clean, and with white noise at 5 dB SNR) as :func:`adr.voice.respeak.respeak` does and
renders it at 48 kHz (:func:`adr.voice.render.render_line`) with and without the extension.

Measured per line, in dB, against the clean original resampled to 48 kHz:

* ``high_db``: energy above 11 kHz of the take minus the original's (the Done-when measure:
  within 6 dB);
* ``high_rel_db``: the same after normalising each by its own energy below 11 kHz (so a
  take that is louder or quieter overall does not count).

Run from the project root (about 10 minutes on 2 loaded cores; the voice is cached)::

    .venv/bin/python -m bench.bench_bandwidth

Writes ``bench/results/results_bandwidth.json`` and ``bench/results/results_bandwidth.md``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.fsio import write_json, write_text
from bench.run import git_commit, machine_info

ROOT = Path(__file__).resolve().parents[1]

WORK = ROOT / "bench" / "work" / "bandwidth"
OUT = ROOT / "bench" / "results" / "results_bandwidth"
SPLIT_HZ = 11000.0
N_ENROLL, N_HELD, SEED = 28, 4, 2031
CONDITIONS = {"clean": None, "5 dB white": 5.0}


def band_energy_db(x: np.ndarray, sr: int, lo: float, hi: float) -> float:
    """Energy of ``x`` (N,) between ``lo`` and ``hi`` Hz, dB (sum of |FFT|^2 / N)."""
    spec = np.abs(np.fft.rfft(np.asarray(x, dtype=np.float64))) ** 2 / max(1, len(x))
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    return float(10 * np.log10(spec[(f >= lo) & (f < hi)].sum() + 1e-20))


def _material() -> tuple[list[Path], list[tuple[str, np.ndarray, int]]]:
    import soundfile as sf

    from adr.demo.text import enrollment_sentences
    from adr.demo.tts import VOICES, synthesize

    texts = enrollment_sentences(SEED, N_ENROLL + N_HELD)
    folder = WORK / "enroll"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"MAYA_{i:03d}.wav" for i in range(N_ENROLL + N_HELD)]
    if not all(p.is_file() for p in paths):
        for p, utt in zip(paths, synthesize(VOICES["MAYA"], texts, align=False)):
            sf.write(str(p), utt.audio, utt.sample_rate, subtype="FLOAT")
    held = []
    for p, t in zip(paths[N_ENROLL:], texts[N_ENROLL:]):
        x, sr = sf.read(str(p), dtype="float32")
        held.append((t, x, sr))
    return paths[:N_ENROLL], held


def _noisy(x: np.ndarray, snr_db: float | None, seed: int) -> np.ndarray:
    if snr_db is None:
        return x
    n = np.random.default_rng(seed).standard_normal(len(x)).astype(np.float32)
    gain = np.sqrt(np.mean(x**2) / np.mean(n**2) / 10 ** (snr_db / 10))
    return (x + gain * n).astype(np.float32)


def main() -> dict[str, Any]:
    import torch

    from adr.analysis.analyze import ANALYSIS_RATE, analyze_line
    from adr.analysis.denoise import resample
    from adr.core.types import Cue
    from adr.demo.text import enrollment_sentences
    from adr.voice.enroll import enroll_actor
    from adr.voice.render import render_line
    from adr.voice.respeak import RESPEAK_OPTIONS
    from adr.voice.train_restorer import RestorerTrainConfig
    from adr.voice.voicefile import load_voice

    torch.set_num_threads(1)
    clock, machine = time.perf_counter(), machine_info()
    enroll_paths, held = _material()
    given = enrollment_sentences(SEED, N_ENROLL + N_HELD)[:N_ENROLL]
    t0 = time.perf_counter()
    from bench.adr_system import bench_consent

    result = enroll_actor(
        "MAYA",
        enroll_paths,
        texts=given,
        voices_root=WORK / "voices",
        consent=bench_consent("MAYA"),
        restorer_train_config=RestorerTrainConfig(steps=800, damaged_copies=1),
    )
    enroll_s = time.perf_counter() - t0
    voice = load_voice(result.voice_dir)
    config = voice.restorer.config
    bare = dataclasses.replace(config, high_band=())
    rows = []
    for k, (text, x, sr) in enumerate(held):
        ref48 = resample(x, sr, 48000)
        for cond, snr in CONDITIONS.items():
            x16 = resample(_noisy(x, snr, k), sr, ANALYSIS_RATE)
            cue = Cue(
                id=f"held{k}",
                character="",
                actor="MAYA",
                start=0.0,
                end=len(x16) / ANALYSIS_RATE,
                text=text,
            )
            line = analyze_line(
                cue, x16, ANALYSIS_RATE, picture=None, voiceprints=(), options=RESPEAK_OPTIONS
            )
            row: dict[str, Any] = {"line": k, "condition": cond, "text": text}
            for variant, cfg in (("extension", config), ("no extension", bare)):
                voice.restorer.config = cfg
                y = render_line(line, voice, audio=x16, sample_rate=ANALYSIS_RATE).audio
                m = min(len(y), len(ref48))
                hi = band_energy_db(y[:m], 48000, SPLIT_HZ, 24000) - band_energy_db(
                    ref48[:m], 48000, SPLIT_HZ, 24000
                )
                lo = band_energy_db(y[:m], 48000, 50, SPLIT_HZ) - band_energy_db(
                    ref48[:m], 48000, 50, SPLIT_HZ
                )
                row[variant] = {
                    "high_db": round(hi, 2),
                    "high_rel_db": round(hi - lo, 2),
                    "low_db": round(lo, 2),
                }
            voice.restorer.config = config
            rows.append(row)
    summary = {}
    for cond in CONDITIONS:
        for variant in ("extension", "no extension"):
            vals = [r[variant] for r in rows if r["condition"] == cond]
            summary[f"{cond} / {variant}"] = {
                key: round(float(np.mean([v[key] for v in vals])), 2)
                for key in ("high_db", "high_rel_db", "low_db")
            }
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": git_commit(),
        "machine": machine,
        "enroll_seconds": round(enroll_s, 1),
        "wall_seconds": round(time.perf_counter() - clock, 1),
        "profile": {
            "high_band": [list(r) for r in config.high_band],
            "top_hz": config.high_band_top_hz,
        },
        "enrollment": {
            "files": len(enroll_paths),
            "minutes": result.record.minutes,
            "steps": result.record.steps,
        },
        "summary": summary,
        "rows": rows,
    }
    write_json(OUT.with_suffix(".json"), report)
    write_text(OUT.with_suffix(".md"), markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    """The results table (means over the held-back lines)."""
    out = [
        "# Energy above 11 kHz of the take, re the clean original (dB)",
        "",
        f"{report['date']}, commit {report['commit']}; MAYA (festival, 32 kHz native), "
        f"{report['enrollment']['minutes']:.2f} min enrollment, "
        f"{report['enrollment']['steps']} restorer steps; profile top "
        f"{report['profile']['top_hz']:.0f} Hz, {len(report['profile']['high_band'])} bands.",
        "",
        "| condition | variant | high band | high band, level-normalised | below 11 kHz |",
        "|---|---|---|---|---|",
    ]
    for key, v in report["summary"].items():
        cond, variant = key.split(" / ")
        out.append(
            f"| {cond} | {variant} | {v['high_db']:+.1f} | {v['high_rel_db']:+.1f} | "
            f"{v['low_db']:+.1f} |"
        )
    out += ["", "Target (issue #9): high band within 6 dB of the original's.", ""]
    return "\n".join(out)


if __name__ == "__main__":
    rep = main()
    sys.stdout.write(markdown(rep))

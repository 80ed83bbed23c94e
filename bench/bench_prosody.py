"""Noise robustness of the prosody tracker and of the VAD, on real speech under real noise.

Clean lines from ../shared/corpus (VCTK, LJSpeech, LibriSpeech) are mixed with real noise
(corpus/noise) at an active-speech SNR of clean, 10, 0 and -5 dB. The reference F0 is Praat
(parselmouth, Praat's default settings) on the clean line. Compared:

- ``plain``: the same Praat call on the noisy line;
- ``plain_dfn3``: the same Praat call on the DeepFilterNet3-denoised line;
- ``adr``: :func:`adr.analysis.prosody.extract_prosody` (denoiser + tuned Praat + octave fix + cleanup).

Metrics (mean over lines): gross error rate (F0 more than 20 % off, on frames voiced in
both), Pearson correlation of F0 (frames voiced in both), voicing decision error (fraction
of frames whose voicing differs). VAD: frame agreement of Silero on the noisy / denoised line
with Silero on the clean line. Writes bench/results_prosody.json.

Run: ``.venv/bin/python bench/bench_prosody.py`` (about 2-3 min on 2 cores).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = Path(os.environ.get("ADR_CORPUS", ROOT / ".." / "shared" / "corpus")).resolve()
SR = 16000
SNRS: list[float | None] = [None, 10.0, 0.0, -5.0]

LINES = [
    "speech_clean/vctk16k_autovc/p225/p225_003.wav",
    "speech_clean/vctk16k_autovc/p226/p226_011.wav",
    "speech_clean/ljspeech_coqui/LJ001-0004.wav",
    "speech_clean/ljspeech_coqui/LJ001-0016.wav",
    "speech_clean/librispeech_test-other/1688/1688-142285-0003.flac",
    "speech_clean/librispeech_test-other/1998/1998-15444-0001.flac",
    "speech_clean/librispeech_test-other/3080/3080-5032-0000.flac",
    "speech_clean/librispeech_test-other/2033/2033-164914-0004.flac",
    "speech_clean/vctk16k_autovc/p226/p226_005.wav",
    "speech_clean/librispeech_test-other/2414/2414-128291-0007.flac",
]
NOISES = [
    "noise/speech_commands_bg/doing_the_dishes.wav",
    "noise/speech_commands_bg/running_tap.wav",
    "noise/speech_commands_bg/exercise_bike.wav",
    "noise/ibm_max_freesound/applause.wav",
    "noise/ibm_max_freesound/typing.wav",
    "noise/ibm_max_freesound/rain.wav",
    "noise/ibm_max_freesound/train.wav",
    "noise/ibm_max_freesound/car_engine.wav",
    "noise/speech_commands_bg/dude_miaowing.wav",
]


def load(rel: str, sr: int = SR) -> np.ndarray:
    """A corpus file as mono float32 at ``sr``."""
    from adr.analysis.denoise import resample

    x, rate = sf.read(CORPUS / rel, dtype="float32", always_2d=True)
    return resample(x.mean(axis=1), rate, sr)


def active_power(x: np.ndarray, sr: int = SR) -> float:
    """Mean power of the 20 ms blocks within 40 dB of the loudest (a simple active level)."""
    w = int(0.02 * sr)
    n = len(x) // w
    p = (x[: n * w].astype(np.float64).reshape(n, w) ** 2).mean(axis=1)
    return float(p[p > p.max() * 1e-4].mean())


def mix(
    clean: np.ndarray, noise: np.ndarray, snr_db: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Clean + a random stretch of noise scaled to ``snr_db`` (active speech / noise power).

    Returns (mixture, scaled noise), both shape (N,) float32; peaks kept below 1.
    """
    if len(noise) < len(clean):
        noise = np.tile(noise, int(np.ceil(len(clean) / len(noise))) + 1)
    o = int(rng.integers(0, len(noise) - len(clean) + 1))
    nz = noise[o : o + len(clean)].astype(np.float64)
    gain = np.sqrt(active_power(clean) / (np.mean(nz**2) + 1e-20) / 10 ** (snr_db / 10))
    nz = gain * nz
    y = clean + nz
    peak = float(np.max(np.abs(y)))
    scale = 0.99 / peak if peak > 0.99 else 1.0
    return (y * scale).astype(np.float32), (nz * scale).astype(np.float32)


def f0_metrics(rf: np.ndarray, rv: np.ndarray, f: np.ndarray, v: np.ndarray) -> dict[str, float]:
    both = rv & v & (rf > 0) & (f > 0)
    gross = float(np.mean(np.abs(f[both] / rf[both] - 1) > 0.2)) if both.any() else float("nan")
    corr = float(np.corrcoef(rf[both], f[both])[0, 1]) if both.sum() > 2 else float("nan")
    return {"gross_error": gross, "f0_corr": corr, "voicing_error": float(np.mean(rv != v))}


def main() -> None:
    from adr.analysis.denoise import denoise
    from adr.analysis.prosody import PLAIN, extract_prosody, praat_f0
    from adr.analysis.vad import speech_probability
    from adr.core.timebase import seconds_to_frames

    rng = np.random.default_rng(0)
    noises = [load(n) for n in NOISES]
    rows: dict[str, dict[str, list[dict[str, float]]]] = {}
    t0 = time.time()
    timing = {"dfn3_s": 0.0, "adr_prosody_s": 0.0, "audio_s": 0.0}
    for li, rel in enumerate(LINES):
        clean = load(rel)
        n = seconds_to_frames(len(clean) / SR, 0.01)
        rf, rv = praat_f0(clean, SR, n, settings=PLAIN)
        ref_vad = speech_probability(clean, SR)[0] >= 0.5
        for si, snr in enumerate(SNRS):
            key = "clean" if snr is None else f"{snr:g}"
            noisy = clean if snr is None else mix(clean, noises[(li * 3 + si) % len(noises)], snr, rng)[0]
            t = time.time()
            den = denoise(noisy, SR, "dfn3")
            timing["dfn3_s"] += time.time() - t
            res = rows.setdefault(key, {})
            f, v = praat_f0(noisy, SR, n, settings=PLAIN)
            res.setdefault("plain", []).append(f0_metrics(rf, rv, f, v))
            f, v = praat_f0(den, SR, n, settings=PLAIN)
            res.setdefault("plain_dfn3", []).append(f0_metrics(rf, rv, f, v))
            t = time.time()
            p = extract_prosody(den, SR, denoise="none")  # same as denoise="dfn3" on `noisy`
            timing["adr_prosody_s"] += time.time() - t
            timing["audio_s"] += len(clean) / SR
            res.setdefault("adr", []).append(
                f0_metrics(rf, rv, p.f0.astype(np.float64), np.asarray(p.voiced))
            )
            for name, sig in (("vad_noisy", noisy), ("vad_dfn3", den)):
                hyp = speech_probability(sig, SR)[0] >= 0.5
                res.setdefault(name, []).append({"frame_agreement": float(np.mean(hyp == ref_vad))})
    summary = {
        snr: {m: {k: round(float(np.nanmean([r[k] for r in rs])), 4) for k in rs[0]} for m, rs in res.items()}
        for snr, res in rows.items()
    }
    out = {
        "description": __doc__.strip().splitlines()[0],
        "lines": LINES,
        "noises": NOISES,
        "reference": "parselmouth to_pitch_ac, Praat defaults, 60-500 Hz, on the clean line",
        "results": summary,
        "timing": {k: round(v, 2) for k, v in timing.items()} | {"total_s": round(time.time() - t0, 1)},
        "note": "2 shared cores, other jobs running: timings are noisy",
    }
    path = ROOT / "bench" / "results_prosody.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    for snr, res in summary.items():
        for m, vals in res.items():
            sys.stdout.write(f"{snr:>6} {m:11s} {vals}\n")


if __name__ == "__main__":
    main()

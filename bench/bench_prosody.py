"""Noise robustness of the prosody tracker and of the VAD, on real speech under real noise.

Clean lines from ../shared/corpus (VCTK, LJSpeech, LibriSpeech) are mixed with real noise
(corpus/noise) at an active-speech SNR of clean, 10, 0 and -5 dB. The reference F0 is Praat
(parselmouth, Praat's default settings) on the clean line. Compared:

- ``plain``: the same Praat call on the noisy line;
- ``plain_dfn3``: the same Praat call on the DeepFilterNet3-denoised line;
- ``adr``: :func:`adr.analysis.prosody.extract_prosody` (denoiser + its default tracker + cleanup;
  results_prosody.json was measured with ``tracker="praat"``, the default before issue #9).

Metrics (mean over lines): gross error rate (F0 more than 20 % off, on frames voiced in
both), Pearson correlation of F0 (frames voiced in both), voicing decision error (fraction
of frames whose voicing differs). VAD: frame agreement of Silero on the noisy / denoised line
with Silero on the clean line. Writes bench/results/results_prosody.json.

Run: ``.venv/bin/python -m bench.bench_prosody`` (about 2-3 min on 2 cores).

``--estimators`` compares F0 trackers instead (issue #9): adr's Praat path (tuned Praat, octave
fix, voicing cleanup), FCPE (``torchfcpe``) and SwiftF0 (``swift-f0``), each on the noisy and on
the DeepFilterNet3-denoised line, at clean / 10 / 0 / -5 dB and in a measured room (the corpus's
clap response) at 0 dB. The reference is still Praat's defaults on the clean dry line. Metrics,
mean over lines, on the frames voiced in the reference: correlation of log F0 and gross error
rate (more than 50 cents off), with each tracker's F0 interpolated through the frames it calls
unvoiced as the voice's evidence does (``filled``), and on the frames voiced in both; voicing
precision and recall; real-time factor of the tracker alone (the denoiser timed apart). Writes
bench/results/results_prosody_estimators.json and .md. ``--tune`` picks each network's voicing
threshold on other corpus lines (best voicing F1 over clean, 0 dB, noisy and denoised).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
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
            noisy = (
                clean
                if snr is None
                else mix(clean, noises[(li * 3 + si) % len(noises)], snr, rng)[0]
            )
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
        snr: {
            m: {k: round(float(np.nanmean([r[k] for r in rs])), 4) for k in rs[0]}
            for m, rs in res.items()
        }
        for snr, res in rows.items()
    }
    out = {
        "description": __doc__.strip().splitlines()[0],
        "lines": LINES,
        "noises": NOISES,
        "reference": "parselmouth to_pitch_ac, Praat defaults, 60-500 Hz, on the clean line",
        "results": summary,
        "timing": {k: round(v, 2) for k, v in timing.items()}
        | {"total_s": round(time.time() - t0, 1)},
        "note": "2 shared cores, other jobs running: timings are noisy",
    }
    path = ROOT / "bench" / "results" / "results_prosody.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    for snr, res in summary.items():
        for m, vals in res.items():
            sys.stdout.write(f"{snr:>6} {m:11s} {vals}\n")


TUNE_LINES = [
    "speech_clean/vctk16k_autovc/p225/p225_008.wav",
    "speech_clean/vctk16k_autovc/p226/p226_008.wav",
    "speech_clean/ljspeech_coqui/LJ001-0005.wav",
    "speech_clean/librispeech_test-other/1688/1688-142285-0005.flac",
    "speech_clean/librispeech_test-other/2033/2033-164914-0001.flac",
    "speech_clean/librispeech_test-other/3080/3080-5032-0005.flac",
]
ROOM_RIR = "rir/spatialaudio_cc0/rir_clap.wav"
#: (condition name, SNR in dB or None for no noise, through the room)
CONDITIONS: list[tuple[str, float | None, bool]] = [
    ("clean", None, False),
    ("10", 10.0, False),
    ("0", 0.0, False),
    ("-5", -5.0, False),
    ("room_0", 0.0, True),
]
TRACKERS = ("praat", "fcpe", "swift", "praat+fcpe")
GROSS_CENTS = 50.0


def in_room(clean: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``clean`` (N,) convolved with ``rir``, advanced by the direct path's delay, shape (N,)."""
    from scipy.signal import fftconvolve

    d = int(np.argmax(np.abs(rir)))
    y = fftconvolve(clean.astype(np.float64), rir.astype(np.float64))[d : d + len(clean)]
    return (y * np.sqrt(active_power(clean) / active_power(y))).astype(np.float32)


def track(name: str, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """One tracker's (F0 Hz with 0 where unvoiced, voiced) on the 10 ms grid, shape (n,) each.

    ``extract_prosody(tracker=name)`` on ``x`` as given (no further denoising): ``praat`` is
    adr's tracker before issue #9, ``praat+fcpe`` Praat with FCPE on the frames Praat leaves
    unvoiced.
    """
    from adr.analysis.prosody import extract_prosody

    p = extract_prosody(x, SR, denoise="none", tracker=name)
    assert p.num_frames == n
    return p.f0.astype(np.float64), np.asarray(p.voiced, dtype=bool)


def filled(f: np.ndarray, v: np.ndarray) -> np.ndarray:
    """F0 interpolated through unvoiced frames (as adr.voice.evidence does), shape (T,)."""
    t = np.arange(len(f))
    return np.interp(t, t[v], f[v]) if v.any() else np.zeros(len(f))


def estimator_metrics(
    rf: np.ndarray, rv: np.ndarray, f: np.ndarray, v: np.ndarray, agree: np.ndarray
) -> dict[str, float]:
    """F0 and voicing of a track (f, v) against the reference (rf, rv), all shape (T,).

    ``agree`` (T,) bool: reference frames where pYIN on the clean line agrees with it within
    50 cents (the reference's surest frames).
    """
    nan = float("nan")
    out: dict[str, float] = {}
    ff = filled(f, v)
    for tag, mask, hyp in (
        ("filled", rv & (ff > 0), ff),
        ("both", rv & v & (f > 0), f),
        ("agree", agree & (ff > 0), ff),
    ):
        if mask.sum() > 2:
            lr, lh = np.log(rf[mask]), np.log(hyp[mask])
            out[f"corr_{tag}"] = float(np.corrcoef(lr, lh)[0, 1])
            out[f"gross_{tag}"] = float(np.mean(np.abs(1200 * (lh - lr) / np.log(2)) > GROSS_CENTS))
        else:
            out[f"corr_{tag}"] = out[f"gross_{tag}"] = nan
    out["voicing_precision"] = float((v & rv).sum() / v.sum()) if v.any() else nan
    out["voicing_recall"] = float((v & rv).sum() / rv.sum()) if rv.any() else nan
    return out


def pyin_agrees(clean: np.ndarray, rf: np.ndarray, rv: np.ndarray) -> np.ndarray:
    """Reference frames (T,) bool where librosa's pYIN on the clean line is within 50 cents."""
    import librosa

    f, v, _ = librosa.pyin(
        clean.astype(np.float64),
        fmin=60.0,
        fmax=500.0,
        sr=SR,
        frame_length=1024,
        hop_length=SR // 100,
        center=True,
    )
    f = np.nan_to_num(f)[: len(rf)]
    f = np.pad(f, (0, len(rf) - len(f)))
    both = rv & (f > 0) & (rf > 0)
    cents = np.full(len(rf), np.inf)
    cents[both] = 1200 * np.abs(np.log2(f[both] / rf[both]))
    return both & (cents <= GROSS_CENTS)


def degraded(
    clean: np.ndarray,
    cond: tuple[str, float | None, bool],
    noise: np.ndarray,
    rir: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """The clean line under one condition, shape (N,)."""
    _, snr, room = cond
    x = in_room(clean, rir) if room else clean
    return x if snr is None else mix(x, noise, snr, rng)[0]


def tune() -> None:
    """Voicing threshold per network: best F1 against the reference on TUNE_LINES."""
    from adr.analysis.denoise import denoise
    from adr.analysis.pitch_model import VOICING_THRESHOLD, model_f0
    from adr.analysis.prosody import PLAIN, praat_f0
    from adr.core.timebase import seconds_to_frames

    rng = np.random.default_rng(1)
    noises = [load(n) for n in NOISES]
    rir = load(ROOM_RIR)
    conf: dict[str, list[np.ndarray]] = {"fcpe": [], "swift": []}
    refs: list[np.ndarray] = []
    for li, rel in enumerate(TUNE_LINES):
        clean = load(rel)
        n = seconds_to_frames(len(clean) / SR, 0.01)
        rv = praat_f0(clean, SR, n, settings=PLAIN)[1]
        for ci, cond in enumerate([CONDITIONS[0], CONDITIONS[2]]):
            noisy = degraded(clean, cond, noises[(li * 5 + ci + 4) % len(noises)], rir, rng)
            for x in (noisy, denoise(noisy, SR, "dfn3")):
                refs.append(rv)
                for m in conf:
                    conf[m].append(model_f0(x, SR, n, model=m)[2])
    ref = np.concatenate(refs)
    # time of the networks' frames: the offset (ms, added to the wrapper's frame times) at
    # which their F0 on the clean tuning lines agrees best with the reference
    from adr.analysis import pitch_model

    gross: dict[str, dict[int, list[float]]] = {"fcpe": {}, "swift": {}}
    for rel in TUNE_LINES:
        clean = load(rel)
        n = seconds_to_frames(len(clean) / SR, 0.01)
        rf, rv = praat_f0(clean, SR, n, settings=PLAIN)
        grid = np.arange(n) * 0.01
        for m in gross:
            t, f, c = pitch_model._run(m, clean, 60.0, 500.0)
            for off in range(-10, 11):
                ff = np.exp(np.interp(grid, t + off / 1000, np.log(np.maximum(f, 1.0))))
                both = rv & (np.interp(grid, t + off / 1000, c) >= VOICING_THRESHOLD[m])
                cents = 1200 * np.abs(np.log2(ff[both] / rf[both]))
                gross[m].setdefault(off, []).append(float(np.mean(cents > GROSS_CENTS)))
    for m, g in gross.items():
        best = min(g, key=lambda o: float(np.mean(g[o])))
        sys.stdout.write(
            f"{m}: time offset {best:+d} ms (gross {np.mean(g[best]):.3f}, "
            f"at 0 ms {np.mean(g[0]):.3f})\n"
        )
    for m, cs in conf.items():
        c = np.concatenate(cs)
        best = max(
            (2 * (ref & (c >= t)).sum() / (ref.sum() + (c >= t).sum()), t)
            for t in np.round(np.arange(0.02, 0.96, 0.01), 2)
        )
        sys.stdout.write(f"{m}: best voicing F1 {best[0]:.3f} at threshold {best[1]:.2f}\n")


def estimators() -> None:
    """Compare the F0 trackers; write bench/results/results_prosody_estimators.json and .md."""
    from adr.analysis.denoise import denoise
    from adr.analysis.pitch_model import VOICING_THRESHOLD
    from adr.analysis.prosody import PLAIN, praat_f0
    from adr.core.timebase import seconds_to_frames

    rng = np.random.default_rng(0)
    noises = [load(n) for n in NOISES]
    rir = load(ROOM_RIR)
    track("fcpe", np.zeros(SR, dtype=np.float32), 100)  # load both networks before timing
    track("swift", np.zeros(SR, dtype=np.float32), 100)
    rows: dict[str, dict[str, list[dict[str, float]]]] = {}
    seconds = {f"{t}_{i}": 0.0 for t in TRACKERS for i in ("noisy", "dfn3")} | {"dfn3": 0.0}
    audio_s = 0.0
    load_before = os.getloadavg()
    t0 = time.time()
    for li, rel in enumerate(LINES):
        clean = load(rel)
        n = seconds_to_frames(len(clean) / SR, 0.01)
        rf, rv = praat_f0(clean, SR, n, settings=PLAIN)
        agree = pyin_agrees(clean, rf, rv)
        for ci, cond in enumerate(CONDITIONS):
            noisy = degraded(clean, cond, noises[(li * 3 + ci) % len(noises)], rir, rng)
            t = time.perf_counter()
            den = denoise(noisy, SR, "dfn3")
            seconds["dfn3"] += time.perf_counter() - t
            audio_s += len(clean) / SR
            res = rows.setdefault(cond[0], {})
            for name in TRACKERS:
                for inp, x in (("noisy", noisy), ("dfn3", den)):
                    t = time.perf_counter()
                    f, v = track(name, x, n)
                    seconds[f"{name}_{inp}"] += time.perf_counter() - t
                    res.setdefault(f"{name}_{inp}", []).append(
                        estimator_metrics(rf, rv, f, v, agree)
                    )
    load_after = os.getloadavg()
    summary = {
        c: {
            m: {k: round(float(np.nanmean([r[k] for r in rs])), 4) for k in rs[0]}
            for m, rs in res.items()
        }
        for c, res in rows.items()
    }
    out = {
        "description": (
            "F0 trackers on corpus speech under real noise (bench_prosody.py --estimators)"
        ),
        "lines": LINES,
        "noises": NOISES,
        "room": ROOM_RIR,
        "reference": "parselmouth to_pitch_ac, Praat defaults, 60-500 Hz, on the clean dry line",
        "metrics": (
            "mean over lines; corr: Pearson r of log F0, gross: fraction > 50 cents off, on frames "
            "voiced in the reference ('filled': the tracker's F0 interpolated through its unvoiced "
            "frames; 'both': frames voiced in both; 'agree': filled, on the reference frames "
            "where pYIN on the clean line agrees within 50 cents); voicing precision/recall vs "
            "the reference"
        ),
        "voicing_threshold": VOICING_THRESHOLD,
        "results": summary,
        "rtf": {k: round(v / audio_s, 4) for k, v in seconds.items()},
        "audio_s": round(audio_s, 1),
        "total_s": round(time.time() - t0, 1),
        "load_average_1_5_15": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in load_after],
        },
        "note": "2 shared cores, run under nice -n 10 beside other jobs; each tracker on 1 thread",
    }
    (ROOT / "bench" / "results" / "results_prosody_estimators.json").write_text(
        json.dumps(out, indent=1) + "\n"
    )
    (ROOT / "bench" / "results" / "results_prosody_estimators.md").write_text(estimators_table(out))
    sys.stdout.write(estimators_table(out))


def estimators_table(out: dict) -> str:
    """Markdown tables of an --estimators result."""
    lines = [
        "# F0 trackers under noise (python -m bench.bench_prosody --estimators)",
        "",
        f"Reference: {out['reference']}. {out['metrics']}. 10 lines (VCTK, LJSpeech, LibriSpeech) "
        "x 9 real noises; room_0: measured room (corpus clap response) plus noise at 0 dB.",
        "",
        "| condition | tracker | input | r filled | gross filled | r both | gross both "
        "| r agree | gross agree | voicing P | voicing R |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c, res in out["results"].items():
        for m, r in res.items():
            name, inp = m.rsplit("_", 1)
            lines.append(
                f"| {c} | {name} | {inp} | {r['corr_filled']:.3f} | {r['gross_filled']:.3f} | "
                f"{r['corr_both']:.3f} | {r['gross_both']:.3f} | {r['corr_agree']:.3f} | "
                f"{r['gross_agree']:.3f} | {r['voicing_precision']:.3f} | "
                f"{r['voicing_recall']:.3f} |"
            )
    lb, la = out["load_average_1_5_15"]["before"], out["load_average_1_5_15"]["after"]
    lines += [
        "",
        f"Real-time factor of the tracker alone ({out['audio_s']} s of audio; load average "
        f"{lb[0]:.1f} before, {la[0]:.1f} after; {out['note']}):",
        "",
        "| " + " | ".join(out["rtf"]) + " |",
        "|" + "---|" * len(out["rtf"]),
        "| " + " | ".join(f"{v:.3f}" for v in out["rtf"].values()) + " |",
        "",
        f"Voicing thresholds: {out['voicing_threshold']}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--estimators", action="store_true", help="compare F0 trackers (issue #9)")
    ap.add_argument("--tune", action="store_true", help="voicing thresholds of the networks")
    args = ap.parse_args()
    if args.tune:
        tune()
    elif args.estimators:
        estimators()
    else:
        main()

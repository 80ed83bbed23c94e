"""Damage assessment on real speech under real noise: SNR-estimate error, flag precision/recall.

Clean corpus lines (the bench_prosody set) are mixed with real noise at clean, 20, 10, 0 and
-5 dB active-speech SNR; half of the mixtures also get a noise burst (0.2-0.8 s of another
corpus noise, faded in/out, at 0 dB against the speech level) placed over speech. A line
"needs replacement" when its true SNR is below the flag threshold
(``DamageThresholds().snr_db``: 7 dB since the analysis issue, 15 dB before) or it has a burst.

Two SNR estimators are compared:

- ``residual`` (used by :func:`adr.analysis.damage.assess`): active level of the DeepFilterNet3
  output over the power of ``line - denoised``;
- ``vad_energy``: Silero VAD on the line; speech+noise power of the speech frames minus the
  noise power of the other frames (the classic energy-statistics estimate).

DNSMOS OVRL is computed on the burst-free lines at clean, 10 and 0 dB (it then takes part in
the flag). Writes bench/results/results_damage.json. Run: ``.venv/bin/python -m bench.bench_damage``
(~5 min).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from bench.bench_prosody import LINES, NOISES, ROOT, SR, active_power, load, mix

SNRS: list[float | None] = [None, 20.0, 10.0, 0.0, -5.0]
BURST_NOISES = [
    "noise/ibm_max_freesound/applause.wav",
    "noise/speech_commands_bg/doing_the_dishes.wav",
    "noise/ibm_max_freesound/typing.wav",
    "noise/speech_commands_bg/dude_miaowing.wav",
]
BURST_SNR_DB = 0.0


def add_burst(
    x: np.ndarray, clean: np.ndarray, noise: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, float, float]:
    """Add a faded noise burst over speech; returns (audio, burst start s, burst end s)."""
    length = int(rng.uniform(0.2, 0.8) * SR)
    env = np.abs(clean)
    active = np.flatnonzero(env > 0.1 * env.max())
    lo, hi = active[0], max(active[-1] - length, active[0] + 1)
    b0 = int(rng.integers(lo, hi))
    o = int(rng.integers(0, len(noise) - length))
    seg = noise[o : o + length].astype(np.float64)
    fade = int(0.005 * SR)
    ramp = np.linspace(0, 1, fade)
    seg[:fade] *= ramp
    seg[-fade:] *= ramp[::-1]
    seg *= np.sqrt(active_power(clean) / (np.mean(seg**2) + 1e-20) / 10 ** (BURST_SNR_DB / 10))
    y = x.astype(np.float64).copy()
    y[b0 : b0 + length] += seg
    peak = np.max(np.abs(y))
    if peak > 0.99:
        y *= 0.99 / peak
    return y.astype(np.float32), b0 / SR, (b0 + length) / SR


def vad_energy_snr(x: np.ndarray) -> float:
    from adr.analysis.vad import speech_probability

    probs, period = speech_probability(x, SR)
    w = int(period * SR)
    n = min(len(probs), len(x) // w)
    p = (x[: n * w].astype(np.float64).reshape(n, w) ** 2).mean(axis=1)
    sp = probs[:n] >= 0.5
    if sp.all() or not sp.any():
        noise = np.percentile(p, 10)
        speech = np.mean(p[p > np.percentile(p, 50)])
    else:
        noise = np.mean(p[~sp])
        speech = np.mean(p[sp])
    return float(10 * np.log10(max(speech - noise, 1e-12) / max(noise, 1e-12)))


def main() -> None:
    from adr.analysis.damage import DamageThresholds, assess

    t0 = time.time()
    rng = np.random.default_rng(2)
    noises = [load(n) for n in NOISES]
    bursts = [load(n) for n in BURST_NOISES]
    th = DamageThresholds()
    records = []
    for li, rel in enumerate(LINES):
        clean = load(rel)
        for si, snr in enumerate(SNRS):
            x = clean if snr is None else mix(clean, noises[(li + si) % len(noises)], snr, rng)[0]
            for with_burst in (False, True):
                y, b0, b1 = (x, None, None)
                if with_burst:
                    y, b0, b1 = add_burst(x, clean, bursts[(li + si) % len(bursts)], rng)
                # DNSMOS (~2 s per call) only on burst-free lines at clean / 10 / 0 dB
                use_dnsmos = not with_burst and snr in (None, 10.0, 0.0)
                rep = assess(y, SR, thresholds=th, dnsmos=use_dnsmos)
                found = [s for s in rep.spans if s.kind == "burst"]
                hit = None
                if b0 is not None:
                    hit = [s for s in found if s.start < b1 and s.end > b0]
                true_snr = 60.0 if snr is None else snr
                records.append(
                    {
                        "line": li,
                        "snr": snr,
                        "burst": with_burst,
                        "needs_replacement": bool(true_snr < th.snr_db or with_burst),
                        "flagged": rep.flagged,
                        "snr_est_residual": rep.snr_db,
                        "snr_est_vad_energy": round(vad_energy_snr(y), 2),
                        "burst_detected": None if b0 is None else bool(hit),
                        "burst_start_err": None if not hit else round(abs(hit[0].start - b0), 3),
                        "burst_end_err": None if not hit else round(abs(hit[-1].end - b1), 3),
                        "false_bursts": len(found) - (len(hit) if hit else 0),
                        "dnsmos_ovrl": None if rep.dnsmos is None else rep.dnsmos["ovrl"],
                    }
                )
    summary: dict[str, dict] = {}
    for snr in SNRS:
        key = "clean" if snr is None else f"{snr:g}"
        rs = [r for r in records if r["snr"] == snr and not r["burst"]]
        s = {}
        if snr is not None:
            for est in ("residual", "vad_energy"):
                err = np.array([r[f"snr_est_{est}"] - snr for r in rs])
                s[est] = {
                    "bias_db": round(float(err.mean()), 2),
                    "mae_db": round(float(np.abs(err).mean()), 2),
                }
        else:
            for est in ("residual", "vad_energy"):
                s[est] = {
                    "median_est_db": round(float(np.median([r[f"snr_est_{est}"] for r in rs])), 2)
                }
        rb = [r for r in records if r["snr"] == snr and r["burst"]]
        s["burst_recall"] = round(float(np.mean([r["burst_detected"] for r in rb])), 3)
        errs = [max(r["burst_start_err"], r["burst_end_err"]) for r in rb if r["burst_detected"]]
        s["burst_edge_err_median_s"] = round(float(np.median(errs)), 3) if errs else None
        s["false_bursts_per_line"] = round(float(np.mean([r["false_bursts"] for r in rs + rb])), 2)
        s["flag_rate_no_burst"] = round(float(np.mean([r["flagged"] for r in rs])), 3)
        ovrl = [r["dnsmos_ovrl"] for r in rs if r["dnsmos_ovrl"] is not None]
        if ovrl:
            s["dnsmos_ovrl_min_mean_max"] = [
                round(float(f(ovrl)), 2) for f in (np.min, np.mean, np.max)
            ]
        summary[key] = s
    tp = sum(r["flagged"] and r["needs_replacement"] for r in records)
    fp = sum(r["flagged"] and not r["needs_replacement"] for r in records)
    fn = sum(not r["flagged"] and r["needs_replacement"] for r in records)
    out = {
        "description": __doc__.strip().splitlines()[0],
        "thresholds": th.to_dict(),
        "flag_precision": round(tp / max(tp + fp, 1), 3),
        "flag_recall": round(tp / max(tp + fn, 1), 3),
        "counts": {"tp": tp, "fp": fp, "fn": fn, "total": len(records)},
        "per_snr": summary,
        "records": records,
        "total_s": round(time.time() - t0, 1),
        "note": "2 shared cores; true SNR is the active-speech SNR of the mix (clean lines: inf)",
    }
    (ROOT / "bench" / "results" / "results_damage.json").write_text(
        json.dumps(out, indent=1) + "\n"
    )
    sys.stdout.write(
        json.dumps(
            {k: out[k] for k in ("flag_precision", "flag_recall", "counts", "per_snr")}, indent=1
        )
        + "\n"
    )


if __name__ == "__main__":
    main()

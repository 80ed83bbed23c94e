"""Benchmark the per-actor voice model on real corpus speech.

Train a voice on most of one speaker's clean lines, then re-speak the held-back lines from
their own phones, F0 and energy and measure:

* speaker similarity (resemblyzer GE2E cosine to the speaker's training lines), with the
  clean original's own similarity as the ceiling;
* DNSMOS overall (speechmos) of render and original;
* F0 correlation / RMSE (cents) of render vs original (parselmouth);
* word error rate of render and original (faster-whisper tiny.en, adr.metrics);
* training time and steps, render real-time factor.

Phones come from ``adr.analysis.align`` (pocketsphinx forced alignment of the transcript, espeak IPA
phones) or, as an ablation, ``none`` (every frame "sil": the model sees only F0/energy).
Prosody comes from ``adr.analysis.prosody.extract_prosody`` (no denoiser: the lines are clean).

Usage::

    .venv/bin/python -m bench.bench_voice --speaker lj --preset default
    .venv/bin/python -m bench.bench_voice --speaker lj --preset fast --phones none

Results are merged into ``bench/results/results_voice.json``
under ``"<speaker>/<preset>/<phones>"``.
Needs ../shared/corpus. Timings on the shared 2-core machine are noisy.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np

from adr.core.fsio import read_json, write_json
from adr.core.types import Phone, Prosody

ROOT = Path(__file__).resolve().parents[1]

CORPUS = ROOT.parent / "shared" / "corpus"
SPEAKERS = {
    "lj": ("speech_clean/ljspeech_coqui/", 4),
    "p225": ("speech_clean/vctk16k_autovc/p225/", 2),
    "p226": ("speech_clean/vctk16k_autovc/p226/", 2),
}


def load_lines(speaker: str, sr: int) -> list[dict]:
    """The speaker's lines from MANIFEST.tsv, resampled to ``sr``."""
    import soundfile as sf
    from scipy.signal import resample_poly

    prefix, _ = SPEAKERS[speaker]
    rows = []
    with open(CORPUS / "MANIFEST.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["path"].startswith(prefix) and row["transcript"]:
                rows.append(row)
    lines = []
    for row in sorted(rows, key=lambda r: r["path"]):
        x, file_sr = sf.read(CORPUS / row["path"], dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        if file_sr != sr:
            g = np.gcd(file_sr, sr)
            x = resample_poly(x, sr // g, file_sr // g).astype(np.float32)
        lines.append({"name": Path(row["path"]).stem, "text": row["transcript"], "audio": x})
    return lines


def analyse(line: dict, sr: int, phones_source: str, cache: Path) -> tuple[list[Phone], Prosody]:
    """Phones and prosody of a clean line (cached as JSON)."""
    path = cache / f"{line['name']}.{phones_source}.json"
    if path.is_file():
        d = read_json(path)
        return [Phone.from_dict(p) for p in d["phones"]], Prosody.from_dict(d["prosody"])
    if phones_source == "align":  # the enrollment's own analysis of a clean line
        from adr.voice.enroll import analyse_clean_line

        aligned, pros = analyse_clean_line(line["audio"], sr, line["text"])
        phones = list(aligned)
    else:
        from adr.analysis.prosody import extract_prosody

        phones, pros = [], extract_prosody(line["audio"], sr, denoise="none")
    write_json(path, {"phones": [p.to_dict() for p in phones], "prosody": pros.to_dict()})
    return phones, pros


def f0_vs_input(audio: np.ndarray, sr: int, feats) -> tuple[float, float]:
    """Pitch of a render (Praat, plain settings) against the F0 the model was given: RMS
    difference in cents and fraction of octave errors, over frames voiced in both."""
    import parselmouth

    pitch = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=float(sr)).to_pitch_ac(
        time_step=0.01, pitch_floor=60.0, pitch_ceiling=500.0
    )
    times, f0 = pitch.xs(), pitch.selected_array["frequency"]
    centres = feats.start + (np.arange(feats.num_frames) + 0.5) * feats.frame_period
    given = np.interp(times, centres, np.where(feats.voiced > 0, feats.f0, np.nan))
    both = (f0 > 0) & np.isfinite(given)
    if not both.any():
        return float("nan"), float("nan")
    cents = 1200.0 * np.log2(f0[both] / given[both])
    return float(np.sqrt(np.mean(cents**2))), float(np.mean(np.abs(cents) > 600.0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--speaker", default="lj", choices=sorted(SPEAKERS))
    ap.add_argument("--preset", default="default")
    ap.add_argument("--steps", type=int, default=0, help="override the preset's steps")
    ap.add_argument("--segment", type=float, default=0.0, help="override segment seconds")
    ap.add_argument("--phones", default="align", choices=["align", "none"])
    ap.add_argument("--mel-weight", type=float, default=None, help="override the mel loss weight")
    ap.add_argument("--no-max-seconds", action="store_true", help="no wall-clock budget")
    ap.add_argument("--held", type=int, default=0, help="held-back lines (default per speaker)")
    ap.add_argument(
        "--voice",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a VoiceConfig field (int, float or true/false)",
    )
    ap.add_argument("--work", default="/tmp/adr_bench_voice")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "results_voice.json"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fresh", action="store_true", help="ignore earlier checkpoints")
    args = ap.parse_args()

    import torch

    from adr import metrics
    from adr.analysis.phonemes import PHONES
    from adr.voice.enroll import training_example
    from adr.voice.train import TrainConfig, preset, train_voice
    from adr.voice.training import training_state
    from adr.voice.voice_model import VoiceConfig
    from adr.voice.voicefile import EnrollmentRecord, load_voice, save_voice

    torch.set_num_threads(args.threads)
    overrides = {}
    for item in args.voice:
        field, _, value = item.partition("=")
        overrides[field] = {"true": True, "false": False}.get(
            value.lower(),
            float(value) if "." in value else int(value) if value.lstrip("-").isdigit() else value,
        )
    vc = VoiceConfig(phone_inventory=PHONES, **overrides)
    tc = preset(args.preset)
    if args.steps:
        tc = TrainConfig.from_dict({**tc.to_dict(), "steps": args.steps})
    if args.segment:
        tc = TrainConfig.from_dict({**tc.to_dict(), "segment_seconds": args.segment})
    if args.mel_weight is not None:
        tc = TrainConfig.from_dict({**tc.to_dict(), "mel_weight": args.mel_weight})
    if args.no_max_seconds:
        tc = TrainConfig.from_dict({**tc.to_dict(), "max_seconds": 0.0})
    sr = vc.sample_rate
    work = Path(args.work)
    cache = work / "analysis" / args.speaker
    cache.mkdir(parents=True, exist_ok=True)

    lines = load_lines(args.speaker, sr)
    n_hold = args.held or SPEAKERS[args.speaker][1]
    train_lines, held = lines[:-n_hold], lines[-n_hold:]
    t0 = time.perf_counter()
    all_examples = {}
    for line in lines:
        phones, pros = analyse(line, sr, args.phones, cache)
        all_examples[line["name"]] = training_example(line["audio"], phones, pros, vc)
    feats = {name: ex.features for name, ex in all_examples.items()}
    analysis_s = time.perf_counter() - t0
    examples = [all_examples[line["name"]] for line in train_lines]
    minutes = sum(len(ex.audio) for ex in examples) / sr / 60

    tag = (
        (f"-{args.steps}steps" if args.steps else "")
        + (f"-seg{args.segment}" if args.segment else "")
        + (f"-mel{args.mel_weight:g}" if args.mel_weight is not None else "")
        + ("-nolimit" if args.no_max_seconds else "")
        + (f"-held{args.held}" if args.held else "")
        + "".join(f"-{v}" for v in args.voice)
    )
    run = f"{args.speaker}/{args.preset}{tag}/{args.phones}"
    run_dir = work / run.replace("/", "_")
    if args.fresh and run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    last = [0.0]

    def progress(ev) -> None:
        if ev.done % 50 == 0 or ev.done == ev.total:
            now = time.perf_counter()
            print(
                f"step {int(ev.done)}/{int(ev.total)} loss {ev.info['loss']:.3f} "
                f"eta {ev.info['eta_s']:.0f}s (+{now - last[0]:.1f}s)",
                flush=True,
            )
            last[0] = now

    t0 = last[0] = time.perf_counter()
    model = train_voice(examples, vc, tc, run_dir / "ckpt", progress=progress)
    train_wall = time.perf_counter() - t0
    state = training_state(run_dir / "ckpt") or {}

    refs = [line["audio"] for line in train_lines]
    per_line, render_s, render_dur = [], 0.0, 0.0
    for line in held:
        f = feats[line["name"]]
        t1 = time.perf_counter()
        y = model.render(f)
        render_s += time.perf_counter() - t1
        render_dur += len(y) / sr
        orig = line["audio"][: len(y)]
        import soundfile as sf

        sf.write(run_dir / f"{line['name']}.render.wav", y, sr)
        r = {
            "line": line["name"],
            "seconds": round(len(y) / sr, 3),
            "similarity": metrics.speaker_similarity(y, sr, refs, sr),
            "similarity_clean": metrics.speaker_similarity(orig, sr, refs, sr),
            "dnsmos": metrics.dnsmos(y, sr).ovrl,
            "dnsmos_clean": metrics.dnsmos(orig, sr).ovrl,
        }
        f0m = metrics.f0_metrics(orig, y, sr)
        r["f0_corr"], r["f0_rmse_cents"] = f0m.correlation, f0m.rmse_cents
        r["f0_rmse_vs_input_cents"], r["f0_octave_errors_vs_input"] = f0_vs_input(y, sr, f)
        r["wer"] = metrics.word_error_rate(line["text"], metrics.transcribe_for_wer(y, sr))
        r["wer_clean"] = metrics.word_error_rate(line["text"], metrics.transcribe_for_wer(orig, sr))
        per_line.append({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
        print(per_line[-1], flush=True)

    def mean(key: str) -> float:
        return round(float(np.nanmean([p[key] for p in per_line])), 4)

    summary = {
        k: mean(k)
        for k in (
            "similarity",
            "similarity_clean",
            "dnsmos",
            "dnsmos_clean",
            "f0_corr",
            "f0_rmse_cents",
            "f0_rmse_vs_input_cents",
            "f0_octave_errors_vs_input",
            "wer",
            "wer_clean",
        )
    }
    record = EnrollmentRecord(
        actor=args.speaker,
        minutes=round(minutes, 3),
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        preset=args.preset,
        steps=int(state.get("step", tc.steps)),
        train_seconds=float(state.get("elapsed_seconds", train_wall)),
        metrics=summary,
    )
    voice_dir = save_voice(run_dir / "voice", model, vc, record)
    reloaded = load_voice(voice_dir).model.render(feats[held[0]["name"]])
    identical = bool(np.array_equal(reloaded, model.render(feats[held[0]["name"]])))

    result = {
        "date": record.date,
        "speaker": args.speaker,
        "preset": args.preset,
        "phones": args.phones,
        "train_minutes_of_speech": round(minutes, 3),
        "train_lines": len(train_lines),
        "held_back_lines": len(held),
        "steps": record.steps,
        "train_seconds": round(record.train_seconds, 1),
        "train_config": tc.to_dict(),
        "voice_overrides": overrides,
        "parameters": sum(p.numel() for p in model.parameters()),
        "analysis_seconds": round(analysis_s, 1),
        "render_rtf": round(render_s / render_dur, 4),
        "voicefile_roundtrip_identical": identical,
        **summary,
        "per_line": per_line,
        "note": "2 shared CPU cores with other jobs running: timings are noisy",
    }
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    results[run] = result
    write_json(out, results)
    print(
        json.dumps(
            {k: v for k, v in result.items() if k not in ("per_line", "train_config")}, indent=1
        )
    )


if __name__ == "__main__":
    main()

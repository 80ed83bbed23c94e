"""Benchmark: forced alignment and blind transcription in production noise.

Speech with exactly known phone times comes from festival (three voices); it is put in a room
(a measured impulse response) and mixed with real noise from the development corpus at several
SNRs. For each condition we measure word and phone boundary errors of the aligner with each
front end, Whisper's word-boundary error (word times as anchors), the blind transcription word
error rate (tiny.en, base) and real-time factors. Writes ``bench/results/results_align.json`` and
prints a markdown table.

Run from the project root::

    .venv/bin/python -m bench.bench_align            # all sentences, ~6 min on 2 cores
    .venv/bin/python -m bench.bench_align --quick    # 4 sentences, no transcription

Needs festival (apt) and ``../shared/corpus`` (noise, room responses).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from adr.analysis import align as aligner
from adr.analysis import asr, phonemes
from adr.analysis.denoise import resample
from adr.core.fsio import write_json

ROOT = Path(__file__).resolve().parents[1]

CORPUS = Path(os.environ.get("ADR_CORPUS", ROOT.parent / "shared" / "corpus"))
CACHE = Path(tempfile.gettempdir()) / "adr_bench_align"
SR = 16_000
PAD = 0.6  # seconds of noise before and after each sentence

# Sentences written for this benchmark (voice, text).
SENTENCES = [
    ("voice_cmu_us_slt_arctic_hts", "Nobody told me the ferry leaves at nine."),
    ("voice_kal_diphone", "Put the lantern down before somebody gets hurt."),
    ("voice_ked_diphone", "We drove north until the road turned into gravel."),
    ("voice_cmu_us_slt_arctic_hts", "I never wanted the money, I wanted the truth."),
    ("voice_kal_diphone", "Her brother keeps bees behind the old chapel."),
    ("voice_ked_diphone", "Check the engine again and then we can go home."),
    ("voice_cmu_us_slt_arctic_hts", "The storm took half the roof and most of the fence."),
    ("voice_kal_diphone", "Tell the captain his radio is broken."),
    ("voice_ked_diphone", "Somebody moved my glasses from the kitchen table."),
    ("voice_cmu_us_slt_arctic_hts", "Quiet, the children are finally asleep upstairs."),
    ("voice_kal_diphone", "Seven ships sailed from the harbour at dawn."),
    ("voice_ked_diphone", "Maybe the letter was never meant for you."),
]
NOISES = [
    "noise/speech_commands_bg/doing_the_dishes.wav",
    "noise/speech_commands_bg/running_tap.wav",
    "noise/ibm_max_freesound/car_engine.wav",
    "noise/ibm_max_freesound/rain.wav",
    "noise/ibm_max_freesound/train.wav",
    "noise/ibm_max_freesound/applause.wav",
    "noise/speech_commands_bg/exercise_bike.wav",
    "noise/ibm_max_freesound/typing.wav",
]
RIR = "rir/spatialaudio_cc0/rir_clap.wav"
CONDITIONS = ["clean", "10dB", "0dB", "-5dB", "room", "room_0dB"]
FRONT_ENDS = ["none", "noisereduce", "dfn3"]  # "auto" is scored from these
ASR_CONDITIONS = ["clean", "10dB", "0dB", "-5dB"]
FESTIVAL_TO_ARPA = {"ax": "AH", "pau": "SIL", "h#": "SIL"}


@dataclass(frozen=True)
class Truth:
    """Festival's own segmentation: words with (phone, start, end) lists, in seconds."""

    words: tuple[str, ...]
    phones: tuple[tuple[tuple[str, float, float], ...], ...]


def festival_say(text: str, voice: str) -> tuple[np.ndarray, Truth]:
    """Synthesize ``text`` with festival; return 16 kHz audio (N,) and its phone times."""
    key = hashlib.sha1(f"{voice}|{text}".encode()).hexdigest()[:16]
    CACHE.mkdir(parents=True, exist_ok=True)
    wav, seg = CACHE / f"{key}.wav", CACHE / f"{key}.txt"
    if not (wav.is_file() and seg.is_file()):
        script = f"""({voice})
(set! u (utt.synth (eval (list 'Utterance 'Text "{text}"))))
(mapcar (lambda (w) (format t "W %s\\n" (item.name w))
  (mapcar (lambda (syl) (mapcar (lambda (s) (format t "S %s %f %f\\n" (item.name s)
      (item.feat s 'segment_start) (item.feat s 'end)))
    (item.relation.daughters syl 'SylStructure)))
  (item.relation.daughters w 'SylStructure))) (utt.relation.items u 'Word))
(utt.save.wave u "{wav}" 'riff)
"""
        scm = CACHE / f"{key}.scm"
        scm.write_text(script)
        out = subprocess.run(
            ["festival", "-b", str(scm)], capture_output=True, text=True, check=True, timeout=120
        ).stdout
        seg.write_text(out)
    words: list[str] = []
    phones: list[list[tuple[str, float, float]]] = []
    for line in seg.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "W":
            words.append(parts[1].lower())
            phones.append([])
        elif parts and parts[0] == "S":
            phones[-1].append((parts[1], float(parts[2]), float(parts[3])))
    audio, sr = sf.read(wav, dtype="float32")
    return resample(audio, sr, SR), Truth(tuple(words), tuple(tuple(p) for p in phones))


def load_mono(path: Path) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    return resample(x[:, 0], sr, SR)


def make_condition(
    speech: np.ndarray, cond: str, noise: np.ndarray, rir: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Pad, reverberate (``room*`` conditions ; direct path kept at t=0) and add noise at
    an SNR measured over the speech."""
    from scipy.signal import fftconvolve

    pad = int(PAD * SR)
    s = np.concatenate([np.zeros(pad, np.float32), speech, np.zeros(pad, np.float32)])
    if cond.startswith("room"):
        s = fftconvolve(s, rir)[: len(s)].astype(np.float32)
    if cond in ("clean", "room"):
        return s
    snr = float(cond.replace("room_", "").replace("dB", ""))
    off = int(rng.integers(0, max(1, len(noise) - len(s))))
    n = np.resize(noise[off:], len(s)).astype(np.float64)
    active = s[np.abs(s) > 1e-4].astype(np.float64)
    p_s, p_n = np.mean(active**2), np.mean(n**2) + 1e-12
    y = s + n * np.sqrt(p_s / p_n / 10 ** (snr / 10))
    return (y / max(1.0, np.max(np.abs(y)) / 0.95)).astype(np.float32)


def _match(true_ph: list[tuple[str, float, float]], pred_ph: list) -> list[tuple[int, int]]:
    """Pairs (true index, predicted index) on a minimum edit path of ARPAbet symbols."""
    a = [FESTIVAL_TO_ARPA.get(p[0], p[0].upper()) for p in true_ph]
    b = [phonemes.ipa_to_arpabet([p.symbol]) for p in pred_ph]
    n, m = len(a), len(b)
    c = np.zeros((n + 1, m + 1))
    c[:, 0], c[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            c[i, j] = min(
                c[i - 1, j - 1] + (a[i - 1] not in b[j - 1]), c[i - 1, j] + 1, c[i, j - 1] + 1
            )
    pairs, i, j = [], n, m
    while i > 0 and j > 0:
        if c[i, j] == c[i - 1, j - 1] + (a[i - 1] not in b[j - 1]):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif c[i, j] == c[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def boundary_errors(
    truth: Truth, al: aligner.Alignment, offset: float
) -> tuple[list[float], list[float]]:
    """Absolute word and phone boundary errors in seconds (starts and ends)."""
    if len(al.words) != len(truth.words):
        return [], []
    werr, perr = [], []
    for k, tph in enumerate(truth.phones):
        w = al.words[k]
        werr += [abs(w.start - offset - tph[0][1]), abs(w.end - offset - tph[-1][2])]
        pph = [p for p in al.phones if p.word == k]
        for i, j in _match(list(tph), pph):
            perr += [abs(pph[j].start - offset - tph[i][1]), abs(pph[j].end - offset - tph[i][2])]
    return werr, perr


def _stats(errs: list[float]) -> dict[str, float]:
    if not errs:
        return {"median_ms": float("nan"), "p90_ms": float("nan"), "n": 0}
    e = np.asarray(errs) * 1000
    return {
        "median_ms": round(float(np.median(e)), 1),
        "p90_ms": round(float(np.percentile(e, 90)), 1),
        "n": int(len(e)),
    }


def wer(ref: str, hyp: str) -> float:
    import jiwer

    r, h = " ".join(phonemes.normalize_text(ref)), " ".join(phonemes.normalize_text(hyp))
    return float(jiwer.wer(r, h or "<empty>"))


def summarize(acc: dict, sentences: list, out_path: str) -> dict:
    """Statistics per condition and method; writes the JSON file and returns the results."""
    results: dict[str, dict[str, dict[str, object]]] = {}
    for cond, row in acc.items():
        results[cond] = {}
        for name, r in row.items():
            out: dict[str, object] = {
                "word_boundary": _stats(r["word"]),
                "rtf": round(float(np.mean(r["rtf"])), 3),
            }
            if "phone" in r:
                out["phone_boundary"] = _stats(r["phone"])
                out["mean_confidence"] = round(float(np.mean(r["conf"])), 3)
            if "wer" in r:
                out["wer"] = round(float(np.mean(r["wer"])), 3)
            results[cond][name] = out
    meta = {
        "sentences": len(sentences),
        "voices": sorted({v for v, _ in sentences}),
        "noises": NOISES,
        "rir": RIR,
        "pad_s": PAD,
        "cpu_threads": 2,
        "note": "timings on a shared 2-core machine: noisy",
        "load_avg_1min": round(os.getloadavg()[0], 1),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    write_json(out_path, {"meta": meta, "results": results})
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 sentences, no transcription")
    ap.add_argument("--sentences", type=int, default=len(SENTENCES))
    ap.add_argument("--front-ends", default=",".join(FRONT_ENDS))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "results_align.json"))
    args = ap.parse_args()
    sentences = SENTENCES[: 4 if args.quick else args.sentences]
    front_ends = args.front_ends.split(",")
    models = [] if args.quick else ["tiny.en", "base"]
    rng = np.random.default_rng(7)
    rir = load_mono(CORPUS / RIR)
    rir = rir[int(np.argmax(np.abs(rir))) :]
    rir = rir / np.sqrt(np.sum(rir**2))
    noises = [load_mono(CORPUS / p) for p in NOISES]
    acc: dict[str, dict[str, dict[str, list[float]]]] = {}
    for si, (voice, text) in enumerate(sentences):
        speech, truth = festival_say(text, voice)
        for cond in CONDITIONS:
            x = make_condition(speech, cond, noises[si % len(noises)], rir, rng)
            dur = len(x) / SR
            row = acc.setdefault(cond, {})
            auto = "dfn3" if aligner._snr_estimate(x) < aligner.AUTO_DENOISE_BELOW_DB else "none"
            for fe in front_ends:
                t0 = time.perf_counter()
                al = aligner.align(x, text, front_end=fe)
                el = time.perf_counter() - t0
                we, pe = boundary_errors(truth, al, PAD)
                for name in [fe] + (["auto"] if fe == auto else []):
                    r = row.setdefault(
                        f"align:{name}", {"word": [], "phone": [], "rtf": [], "conf": []}
                    )
                    r["word"] += we
                    r["phone"] += pe
                    r["rtf"].append(el / dur)
                    r["conf"].append(al.confidence)
            for m in models if cond in ASR_CONDITIONS else []:
                t0 = time.perf_counter()
                tr = asr.transcribe(x, model=m)
                el = time.perf_counter() - t0
                r = row.setdefault(f"asr:{m}", {"word": [], "wer": [], "rtf": []})
                r["wer"].append(wer(text, tr.text))
                r["rtf"].append(el / dur)
                if len(tr.words) == len(truth.words):
                    for k, tph in enumerate(truth.phones):
                        w = tr.words[k]
                        r["word"] += [abs(w.start - PAD - tph[0][1]), abs(w.end - PAD - tph[-1][2])]
        print(f"[{si + 1}/{len(sentences)}] {text}", file=sys.stderr, flush=True)
        summarize(acc, sentences[: si + 1], args.out)  # partial results survive a timeout
    results = summarize(acc, sentences, args.out)
    print("| condition | method | word med/p90 ms | phone med/p90 ms | WER | RTF |")
    print("|---|---|---|---|---|---|")
    for cond, row in results.items():
        for name, r in row.items():
            wb = r["word_boundary"]
            pb = r.get("phone_boundary")
            ps = f"{pb['median_ms']}/{pb['p90_ms']}" if pb else "-"
            print(
                f"| {cond} | {name} | {wb['median_ms']}/{wb['p90_ms']} | {ps} | "
                f"{r.get('wer', '-')} | {r['rtf']} |"
            )


if __name__ == "__main__":
    main()

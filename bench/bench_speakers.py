"""Actor identification on real speakers, clean and under real noise; threshold calibration.

Enrolled actors: the 5 LibriSpeech test-other speakers of ../shared/corpus, each enrolled from
about one minute of clean speech (their first utterances), tested on their remaining
utterances. Impostors (never enrolled): CMU ARCTIC, VCTK, LJSpeech, Picovoice, LibriVox and
other LibriSpeech speakers from the corpus. Test lines are mixed with real noise at clean, 0
and -5 dB active-speech SNR, embedded either as they are or after DeepFilterNet3; and, as
production lines are, put in a measured room (the corpus's room responses, one per line in
turn) at clean and 0 dB, after DeepFilterNet3.

Two voiceprints per actor are compared on the same embeddings: ``dry`` (the enrollment
utterances as recorded) and ``rooms`` (each utterance also embedded in synthetic rooms of
:data:`ROOMS` RT60, :func:`adr.analysis.speakers.make_voiceprint`'s ``rooms``; the synthetic rooms are
not the measured ones the test lines are in).

For each condition: identification error rate (pyannote.metrics, target lines only, each
line one segment), impostor false-accept rate, and the equal-error threshold. The threshold
sweep gives the calibration of :data:`adr.analysis.speakers.DEFAULT_THRESHOLD` (chosen on this same
data: optimistic). Writes bench/results_speakers.json.

Run: ``.venv/bin/python bench/bench_speakers.py`` (about 3 min on 2 cores).
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_prosody import CORPUS, NOISES, ROOT, SR, load, mix  # noqa: E402

ENROLL_SECONDS = 60.0
SNRS: list[float | None] = [None, 0.0, -5.0]
#: SNRs of the lines put in a measured room (embedded after DeepFilterNet3 only).
ROOM_SNRS: list[float | None] = [None, 0.0]
#: RT60s of the synthetic rooms of the ``rooms`` voiceprints.
ROOMS = (0.3, 0.6)
PRINTS = ("dry", "rooms")
IMPOSTOR_PREFIXES = (
    "speech_clean/cmu_arctic_misc/",
    "speech_clean/vctk16k_autovc/p225/p225_00",
    "speech_clean/vctk16k_autovc/p226/p226_00",
    "speech_clean/ljspeech_coqui/LJ001-000",
    "speech_clean/picovoice_eagle/",
    "speech_clean/librosa_libri/",
    "speech_clean/rtvc_samples_mp3/",
    "speech_clean/misc/xmas",
)


def manifest() -> list[dict[str, str]]:
    with open(CORPUS / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def split_enrolled(rows: list[dict[str, str]]) -> dict[str, tuple[list[str], list[str]]]:
    """Per LibriSpeech speaker: (enrollment paths ~ENROLL_SECONDS, held-out test paths)."""
    by: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        if r["path"].startswith("speech_clean/librispeech_test-other/") and r["speaker"]:
            by.setdefault(r["speaker"].split()[0], []).append(r)
    out = {}
    for spk, rs in sorted(by.items()):
        rs = sorted(rs, key=lambda r: r["path"])
        enroll, total = [], 0.0
        for r in rs[:-3]:
            if total >= ENROLL_SECONDS:
                break
            enroll.append(r["path"])
            total += float(r["duration_s"])
        out[spk] = (enroll, [r["path"] for r in rs if r["path"] not in enroll][-3:])
    return out


def impostors(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    """(speaker, path) of clips from non-enrolled speakers, at most 3 per speaker, >= 1.5 s."""
    out: list[tuple[str, str]] = []
    count: dict[str, int] = {}
    for r in rows:
        audio = r["path"].endswith((".wav", ".flac", ".mp3", ".ogg"))
        if audio and r["path"].startswith(IMPOSTOR_PREFIXES) and float(r["duration_s"] or 0) >= 1.5:
            if count.get(r["speaker"], 0) < 3:
                count[r["speaker"]] = count.get(r["speaker"], 0) + 1
                out.append((r["speaker"], r["path"]))
    return out


def main() -> None:
    from pyannote.core import Annotation, Segment

    from adr.analysis.denoise import denoise
    from adr.analysis.speakers import (
        UNKNOWN,
        SpeakerMatch,
        decide,
        embed,
        identification_error_rate,
        make_voiceprint,
        score,
        to_annotation,
    )
    from bench.conditions import _room

    t0 = time.time()
    rows = manifest()
    split = split_enrolled(rows)
    imps = impostors(rows)
    prints = {}
    for name in PRINTS:
        rooms = ROOMS if name == "rooms" else ()
        prints[name] = [make_voiceprint(spk, [load(p) for p in enroll], SR, rooms=rooms)
                        for spk, (enroll, _) in split.items()]
    targets = [(spk, p) for spk, (_, test) in split.items() for p in test]
    rng = np.random.default_rng(1)
    noises = [load(n) for n in NOISES]
    rirs = [_room(p) for p in sorted((CORPUS / "rir").glob("*/*.wav"))]
    plan = [(None if snr is None else snr, False, m) for snr in SNRS for m in ("none", "dfn3")]
    plan += [(snr, True, "dfn3") for snr in ROOM_SNRS]
    # scores[print][condition] = list of (true speaker, is_target, {actor: score}, duration)
    scores: dict[str, dict[str, list[tuple[str, bool, dict[str, float], float]]]] = {
        name: {} for name in PRINTS}
    for i, (spk, path) in enumerate(targets + imps):
        clean = load(path)
        mixed: dict[tuple[float | None, bool], np.ndarray] = {}
        for snr, room, method in plan:
            if (snr, room) not in mixed:
                x = clean
                if room:
                    x = fftconvolve(clean, rirs[i % len(rirs)])[: len(clean)].astype(np.float32)
                mixed[(snr, room)] = x if snr is None else mix(x, noises[i % len(noises)], snr, rng)[0]
            x = mixed[(snr, room)]
            y = x if method == "none" else denoise(x, SR, "dfn3")
            e = embed(y, SR)
            key = f"{'room-' if room else ''}{'clean' if snr is None else f'{snr:g}'}/{method}"
            for name in PRINTS:
                scores[name].setdefault(key, []).append(
                    (spk, i < len(targets), score(e, prints[name]), len(clean) / SR))
    # threshold sweep per condition and pooled
    thresholds = np.round(np.arange(0.50, 0.90, 0.01), 2)
    margin = 0.02

    def evaluate(entries: list, thr: float) -> dict[str, float]:
        ref, hyp = Annotation(), Annotation()
        t = 0.0
        matches = []
        fa = 0
        n_imp = 0
        for spk, is_target, s, dur in entries:
            actor, top = decide(s, thr, margin)
            if is_target:
                ref[Segment(t, t + dur)] = spk
                matches.append(SpeakerMatch(actor, top, s, t, t + dur))
                t += dur + 1.0
            else:
                n_imp += 1
                fa += actor != UNKNOWN
        hyp = to_annotation([m for m in matches if m.actor != UNKNOWN])
        ier = identification_error_rate(ref, hyp)
        return {"ier": round(ier, 4), "impostor_false_accept": round(fa / max(n_imp, 1), 4)}

    def summarize(by_condition: dict[str, list]) -> tuple[dict[str, dict], str]:
        results: dict[str, dict] = {}
        for key, entries in by_condition.items():
            sweep = {f"{thr:.2f}": evaluate(entries, float(thr)) for thr in thresholds}
            tgt = [(spk, max(s.items(), key=lambda kv: kv[1])[0]) for spk, it, s, _ in entries if it]
            results[key] = {
                "top1_accuracy_closed_set": round(float(np.mean([a == spk for spk, a in tgt])), 4),
                "target_scores_mean": round(float(np.mean([s[spk] for spk, it, s, _ in entries if it])), 4),
                "impostor_best_score_mean": round(float(np.mean([max(s.values()) for _, it, s, _ in entries if not it])), 4),
                "sweep": sweep,
            }
        # the threshold minimizing IER + false accepts of the default pipeline (DeepFilterNet3
        # before embedding), pooled over every condition
        pooled = [k for k in results if k.endswith("/dfn3")]
        cost = {
            t: float(np.mean([results[k]["sweep"][t]["ier"] + results[k]["sweep"][t]["impostor_false_accept"] for k in pooled]))
            for t in results[pooled[0]]["sweep"]
        }
        return results, min(cost, key=lambda t: (cost[t], -float(t)))

    by_print = {name: summarize(scores[name]) for name in PRINTS}
    from adr.analysis import speakers

    out = {
        "description": __doc__.strip().splitlines()[0],
        "enrolled": {spk: {"enroll": e, "test": t} for spk, (e, t) in split.items()},
        "num_target_lines": len(targets),
        "num_impostor_lines": len(imps),
        "impostor_speakers": sorted({s for s, _ in imps}),
        "margin": margin,
        "enroll_rooms_rt60": list(ROOMS),
        "default_threshold": f"{speakers.DEFAULT_THRESHOLD:.2f}",
        "default_rooms_rt60": list(speakers.ENROLL_ROOMS),
        "voiceprints": {
            name: {
                "calibrated_threshold": best,
                "at_calibrated_threshold": {k: v["sweep"][best] for k, v in res.items()},
                "at_default_threshold": {
                    k: v["sweep"].get(f"{speakers.DEFAULT_THRESHOLD:.2f}") for k, v in res.items()},
                "conditions": res,
            } for name, (res, best) in by_print.items()},
        "total_s": round(time.time() - t0, 1),
        "note": "threshold chosen on the same lines it is evaluated on (optimistic); 2 shared cores",
    }
    (ROOT / "bench" / "results_speakers.json").write_text(json.dumps(out, indent=1) + "\n")
    for name, (res, best) in by_print.items():
        sys.stdout.write(f"{name}: calibrated threshold {best}\n")
        for k, v in res.items():
            sys.stdout.write(
                f"  {k:16s} top1={v['top1_accuracy_closed_set']} tgt={v['target_scores_mean']} "
                f"imp={v['impostor_best_score_mean']} at {best}: {v['sweep'][best]}\n"
            )


if __name__ == "__main__":
    main()

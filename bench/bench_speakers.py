"""Actor identification under the bench's noise and rooms, on the corpus and the demo.

Two actor sets, each scored on its own held-out lines and on impostors (never enrolled):

* ``corpus``: the 5 LibriSpeech test-other speakers of ../shared/corpus, each enrolled from
  about one minute of clean speech (their first utterances), tested on 3 remaining
  utterances each. Impostors: CMU ARCTIC, VCTK, LJSpeech, Picovoice, LibriVox and other
  LibriSpeech speakers of the corpus.
* ``demo``: the 3 actors of the quick demo production (:func:`adr.demo.build_demo`),
  enrolled from their enrollment WAVs, tested on the 10 scene lines. Impostors: the
  corpus's impostor lines and the corpus actors' test lines.

Conditions (every line embedded after DeepFilterNet3, as the analysis does): ``clean``
(dry), ``room`` (a measured room response of the corpus, no noise), ``10 dB``, ``0 dB``,
``-5 dB`` (room plus real noise, :func:`bench.conditions.degrade`, as bench/run.py builds
its lines), and for the demo ``production`` (the line's span of the demo's own mixed track,
at its own noise and room).

Voiceprints compared on the same line embeddings:

* ``v1`` (before): the mean of the clean enrollment embeddings, threshold 0.75, margin 0.02.
* ``v1-rooms``: v1 enrolled in synthetic rooms as well (RT60 0.3 and 0.6 s).
* ``v2`` (after, :func:`adr.analysis.speakers.make_voiceprint`'s default): clean plus
  :data:`adr.analysis.speaker_damage.ENROLL_COPIES` damaged, denoised copies; per-actor
  threshold calibrated on the enrollment's own held-out copies; the margin rule.

Metrics per condition: identification error rate of the enrolled actors' lines
(pyannote.metrics; a line one segment; "unknown" counts as an error), impostor false-accept
rate, closed-set top-1 accuracy, mean target / best impostor score. Line embeddings are
cached in bench/work/speakers/ (delete it to recompute). Writes bench/results/results_speakers.json
and bench/results/results_speakers.md.

Run: ``.venv/bin/python -m bench.bench_speakers [--demo DIR]`` (about 15 min on 2 shared
cores from an empty cache, torch on one thread).
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_prosody import CORPUS, NOISES, ROOT, SR, load

ENROLL_SECONDS = 60.0
#: name -> (SNR dB or None, in a measured room)
CONDITIONS: dict[str, tuple[float | None, bool]] = {
    "clean": (None, False),
    "room": (None, True),
    "10 dB": (10.0, True),
    "0 dB": (0.0, True),
    "-5 dB": (-5.0, True),
}
V1_THRESHOLD, V1_MARGIN = 0.75, 0.02
ROOMS = (0.3, 0.6)
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
CACHE = ROOT / "bench" / "work" / "speakers"


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


def cached(name: str, make: Callable[[], Any]) -> Any:
    path = CACHE / f"{name}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    value = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(value))
    return value


def line_embeddings(
    lines: list[tuple[str, str, np.ndarray]],
    conditions: list[str],
    noises: list[np.ndarray],
    rirs: list[np.ndarray],
) -> dict[str, list[tuple[str, np.ndarray, float]]]:
    """condition -> [(true speaker, embedding after DeepFilterNet3, seconds)] for each line."""
    import zlib

    from adr.analysis.denoise import denoise
    from adr.analysis.speakers import embed
    from bench.conditions import degrade

    out: dict[str, list[tuple[str, np.ndarray, float]]] = {c: [] for c in conditions}
    for i, (spk, key, clean) in enumerate(lines):
        for cond in conditions:
            snr, room = CONDITIONS[cond]
            rng = np.random.default_rng(zlib.crc32(f"{key}|{cond}".encode()))
            x = degrade(
                clean,
                snr,
                noises[i % len(noises)] if snr is not None else None,
                rirs[i % len(rirs)] if room else None,
                rng,
            )
            out[cond].append((spk, embed(denoise(x, SR, "dfn3"), SR), len(clean) / SR))
    return out


def prints_of(enrollments: dict[str, list[np.ndarray]], tag: str) -> dict[str, list[Any]]:
    """The three voiceprint kinds of each actor (cached per actor set)."""
    from adr.analysis.speaker_damage import enrollment_embeddings, voiceprint_from_embeddings
    from adr.analysis.speakers import make_voiceprint

    out: dict[str, list[Any]] = {"v1": [], "v1-rooms": [], "v2": []}
    for actor, utts in enrollments.items():
        emb = cached(f"enroll-{tag}-{actor}", lambda u=utts: enrollment_embeddings(u, SR))
        out["v1"].append(voiceprint_from_embeddings(actor, emb.clean))
        out["v1-rooms"].append(
            cached(
                f"rooms-{tag}-{actor}",
                lambda a=actor, u=utts: make_voiceprint(a, u, SR, rooms=ROOMS, copies=0),
            )
        )
        out["v2"].append(voiceprint_from_embeddings(actor, emb.clean, emb))
    return out


def evaluate(
    prints: list[Any],
    targets: list[tuple[str, np.ndarray, float]],
    imps: list[tuple[str, np.ndarray, float]],
    v1: bool,
) -> dict[str, float]:
    """IER of the target lines, impostor false accepts, top-1 and mean scores."""
    from pyannote.core import Annotation, Segment

    from adr.analysis.speakers import (
        UNKNOWN,
        SpeakerMatch,
        decide_print,
        identification_error_rate,
        score,
        to_annotation,
    )

    def decide(e: np.ndarray) -> tuple[str, dict[str, float]]:
        s = score(e, prints)
        if v1:
            return decide_print(s, prints, threshold=V1_THRESHOLD, margin=V1_MARGIN)[0], s
        return decide_print(s, prints)[0], s

    ref, matches, t = Annotation(), [], 0.0
    tgt_scores, top1 = [], []
    for spk, e, dur in targets:
        actor, s = decide(e)
        ref[Segment(t, t + dur)] = spk
        if actor != UNKNOWN:
            matches.append(SpeakerMatch(actor, s[actor], s, t, t + dur))
        tgt_scores.append(s[spk])
        top1.append(max(s, key=lambda a: s[a]) == spk)
        t += dur + 1.0
    fa, imp_best = 0, []
    for _, e, _ in imps:
        actor, s = decide(e)
        fa += actor != UNKNOWN
        imp_best.append(max(s.values()))
    return {
        "ier": round(identification_error_rate(ref, to_annotation(matches)), 4),
        "impostor_false_accept": round(fa / max(len(imps), 1), 4),
        "top1_closed_set": round(float(np.mean(top1)), 4),
        "target_score_mean": round(float(np.mean(tgt_scores)), 4),
        "impostor_best_score_mean": round(float(np.mean(imp_best)), 4),
    }


def main() -> None:
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--demo",
        type=Path,
        default=ROOT / "bench" / "work" / "demo",
        help="demo production folder (built quick if missing)",
    )
    args = parser.parse_args()
    from adr.analysis import speaker_damage, speakers
    from adr.analysis.denoise import denoise
    from adr.demo import build_demo
    from bench.conditions import _read_audio, _room, demo_utterances

    t0 = time.time()
    rows = manifest()
    split = split_enrolled(rows)
    imps = impostors(rows)
    noises = [load(n) for n in NOISES]
    rirs = [_room(p) for p in sorted((CORPUS / "rir").glob("*/*.wav"))]
    conds = list(CONDITIONS)

    corpus_lines = [(spk, p, load(p)) for spk, (_, test) in split.items() for p in test]
    imp_lines = [(spk, p, load(p)) for spk, p in imps]
    emb_targets = cached("corpus-lines", lambda: line_embeddings(corpus_lines, conds, noises, rirs))
    emb_imps = cached("impostor-lines", lambda: line_embeddings(imp_lines, conds, noises, rirs))

    prod = build_demo(args.demo, quick=True)
    demo = demo_utterances(prod)
    demo_lines = [(u.speaker.removeprefix("demo-"), u.id, u.audio) for u in demo]
    emb_demo = cached("demo-lines", lambda: line_embeddings(demo_lines, conds, noises, rirs))
    emb_demo["production"] = cached(
        "demo-production",
        lambda: [
            (
                u.speaker.removeprefix("demo-"),
                speakers.embed(denoise(u.noisy, SR, "dfn3"), SR),
                len(u.noisy) / SR,
            )
            for u in demo
        ],
    )
    demo_enroll = {
        a.actor: [
            _read_audio(p)  # at BENCH_RATE == SR
            for p in sorted((prod.root / a.enrollment_dir).glob("*.wav"))
        ]
        for a in prod.actors
    }

    sets = {
        "corpus": (
            prints_of({spk: [load(p) for p in e] for spk, (e, _) in split.items()}, "corpus"),
            emb_targets,
            emb_imps,
        ),
        "demo": (
            prints_of(demo_enroll, "demo"),
            emb_demo,
            {c: emb_imps[c] + emb_targets[c] for c in conds},
        ),
    }
    results: dict[str, Any] = {}
    for name, (prints, targets, imp) in sets.items():
        results[name] = {}
        for kind, vps in prints.items():
            results[name][kind] = {
                cond: evaluate(
                    vps, targets[cond], imp.get(cond, imp["0 dB"]), kind.startswith("v1")
                )
                for cond in targets
            }
        results[name]["v2_thresholds"] = {vp.actor: vp.threshold for vp in prints["v2"]}
    out = {
        "description": __doc__.strip().splitlines()[0],
        "enrolled_corpus": {spk: {"enroll": e, "test": t} for spk, (e, t) in split.items()},
        "demo_actors": {a: len(u) for a, u in demo_enroll.items()},
        "num_corpus_target_lines": len(corpus_lines),
        "num_demo_lines": len(demo),
        "num_impostor_lines": len(imps),
        "impostor_speakers": sorted({s for s, _ in imps}),
        "v1": {"threshold": V1_THRESHOLD, "margin": V1_MARGIN, "rooms_rt60": list(ROOMS)},
        "v2": {
            "copies": speaker_damage.ENROLL_COPIES,
            "quantile": speaker_damage.CALIBRATION_QUANTILE,
            "margin": speakers.DEFAULT_MARGIN,
        },
        "results": results,
        "total_s": round(time.time() - t0, 1),
        "note": "demo production impostors are scored at the 0 dB condition's impostor lines",
    }
    (ROOT / "bench" / "results" / "results_speakers.json").write_text(
        json.dumps(out, indent=1) + "\n"
    )
    md = [
        "## Actor identification (`bench/bench_speakers.py`)",
        "",
        "IER / impostor false accepts (top-1 closed set) per condition, lines embedded after "
        "DeepFilterNet3.",
        "",
    ]
    for name in sets:
        cols = list(results[name]["v1"])
        md += [
            f"### {name}",
            "",
            "| voiceprint | " + " | ".join(cols) + " |",
            "|---|" + "---|" * len(cols),
        ]
        for kind in ("v1", "v1-rooms", "v2"):
            r = results[name][kind]
            md.append(
                f"| {kind} | "
                + " | ".join(
                    f"{r[c]['ier']:.2f} / {r[c]['impostor_false_accept']:.2f} "
                    f"({r[c]['top1_closed_set']:.2f})"
                    for c in cols
                )
                + " |"
            )
        md += ["", f"v2 thresholds: {results[name]['v2_thresholds']}", ""]
    (ROOT / "bench" / "results" / "results_speakers.md").write_text("\n".join(md) + "\n")
    sys.stdout.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()

"""Train the speaker-independent base restorer adr ships (issue #9), from the dev corpus.

Speakers of ``../shared/corpus`` that no benchmark line comes from (LibriSpeech test-other
1688, 2033, 2414, 3080; the LibriSpeech clips of librosa and of Picovoice's Eagle demo;
the CMU ARCTIC clips): every clip is transcribed by Whisper where the corpus has no text,
force-aligned and measured as enrollment measures an actor's clean line, damaged
``--copies`` times by :func:`adr.voice.damage_sim.damage_line` and analysed as a production
line (:func:`adr.voice.enroll_restorer.restorer_examples`, each speaker with the donor its
pitch chooses). One restorer is trained on the pooled pairs and written with
:func:`adr.voice.base_restorer.save_base`. Benchmark speakers (VCTK p225/p226/p287,
LJSpeech, LibriSpeech 1998) are never used.

Resumable: each speaker's pairs are cached in ``bench/work/base/``, training checkpoints
there too; a rerun continues. Run from the project root::

    .venv/bin/python -m bench.train_base --steps 6000 --out adr/voice/assets/base-restorer-v1
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "base"
#: Corpus folders whose speakers the base learns from, and speakers never to use.
SOURCES = (
    "speech_clean/librispeech_test-other/",
    "speech_clean/librosa_libri/",
    "speech_clean/picovoice_eagle/",
    "speech_clean/cmu_arctic_misc/",
)
BENCH_SPEAKERS = ("LS-1998", "VCTK-p225", "VCTK-p226", "VCTK-p287", "LJ")
LICENCES = {
    "librispeech_test-other": "LibriSpeech, CC BY 4.0 (V. Panayotov et al.)",
    "librosa_libri": "LibriSpeech, CC BY 4.0 (V. Panayotov et al.)",
    "picovoice_eagle": "LibriSpeech, CC BY 4.0 (via Picovoice Eagle demo, Apache-2.0)",
    "cmu_arctic_misc": "CMU ARCTIC, CMU licence (free use, copyright notice kept)",
}


def corpus_rows(root: Path) -> dict[str, list[dict[str, str]]]:
    """Manifest rows per speaker (audio files of :data:`SOURCES`, no benchmark speaker)."""
    import csv

    with open(root / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    out: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        speaker = row["speaker"].split(" ")[0]
        if (
            not row["path"].startswith(SOURCES)
            or speaker in BENCH_SPEAKERS
            or Path(row["path"]).suffix.lower() not in (".wav", ".flac")
        ):
            continue
        out.setdefault(speaker, []).append(row)
    return out


def clean_lines(root: Path, rows: list[dict[str, str]], log: Any) -> list[Any]:
    """The speaker's clips as aligned :class:`~adr.voice.enroll_restorer.CleanLine` s."""
    from adr.analysis.asr import transcribe
    from adr.core.errors import AdrError
    from adr.voice.enroll import analyse_clean_line
    from adr.voice.enroll_restorer import CleanLine, words_from_phones
    from bench.conditions import BENCH_RATE, _read_audio

    lines = []
    for row in rows:
        x = _read_audio(root / row["path"])
        text = row["transcript"].strip() or transcribe(x, language="en").text.strip()
        if not text:
            continue
        try:
            phones, pros = analyse_clean_line(x, BENCH_RATE, text)
        except AdrError as exc:
            log(f"train_base: {row['path']}: skipped ({exc.problem})")
            continue
        lines.append(
            CleanLine(
                text,
                words_from_phones(text, phones),
                phones,
                pros,
                0.0,
                len(x) / BENCH_RATE,
                x,
                BENCH_RATE,
            )
        )
    return lines


def _save_examples(path: Path, examples: list[Any]) -> None:
    from adr.core.fsio import atomic_path

    arrays: dict[str, np.ndarray] = {}
    for i, ex in enumerate(examples):
        x = ex.inputs
        for name in ("donor_mel", "take_mel", "reliability", "f0", "voiced", "loudness"):
            arrays[f"{i}/{name}"] = np.asarray(getattr(x, name), dtype=np.float32)
        arrays[f"{i}/target"] = np.asarray(ex.target, dtype=np.float32)
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def _load_examples(path: Path) -> list[Any]:
    from adr.voice.restorer import RestorerInputs
    from adr.voice.train_restorer import RestorerExample

    with np.load(path, allow_pickle=False) as z:
        n = len({k.split("/")[0] for k in z.files})
        return [
            RestorerExample(
                RestorerInputs(
                    *(
                        z[f"{i}/{k}"]
                        for k in (
                            "donor_mel",
                            "take_mel",
                            "reliability",
                            "f0",
                            "voiced",
                            "loudness",
                        )
                    )
                ),
                z[f"{i}/target"],
            )
            for i in range(n)
        ]


def speaker_examples(
    root: Path, speaker: str, rows: list[dict[str, str]], config: Any, copies: int, log: Any
) -> tuple[list[Any], float]:
    """Training pairs of one speaker (cached), and the seconds of speech they come from."""
    from adr.voice.donor import choose_donor
    from adr.voice.enroll_restorer import actor_f0_median, restorer_examples
    from adr.voice.train_restorer import RestorerTrainConfig

    cache = WORK / f"examples-{speaker}-{copies}.npz"
    seconds = sum(float(r["duration_s"] or 0) for r in rows)
    if cache.is_file():
        return _load_examples(cache), seconds
    t0 = time.perf_counter()
    lines = clean_lines(root, rows, log)
    if not lines:
        return [], 0.0
    f0 = actor_f0_median(lines)
    spk_config = dataclasses.replace(
        config, f0_median=round(f0, 1), donor=choose_donor(f0) if f0 > 0 else config.donor
    )
    examples = restorer_examples(
        lines, spk_config, RestorerTrainConfig(damaged_copies=copies, seed=len(speaker))
    )
    _save_examples(cache, examples)
    log(
        f"train_base: {speaker}: {len(lines)} lines, {len(examples)} pairs, donor "
        f"{spk_config.donor}, {time.perf_counter() - t0:.0f} s"
    )
    return examples, seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--copies", type=int, default=4, help="damaged copies per clean line")
    ap.add_argument(
        "--restorer",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a RestorerConfig field (repeatable; e.g. residual=true)",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True, help="base restorer path (stem)")
    ap.add_argument("--data-only", action="store_true", help="build the pairs, do not train")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    from adr.core.progress import ProgressEvent
    from adr.voice.base_restorer import save_base
    from adr.voice.restorer import RestorerConfig
    from adr.voice.train_restorer import RestorerTrainConfig, train_restorer
    from bench.bench_oracle import ablation_configs
    from bench.conditions import corpus_root

    torch.set_num_threads(args.threads)
    root = corpus_root()
    if root is None:
        log("train_base: ../shared/corpus is absent (set ADR_CORPUS)")
        return 2
    rconf, _ = ablation_configs(args.restorer, [], "fast")
    config = rconf or RestorerConfig()
    examples: list[Any] = []
    data: dict[str, Any] = {"speakers": {}, "licences": sorted(set(LICENCES.values()))}
    for speaker, rows in sorted(corpus_rows(root).items()):
        ex, seconds = speaker_examples(root, speaker, rows, config, args.copies, log)
        if ex:
            examples += ex
            data["speakers"][speaker] = {"files": len(rows), "seconds": round(seconds, 1)}
    log(f"train_base: {len(examples)} pairs from {len(data['speakers'])} speakers")
    if args.data_only:
        return 0
    tc = RestorerTrainConfig(
        steps=args.steps, batch_size=12, damaged_copies=args.copies, checkpoint_every=250
    )
    t0 = time.perf_counter()

    def progress(ev: ProgressEvent) -> None:
        if ev.stage == "train restorer" and (ev.done % 250 == 0 or ev.done == ev.total):
            log(f"train_base: step {ev.done}/{ev.total} {ev.info} {time.perf_counter() - t0:.0f} s")

    model = train_restorer(examples, config, tc, WORK / "train", progress=progress)
    training = {
        **tc.to_dict(),
        "pairs": len(examples),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    for p in save_base(args.out, model, training=training, data=data):
        log(f"train_base: wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

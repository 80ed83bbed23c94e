"""Oracle swap (issue #9, step 1): which analysis feature costs adr's take its intelligibility.

Each bench line (a clean corpus line and its degraded copies, built by
:func:`bench.conditions.build_set` as ``bench/run.py`` builds them) is analysed twice the way
:func:`adr.voice.respeak.respeak` does (16 kHz, ``RESPEAK_OPTIONS``, script mode: the cue text
is the line's transcript): the noisy line and its clean original. The speaker's voice then
renders the noisy analysis with one feature taken from the clean analysis:

* ``noisy``: every feature from the noisy line (what adr does today);
* ``oracle alignment``: word and phone times (they also place the render's word gate);
* ``oracle f0+voicing``: ``prosody.f0`` and ``prosody.voiced``;
* ``oracle loudness``: ``prosody.energy`` (the voice model's loudness input: the contour
  only, since ``render_line`` shifts its voiced median to the voice's training level);
* ``oracle all``: alignment and the whole prosody (should equal ``clean line``);
* ``noisy, donor only`` and ``oracle all, donor only``: a restorer voice rendering without
  the production take (reliability 0 everywhere), from the script's donor and the prosody
  alone: whether the take or the donor misleads it (a DDSP voice never reads the take);
* ``noisy, hard reliability`` and ``noisy, take where sure``: the ``noisy`` render with the
  take's reliability thresholded at render (0/1 at 0.5; kept only where at least 0.8):
  whether a selecting prior would beat the trained mixing one without retraining;
* ``noisy, reliability +3 dB``: the reliability's logistic moved 3 dB down in local SNR
  (more of the take trusted); ``noisy, donor loudness where unsure``: the loudness input
  blended towards the donor's frame level where the take is unreliable; ``noisy, both``;
* ``noisy, polished``: the ``noisy`` render passed through the denoiser afterwards;
* ``clean line``: the clean line's own analysis rendered;

beside the peers ``noisy input`` and ``clean original``. Every output is measured with the
bench's own :func:`bench.run.measure` (Whisper WER, speaker similarity, DNSMOS, F0 against
the clean line). Voices come from :func:`bench.adr_system.plan_voices` with the held-out
utterances excluded from their material (the ``fast-full`` voices of ``run.py --full`` for up
to 3 lines per speaker), so no line is rendered by a voice that heard it.

Run from the project root (needs ``../shared/corpus``)::

    .venv/bin/python -m bench.bench_oracle                   # 2 lines per speaker, 3 conditions
    .venv/bin/python -m bench.bench_oracle --lines 3 --conditions=0,-5
    .venv/bin/python -m bench.bench_oracle --render-only     # results_oracle.md from the JSON

Writes ``bench/results/results_oracle.json`` (per line and variant) and
``bench/results/results_oracle.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from adr.core.errors import AdrError  # noqa: E402
from adr.core.fsio import read_json, write_json, write_text  # noqa: E402
from bench.adr_system import VOICES_DIR, VoiceBank, enroll_voices, plan_voices  # noqa: E402
from bench.conditions import CONDITIONS, BenchLine, BenchSet, build_set, load_corpus  # noqa: E402,E501
from bench.measure import start  # noqa: E402
from bench.run import FULL_LINES, _nan_to_none, git_commit, machine_info, measure, warm_up  # noqa: E402,E501

#: Speakers with transcripts in the quick mode (LibriSpeech has none; VoiceBank is real noise).
SPEAKERS = ("vctk:p225", "vctk:p226", "ljspeech:LJ")
MEASURES = ("wer", "similarity", "dnsmos", "f0")
#: Variant -> (alignment from the clean analysis, prosody fields from the clean analysis,
#: the production take given to a restorer voice).
SWAPS: dict[str, tuple[bool, tuple[str, ...], bool]] = {
    "noisy": (False, (), True),
    "oracle alignment": (True, (), True),
    "oracle f0+voicing": (False, ("f0", "voiced"), True),
    "oracle loudness": (False, ("energy",), True),
    "oracle all": (True, ("f0", "voiced", "energy"), True),
    "noisy, donor only": (False, (), False),
    "oracle all, donor only": (True, ("f0", "voiced", "energy"), False),
}
#: Render-time changes to the ``noisy`` variant, same voice, no retraining: the restorer's
#: inputs (:class:`adr.voice.restorer.RestorerInputs`) mapped through a function before it
#: reads them (name -> inputs -> inputs), or the rendered take polished by the denoiser
#: afterwards.
INPUT_MAPS: dict[str, Any] = {
    "noisy, hard reliability": lambda x: _with_reliability(x, (x.reliability >= 0.5) * 1.0),
    "noisy, take where sure": lambda x: _with_reliability(
        x, np.where(x.reliability >= 0.8, x.reliability, 0.0)
    ),
    "noisy, reliability +3 dB": lambda x: _with_reliability(x, _shift_logit(x.reliability, 1.0)),
    "noisy, donor loudness where unsure": lambda x: _donor_loudness(x),
    "noisy, both": lambda x: _donor_loudness(
        _with_reliability(x, _shift_logit(x.reliability, 1.0))
    ),
}
#: Render-time changes to the restorer's predicted mel (the same voice): variant -> (the
#: production take given, the mel mapped through ``match_timbre`` toward the actor's
#: long-term log-mel measured on the voice's own enrollment files).
OUTPUT_MAPS: dict[str, bool] = {
    "noisy, actor timbre": True,
    "noisy, donor only, actor timbre": False,
}
#: Unit selection from the actor's enrollment frames (:mod:`adr.voice.units`): variant ->
#: (the production take given, the restorer run; else the selected mel is vocoded as is).
UNIT_MAPS: dict[str, tuple[bool, bool]] = {
    "actor units": (False, False),
    "noisy, actor units as donor": (True, True),
    "actor units as donor, donor only": (False, True),
}
POLISHED = "noisy, polished"
VARIANTS = (
    *SWAPS,
    *INPUT_MAPS,
    *OUTPUT_MAPS,
    *UNIT_MAPS,
    POLISHED,
    "clean line",
    "noisy input",
    "clean original",
)
OUT = ROOT / "bench" / "results" / "results_oracle"


def swap(noisy: Any, clean: Any, alignment: bool, prosody: Sequence[str] = ()) -> Any:
    """The noisy line's analysis with some features taken from the clean line's.

    Parameters
    ----------
    noisy, clean : adr.analysis.analyze.LineAnalysis
        Analyses of the same cue span (same start, end and prosody frame grid).
    alignment : bool
        Take the word and phone times from ``clean``.
    prosody : sequence of str
        :class:`adr.core.types.Prosody` arrays to take from ``clean`` (``f0``, ``voiced``,
        ``energy``), shape (T,) each.

    Returns
    -------
    LineAnalysis
        A copy of ``noisy`` (cue, text, transcript ... unchanged) with the swapped features.
    """
    p, q = noisy.prosody, clean.prosody
    if prosody and (
        p.num_frames != q.num_frames or p.start != q.start or p.frame_period != q.frame_period
    ):
        raise ValueError(
            f"swap: prosody grids differ ({p.num_frames} frames at {p.start} s vs "
            f"{q.num_frames} at {q.start} s)"
        )
    pros = dataclasses.replace(p, **{k: getattr(q, k) for k in prosody}) if prosody else p
    return dataclasses.replace(
        noisy, alignment=clean.alignment if alignment else noisy.alignment, prosody=pros
    )


def analyse(audio: np.ndarray, sr: int, text: str, cue_id: str, actor: str) -> Any:
    """:func:`adr.voice.respeak.respeak`'s analysis of a clip (script mode, 16 kHz)."""
    from adr.analysis.analyze import ANALYSIS_RATE, analyze_line
    from adr.analysis.denoise import resample
    from adr.core.names import as_name
    from adr.core.types import Cue
    from adr.voice.respeak import RESPEAK_OPTIONS

    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    x16 = resample(x, sr, ANALYSIS_RATE) if sr != ANALYSIS_RATE else x
    cue = Cue(
        id=as_name(cue_id), character="", actor=actor, start=0.0, end=len(x) / sr, text=text.strip()
    )
    return analyze_line(
        cue, x16, ANALYSIS_RATE, picture=None, voiceprints=(), options=RESPEAK_OPTIONS
    )


def render(analysis: Any, voice: Any, sr: int, n: int, audio: np.ndarray | None) -> np.ndarray:
    """:func:`adr.voice.render.render_line` (seed 0) given the line's own ``audio`` (at
    ``sr``: the take a restorer voice reads; ``None``: no take), resampled to ``sr`` and cut
    to ``n`` samples exactly as :func:`adr.voice.respeak.respeak` does; shape (n,), float32."""
    from adr.analysis.analyze import ANALYSIS_RATE
    from adr.analysis.denoise import resample
    from adr.voice.render import render_line

    x16 = (
        None if audio is None else resample(np.asarray(audio, dtype=np.float32), sr, ANALYSIS_RATE)
    )
    r = render_line(analysis, voice, text=None, seed=0, audio=x16, sample_rate=ANALYSIS_RATE)
    y = resample(r.audio, r.sample_rate, sr)
    return np.pad(y[:n], (0, max(0, n - len(y)))).astype(np.float32)


def _with_reliability(inputs: Any, rel: np.ndarray) -> Any:
    return dataclasses.replace(inputs, reliability=np.asarray(rel, dtype=np.float32))


def _shift_logit(rel: np.ndarray, by: float) -> np.ndarray:
    """``rel`` (T,) with its logit raised by ``by`` (1.0: the logistic's midpoint 3 dB lower
    in local SNR, as its slope is 3 dB)."""
    r = np.clip(np.asarray(rel, dtype=np.float64), 1e-6, 1 - 1e-6)
    return 1.0 / (1.0 + np.exp(-(np.log(r / (1 - r)) + by)))


def _donor_loudness(inputs: Any) -> Any:
    """``inputs`` with the loudness (T,) taken from the donor's mel where the take is unsure:
    ``r * line + (1 - r) * donor``, the donor's frame level (dB) shifted so that its 95th
    percentile is the line's (the restorer reads loudness relative to that percentile)."""
    line = np.asarray(inputs.loudness, dtype=np.float64)
    donor = 10.0 * np.log10(np.exp(2.0 * np.asarray(inputs.donor_mel, np.float64)).sum(0) + 1e-12)
    donor = np.maximum(donor - np.percentile(donor, 95) + np.percentile(line, 95), line.min())
    r = np.asarray(inputs.reliability, dtype=np.float64)
    return dataclasses.replace(inputs, loudness=(r * line + (1 - r) * donor).astype(np.float32))


@contextlib.contextmanager
def mapped_inputs(fn: Any) -> Iterator[None]:
    """Within the block, the inputs that :func:`adr.voice.speak.line_inputs` builds pass
    through ``fn`` first (a render-time ablation; the voice is unchanged)."""
    import adr.voice.speak as speak_mod

    original = speak_mod.line_inputs

    def mapped(*args: Any, **kwargs: Any) -> Any:
        return fn(original(*args, **kwargs))

    speak_mod.line_inputs = mapped
    try:
        yield
    finally:
        speak_mod.line_inputs = original


def _clean_file(path: str) -> tuple[np.ndarray, int, np.ndarray]:
    """A clean enrollment file: its mono audio (N,), rate, and log-mel (n_mels, T) at the
    reference level (as enrollment measures a clean line's target)."""
    import soundfile as sf

    from adr.analysis.denoise import resample
    from adr.voice.evidence import reference_gain_db
    from adr.voice.vocoder import MEL, log_mel

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    scaled = x * np.float32(10 ** (reference_gain_db(x, sr) / 20))
    return x, sr, log_mel(resample(scaled, sr, MEL.sample_rate)).numpy()


def voice_timbre(voice: Any) -> np.ndarray:
    """The actor's long-term log-mel (:func:`bench.timbre.timbre_of`) over the files the
    voice was enrolled on (its record's sources), shape (n_mels,)."""
    from bench.timbre import timbre_of

    return timbre_of([_clean_file(src.path)[2] for src in voice.record.sources])


@contextlib.contextmanager
def mapped_output(timbre: np.ndarray) -> Iterator[None]:
    """Within the block, the restorer's predicted mel is moved toward ``timbre`` (n_mels,)
    before the vocoder (:func:`bench.timbre.match_timbre`)."""
    import adr.voice.speak as speak_mod
    from adr.voice.vocoder import load_vocoder
    from bench.timbre import match_timbre

    original = speak_mod.speak

    def mapped(restorer: Any, inputs: Any) -> np.ndarray:
        return load_vocoder()(match_timbre(restorer.restore(inputs), timbre))

    speak_mod.speak = mapped
    try:
        yield
    finally:
        speak_mod.speak = original


def file_bank(files: Sequence[str], texts: Sequence[str]) -> Any:
    """The actor's unit bank (:func:`adr.voice.units.bank_line` per file, line index = file
    index) over clean ``files`` with their transcripts ``texts``, each analysed as
    enrollment analyses a clean line."""
    from adr.voice.enroll import analyse_clean_line
    from adr.voice.units import bank_line, join_banks

    banks = []
    for k, (path, text) in enumerate(zip(files, texts)):
        x, sr, mel = _clean_file(path)
        phones, pros = analyse_clean_line(x, sr, text)
        banks.append(bank_line(mel, phones, pros, 0.0, k))
    return join_banks(banks)


def voice_bank(voice: Any, texts: dict[str, str]) -> Any:
    """:func:`file_bank` over the files the voice was enrolled on; ``texts``: file path ->
    transcript."""
    files = [src.path for src in voice.record.sources]
    return file_bank(files, [texts[str(Path(f).resolve())] for f in files])


@contextlib.contextmanager
def unit_inputs(bank: Any, vocode: bool = False, texts: Sequence[str] = ()) -> Iterator[None]:
    """Within the block (enrollment and render alike), the restorer's donor mel is the line
    spoken with the actor's own frames (:func:`adr.voice.units.select_units`); a line of the
    bank (its text one of ``texts``, in bank line order) never takes its own frames. With
    ``vocode`` the restorer is skipped and that mel is vocoded as it is."""
    import adr.voice.speak as speak_mod
    from adr.voice.units import select_units
    from adr.voice.vocoder import load_vocoder

    original, original_speak = speak_mod.line_inputs, speak_mod.speak
    index = {" ".join(t.split()).lower(): k for k, t in enumerate(texts)}

    def mapped(
        text: str,
        words: Any,
        phones: Any,
        prosody: Any,
        start: float,
        end: float,
        config: Any,
        **kw: Any,
    ) -> Any:
        x = original(text, words, phones, prosody, start, end, config, **kw)
        own = index.get(" ".join(text.split()).lower())
        units = select_units(bank, phones, prosody, start, x.num_frames, exclude_line=own)
        return dataclasses.replace(x, donor_mel=units)

    speak_mod.line_inputs = mapped
    if vocode:
        speak_mod.speak = lambda restorer, inputs: load_vocoder()(inputs.donor_mel)
    try:
        yield
    finally:
        speak_mod.line_inputs, speak_mod.speak = original, original_speak


def choose(
    bench_utts: Sequence[Any], per_speaker: int, speakers: Sequence[str] = SPEAKERS
) -> list[str]:
    """Utterance ids: per speaker, ``run.py --full``'s lines first, then corpus order."""
    out = []
    for spk in speakers:
        mine = [u.id for u in bench_utts if u.id.startswith(spk) and u.text.strip()]
        first = [i for i in FULL_LINES if i in mine]
        out += (first + [i for i in mine if i not in first])[:per_speaker]
    return out


def _analysis_info(a: Any) -> dict[str, Any]:
    al = a.alignment
    return {
        "alignment_method": al.method,
        "alignment_score": round(al.score, 3),
        "alignment_confidence": round(al.confidence, 3),
        "voiced_frames": int(np.sum(a.prosody.voiced)),
        "heard": a.transcript.text,
        "warnings": list(a.warnings),
    }


def run(
    bench: BenchSet, bank: VoiceBank, log: Any, save: Any, variants: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Every variant (or those named) of every line, measured; ``save(rows)`` after each
    line. The peers ``noisy input`` and ``clean original`` are always measured."""
    keep = set(variants or VARIANTS) | {"noisy input", "clean original"}
    rows: list[dict[str, Any]] = []
    cache: dict[tuple[str, str], dict[str, Any]] = {}
    clean_an: dict[str, Any] = {}
    timbres: dict[str, np.ndarray] = {}
    banks: dict[str, Any] = {}
    texts = {str(Path(u.path).resolve()): u.text for u in bench.utterances if u.path}
    t_start = time.perf_counter()
    for i, line in enumerate(bench.lines):
        voice = bank.voice(line)
        sr, n = line.sample_rate, len(line.noisy)
        outputs: dict[str, np.ndarray] = {"noisy input": line.noisy, "clean original": line.clean}
        info: dict[str, Any] = {}
        try:
            if voice is None:
                raise AdrError(line.id, "no voice for this speaker")
            t0 = time.perf_counter()
            if line.utterance not in clean_an:
                clean_an[line.utterance] = analyse(
                    line.clean, sr, line.text, line.utterance, voice.record.actor
                )
            clean = clean_an[line.utterance]
            noisy = analyse(line.noisy, sr, line.text, line.id, voice.record.actor)
            info.update(
                analyze_seconds=round(time.perf_counter() - t0, 2),
                noisy_analysis=_analysis_info(noisy),
                clean_analysis=_analysis_info(clean),
                voice=str(bank.folder(line)),
            )
            t0 = time.perf_counter()
            for name, (al, pros, take) in SWAPS.items():
                if name not in keep or (not take and voice.restorer is None):
                    continue
                outputs[name] = render(
                    swap(noisy, clean, al, pros), voice, sr, n, line.noisy if take else None
                )
            for name, fn in INPUT_MAPS.items():
                if name in keep and voice.restorer is not None:
                    with mapped_inputs(fn):
                        outputs[name] = render(noisy, voice, sr, n, line.noisy)
            for name, take in OUTPUT_MAPS.items():
                if name in keep and voice.restorer is not None:
                    where = str(bank.folder(line))
                    if where not in timbres:
                        timbres[where] = voice_timbre(voice)
                    with mapped_output(timbres[where]):
                        outputs[name] = render(noisy, voice, sr, n, line.noisy if take else None)
            for name, (take, restore) in UNIT_MAPS.items():
                if name in keep and voice.restorer is not None:
                    where = str(bank.folder(line))
                    if where not in banks:
                        banks[where] = voice_bank(voice, texts)
                    with unit_inputs(banks[where], vocode=not restore):
                        outputs[name] = render(noisy, voice, sr, n, line.noisy if take else None)
            if POLISHED in keep and "noisy" in outputs:
                from adr.analysis.denoise import denoise

                outputs[POLISHED] = denoise(outputs["noisy"], sr).astype(np.float32)
            if "clean line" in keep:
                outputs["clean line"] = render(clean, voice, sr, n, line.clean)
            info["render_seconds"] = round(time.perf_counter() - t0, 2)
            if {"oracle all", "clean line"} <= set(outputs):
                info["oracle_all_is_clean_line"] = bool(
                    np.array_equal(outputs["oracle all"], outputs["clean line"])
                )
        except AdrError as exc:
            info["error"] = str(exc)
            log(f"  {line.id}: not re-spoken: {exc}")
        refs = bench.references(line)
        for name in VARIANTS:
            if name not in outputs:
                continue
            audio = np.asarray(outputs[name], dtype=np.float32)
            key = (line.utterance, hashlib.sha1(audio.tobytes()).hexdigest())
            measured = key not in cache
            if measured:
                cache[key] = measure(audio, line, refs, aligned=False, metrics=MEASURES)
            rows.append(
                {
                    "line": line.id,
                    "utterance": line.utterance,
                    "speaker": line.speaker,
                    "condition": line.condition,
                    "variant": name,
                    "duration": round(line.duration, 3),
                    "measured": measured,
                    **cache[key],
                    **({"info": info} if name == "noisy" else {}),
                }
            )
        if "error" in info:
            rows.append(
                {
                    "line": line.id,
                    "utterance": line.utterance,
                    "variant": "noisy",
                    "condition": line.condition,
                    "info": info,
                    "skipped": True,
                }
            )
        log(f"[{i + 1}/{len(bench.lines)}] {line.id} ({time.perf_counter() - t_start:.0f} s)")
        save(rows)
    return rows


def summarize(rows: Sequence[dict[str, Any]], conditions: Sequence[str]) -> dict[str, Any]:
    """``summary[condition][variant]``: WER pooled over words, other measures' means, and
    ``lines`` (how many lines the cell holds)."""
    out: dict[str, Any] = {}
    for cond in conditions:
        out[cond] = {}
        for v in VARIANTS:
            sel = [
                r
                for r in rows
                if r["condition"] == cond and r["variant"] == v and not r.get("skipped")
            ]
            words = sum(r.get("wer_words", 0) for r in sel)
            cell: dict[str, Any] = {
                "lines": len(sel),
                "wer": (sum(r.get("wer_errors", 0) for r in sel) / words if words else None),
            }
            for col in ("similarity", "dnsmos_ovrl", "f0_corr"):
                vals = [r[col] for r in sel if r.get(col) is not None]
                cell[col] = float(np.mean(vals)) if vals else None
            out[cond][v] = {
                k: _nan_to_none(x) if isinstance(x, float) else x for k, x in cell.items()
            }
    return out


def markdown(report: dict[str, Any]) -> str:
    """The table: rows = variants, one column per condition, cells WER / sim / DNSMOS / F0."""
    s, conds = report["summary"], report["conditions"]
    m = report["machine"]

    def f(x: float | None, fmt: str) -> str:
        return "—" if x is None else fmt.format(x)

    head = [f"{c} ({s[c]['noisy input']['lines']} lines)" for c in conds]
    lines = [
        "# Oracle swap (issue #9): which analysis feature costs the take",
        "",
        f"- date {report['date']}, git commit `{report['git_commit']}`, wall time "
        f"{report['wall_seconds'] / 60:.1f} min ({report['enroll_seconds'] / 60:.1f} min "
        f"enrolling voices), `--lines {report['lines_per_speaker']}`",
        f"- machine: {m['cpu']}, {m['cores']} cores; load average {m['load_start']} at start, "
        f"{m.get('load_end')} at end (shared cores)",
        f"- speakers {', '.join(report['speakers'])}; voices `{report['voice_preset']}`, "
        "never enrolled on the lines they render",
        "- cells: WER (Whisper base, pooled) / speaker similarity / DNSMOS OVRL / F0 "
        "correlation vs the clean line; means over lines",
        "",
        "| variant | " + " | ".join(head) + " |",
        "|---|" + "---|" * len(conds),
    ]
    for v in VARIANTS:
        cells = []
        for c in conds:
            x = s[c][v]
            cell = " / ".join(
                f(x[k], fmt)
                for k, fmt in (
                    ("wer", "{:.2f}"),
                    ("similarity", "{:.2f}"),
                    ("dnsmos_ovrl", "{:.2f}"),
                    ("f0_corr", "{:.2f}"),
                )
            )
            n = s[c]["noisy input"]["lines"]
            cells.append(cell + (f" ({x['lines']})" if x["lines"] != n else ""))
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    skipped = [r for r in report["rows"] if r.get("skipped")]
    if skipped:
        lines += [
            "",
            "Not re-spoken (analysis failed): "
            + "; ".join(f"{r['line']}: {r['info']['error']}" for r in skipped),
        ]
    same = [
        r["info"].get("oracle_all_is_clean_line")
        for r in report["rows"]
        if r["variant"] == "noisy" and "info" in r and not r.get("skipped")
    ]
    lines += [
        "",
        f"`oracle all` is sample-identical to `clean line` on {sum(map(bool, same))} "
        f"of {len(same)} lines.",
    ]
    return "\n".join(lines) + "\n"


def ablation_configs(restorer: Sequence[str], train: Sequence[str], preset: str) -> tuple[Any, Any]:
    """``FIELD=VALUE`` overrides as a RestorerConfig (over the default) and a
    RestorerTrainConfig (over ``preset``); ``None`` for each without overrides."""
    from adr.voice.restorer import RestorerConfig
    from adr.voice.train_restorer import restorer_preset

    def parse(items: Sequence[str], base: Any) -> Any:
        if not items:
            return None
        fields = {f.name: f for f in dataclasses.fields(base)}
        out = {}
        for item in items:
            name, _, value = item.partition("=")
            if name not in fields:
                raise SystemExit(f"bench_oracle: {type(base).__name__} has no field {name!r}")
            kind = type(getattr(base, name))
            out[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
        return dataclasses.replace(base, **out)

    return parse(restorer, RestorerConfig()), parse(train, restorer_preset(preset))


def parse_conditions(text: str) -> list[str]:
    """``"10,0,-5"`` -> condition names ``["10 dB", "0 dB", "-5 dB"]`` (``clean`` allowed)."""
    known = {c.name for c in CONDITIONS}
    names = [t.strip() if t.strip() == "clean" else f"{t.strip()} dB" for t in text.split(",")]
    bad = [n for n in names if n not in known]
    if bad:
        raise SystemExit(f"bench_oracle: unknown conditions {bad}; known: {sorted(known)}")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=2, help="utterances per speaker (default 2)")
    ap.add_argument(
        "--conditions",
        default="10,0,-5",
        help="comma-separated SNRs in dB and/or 'clean' (write --conditions=-5,0)",
    )
    ap.add_argument(
        "--speakers",
        default=",".join(SPEAKERS),
        help=f"comma-separated speakers (default {','.join(SPEAKERS)})",
    )
    ap.add_argument("--preset", default="fast", help="voice training preset")
    ap.add_argument(
        "--engine",
        default="restorer",
        choices=("restorer", "ddsp"),
        help="voice engine (each keeps its own voice cache and results files)",
    )
    ap.add_argument(
        "--restorer",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a RestorerConfig field for the voices (repeatable; e.g. use_noisy=true)",
    )
    ap.add_argument(
        "--restorer-train",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a RestorerTrainConfig field over the preset (repeatable)",
    )
    ap.add_argument(
        "--variants",
        default="",
        help="variants to render, separated by commas, or by semicolons when a "
        "name holds a comma (default: all; e.g. 'noisy;noisy, donor only')",
    )
    ap.add_argument("--tag", default="", help="names this ablation's voice cache and results")
    ap.add_argument(
        "--units-donor",
        action="store_true",
        help="enroll and render with the actor's own frames as the restorer's donor "
        "(one speaker; give the run its own --tag)",
    )
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT, help="results path without suffix")
    ap.add_argument("--render-only", action="store_true", help="the .md again from the JSON")
    args = ap.parse_args(argv)
    if args.engine != "ddsp" and args.out == OUT:
        args.out = OUT.with_name(f"{OUT.name}_{args.engine}")
    if args.tag and args.out.name.startswith(OUT.name):
        args.out = args.out.with_name(f"{args.out.name}-{args.tag}")
    rconf, rtrain = ablation_configs(args.restorer, args.restorer_train, args.preset)
    if args.render_only:
        write_text(args.out.with_suffix(".md"), markdown(read_json(args.out.with_suffix(".json"))))
        return 0

    log, root = start("bench_oracle", args.threads)
    if root is None:
        return 2
    conds = parse_conditions(args.conditions)
    machine, t_start = machine_info(), time.perf_counter()
    utterances = load_corpus(root)
    speakers = [v.strip() for v in args.speakers.split(",") if v.strip()]
    if not set(speakers) <= set(SPEAKERS):
        log(
            f"bench_oracle: unknown speaker(s) {sorted(set(speakers) - set(SPEAKERS))} "
            f"(of {list(SPEAKERS)})"
        )
        return 2
    chosen = choose(utterances, args.lines, speakers)
    # voices leave out at least run.py --full's 3 lines per speaker: its cached fast-full voices
    held = choose(utterances, max(args.lines, 3), speakers)
    bench = build_set(
        utterances, chosen, [c for c in CONDITIONS if c.name in conds], root=root, seed=args.seed
    )
    by_id = {u.id: u for u in utterances}
    plan_set = BenchSet(
        tuple(
            BenchLine(
                i, i, by_id[i].speaker, by_id[i].text, "", None, by_id[i].audio, by_id[i].audio
            )
            for i in held
        ),
        bench.utterances,
    )
    tag = "full" if args.lines <= 3 else f"oracle{args.lines}"
    plans = plan_voices(plan_set, args.preset, tag=tag)
    log(
        f"bench_oracle: {len(bench.lines)} lines from {len(chosen)} utterances, {len(plans)} voices"
    )
    sep = ";" if ";" in args.variants else ","  # some variant names hold a comma
    wanted = [v.strip() for v in args.variants.split(sep) if v.strip()]
    unknown = [v for v in wanted if v not in VARIANTS]
    if unknown:
        log(f"bench_oracle: unknown variant(s) {unknown} (one of {list(VARIANTS)})")
        return 2
    if args.units_donor and (len(plans) != 1 or any(t is None for t in plans[0].texts)):
        log("bench_oracle: --units-donor takes one speaker with transcripts")
        return 2
    with contextlib.ExitStack() as stack:
        if args.units_donor:
            texts = [str(t) for t in plans[0].texts]
            stack.enter_context(unit_inputs(file_bank(plans[0].files, texts), texts=texts))
        t0 = time.perf_counter()
        voices_root = (
            VOICES_DIR if args.engine == "ddsp" else VOICES_DIR.with_name(f"voices-{args.engine}")
        )
        if args.tag:
            voices_root = voices_root.with_name(f"{voices_root.name}-{args.tag}")
        bank = enroll_voices(
            plans,
            args.preset,
            log=log,
            root=voices_root,
            engine=args.engine,
            restorer_config=rconf,
            restorer_train_config=rtrain,
        )
        enroll_s = time.perf_counter() - t0
        warm_up(MEASURES)
        report: dict[str, Any] = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "git_commit": git_commit(),
            "machine": machine,
            "conditions": conds,
            "lines_per_speaker": args.lines,
            "speakers": speakers,
            "utterances": chosen,
            "voice_preset": args.preset,
            "engine": args.engine,
            "restorer_options": args.restorer,
            "restorer_train_options": args.restorer_train,
            "units_donor": args.units_donor,
            "voices": [v.to_dict() for v in bank.infos],
            "enroll_seconds": round(enroll_s, 1),
            "seed": args.seed,
            "lines": [ln.to_dict() for ln in bench.lines],
        }

        def save(rows: list[dict[str, Any]]) -> None:
            write_json(args.out.with_suffix(".json"), {**report, "rows": rows, "partial": True})

        rows = run(bench, bank, log, save, variants=wanted or None)
        report.update(
            rows=rows,
            summary=summarize(rows, conds),
            wall_seconds=round(time.perf_counter() - t_start, 1),
        )
        report["machine"]["load_end"] = round(os.getloadavg()[0], 1)
        write_json(args.out.with_suffix(".json"), report)
        write_text(args.out.with_suffix(".md"), markdown(report))
        log(f"bench_oracle: wrote {args.out}.md in {report['wall_seconds'] / 60:.1f} min")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

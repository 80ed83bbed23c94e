"""The benchmark's report as Markdown: the targets, one table per measure, speed, notes.

:func:`render_markdown` turns the report :func:`bench.run.make_report` builds (and
``results*.json`` holds) into ``results*.md``; :func:`targets` says which of the issue's
targets adr's render meets. Nothing here measures: the numbers come from :mod:`bench.measure`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.adr_system import voice_table
from bench.conditions import DEMO

# column -> (title, format, higher is better)
COLUMNS = {
    "wer": ("WER (Whisper base)", "{:.3f}", False),
    "similarity": ("Speaker similarity (GE2E cosine)", "{:.3f}", True),
    "dnsmos_ovrl": ("DNSMOS OVRL", "{:.2f}", True),
    "dnsmos_sig": ("DNSMOS SIG", "{:.2f}", True),
    "dnsmos_bak": ("DNSMOS BAK", "{:.2f}", True),
    "pesq": ("PESQ (wb)", "{:.2f}", True),
    "stoi": ("STOI", "{:.3f}", True),
    "f0_rmse_cents": ("F0 RMSE vs clean (cents)", "{:.0f}", False),
    "f0_corr": ("F0 correlation vs clean", "{:.3f}", True),
    "rtf": ("Real-time factor (processing s / audio s)", "{:.3f}", False),
}

#: The issue's targets for adr's render (see :func:`targets`).
SIMILARITY_TARGET, WER_POINTS, F0_TARGET, DNSMOS_TARGET = 0.80, 0.10, 0.90, 3.0
HARDEST = "-5 dB"
CEILING, FLOOR, PEER = "clean original", "noisy input", "noisereduce"


def _cell(value: float | None, base: float | None, fmt: str) -> str:
    if value is None:
        return "—"
    text = fmt.format(value)
    if base is not None and base != 0 and value is not None:
        text += f" (×{value / base:.2f})"
    return text


def _fmt(value: float | None, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets for each adr system and condition, met or not.

    Targets: speaker similarity >= 0.80; WER at most 10 points above the clean original's
    (same lines); F0 correlation >= 0.9; DNSMOS OVRL >= 3.0; and under ``-5 dB`` a WER below,
    and a DNSMOS OVRL above, both the noisy input and noisereduce (all measured in this run).

    Returns
    -------
    list of dict
        ``system``, ``target``, ``condition``, ``value`` (text), ``met`` (bool or None where
        not measurable).
    """
    s = report["summary"]
    conditions = [c for c in report["conditions"] if c in s]
    out: list[dict[str, Any]] = []

    def add(system: str, target: str, cond: str, value: str, met: bool | None) -> None:
        out.append(
            {"system": system, "target": target, "condition": cond, "value": value, "met": met}
        )

    for name in [n for n in report["systems"] if n.startswith("adr render")]:
        for c in conditions:
            cell, ceil = s[c][name], s[c].get(CEILING, {})
            sim, wer, f0, mos = (
                cell.get(k) for k in ("similarity", "wer", "f0_corr", "dnsmos_ovrl")
            )
            add(
                name,
                f"speaker similarity ≥ {SIMILARITY_TARGET:.2f}",
                c,
                _fmt(sim, "{:.3f}"),
                None if sim is None else sim >= SIMILARITY_TARGET,
            )
            cw = ceil.get("wer")
            if wer is not None and cw is not None:
                add(
                    name,
                    f"WER within {WER_POINTS * 100:.0f} points of clean",
                    c,
                    f"{wer:.3f} vs {cw:.3f}",
                    wer - cw <= WER_POINTS + 1e-9,
                )
            else:
                add(name, f"WER within {WER_POINTS * 100:.0f} points of clean", c, "—", None)
            add(
                name,
                f"F0 correlation ≥ {F0_TARGET:.1f}",
                c,
                _fmt(f0, "{:.3f}"),
                None if f0 is None else f0 >= F0_TARGET,
            )
            add(
                name,
                f"DNSMOS OVRL ≥ {DNSMOS_TARGET:.1f}",
                c,
                _fmt(mos, "{:.2f}"),
                None if mos is None else mos >= DNSMOS_TARGET,
            )
        if HARDEST in s:
            cell = s[HARDEST][name]
            for col, label, better in (
                ("wer", "WER", lambda a, b: a < b),
                ("dnsmos_ovrl", "DNSMOS OVRL", lambda a, b: a > b),
            ):
                v = cell.get(col)
                others = [s[HARDEST].get(p, {}).get(col) for p in (FLOOR, PEER)]
                met = None if v is None or None in others else all(better(v, o) for o in others)
                value = (
                    "—"
                    if v is None
                    else (
                        f"{v:.3f} vs {_fmt(others[0], '{:.3f}')} / {_fmt(others[1], '{:.3f}')}"
                        if col == "wer"
                        else f"{v:.2f} vs {_fmt(others[0], '{:.2f}')} / {_fmt(others[1], '{:.2f}')}"
                    )
                )
                add(
                    name,
                    f"{label} beats noisy input and noisereduce at {HARDEST}",
                    HARDEST,
                    value,
                    met,
                )
    return out


def _targets_md(report: dict[str, Any]) -> list[str]:
    found = targets(report)
    if not found:
        return []
    conditions = [c for c in report["conditions"] if c in report["summary"]]
    lines = [
        "## Issue #6 targets for adr's render",
        "",
        f"Speaker similarity ≥ {SIMILARITY_TARGET:.2f}; WER within "
        f"{WER_POINTS * 100:.0f} points of the clean original's WER on the same lines; F0 "
        f"correlation ≥ {F0_TARGET:.1f}; DNSMOS OVRL ≥ {DNSMOS_TARGET:.1f}; at {HARDEST} "
        "a WER below and a DNSMOS above both the noisy input and noisereduce (values: "
        "adr vs noisy input / noisereduce). All from this run; **met** / not met per "
        "condition, — where not measured (no transcript).",
        "",
    ]
    for name in dict.fromkeys(t["system"] for t in found):
        mine = [t for t in found if t["system"] == name]
        lines += [
            f"### {name}",
            "",
            "| target | " + " | ".join(conditions) + " | overall |",
            "|---|" + "---|" * (len(conditions) + 1),
        ]
        for target in dict.fromkeys(t["target"] for t in mine):
            cells, met, judged = [], 0, 0
            for c in conditions:
                t = next((t for t in mine if t["target"] == target and t["condition"] == c), None)
                if t is None:
                    cells.append("")
                    continue
                if t["met"] is None:
                    cells.append(t["value"])
                    continue
                judged += 1
                met += bool(t["met"])
                cells.append(f"{t['value']} **met**" if t["met"] else f"{t['value']} not met")
            overall = f"met in {met} of {judged}" if judged else "not measured"
            lines.append(f"| {target} | " + " | ".join(cells) + f" | {overall} |")
        lines.append("")
    return lines


def _headline_md(report: dict[str, Any]) -> list[str]:
    """One table of the three headline measures (what the project README shows)."""
    s, systems = report["summary"], report["systems"]
    conditions = [c for c in report["conditions"] if c in s]
    lines = [
        "## Headline: WER / speaker similarity / DNSMOS OVRL",
        "",
        "| condition | " + " | ".join(systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for c in conditions:
        cells = [
            " / ".join(
                _fmt(s[c][n].get(k), f)
                for k, f in (("wer", "{:.2f}"), ("similarity", "{:.2f}"), ("dnsmos_ovrl", "{:.2f}"))
            )
            for n in systems
        ]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return lines + [
        "",
        "WER lower is better (— without transcripts), similarity and DNSMOS "
        "higher; ratios to the noisy input are in the per-measure tables below.",
        "",
    ]


def _demo_md(report: dict[str, Any]) -> list[str]:
    """Per-line table of the demo production (its lines have their own SNRs)."""
    rows = [r for r in report.get("rows", []) if r["condition"] == DEMO.name]
    if not rows:
        return []
    meta = {ln["id"]: ln for ln in report.get("lines", [])}
    systems = [n for n in report["systems"] if any(r["system"] == n for r in rows)]
    lines = [
        "## Demo production, per line (WER / speaker similarity / DNSMOS OVRL)",
        "",
        "| line | speaker | noise, target SNR | " + " | ".join(systems) + " |",
        "|---|---|---|" + "---|" * len(systems),
    ]
    for lid in dict.fromkeys(r["line"] for r in rows):
        m = meta.get(lid, {})
        snr = m.get("snr_db")
        noise = f"{m.get('noise') or 'clean'}, {'—' if snr is None else f'{snr:g} dB'}"
        cells = []
        for n in systems:
            r = next((r for r in rows if r["line"] == lid and r["system"] == n), {})
            cell = " / ".join(
                _fmt(r.get(k), f)
                for k, f in (("wer", "{:.2f}"), ("similarity", "{:.2f}"), ("dnsmos_ovrl", "{:.2f}"))
            )
            cells.append(cell + (" (kept)" if r.get("adr_fallback") else ""))
        lines.append(
            f"| {lid.split('@')[0]} | {m.get('speaker', '')} | {noise} | "
            + " | ".join(cells)
            + " |"
        )
    if any(r.get("adr_fallback") for r in rows):
        lines += ["", "(kept) = adr could not re-speak the line and kept the production audio."]
    return lines + [""]


def _adr_speed_md(report: dict[str, Any]) -> list[str]:
    names = [n for n in report["systems"] if n.startswith("adr render")]
    if not names:
        return []
    rows = report.get("rows", [])
    lines = [
        "### adr render in this run (per line, each system's first line excluded)",
        "",
        "| system | lines | re-spoken | kept production audio | analysis RTF | "
        "synthesis RTF | total RTF |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in names:
        mine = [r for r in rows if r["system"] == n]
        timed = [r for r in mine if not r["first_call"] and "adr_analyze_seconds" in r]
        audio = sum(r["duration"] for r in timed)

        def rtf(key: str, timed: list = timed, audio: float = audio) -> str:
            return f"{sum(r[key] for r in timed) / audio:.3f}" if audio else "—"

        kept = sum(1 for r in mine if r.get("adr_fallback"))
        lines.append(
            f"| {n} | {len(mine)} | {len(mine) - kept} | {kept} | "
            f"{rtf('adr_analyze_seconds')} | {rtf('adr_render_seconds')} | "
            f"{rtf('seconds')} |"
        )
    whys = sorted({r["adr_fallback"] for r in rows if r.get("adr_fallback")})
    if whys:
        lines += [
            "",
            "Why lines were kept: "
            + "; ".join(whys[:6])
            + (f" (and {len(whys) - 6} more)" if len(whys) > 6 else ""),
        ]
    voices = report.get("voices") or []
    if voices:
        done = [
            v for v in voices if not v.get("error") and v.get("wall_seconds") and v.get("minutes")
        ]
        per = [v["wall_seconds"] / 60 / v["minutes"] for v in done]
        lines += [
            "",
            f"### Voices (preset `{report.get('voice_preset', '?')}`, cached in "
            "`bench/work/voices`)",
            "",
        ]
        lines += voice_table(voices)
        if per:
            train = [v["train_seconds"] / 60 for v in done]
            lines += [
                "",
                f"Enrollment (material checks, transcription where needed, "
                f"alignment, training, held-back evaluation) took "
                f"{np.median(per):.1f} min of wall time per minute of speech (median; "
                f"{min(per):.1f}-{max(per):.1f}); training {np.median(train):.1f} min "
                "per voice (median), bounded by the preset's time budget.",
            ]
        first = report.get("enroll_seconds")
        if first is not None:
            lines += [
                "",
                f"Enrollment in this run: {first / 60:.1f} min "
                f"({sum(1 for v in voices if v.get('reused'))} of {len(voices)} voices "
                "reused from the cache).",
            ]
    return lines + [""]


def render_markdown(report: dict[str, Any]) -> str:
    """The report as markdown: the targets, one table per measure (conditions x systems),
    the demo production per line, speed, memory and the voices."""
    systems = report["systems"]
    conditions = [c for c in report["conditions"] if c in report["summary"]]
    s = report["summary"]
    base = systems[0]
    m = report["machine"]
    bench_s = report.get("bench_seconds")
    lines = [
        "# adr benchmark results",
        "",
        f"- date: {report['date']}, mode: `{report['mode']}`, git commit: "
        f"`{report['git_commit']}`, wall time {report['wall_seconds'] / 60:.1f} min"
        + (f" ({bench_s / 60:.1f} min without enrolling voices)" if bench_s else ""),
        f"- machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; load average "
        f"{m['load_start']} at start, {m['load_end']} at end (the 2 cores were shared: "
        "timings are noisy)",
        f"- lines: {report['line_count']} degraded lines from {report['utterance_count']} "
        "clean utterances; values are means over lines, WER pooled over words; "
        f"(×r) = ratio to `{base}` in the same condition",
        "",
    ]
    lines += _headline_md(report)
    lines += _targets_md(report)
    for col, (title, fmt, higher) in COLUMNS.items():
        if not any(s[c][n].get(col) is not None for c in conditions for n in systems):
            continue
        lines += [
            f"## {title} — {'higher' if higher else 'lower'} is better",
            "",
            "| condition | " + " | ".join(systems) + " |",
            "|---|" + "---|" * len(systems),
        ]
        for c in conditions:
            b = s[c][base].get(col) if col != "rtf" else None  # no ratio to ~0 s of work
            cells = [_cell(s[c][n].get(col), b if n != base else None, fmt) for n in systems]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += _demo_md(report)
    lines += [
        "## Speed and memory (fresh process per system)",
        "",
        "| system | one-time load (s) | real-time factor | peak RSS (MB) |",
        "|---|---|---|---|",
    ]
    for name, p in report.get("probes", {}).items():
        if "error" in p:
            lines.append(f"| {name} | error: {p['error']} | | |")
        else:
            lines.append(
                f"| {name} | {p['load_seconds']:.2f} | {p['rtf']:.3f} | {p['peak_rss_mb']:.0f} |"
            )
    probe_line = report.get("probe_line") or "a real bench line (0 dB)"
    lines += [
        "",
        f"Peers: a 5 s generated line. adr rows: {probe_line} in its speaker's "
        "voice; their load is the models' and the voice's first load, the real-time "
        "factor analysis plus synthesis (blind mode includes Whisper's language "
        "identification, and a second pass where it hears another language).",
        "",
    ]
    lines += _adr_speed_md(report)
    lines += [
        "One-time loads of the measuring models (s, incl. a first 1 s call): "
        + ", ".join(f"{k} {v}" for k, v in report.get("metric_load_seconds", {}).items()),
        "",
        "Mean cost per measured output (s): "
        + ", ".join(f"{k} {v}" for k, v in report.get("measure_seconds", {}).items()),
        "",
        "## Notes",
        "",
    ]
    lines += [f"- {n}" for n in report.get("notes", [])]
    lines += ["", "Data: " + ATTRIBUTION, ""]
    return "\n".join(lines)


ATTRIBUTION = (
    "VCTK (CC BY 4.0, CSTR, University of Edinburgh); LibriSpeech (CC BY 4.0, V. Panayotov "
    "et al.); LJSpeech (public domain); VoiceBank-DEMAND (CC BY 4.0, C. Valentini-Botinhao, "
    "2017); Google Speech Commands background noise (CC BY 4.0); Freesound noise clips (CC0 "
    "or CC BY, authors in ../shared/corpus/MANIFEST.tsv); spatialaudio room responses (CC0)."
)

NOTES = [
    "Synthetic conditions: the clean line convolved with a measured room response (direct "
    "path at sample 0) plus a random stretch of a real noise recording, SNR over the whole "
    "line (including pauses, so speech-active SNR is somewhat higher); seeded per line.",
    "The clean-original column is the ceiling; under `clean` the noisy input is the clean "
    "line itself. LibriSpeech lines have no transcript: no WER for them.",
    "Speaker similarity: cosine of the GE2E embedding to the mean embedding of up to 6 other "
    "clean lines of the same speaker.",
    "RTF excludes each system's first line (its loading); the probe table measures load, "
    "RTF and peak RSS in a fresh process (RSS includes Python, numpy and the adr imports: "
    "compare against `baseline`). DeepFilterNet3 builds a fresh network state per call "
    "(~0.5-1 s, in a background thread after each call), which the probe RTF includes.",
]

ADR_NOTES = [
    "adr render: each line is one cue from its first to its last sample, analysed as `adr "
    "analyze` does (DeepFilterNet3 front end, Whisper base, forced alignment, Praat prosody; "
    "no picture) and spoken by `adr.voice.render.render_line` in the speaker's enrolled voice "
    "(`adr.voice.respeak.respeak`), resampled to 16 kHz. Script mode gives the line's transcript, "
    "blind mode none (Whisper's text is spoken). LibriSpeech lines have no transcript: script "
    "mode recognizes their text too. The actor is given (as on a cue sheet), not identified.",
    "adr voices: enrolled with `adr.voice.enroll.enroll_actor` on the speaker's clean corpus "
    "utterances that are not bench lines of the run (corpus order, up to 3 min; transcripts "
    "given, LibriSpeech transcribed by Whisper). Where less than 25 s remains (VCTK and "
    "VoiceBank in --full) the speaker's lines are split into folds, each rendered by a voice "
    "enrolled on the other folds: no line is rendered by a voice that heard it. The corpus "
    "has only 1-1.5 min per VCTK/LibriSpeech speaker and 29 s for VoiceBank p287, so those "
    "voices are thin (material minimum lowered to 12 s of speech for the bench). Demo actors "
    "enroll on the demo's own enrollment sets.",
    "adr render is not sample-aligned with the clean line (STOI not measured; PESQ aligns "
    "itself); F0 is compared frame by frame, which is meaningful because the take keeps the "
    "line's timing. A line adr cannot re-speak keeps the production audio (counted below).",
    "Training runs under the preset's wall-clock budget on cores shared with other work: "
    "under load a voice gets fewer steps (see the voices table), so quality depends on the "
    "machine's load during the first run. torch runs with 1 thread (faster than 2 under "
    "contention: 0.38 vs 1.2-1.8 s per training step measured here).",
]

"""The review report: one HTML page per session, ``deliverables/report/index.html``.

For every cue: a picture frame from the middle of the line, waveform and spectrogram before
(production) and after (the delivered line from ``adr export``, else the render), the
production pitch contour over the render's, the A/V offset, the measures (SNR, DNSMOS,
word error of the recognized production text against the script, speaker, repair and
timing), and audio players for production, render and repair. A cue without a render shows
its production only. Images (PNG) and audio (16-bit WAV excerpts) are files next to the page;
a small inline script marks each image and player once it has loaded (``data-loaded``), so a
broken file shows up in the page (and in headless tests).

CLI contract: ``adr report SESSION`` is ``write_report(load_session(SESSION),
progress=TqdmProgress())``; it returns the page's path and raises
:class:`adr.core.errors.AdrError` when the session has no cues.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.fsio import atomic_path, ensure_dir, read_json, write_text
from adr.core.names import child_path
from adr.core.progress import ProgressEvent, ProgressHook, null_progress
from adr.core.timebase import DELIVERY_RATE, seconds_to_samples
from adr.core.types import Cue
from adr.ingest.session import Session

__all__ = ["write_report", "plot_line", "plot_pitch"]

_SR = DELIVERY_RATE
_PLOT_RATE = 16_000


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=90)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def plot_line(
    columns: Sequence[tuple[str, np.ndarray]], sample_rate: int, start: float, path: Path
) -> Path:
    """Waveform (top) and spectrogram (bottom) of each ``(title, audio (N,))`` column, PNG."""
    from adr.analysis.denoise import resample

    fig = _figure(4.2 * len(columns), 4.0)
    axes = fig.subplots(2, len(columns), squeeze=False, sharex=True)
    for k, (title, audio) in enumerate(columns):
        x = np.asarray(audio, dtype=np.float64)
        t = start + np.arange(len(x)) / sample_rate
        step = max(1, len(x) // 4000)
        axes[0, k].plot(t[::step], x[::step], lw=0.5, color="#1f4e79")
        axes[0, k].set_ylim(-1, 1)
        axes[0, k].set_title(title, fontsize=10)
        y = resample(x.astype(np.float32), sample_rate, _PLOT_RATE)
        y = y + 1e-6 * np.random.default_rng(0).standard_normal(len(y))  # no log(0) on silence
        axes[1, k].specgram(
            y,
            NFFT=512,
            Fs=_PLOT_RATE,
            noverlap=384,
            cmap="magma",
            xextent=(start, start + len(x) / sample_rate),
            vmin=-130,
        )
        axes[1, k].set_ylim(0, 8000)
        axes[1, k].set_xlabel("session time (s)")
    axes[0, 0].set_ylabel("amplitude")
    axes[1, 0].set_ylabel("Hz")
    fig.tight_layout()
    _save(fig, path)
    return path


def plot_pitch(curves: Sequence[tuple[str, np.ndarray, np.ndarray]], path: Path) -> Path:
    """F0 contours ``(label, times (T,), f0 Hz (T,), 0 = unvoiced)`` on one axis, PNG."""
    fig = _figure(8.4, 2.4)
    ax = fig.subplots()
    for (label, times, f0), style in zip(curves, ("-", "--", ":")):
        f = np.where(np.asarray(f0) > 0, f0, np.nan)
        ax.plot(times, f, style, lw=1.4, label=label)
    ax.set_xlabel("session time (s)")
    ax.set_ylabel("F0 (Hz)")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    _save(fig, path)
    return path


def _save_frame(image: np.ndarray, path: Path, width: int = 480) -> None:
    from PIL import Image

    img = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if img.width > width:
        img = img.resize((width, max(1, round(img.height * width / img.width))))
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def _write_excerpt(path: Path, audio: np.ndarray) -> None:
    import soundfile as sf

    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.clip(audio, -1, 1).astype(np.float32), _SR, subtype="PCM_16")


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:{spec}}{unit}"


def _metrics(cue: Cue, line: Any, conform: dict[str, Any] | None) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if line is not None:
        from adr.metrics import word_error_rate

        dm = line.damage
        rows.append(("SNR", _fmt(dm.snr_db, ".1f", " dB")))
        if dm.dnsmos:
            rows.append(
                ("DNSMOS", " / ".join(f"{k.upper()} {v:.2f}" for k, v in dm.dnsmos.items()))
            )
        if dm.spans:
            rows.append(
                (
                    "damage",
                    "; ".join(
                        f"{s.kind} {s.start:.2f}-{s.end:.2f} s (SNR {s.snr_db:.0f} dB)"
                        for s in dm.spans
                    ),
                )
            )
        if line.text_source == "script" and cue.text.strip():
            wer = word_error_rate(cue.text, line.transcript.text)
            rows.append(("word error (production, recognized vs script)", f"{100 * wer:.0f} %"))
        rows.append(("speaker", f"{line.speaker.actor} (similarity {line.speaker.score:.2f})"))
        if line.av is not None:
            rows.append(
                (
                    "A/V offset",
                    f"{1000 * line.av.offset_seconds:+.0f} ms "
                    f"(confidence {line.av.confidence:.2f})",
                )
            )
        else:
            rows.append(("A/V offset", "n/a (no lip track)"))
    if conform is not None:
        w = conform["warp"]
        rows.append(("repair", f"{conform['mode']} ({conform['reason']})"))
        if w["method"] == "none":
            timing = (
                f"kept as rendered (DTW cost {w['cost']:.2f}: not trusted)"
                if w["cost"]
                else "kept as rendered"
            )
        else:
            timing = (
                f"{w['method']}, {1000 * w['offset']:+.0f} ms, deviation "
                f"{1000 * w['deviation']:.0f} ms (DTW cost {w['cost']:.2f})"
            )
        rows.append(("timing", timing))
        rows.append(
            (
                "gain",
                f"{conform['gain_db']:+.1f} dB (production speech "
                f"{_fmt(conform['production_loudness'], '.1f', ' LKFS')}, "
                f"{conform.get('loudness_method', '')})",
            )
        )
    return rows


def _provenance(session: Session, cue_id: str) -> Any:
    """The provenance of a cue's take (None without one, or if unreadable)."""
    from adr.core.types import Take

    path = child_path(session.renders_dir, cue_id, ".json", "cue id")
    try:
        return Take.from_dict(read_json(path)).provenance if path.is_file() else None
    except (AdrError, KeyError, TypeError, ValueError):
        return None


def _safe(cue_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", cue_id)


_SCRIPT = """<script>
window.addEventListener('load', function () {
  for (const img of document.images) {
    img.dataset.loaded = (img.complete && img.naturalWidth > 0) ? '1' : '0';
    if (img.dataset.loaded === '0') \
img.insertAdjacentHTML('afterend', '<b class="broken">image missing</b>');
  }
  for (const a of document.querySelectorAll('audio')) {
    const mark = function () { a.dataset.loaded = a.duration > 0 ? '1' : '0'; };
    if (a.readyState >= 1) mark(); else a.addEventListener('loadedmetadata', mark);
    a.addEventListener('error', function () { a.dataset.loaded = '0'; });
  }
  document.body.dataset.ready = '1';
});
</script>"""


def write_report(
    session: Session, *, progress: ProgressHook | None = None, frames: bool = True
) -> Path:
    """Write ``deliverables/report/index.html`` with its images and audio excerpts.

    Parameters
    ----------
    session : Session
    progress : callable, optional
        Receives a :class:`adr.core.progress.ProgressEvent` per cue (stage ``"report"``).
    frames : bool
        Include a picture frame per cue.

    Returns
    -------
    Path
        The page.

    Raises
    ------
    AdrError
        The session has no cues, or an input file is unreadable.
    """
    from adr.analysis.analyze import load_analysis
    from adr.analysis.prosody import extract_prosody
    from adr.core.timecode import seconds_to_picture_frames
    from adr.ingest.media import read_audio
    from adr.ingest.video import read_frame

    progress = progress or null_progress
    cues = session.read_cues()
    if not cues:
        raise AdrError(session.cues_path, "no cues; import a cue sheet (adr cues import)")
    out = ensure_dir(session.deliverables_dir / "report")
    export_path = session.deliverables_dir / "export.json"
    export = read_json(export_path).get("result", {}) if export_path.exists() else {}
    conforms = {c["cue_id"]: c for c in export.get("cues", [])}
    production = read_audio(session.audio[0].path, sample_rate=_SR).mono()
    esc = html.escape
    sections = []
    for i, cue in enumerate(cues):
        progress(ProgressEvent("report", i, len(cues), "cue", {"cue": cue.id}))
        name = _safe(cue.id)
        a, b = seconds_to_samples(cue.start, _SR), seconds_to_samples(cue.end, _SR)
        prod = np.zeros(b - a, dtype=np.float32)
        prod[: max(0, min(b, len(production)) - a)] = production[a:b]
        line = (
            load_analysis(session, cue.id)
            if (child_path(session.analysis_dir, cue.id, ".json", "cue id")).exists()
            else None
        )
        take_wav = child_path(session.renders_dir, cue.id, ".wav", "cue id")
        render = read_audio(take_wav, sample_rate=_SR).mono() if take_wav.is_file() else None
        delivered = conforms.get(cue.id, {})
        repair_rel = delivered.get("file") or ""
        repair = (
            read_audio(session.root / repair_rel, sample_rate=_SR).mono()
            if repair_rel and (session.root / repair_rel).is_file()
            else None
        )
        media: list[str] = []
        if frames:
            index = seconds_to_picture_frames((cue.start + cue.end) / 2, session.frame_rate)
            _save_frame(read_frame(session.picture.path, index), out / f"{name}_frame.png")
            media.append(f'<img class="frame" src="{name}_frame.png" alt="picture frame">')
        columns = [("production (before)", prod)]
        if repair is not None:
            columns.append(("delivered (after)", repair[: b - a]))
        elif render is not None:
            columns.append(("render (after)", render[: b - a]))
        plot_line(columns, _SR, cue.start, out / f"{name}_wave.png")
        media.append(f'<img class="wave" src="{name}_wave.png" alt="waveform and spectrogram">')
        curves = []
        if line is not None:
            curves.append(("production F0", line.prosody.times, line.prosody.f0))
        if render is not None:
            from adr.analysis.denoise import resample

            pr = extract_prosody(
                resample(render, _SR, _PLOT_RATE), _PLOT_RATE, start=cue.start, denoise="none"
            )
            curves.append(("render F0", pr.times, pr.f0))
        if curves:
            plot_pitch(curves, out / f"{name}_pitch.png")
            media.append(f'<img class="pitch" src="{name}_pitch.png" alt="pitch contours">')
        players = []
        for label, audio in (("production", prod), ("render", render), ("repair", repair)):
            if audio is not None:
                _write_excerpt(out / f"{name}_{label}.wav", audio)
                players.append(
                    f"<figure><figcaption>{label}</figcaption><audio controls "
                    f'preload="metadata" src="{name}_{label}.wav"></audio></figure>'
                )
        rows = _metrics(cue, line, delivered.get("conform"))
        prov = _provenance(session, cue.id) if render is not None else None
        if prov is not None:  # a synthetic line says so (issue #12)
            c = prov.consent
            rows.insert(
                0,
                (
                    "SYNTHETIC",
                    f"{prov.label()}; consent of {c.name} granted by "
                    f"{c.granted_by} on {c.granted_on}, uses "
                    f"{', '.join(c.uses)}, expires {c.expires}",
                ),
            )
        table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
        status = "rendered" if render is not None else "production only (no render)"
        if prov is not None:
            status = f"SYNTHETIC line rendered by voice {prov.voice}"
        sections.append(f"""<section class="cue" id="cue-{esc(name)}">
<h2>Cue {esc(cue.id)} &mdash; {esc(cue.character or cue.actor)}
<small>{esc(session.to_timecode(cue.start))} &ndash; \
{esc(session.to_timecode(cue.end))}, {esc(status)}</small></h2>
<p class="line">&ldquo;{esc(cue.text)}&rdquo; <em>{esc(cue.reason)}</em></p>
<div class="media">{"".join(media)}</div>
<div class="players">{"".join(players)}</div>
<table class="metrics">{table}</table>
</section>""")
    progress(ProgressEvent("report", len(cues), len(cues), "cue"))
    stem = export.get("stem_loudness")
    summary = ""
    if stem:
        summary = (
            f"<p>Dialog stem <code>{esc(export.get('stem', ''))}</code>: "
            f"spec {esc(str(stem['spec']))}, "
            f"loudness {_fmt(stem['after'], '.1f', ' LKFS')}, true peak "
            f"{_fmt(stem['true_peak'], '.1f', ' dBTP')}.</p>"
        )
    wavs = (child_path(session.renders_dir, c.id, ".wav", "cue id") for c in cues)
    n_rendered = sum(1 for wav in wavs if wav.is_file())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ADR review - {esc(session.name)}</title>
<style>
body{{font-family:sans-serif;margin:1.5em;max-width:1400px}} \
h2 small{{font-weight:normal;color:#555}}
.media img{{max-width:100%;margin:4px;border:1px solid #ccc;vertical-align:top}} \
.frame{{width:320px}}
.players figure{{display:inline-block;margin:4px 12px 4px 0}} \
.metrics th{{text-align:left;padding-right:1em}}
section.cue{{border-top:2px solid #333;padding-top:.5em;margin-top:1.5em}} .broken{{color:red}}
</style></head><body>
<h1>ADR review: {esc(session.name)}</h1>
<p>Frame rate {esc(str(session.frame_rate))}, start timecode {esc(session.start_timecode)},
{len(cues)} cues, {n_rendered} rendered.</p>
{summary}
{chr(10).join(sections)}
{_SCRIPT}
</body></html>
"""
    return write_text(out / "index.html", page)

"""``adr export``: conform the rendered cues and write what a post house imports.

Under ``sessions/NAME/deliverables/``::

    adr/<cue>.wav         per rendered cue: the conformed line, 48 kHz/24-bit Broadcast WAV,
                          exactly cue in..out, bext TimeReference = samples since midnight of
                          the cue's record timecode, description (cue, character, actor, text),
                          iXML (track name, project, take, speed and timestamp)
    NAME_dialog.wav       the conformed dialog stem: production audio with every rendered cue
                          spliced in, exactly as long as the picture, normalized to the
                          loudness spec with a true-peak ceiling; TimeReference = picture start
    NAME.otio             OpenTimelineIO: picture, production and ADR tracks at record timecode
    NAME.edl              CMX 3600 EDL of the ADR track (one event per rendered cue; a further
                          NAME_A2.edl ... per extra ADR track when cues overlap;
                          adr.deliver.timeline)
    NAME_cues.csv/.html   the ADR cue sheet as CSV and as a printable page
    export.json           what was done per cue (repair mode, timing, gain) and the stem's
                          loudness; also the record that makes a rerun skip finished work

Consent and provenance: before anything is written, every take's provenance is checked
(:func:`adr.core.consent.check_scope`: the session among its consent's productions, its use
covered, not expired; with ``voices_root``, also against the voice's current consent and seal). A
take without provenance (rendered by an adr that did not record it) is refused. Every per-cue BWF
says it is synthetic in its bext description (``SYNTHETIC ADR cue ...``) and iXML
(``ADR_PROVENANCE``); the stem's description names its synthetic cues; the cue sheet CSV/HTML gain
``synthetic``/``voice``/``consent_id`` columns; the replaced audio of each cue is watermarked again
after conforming if the time warp washed the take's mark out; OTIO clips carry the provenance under
``metadata["adr"]``, and each EDL event a ``* ADR SYNTHETIC`` comment. With a signing key
(``c2pa_key``; the CLI reads it from ``ADR_C2PA_CERT``/``ADR_C2PA_KEY``), every per-cue BWF and the
stem get a signed C2PA manifest (:mod:`adr.deliver.c2pa_sign`).

Per-cue files are at the production's level (scene-matched, not normalized), so a partial
repair keeps the production samples outside the replaced spans bit for bit. Cues without a
render keep production audio in the stem. Each output carries a key of its inputs; a rerun
rewrites only outputs whose inputs changed (or that were deleted or touched), and text
outputs are rewritten only when their content changes. All writes are atomic. Each
per-cue file is recorded in ``export.json`` as soon as it is written, so an interrupted
export (Ctrl-C) keeps its finished cues and a rerun continues with the rest.

CLI contract: ``adr export SESSION [--spec -24|-23|-27] [--repair auto|partial|whole]`` is
``export_session(load_session(SESSION), spec=..., repair=..., voices_root=<--voices>,
progress=TqdmProgress())``;
it raises :class:`adr.core.errors.AdrError` for every user error (no cues, no renders, a stale
or missing render, unknown spec or repair mode).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.cache import cache_key
from adr.core.errors import AdrError
from adr.core.fsio import read_json, write_text
from adr.core.names import child_path
from adr.core.progress import ProgressEvent, ProgressHook, null_progress
from adr.core.timebase import DELIVERY_RATE
from adr.core.timecode import frames_to_samples
from adr.core.types import strict_from_dict
from adr.deliver.conform import CONFORM_VERSION, ConformOptions, ConformResult
from adr.deliver.export_cue import conform_cue, mark_synthetic, read_production
from adr.deliver.export_files import file_stat, marked_csv, write_if_changed, write_wav
from adr.deliver.export_stem import build_stem, dialog_spans
from adr.deliver.export_takes import (
    check_consent,
    cue_time_reference,
    load_takes,
    picture_samples,
)
from adr.deliver.loudness import StemLoudness, loudness_spec
from adr.deliver.stem_loudness import normalize_stem
from adr.deliver.timeline import cue_sheet_html, session_timeline
from adr.ingest.locked import holds_session_lock
from adr.ingest.session import Session

__all__ = [
    "EXPORT_FORMAT_VERSION",
    "CueDelivery",
    "ExportResult",
    "export_session",
    "cue_time_reference",
    "picture_samples",
    "load_takes",
    "check_consent",
]

EXPORT_FORMAT_VERSION = 1
_KEY_DIGITS = 20  # hex digits of the export keys (adr.core.cache.cache_key)
_SR = DELIVERY_RATE


@dataclass(frozen=True)
class CueDelivery:
    """One cue in the deliverables.

    ``file`` is the per-cue BWF relative to the session folder (``""`` when the cue has no
    render and the stem keeps production audio); ``time_reference`` its bext TimeReference;
    ``conform`` how it was conformed (None without a render).
    """

    cue_id: str
    tc_in: str
    tc_out: str
    file: str = ""
    time_reference: int = 0
    conform: ConformResult | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["conform"] = None if self.conform is None else self.conform.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CueDelivery:
        d = dict(data)
        d["conform"] = None if d.get("conform") is None else ConformResult.from_dict(d["conform"])
        return strict_from_dict(cls, d)


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_session` delivered. Paths are relative to the session folder.

    ``cues`` has one entry per rendered (delivered) cue, in cue-sheet order; cues without a
    render are not listed (the stem keeps their production audio). ``written`` lists the
    files (re)written by this run; empty on an up-to-date rerun.
    """

    spec: str
    cues: tuple[CueDelivery, ...]
    stem: str
    stem_samples: int
    stem_loudness: StemLoudness
    files: tuple[str, ...]
    written: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "cues": [c.to_dict() for c in self.cues],
            "stem": self.stem,
            "stem_samples": self.stem_samples,
            "stem_loudness": self.stem_loudness.to_dict(),
            "files": list(self.files),
            "written": list(self.written),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportResult:
        d = dict(data)
        d["cues"] = tuple(CueDelivery.from_dict(c) for c in d.get("cues", ()))
        d["stem_loudness"] = StemLoudness.from_dict(d["stem_loudness"])
        d["files"] = tuple(d.get("files", ()))
        d["written"] = tuple(d.get("written", ()))
        return strict_from_dict(cls, d)


@holds_session_lock("export")  # re-entrant: the CLI holds it too
def export_session(
    session: Session,
    *,
    spec: str = "-24",
    repair: str = "auto",
    options: ConformOptions | None = None,
    denoise: str = "dfn3",
    progress: ProgressHook | None = None,
    voices_root: str | Path | None = None,
    c2pa_key: Any = None,
) -> ExportResult:
    """Conform every rendered cue and write the deliverables (see the module docstring).

    Parameters
    ----------
    session : Session
    spec : str
        Loudness spec of the dialog stem: ``"-24"``, ``"-23"`` or ``"-27"`` (dialog-gated).
    repair : str
        ``"auto"``, ``"partial"`` or ``"whole"`` (a cue note ``repair=...`` overrides it).
    options : ConformOptions, optional
        Further conform choices (its ``repair`` is replaced by ``repair``).
    denoise : str
        Denoiser for the production guide track (:func:`adr.analysis.denoise.denoise` method).
    progress : callable, optional
        Receives :class:`adr.core.progress.ProgressEvent` per cue (stage ``"export"``).
    voices_root : path, optional
        Folder of enrolled voices: a take's voice found there is checked against its current
        consent too (revoked, narrowed, expired or tampered since the render).
    c2pa_key : adr.deliver.c2pa_sign.C2paKey, optional
        Sign the per-cue BWFs and the stem with C2PA content credentials.

    Raises
    ------
    AdrError
        No cue sheet, no rendered cue, a bad take, a take without provenance or outside its
        consent, an unknown spec or repair mode (all before anything is written).
    """
    progress = progress or null_progress
    session.check_audio()  # gone, replaced or cut short since the session was made
    stem_spec = loudness_spec(spec)
    opts = dataclasses.replace(options or ConformOptions(), repair=repair)
    cues = session.read_cues()
    if not cues:
        raise AdrError(session.cues_path, "no cues; import a cue sheet (adr cues import)")
    takes = load_takes(session, cues)
    check_consent(session, cues, takes, voices_root)
    out = session.deliverables_dir
    manifest_path = out / "export.json"
    try:
        old = read_json(manifest_path) if manifest_path.exists() else {}
    except AdrError:
        old = {}
    old_cues = old.get("keys", {}) if old.get("format_version") == EXPORT_FORMAT_VERSION else {}
    prod_ref = {**session.audio[0].to_dict(), "stat": file_stat(Path(session.audio[0].path))}
    base = {
        "v": [EXPORT_FORMAT_VERSION, CONFORM_VERSION],
        "prod": prod_ref,
        "options": opts.to_dict(),
        "denoise": denoise,
        "tc": [str(session.frame_rate), session.start_timecode],
        "c2pa": None if c2pa_key is None else c2pa_key.identity(),
        "mark": 1,
    }
    written: list[str] = []
    production: np.ndarray | None = None
    deliveries: dict[str, CueDelivery] = {}
    keys: dict[str, Any] = {}
    tr0 = frames_to_samples(session.timecode.start_frame, session.frame_rate, _SR)
    todo = [c for c in cues if c.id in takes]
    for i, cue in enumerate(todo):
        progress(ProgressEvent("export", i, len(todo), "cue", {"cue": cue.id}))
        take = takes[cue.id]
        analysis_path = child_path(session.analysis_dir, cue.id, ".json", "cue id")
        key = cache_key(
            {
                **base,
                "take": take.to_dict(),
                "audio": file_stat(session.root / take.path),
                "cue": {k: v for k, v in cue.to_dict().items() if k != "status"},
                "analysis": file_stat(analysis_path) if analysis_path.exists() else None,
            },
            length=_KEY_DIGITS,
        )
        rel = f"deliverables/adr/{cue.id}.wav"
        path = session.root / rel
        tr_in, tr_out = cue_time_reference(session, cue.start), cue_time_reference(session, cue.end)
        prev = _unchanged(old_cues, rel, key, path)
        if prev is not None:
            conform = ConformResult.from_dict(prev["conform"])
        else:
            if production is None:
                production = read_production(session)
            line, conform = conform_cue(
                session, cue, take, production, tr_in - tr0, tr_out - tr0, cues, opts, denoise
            )
            line = mark_synthetic(line, conform, cue.start)
            prov = take.provenance
            write_wav(
                session,
                path,
                line,
                tr_in,
                prov.bext_description(cue.id, f"{cue.character} | {cue.text}"),
                f"ADR {cue.id} {take.actor or cue.actor}",
                cue.id,
                cue.text,
                f"adr conform {conform.mode}, synthetic voice {take.actor}",
                provenance=prov.fields(),
            )
            if c2pa_key is not None:
                from adr.deliver.c2pa_sign import sign_wav

                sign_wav(
                    path,
                    c2pa_key,
                    prov.fields(),
                    title=f"{session.name} ADR {cue.id}",
                    adr_version=prov.adr_version,
                )
            written.append(rel)
        keys[rel] = {"key": key, "stat": file_stat(path), "conform": conform.to_dict()}
        if written and written[-1] == rel:  # kept at once: a rerun after Ctrl-C resumes here
            _save_progress(manifest_path, old, {**old_cues, **keys})
        deliveries[cue.id] = CueDelivery(
            cue.id,
            session.to_timecode(cue.start),
            session.to_timecode(cue.end),
            rel,
            tr_in,
            conform,
        )
    progress(ProgressEvent("export", len(todo), len(todo), "cue"))
    for c in cues:
        deliveries.setdefault(
            c.id, CueDelivery(c.id, session.to_timecode(c.start), session.to_timecode(c.end))
        )
    stem_rel = f"deliverables/{session.name}_dialog.wav"
    stem_path = session.root / stem_rel
    n_stem = picture_samples(session)
    stem_key = cache_key(
        {
            **base,
            "spec": stem_spec.to_dict(),
            "n": n_stem,
            "cues": sorted((r, k["key"]) for r, k in keys.items()),
            "dialog": [[c.id, c.start, c.end] for c in cues],
        },
        length=_KEY_DIGITS,
    )
    prev = _unchanged(old_cues, stem_rel, stem_key, stem_path)
    if prev is not None:
        loud = StemLoudness.from_dict(prev["loudness"])
    else:
        if production is None:
            production = read_production(session)
        stem = build_stem(session, production, deliveries.values(), n_stem, tr0)
        production = None
        loud, gain = normalize_stem(stem, _SR, stem_spec, dialog=dialog_spans(session, cues))
        synthetic = [c.id for c in cues if deliveries[c.id].file]
        write_wav(
            session,
            stem_path,
            stem,
            tr0,
            f"Dialog stem {session.name} ({stem_spec.description}); contains "
            f"{len(synthetic)} SYNTHETIC ADR lines: {' '.join(synthetic)}",
            "Dialog",
            "stem",
            f"dialog stem {stem_spec.description}",
            f"adr stem {stem_spec.name}",
            gain,
        )
        if c2pa_key is not None:
            from adr import __version__
            from adr.deliver.c2pa_sign import sign_wav

            sign_wav(
                stem_path,
                c2pa_key,
                {"SYNTHETIC_CUES": " ".join(synthetic)},
                title=f"{session.name} dialog stem",
                composite=True,
                adr_version=__version__,
            )
        written.append(stem_rel)
    keys[stem_rel] = {"key": stem_key, "stat": file_stat(stem_path), "loudness": loud.to_dict()}

    files = {cid: (d.file, d.conform.mode) for cid, d in deliveries.items() if d.file and d.conform}
    provs = {cid: takes[cid].provenance.fields() for cid in files}
    otio_text, edls = session_timeline(session, cues, files, stem_path.name, provs)
    delivered = [
        dataclasses.replace(c, status="delivered") if deliveries[c.id].file else c for c in cues
    ]
    from adr.ingest.cues import cues_to_csv

    texts = {
        f"deliverables/{session.name}.otio": otio_text,
        f"deliverables/{session.name}_cues.csv": marked_csv(
            cues_to_csv(delivered, session.timecode), delivered, provs
        ),
        f"deliverables/{session.name}_cues.html": cue_sheet_html(session, delivered, files, provs),
    }
    for n, edl in enumerate(edls, start=1):
        texts[f"deliverables/{session.name}{'' if n == 1 else f'_A{n}'}.edl"] = edl
    for rel, text in texts.items():
        if write_if_changed(session.root / rel, text):
            written.append(rel)
    result = ExportResult(
        stem_spec.name,
        tuple(deliveries[c.id] for c in cues if c.id in takes),
        stem_rel,
        n_stem,
        loud,
        tuple(sorted([*keys, *texts, "deliverables/export.json"])),
    )
    record = {"format_version": EXPORT_FORMAT_VERSION, "result": result.to_dict(), "keys": keys}
    if write_if_changed(manifest_path, json.dumps(record, indent=1, ensure_ascii=False) + "\n"):
        written.append("deliverables/export.json")
    return dataclasses.replace(result, written=tuple(written))


def _unchanged(old: dict[str, Any], rel: str, key: str, path: Path) -> dict[str, Any] | None:
    """The last export's manifest entry for ``rel`` if it was made from the same inputs
    (``key``) and the file at ``path`` is untouched since; else ``None``."""
    prev = old.get(rel)
    if prev and prev.get("key") == key and path.is_file() and prev.get("stat") == file_stat(path):
        return dict(prev)
    return None


def _save_progress(path: Path, old: dict[str, Any], keys: dict[str, Any]) -> None:
    """Record the per-cue files finished so far in ``export.json`` (atomically).

    The previous record's other entries are kept until the run's own record replaces them
    at the end; each entry is trusted only while its key and the file's size and time
    match, so a stale one is simply redone.
    """
    record = dict(old) if old.get("format_version") == EXPORT_FORMAT_VERSION else {}
    record.update({"format_version": EXPORT_FORMAT_VERSION, "keys": keys})
    write_text(path, json.dumps(record, indent=1, ensure_ascii=False) + "\n")

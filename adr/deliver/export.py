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

Consent and provenance (issue #12): before anything is written, every take's provenance is
checked (:func:`adr.core.consent.check_scope`: the session among its consent's productions,
its use covered, not expired; with ``voices_root``, also against the voice's current consent
and seal). A take without provenance (rendered by an adr before issue #12) is refused. Every
per-cue BWF says it is synthetic in its bext description (``SYNTHETIC ADR cue ...``) and iXML
(``ADR_PROVENANCE``); the stem's description names its synthetic cues; the cue sheet CSV/HTML
gain ``synthetic``/``voice``/``consent_id`` columns; the replaced audio of each cue is
watermarked again after conforming if the time warp washed the take's mark out; OTIO clips
carry the provenance under ``metadata["adr"]``, and each EDL event a ``* ADR SYNTHETIC``
comment. With a signing key
(``c2pa_key``; the CLI reads it from ``ADR_C2PA_CERT``/``ADR_C2PA_KEY``), every per-cue BWF
and the stem get a signed C2PA manifest (:mod:`adr.deliver.c2pa_sign`).

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
import math
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.cache import cache_key
from adr.core.errors import AdrError
from adr.core.fsio import read_json, write_text
from adr.core.names import child_path
from adr.core.outputs import check_take_file
from adr.core.progress import ProgressEvent, ProgressHook, null_progress
from adr.core.timebase import DELIVERY_RATE
from adr.core.timecode import frames_to_samples, seconds_to_picture_frames
from adr.core.types import Cue, Take, strict_from_dict
from adr.deliver.conform import (
    CONFORM_VERSION,
    ConformOptions,
    ConformResult,
    conform_line,
    room_tone,
)
from adr.deliver.export_stem import build_stem, dialog_spans
from adr.deliver.loudness import StemLoudness, loudness_spec
from adr.deliver.stem_loudness import normalize_stem
from adr.deliver.timeline import cue_sheet_html, session_timeline
from adr.ingest.lock import session_lock
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
_TONE_WINDOW = 10.0  # seconds either side of a cue searched for room tone


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


# --------------------------------------------------------------------------- time


def cue_time_reference(session: Session, seconds: float) -> int:
    """Samples since midnight (48 kHz) of session time ``seconds``: exact for times on a
    frame boundary (``timecode_to_samples`` of the cue's timecode), else rounded once."""
    tc = session.timecode
    rate = tc.frame_rate.rate
    frames = Fraction(seconds) * rate
    k = round(frames)
    if abs(frames - k) < Fraction(1, 10**6):
        return frames_to_samples(tc.start_frame + k, tc.frame_rate, _SR)
    return math.floor(
        Fraction(tc.start_frame * _SR) / rate + Fraction(seconds) * _SR + Fraction(1, 2)
    )


def picture_samples(session: Session) -> int:
    """Length of the picture in 48 kHz samples (frame count / rate, rounded once)."""
    frames = seconds_to_picture_frames(session.picture.duration, session.frame_rate)
    return frames_to_samples(frames, session.frame_rate, _SR)


# --------------------------------------------------------------------------- inputs


def load_takes(session: Session, cues: Sequence[Cue]) -> dict[str, Take]:
    """The rendered takes of ``cues`` (``renders/<cue>.json``), checked against the cues.

    Raises
    ------
    AdrError
        Invalid take file, a take path that is not ``renders/<cue>.wav``, missing or cut-short
        audio, a take that no longer matches its cue, or no rendered cue at all.
    """
    takes: dict[str, Take] = {}
    for cue in cues:
        path = child_path(session.renders_dir, cue.id, ".json", "cue id")
        if not path.exists():
            continue
        try:
            take = Take.from_dict(read_json(path))
        except (ValueError, TypeError) as exc:
            raise AdrError(path, f"invalid take file ({exc})") from None
        wav = child_path(session.renders_dir, cue.id, ".wav", "cue id")
        if (session.root / take.path).resolve() != wav.resolve():  # names are data, not paths
            raise AdrError(
                path,
                f"take path {take.path!r} is not renders/{cue.id}.wav; render "
                f"it again (adr render --cue {cue.id} --force)",
            )
        if not wav.is_file():
            raise AdrError(wav, "rendered audio is missing; run adr render")
        if abs(take.start - cue.start) > 1e-3 or abs(take.end - cue.end) > 1e-3:
            raise AdrError(
                path, f"render of cue {cue.id} is out of date (the cue moved); run adr render"
            )
        check_take_file(take, wav)  # a take cut short is named, not found "silent" later
        takes[cue.id] = take
    if not takes:
        raise AdrError(session.renders_dir, "no rendered cues; run adr render")
    return takes


def _stat(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _ascii(text: str, limit: int) -> str:
    s = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(s.split())[:limit]


# --------------------------------------------------------------------------- writers


def _write_if_changed(path: Path, text: str) -> bool:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_text(path, text)
    return True


def _ixml(
    session: Session,
    track: str,
    take: str,
    note: str,
    time_reference: int,
    provenance: dict[str, str] | None = None,
) -> str:
    from adr.ingest.bwf import make_ixml

    root = ET.fromstring(
        make_ixml([track], project=session.name, take=take, note=note, provenance=provenance).split(
            "\n", 1
        )[1]
    )
    rate = session.frame_rate
    speed = ET.SubElement(root, "SPEED")
    for tag, value in (
        ("MASTER_SPEED", f"{rate.rate.numerator}/{rate.rate.denominator}"),
        ("CURRENT_SPEED", f"{rate.rate.numerator}/{rate.rate.denominator}"),
        ("TIMECODE_RATE", f"{rate.rate.numerator}/{rate.rate.denominator}"),
        ("TIMECODE_FLAG", "DF" if rate.drop_frame else "NDF"),
        ("FILE_SAMPLE_RATE", str(_SR)),
        ("AUDIO_BIT_DEPTH", "24"),
        ("DIGITIZER_SAMPLE_RATE", str(_SR)),
        ("TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_HI", str(time_reference >> 32)),
        ("TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_LO", str(time_reference & 0xFFFFFFFF)),
        ("TIMESTAMP_SAMPLE_RATE", str(_SR)),
    ):
        ET.SubElement(speed, tag).text = value
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _write_wav(
    session: Session,
    path: Path,
    samples: np.ndarray,
    time_reference: int,
    description: str,
    track: str,
    take: str,
    note: str,
    history: str,
    gain: float = 1.0,
    provenance: dict[str, str] | None = None,
) -> None:
    from adr.ingest.bwf import BextInfo, write_bwf

    bext = BextInfo.now(
        _ascii(description, 256),
        time_reference,
        originator_reference=_ascii(f"{session.name}-{take}", 32),
        coding_history=f"A=PCM,F={_SR},W=24,M=mono,T={_ascii(history, 60)}\r\n",
    )
    write_bwf(
        path,
        samples,
        _SR,
        bext=bext,
        bits=24,
        gain=gain,
        ixml=_ixml(
            session,
            _ascii(track, 64),
            _ascii(take, 64),
            _ascii(note, 200),
            time_reference,
            provenance,
        ),
    )


def _mark_synthetic(line: np.ndarray, conform: ConformResult, start: float) -> np.ndarray:
    """The conformed line with adr's watermark where it is synthetic: a time warp (WSOLA)
    can wash out the mark the take was rendered with (measured on the demo: 0.96 -> 0.46), so
    the replaced audio is marked again when its detection falls under 0.8 (the whole line, or
    only the replaced spans of a partial repair: the actor's recording stays unmarked)."""
    from adr.deliver.watermark import detect, embed

    spans = (
        [(0, len(line))]
        if conform.mode == "whole"
        else [
            (max(0, round((a - start) * _SR)), min(len(line), round((b - start) * _SR)))
            for a, b in conform.spans
        ]
    )
    out = np.asarray(line, dtype=np.float32).copy()
    for i, j in spans:
        if j - i >= _SR // 4 and detect(out[i:j], _SR) < 0.8:
            out[i:j] = embed(out[i:j], _SR)
    return out


def _marked_csv(text: str, cues: Sequence[Cue], provs: dict[str, dict[str, str]]) -> str:
    """The cue sheet CSV with ``synthetic``, ``voice`` and ``consent_id`` columns."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*rows[0], "synthetic", "voice", "consent_id"])
    for cue, row in zip(cues, rows[1:]):
        p = provs.get(cue.id)
        writer.writerow(
            [*row, "yes" if p else "no", p["VOICE"] if p else "", p["CONSENT_ID"] if p else ""]
        )
    return out.getvalue()


def check_consent(
    session: Session,
    cues: Sequence[Cue],
    takes: dict[str, Take],
    voices_root: str | Path | None = None,
) -> None:
    """Refuse to deliver a take its consent does not cover (module docstring).

    Raises
    ------
    AdrError
        A take without provenance (naming its JSON), or one outside its consent (naming the
        voice and the rule).
    """
    from adr.core.consent import check_scope
    from adr.voice.voicefile import VOICE_FILE, load_consent

    current: dict[str, Any] = {}
    for cue in cues:
        take = takes.get(cue.id)
        if take is None:
            continue
        prov = take.provenance
        if prov is None:
            raise AdrError(
                child_path(session.renders_dir, cue.id, ".json", "cue id"),
                f"take of cue {cue.id} has no provenance (rendered before adr "
                "recorded consent and marked takes); render it again: adr render "
                f"{session.name} --cue {cue.id} --force",
            )
        check_scope(prov.consent, voice=prov.voice, session=session.name, use=prov.use, cue=cue.id)
        if voices_root is not None:
            folder = child_path(voices_root, take.actor, kind="actor id")
            if (folder / VOICE_FILE).is_file():
                if take.actor not in current:
                    current[take.actor] = load_consent(folder)[0]
                check_scope(
                    current[take.actor],
                    voice=prov.voice,
                    session=session.name,
                    use=prov.use,
                    cue=cue.id,
                )  # a voice swapped since: another actor


# --------------------------------------------------------------------------- export


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
    with session_lock(session.root, "export"):  # re-entrant: the CLI holds it too
        return _export_session_locked(
            session,
            spec=spec,
            repair=repair,
            options=options,
            denoise=denoise,
            progress=progress,
            voices_root=voices_root,
            c2pa_key=c2pa_key,
        )


def _export_session_locked(
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
    prod_ref = {**session.audio[0].to_dict(), "stat": _stat(Path(session.audio[0].path))}
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
                "audio": _stat(session.root / take.path),
                "cue": {k: v for k, v in cue.to_dict().items() if k != "status"},
                "analysis": _stat(analysis_path) if analysis_path.exists() else None,
            },
            length=_KEY_DIGITS,
        )
        rel = f"deliverables/adr/{cue.id}.wav"
        path = session.root / rel
        tr_in, tr_out = cue_time_reference(session, cue.start), cue_time_reference(session, cue.end)
        prev = old_cues.get(rel)
        if prev and prev.get("key") == key and path.is_file() and prev.get("stat") == _stat(path):
            conform = ConformResult.from_dict(prev["conform"])
        else:
            if production is None:
                production = _read_production(session)
            line, conform = _conform_cue(
                session, cue, take, production, tr_in - tr0, tr_out - tr0, cues, opts, denoise
            )
            line = _mark_synthetic(line, conform, cue.start)
            prov = take.provenance
            _write_wav(
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
        keys[rel] = {"key": key, "stat": _stat(path), "conform": conform.to_dict()}
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
    prev = old_cues.get(stem_rel)
    if (
        prev
        and prev.get("key") == stem_key
        and stem_path.is_file()
        and prev.get("stat") == _stat(stem_path)
    ):
        loud = StemLoudness.from_dict(prev["loudness"])
    else:
        if production is None:
            production = _read_production(session)
        stem = build_stem(session, production, deliveries.values(), n_stem, tr0)
        production = None
        loud, gain = normalize_stem(stem, _SR, stem_spec, dialog=dialog_spans(session, cues))
        synthetic = [c.id for c in cues if deliveries[c.id].file]
        _write_wav(
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
    keys[stem_rel] = {"key": stem_key, "stat": _stat(stem_path), "loudness": loud.to_dict()}

    files = {cid: (d.file, d.conform.mode) for cid, d in deliveries.items() if d.file and d.conform}
    provs = {cid: takes[cid].provenance.fields() for cid in files}
    otio_text, edls = session_timeline(session, cues, files, stem_path.name, provs)
    delivered = [
        dataclasses.replace(c, status="delivered") if deliveries[c.id].file else c for c in cues
    ]
    from adr.ingest.cues import cues_to_csv

    texts = {
        f"deliverables/{session.name}.otio": otio_text,
        f"deliverables/{session.name}_cues.csv": _marked_csv(
            cues_to_csv(delivered, session.timecode), delivered, provs
        ),
        f"deliverables/{session.name}_cues.html": cue_sheet_html(session, delivered, files, provs),
    }
    for n, edl in enumerate(edls, start=1):
        texts[f"deliverables/{session.name}{'' if n == 1 else f'_A{n}'}.edl"] = edl
    for rel, text in texts.items():
        if _write_if_changed(session.root / rel, text):
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
    if _write_if_changed(manifest_path, json.dumps(record, indent=1, ensure_ascii=False) + "\n"):
        written.append("deliverables/export.json")
    return dataclasses.replace(result, written=tuple(written))


def _save_progress(path: Path, old: dict[str, Any], keys: dict[str, Any]) -> None:
    """Record the per-cue files finished so far in ``export.json`` (atomically).

    The previous record's other entries are kept until the run's own record replaces them
    at the end; each entry is trusted only while its key and the file's size and time
    match, so a stale one is simply redone.
    """
    record = dict(old) if old.get("format_version") == EXPORT_FORMAT_VERSION else {}
    record.update({"format_version": EXPORT_FORMAT_VERSION, "keys": keys})
    write_text(path, json.dumps(record, indent=1, ensure_ascii=False) + "\n")


def _read_production(session: Session) -> np.ndarray:
    from adr.ingest.media import read_audio

    return read_audio(session.audio[0].path, sample_rate=_SR).mono()


def _conform_cue(
    session: Session,
    cue: Cue,
    take: Take,
    production: np.ndarray,
    a: int,
    b: int,
    cues: Sequence[Cue],
    opts: ConformOptions,
    denoise: str,
) -> tuple[np.ndarray, ConformResult]:
    from adr.analysis.analyze import load_analysis
    from adr.analysis.denoise import denoise as run_denoise
    from adr.ingest.media import read_audio

    n = b - a
    prod = np.zeros(n, dtype=np.float32)
    lo, hi = max(a, 0), min(b, len(production))
    prod[lo - a : hi - a] = production[lo:hi]
    audio = read_audio(session.root / take.path, sample_rate=_SR).mono()
    rendered = np.zeros(n)
    rendered[: min(n, len(audio))] = audio[:n]
    margin = int((opts.max_shift + 0.2) * _SR)
    g0, g1 = max(0, a - margin), min(len(production), b + margin)
    guide = run_denoise(production[g0:g1].astype(np.float32), _SR, method=denoise)
    w0, w1 = max(0, a - int(_TONE_WINDOW * _SR)), min(len(production), b + int(_TONE_WINDOW * _SR))
    allowed = np.ones(w1 - w0, dtype=bool)  # the window of the production searched for tone
    for c in cues:
        allowed[
            max(0, round((c.start - 0.1) * _SR) - w0) : max(0, round((c.end + 0.1) * _SR) - w0)
        ] = False
    tone = room_tone(production[w0:w1], _SR, allowed) if opts.room_tone else None
    words: Sequence[Any] = ()
    phones: Sequence[Any] = ()
    damage: list[tuple[float, float, str]] = []
    notes = cue.notes
    if (child_path(session.analysis_dir, cue.id, ".json", "cue id")).exists():
        line = load_analysis(session, cue.id)
        words, phones = line.alignment.words, line.alignment.phones
        damage = [(s.start, s.end, s.kind) for s in line.damage.spans]
    start = a / _SR
    try:
        return conform_line(
            prod,
            rendered,
            _SR,
            start=start,
            cue_id=cue.id,
            notes=notes,
            words=words,
            phones=phones,
            damage=damage,
            guide=guide,
            guide_lead=(a - g0) / _SR,
            tone=tone,
            options=opts,
        )
    except AdrError as exc:  # name the take file ("the rendered take is silent" ...)
        raise AdrError(
            session.root / take.path,
            f"cue {cue.id}: {exc.problem}; render it again (adr render --cue {cue.id} --force)",
        ) from None

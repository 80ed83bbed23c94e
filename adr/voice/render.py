"""``adr render``: re-speak a session's damaged lines in the actors' enrolled voices.

One line is re-spoken in memory by :func:`~adr.voice.line_render.render_line` (a text edit
first goes through :mod:`adr.voice.text_edit`); this module is the session around it.

:func:`render_session` renders a session's flagged cues (or the given ones) into
``renders/<cue>.wav`` (48 kHz, mono, 24-bit Broadcast WAV) and ``renders/<cue>.json`` (the
:class:`~adr.core.types.Take`), skips cues whose render is up to date (key: analysis file, voice
model hash, text, mode, cue times; kept in ``renders/.keys/``), and marks rendered cues
``"rendered"`` in the cue sheet.

Consent and provenance: before anything is rendered, every selected cue is
checked against its voice's consent (:func:`adr.core.consent.check_scope`: the session among
the consent's productions, a text edit only when edits are covered, not expired, the voice's
seal intact); one refusal stops the run with nothing written. Every take is marked with adr's
inaudible watermark (:mod:`adr.deliver.watermark`) and its JSON carries its
:class:`~adr.core.consent.Provenance` (synthetic, voice, consent, adr version, date). When
only the consent changed (same audio inputs), the take's JSON is rewritten, not its audio.

CLI contract: ``adr render SESSION [--cues ID...] [--blind] [--force]`` is
``render_session(load_session(SESSION, root=<--sessions>), voices_root=<--voices>,
cue_ids=IDS or None, mode="blind" if blind else "script", progress=<hook>, force=force)``
and prints one line per returned Take. Errors are :class:`AdrError` (one line, exit 2).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from adr.core.cache import cache_key, sha256_file
from adr.core.errors import AdrError
from adr.core.fsio import read_json, write_json
from adr.core.names import check_not_source, child_path
from adr.core.outputs import check_take_audio, take_is_current
from adr.core.progress import ProgressEvent, ProgressHook, null_progress
from adr.core.timebase import DELIVERY_RATE, seconds_to_samples
from adr.core.types import Take
from adr.ingest.locked import holds_session_lock
from adr.voice.line_render import RenderedLine, render_line
from adr.voice.text_edit import edit_alignment

if TYPE_CHECKING:
    from adr.analysis.analyze import LineAnalysis
    from adr.ingest.session import Session
    from adr.voice.voicefile import LoadedVoice

__all__ = [
    "RENDER_VERSION",
    "RenderedLine",
    "edit_alignment",
    "line_use",
    "render_line",
    "render_session",
]

RENDER_VERSION = 3  # 3: takes carry the watermark and their provenance
_PRODUCTION_RATE = 16000  # the production line given to a restorer (the analysis rate)


def _render_key(analysis_path: Path, voice_dir: Path, cue: Any, text: str, mode: str) -> str:
    from adr.voice.voicefile import VOICE_FILE

    voice = read_json(voice_dir / VOICE_FILE)
    payload = [
        RENDER_VERSION,
        sha256_file(analysis_path),
        voice.get("model_sha256"),
        (voice.get("restorer") or {}).get("sha256"),
        cue.start,
        cue.end,
        text,
        mode,
    ]
    return cache_key(payload)


def line_use(line: LineAnalysis, text: str) -> str:
    """The use a render of ``line`` speaking ``text`` makes of a voice: ``"replace"`` (the
    analysed words, or the words recognition heard on set) or ``"edit"`` (other words)."""
    from adr.analysis.phonemes import normalize_text

    said = normalize_text(text)
    same = said in ([w.text for w in line.alignment.words], normalize_text(line.transcript.text))
    return "replace" if same else "edit"


def _stored_provenance(meta: Path) -> Any:
    """The provenance of the take stored in ``meta`` (None if absent or unreadable)."""
    if not meta.is_file():
        return None
    try:
        return Take.from_dict(read_json(meta)).provenance
    except (AdrError, KeyError, TypeError, ValueError, AttributeError):
        return None


def _write_take(session: Session, wav: Path, audio: np.ndarray, take: Take) -> None:
    """The take as a 48 kHz/24-bit Broadcast WAV whose bext description and iXML say it
    is synthetic (voice, consent, adr version, date)."""
    from adr.deliver.export_takes import cue_time_reference
    from adr.ingest.bwf import BextInfo, make_ixml, write_bwf

    prov = take.provenance
    tr = cue_time_reference(session, take.start)
    bext = BextInfo.now(
        prov.bext_description(take.cue_id, take.text),
        tr,
        originator_reference=prov.consent_id[:32],
        coding_history=f"A=PCM,F={DELIVERY_RATE},W=24,M=mono,T=adr synthetic voice {take.actor}"[
            :120
        ]
        + "\r\n",
    )
    ixml = make_ixml(
        [f"ADR {take.cue_id} {take.actor}"],
        project=session.name,
        take=take.cue_id,
        note=prov.label(),
        provenance=prov.fields(),
    )
    write_bwf(wav, audio, DELIVERY_RATE, bext=bext, bits=24, ixml=ixml)


@holds_session_lock("render")  # re-entrant: the CLI holds it too
def render_session(
    session: Session,
    *,
    voices_root: str | Path = "voices",
    cue_ids: Sequence[str] | None = None,
    mode: str = "script",
    progress: ProgressHook | None = None,
    force: bool = False,
) -> list[Take]:
    """Render a session's cues into ``renders/`` (``adr render``; see the module doc).

    Parameters
    ----------
    session : Session
    voices_root : path
        Folder of enrolled voices (``ACTOR/voice.json``).
    cue_ids : sequence of str, optional
        Cues to render (any status); default: those ``"flagged"`` by ``adr analyze`` or
        already ``"rendered"`` (re-rendered only if out of date).
    mode : str
        ``"script"``: speak the cue sheet's text (the analysed text where it has none);
        ``"blind"``: speak what recognition heard.
    progress : callable, optional
        Receives ``ProgressEvent("render", done, total, "line", {"cue": id})``.
    force : bool
        Render even the cues whose render is up to date.

    Returns
    -------
    list of Take
        One per selected cue, in cue-sheet order.

    Raises
    ------
    AdrError
        Unknown cue id or mode, a cue without analysis, a cue whose times changed since the
        analysis, no enrolled voice for a cue's actor, or a use its consent does not cover
        (no consent, another session, a text edit, expired, tampered): all checked before
        anything is rendered.
    """
    from adr import __version__
    from adr.analysis.analyze import load_analysis
    from adr.analysis.phonemes import normalize_text
    from adr.core.consent import Provenance, check_scope
    from adr.voice.voicefile import VOICE_FILE, load_consent, load_voice

    if mode not in ("script", "blind"):
        raise AdrError(mode, "render mode must be 'script' or 'blind'")
    report = progress or null_progress
    cues = session.read_cues()
    known = {c.id for c in cues}
    for cid in cue_ids or ():
        if cid not in known:
            raise AdrError(session.cues_path, f"no cue {cid!r} in the cue sheet")
    todo = [
        c for c in cues if (c.id in cue_ids if cue_ids else c.status in ("flagged", "rendered"))
    ]
    plan = []
    consents: dict[str, Any] = {}
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    from adr.deliver.watermark import WATERMARK, embed

    for cue in todo:
        if not child_path(session.analysis_dir, cue.id, ".json", "cue id").is_file():
            raise AdrError(f"cue {cue.id}", "not analysed yet; run adr analyze")
        line = load_analysis(session, cue.id)
        if abs(line.cue.start - cue.start) > 1e-3 or abs(line.cue.end - cue.end) > 1e-3:
            raise AdrError(f"cue {cue.id}", "times changed since the analysis; run adr analyze")
        actor = cue.actor or (line.speaker.actor if line.speaker.actor != "unknown" else "")
        voice_dir = child_path(voices_root, actor, kind="actor id")
        if not actor or not (voice_dir / VOICE_FILE).is_file():
            where = (
                f"no enrolled voice for actor {actor} ({voice_dir} has no voice.json)"
                if actor
                else "no enrolled voice for actor unknown (the cue sheet names "
                f"none and no voice in {voices_root} matched)"
            )
            raise AdrError(f"cue {cue.id}", f"{where}; run adr enroll")
        heard = line.transcript.text.strip() or line.text
        text = (cue.text.strip() or line.text) if mode == "script" else heard
        take_mode = "script" if mode == "script" and cue.text.strip() else "blind"
        if not normalize_text(text):
            raise AdrError(f"cue {cue.id}", f"no words to speak in {text!r}")
        if actor not in consents:
            consents[actor] = load_consent(voice_dir)[0]  # the seal is checked here
        use = line_use(line, text)
        consent = consents[actor]  # sealed with the voice: its actor is the voice's own id
        check_scope(
            consent,
            voice=consent.actor if consent else actor,
            session=session.name,
            use=use,
            cue=cue.id,
        )
        plan.append(
            (cue, dataclasses.replace(line, cue=cue), actor, voice_dir, text, take_mode, use)
        )
    voices: dict[str, LoadedVoice] = {}
    takes, rendered = [], set()
    keys_dir = session.renders_dir / ".keys"
    production: Any = None  # the production (MonoSource), opened when a restorer voice needs it
    for i, (cue, line, actor, voice_dir, text, take_mode, use) in enumerate(plan):
        report(ProgressEvent("render", i, len(plan), "line", {"cue": cue.id}))
        wav = check_not_source(
            child_path(session.renders_dir, cue.id, ".wav", "cue id"), session.source_paths
        )
        meta = child_path(session.renders_dir, cue.id, ".json", "cue id")
        analysis = child_path(session.analysis_dir, cue.id, ".json", "cue id")
        key = _render_key(analysis, voice_dir, cue, text, mode)
        consent = consents[actor]
        prov = Provenance(
            consent.actor, consent, consent.consent_id, use, __version__, now, WATERMARK
        )
        old = _stored_provenance(meta)
        if old is not None and dataclasses.replace(old, date=now) == prov:
            prov = old  # the same provenance: keep its date
        take = Take(
            cue.id,
            actor,
            str(wav.relative_to(session.root)),
            cue.start,
            cue.end,
            DELIVERY_RATE,
            text,
            take_mode,
            prov,
        )
        key_file = child_path(keys_dir, cue.id, ".json", "cue id")
        # up to date only if every file reads back, matches and is whole (else: redone)
        fresh = take_is_current(take, wav, meta, key_file, key)
        if (
            not force
            and not fresh
            and old is not None
            and old.watermark == WATERMARK
            and take_is_current(dataclasses.replace(take, provenance=old), wav, meta, key_file, key)
        ):
            write_json(meta, take.to_dict())  # only the consent changed: the audio stands
            fresh = True
        if force or not fresh:
            if actor not in voices:
                voices[actor] = load_voice(voice_dir)
            clip = None
            if voices[actor].restorer is not None:
                if production is None:  # read slice by slice: a long reel is never held
                    from adr.ingest.media import MonoSource

                    session.check_audio()
                    production = MonoSource(session.audio[0].path, _PRODUCTION_RATE)
                a = seconds_to_samples(cue.start, _PRODUCTION_RATE)
                clip = production[a : seconds_to_samples(cue.end, _PRODUCTION_RATE)]
            out = render_line(
                line, voices[actor], text=text, audio=clip, sample_rate=_PRODUCTION_RATE
            )
            check_take_audio(out.audio, cue.id, actor)  # never keep NaN, silence or DC
            y = embed(out.audio, DELIVERY_RATE)  # every take carries adr's watermark
            _write_take(session, wav, np.clip(y, -1.0, 1.0), take)
            write_json(meta, take.to_dict())
            write_json(key_file, {"key": key})
            rendered.add(cue.id)
        elif cue.status in ("pending", "flagged", "analyzed"):
            rendered.add(cue.id)  # rendered before an interruption: the status is still due
        takes.append(take)
    report(ProgressEvent("render", len(plan), len(plan), "line"))
    if rendered:
        session.write_cues(
            [
                dataclasses.replace(c, status="rendered") if c.id in rendered else c
                for c in session.read_cues()
            ]
        )
    return takes

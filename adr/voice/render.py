"""``adr render``: re-speak a session's damaged lines in the actors' enrolled voices.

:func:`render_line` (pure, arrays) turns one analysed line into a take: the line's phones,
prosody and (when the voice uses them) lips become frame features on the model's grid from
``cue.start`` to ``cue.end``; the voice model speaks them at its own rate; the result is
resampled to 48 kHz and is exactly the cue's length there, so every word sits where it was.
The model hears the line at its training level (the line's loudness shifted so that its
voiced frames' median is the voice's ``record.loudness_db``); the take is then scaled back
by the same number of dB, so it keeps the production line's level.
Outside the words (before the first, after the last, in pauses of 0.15 s or more) the take
is silent: 50 ms margins around the words, 10 ms raised-cosine fades.

Text edits: when the text to speak differs from the analysed text, the words are diffed
(:func:`edit_alignment`). Equal words keep their phones. A substituted word gets the new
word's phones spread over the old word's time span (several words replaced by as many: word
by word; by a different number: over their joint span); same phone count keeps the old phone
boundaries, else each phone gets a share proportional to a nominal length (vowels 2,
consonants 1). An inserted word joins its preceding word (the following one at the line
start) as one substitution, whose span then also takes a pause after it. A deleted word's
span becomes a pause. Prosody (F0, voicing, loudness) is always the line's own.

:func:`render_session` renders a session's flagged cues (or the given ones) into
``renders/<cue>.wav`` (48 kHz, mono, 24-bit Broadcast WAV) and ``renders/<cue>.json`` (the
:class:`~adr.core.types.Take`), skips cues whose render is up to date (key: analysis file, voice
model hash, text, mode, cue times; kept in ``renders/.keys/``), and marks rendered cues
``"rendered"`` in the cue sheet.

Consent and provenance (issue #12): before anything is rendered, every selected cue is
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
import difflib
from collections.abc import Sequence
from dataclasses import dataclass
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
from adr.core.types import Phone, Take, Word, strict_from_dict
from adr.voice.features import SILENCE_DB, FrameFeatures
from adr.voice.vocoder import MEL

if TYPE_CHECKING:
    from adr.analysis.align import Alignment
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
_MARGIN, _FADE, _MIN_PAUSE = 0.05, 0.01, 0.15  # seconds (see the module docstring)
_VOWEL_CHARS = set("aeiouyɑɐɒæɔəɚɛɜɝɪʊʌᵻɨʉ")


@dataclass(frozen=True, eq=False)
class RenderedLine:
    """A re-spoken line.

    Attributes
    ----------
    cue_id, actor, text : str
        The cue, the voice that spoke and what it said.
    start, end : float
        Session seconds of the first sample and of the end of the take (the cue's).
    sample_rate : int
        48000 (:data:`adr.core.timebase.DELIVERY_RATE`).
    audio : np.ndarray, shape (N,), float32
        ``N = seconds_to_samples(end) - seconds_to_samples(start)`` at ``sample_rate``.
    alignment : Alignment
        The words and phones spoken (after any text edit), session seconds.
    features : FrameFeatures
        What the model was given, T frames from ``start``.
    """

    cue_id: str
    actor: str
    text: str
    start: float
    end: float
    sample_rate: int
    audio: np.ndarray
    alignment: Alignment
    features: FrameFeatures

    def to_dict(self) -> dict[str, Any]:
        return {
            "cue_id": self.cue_id,
            "actor": self.actor,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "sample_rate": self.sample_rate,
            "audio": np.asarray(self.audio, dtype=np.float64).tolist(),
            "alignment": self.alignment.to_dict(),
            "features": self.features.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderedLine:
        from adr.analysis.align import Alignment

        d = dict(data)
        d["audio"] = np.asarray(d.get("audio", ()), dtype=np.float32)
        d["alignment"] = Alignment.from_dict(d["alignment"])
        d["features"] = FrameFeatures.from_dict(d["features"])
        return strict_from_dict(cls, d)


# ----------------------------------------------------------------------------- text edits


def _spread(
    symbols: Sequence[str], old: Sequence[Phone], t0: float, t1: float, word: int
) -> list[Phone]:
    """New phones over [t0, t1]: the old boundaries when the counts match, else shares
    proportional to a nominal length (vowel 2, consonant 1)."""
    if len(symbols) == len(old) and old:
        return [Phone(s, p.start, p.end, word) for s, p in zip(symbols, old)]
    weights = np.array([2.0 if s[0] in _VOWEL_CHARS else 1.0 for s in symbols])
    edges = t0 + (t1 - t0) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return [Phone(s, float(a), float(b), word) for s, a, b in zip(symbols, edges, edges[1:])]


def _absorb_inserts(ops: list[list[Any]]) -> list[list[Any]]:
    """Turn each insertion into a substitution of its neighbouring word (module doc)."""
    out: list[list[Any]] = []
    pending: tuple[int, int] | None = None
    for tag, i1, i2, j1, j2 in ops:
        if tag == "insert" and out:
            prev = out[-1]
            if prev[0] == "equal" and prev[2] - prev[1] > 1:
                prev[2], prev[4] = prev[2] - 1, prev[4] - 1
                out.append(["replace", i1 - 1, i1, j1 - 1, j2])
            else:
                prev[0], prev[4] = "replace", j2
        elif tag == "insert":
            pending = (j1, j2)
        elif pending is not None:
            if tag == "equal" and i2 - i1 > 1:
                out += [
                    ["replace", i1, i1 + 1, pending[0], j1 + 1],
                    ["equal", i1 + 1, i2, j1 + 1, j2],
                ]
            else:
                out.append(["replace", i1, i2, pending[0], j2])
            pending = None
        else:
            out.append([tag, i1, i2, j1, j2])
    return out


def edit_alignment(alignment: Alignment, text: str) -> Alignment:
    """The alignment of ``text`` on the timing of an aligned line (module doc: the rule).

    Parameters
    ----------
    alignment : Alignment
        The analysed line's words and phones.
    text : str
        The text to speak; normalized with :func:`adr.analysis.phonemes.normalize_text`.

    Returns
    -------
    Alignment
        ``alignment`` itself when the words are the same; otherwise new words and phones
        (method gets ``"+edited"``; pauses are ``"sil"`` phones).
    """
    from adr.analysis.align import Alignment
    from adr.analysis.phonemes import SILENCE, normalize_text, phonemize_words

    old = [w.text for w in alignment.words]
    new = normalize_text(text)
    if not new:
        raise AdrError(repr(text), "no words to speak")
    if old == new:
        return alignment
    ipa = phonemize_words(new)
    by_word: dict[int, list[Phone]] = {}
    for p in alignment.phones:
        by_word.setdefault(p.word, []).append(p)
    ops = _absorb_inserts(
        [list(o) for o in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()]
    )
    phones: list[Phone] = []
    cleared: list[tuple[float, float]] = []  # old spans whose pauses are dropped
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            for k in range(i2 - i1):
                phones += [dataclasses.replace(p, word=j1 + k) for p in by_word.get(i1 + k, [])]
        elif tag == "replace":
            if i2 - i1 == j2 - j1:
                pairs = [((i, i + 1), (j, j + 1)) for i, j in zip(range(i1, i2), range(j1, j2))]
            else:
                pairs = [((i1, i2), (j1, j2))]
            for (a1, a2), (b1, b2) in pairs:
                t0, t1 = alignment.words[a1].start, alignment.words[a2 - 1].end
                if b2 - b1 > a2 - a1 and a2 < len(old):  # more words: take the pause after
                    t1 = max(t1, alignment.words[a2].start)
                cleared.append((t0, t1))
                olds = [p for i in range(a1, a2) for p in by_word.get(i, [])]
                symbols = [s for j in range(b1, b2) for s in ipa[j]]
                spread = _spread(symbols, olds, t0, t1, b1)
                k = 0
                for j in range(b1, b2):  # give each new word its own phones' index
                    for p in spread[k : k + len(ipa[j])]:
                        phones.append(dataclasses.replace(p, word=j))
                    k += len(ipa[j])
    for p in by_word.get(-1, []):
        if not any(p.start < b and p.end > a for a, b in cleared):
            phones.append(dataclasses.replace(p, symbol=SILENCE))
    phones.sort(key=lambda p: (p.start, p.end))
    words = []
    for j, w in enumerate(new):
        mine = [p for p in phones if p.word == j]
        conf = next(
            (
                alignment.words[i1 + (j - j1)].confidence
                for tag, i1, _, j1, j2 in ops
                if tag == "equal" and j1 <= j < j2
            ),
            0.0,
        )
        words.append(Word(w, min(p.start for p in mine), max(p.end for p in mine), conf))
    return Alignment(
        tuple(words),
        tuple(phones),
        alignment.score,
        float(np.mean([w.confidence for w in words])),
        alignment.method + "+edited",
    )


# ----------------------------------------------------------------------------- one line


def _gate(words: Sequence[Word], start: float, n: int, sr: int) -> np.ndarray:
    """Gain (N,): 1 around the words, 0 elsewhere, with raised-cosine fades."""
    spans: list[list[float]] = []
    for w in sorted(words, key=lambda w: w.start):
        a, b = w.start - _MARGIN - start, w.end + _MARGIN - start
        if spans and a - spans[-1][1] < _MIN_PAUSE - 2 * _MARGIN:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    gain = np.zeros(n, dtype=np.float32)
    r = max(1, seconds_to_samples(_FADE, sr))
    ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(r) + 0.5) / r)).astype(np.float32)
    for a, b in spans:
        i, j = max(0, seconds_to_samples(a, sr)), min(n, seconds_to_samples(b, sr))
        if j <= i:
            continue
        gain[i:j] = 1.0
        lo = max(0, i - r)
        gain[lo:i] = np.maximum(gain[lo:i], ramp[r - (i - lo) :])
        hi = min(n, j + r)
        gain[j:hi] = np.maximum(gain[j:hi], ramp[::-1][: hi - j])
    return gain


def _level_shift(feats: FrameFeatures, target_db: float | None) -> float:
    """dB to add to a line's loudness so its voiced frames sit at the voice's training
    level (0 when either is unknown), at most 30 dB either way."""
    voiced = feats.loudness[(feats.voiced > 0) & (feats.loudness > SILENCE_DB)]
    if target_db is None or not voiced.size:
        return 0.0
    return float(np.clip(target_db - np.median(voiced), -30.0, 30.0))


def _edited_spans(line: LineAnalysis, alignment: Alignment) -> list[tuple[float, float]]:
    """Session-second spans of the words that differ from the analysed ones."""
    before = [w.text.lower() for w in line.alignment.words]
    after = [w.text.lower() for w in alignment.words]
    ops = difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes()
    spans = [
        (w.start, w.end)
        for tag, _, _, j1, j2 in ops
        if tag != "equal"
        for w in alignment.words[j1:j2]
    ]
    spans += [
        (w.start, w.end)
        for tag, i1, i2, _, _ in ops
        if tag == "delete"
        for w in line.alignment.words[i1:i2]
    ]
    return spans


def _restore(
    line: LineAnalysis,
    voice: LoadedVoice,
    said: str,
    alignment: Alignment,
    audio: np.ndarray | None,
    sample_rate: int,
) -> np.ndarray:
    """The restorer's take at 22.05 kHz (N,), at the production line's level."""
    from adr.voice.evidence import REFERENCE_LEVEL_DB, active_level_db
    from adr.voice.speak import line_inputs, speak

    assert voice.restorer is not None
    cue = line.cue
    denoised = None
    if audio is not None and len(audio):
        from adr.analysis.denoise import denoise

        denoised = denoise(np.asarray(audio, dtype=np.float32), sample_rate)
    inputs = line_inputs(
        said,
        alignment.words,
        alignment.phones,
        line.prosody,
        cue.start,
        cue.end,
        voice.restorer.config,
        audio=audio,
        sample_rate=sample_rate,
        denoised=denoised,
        cue_id=cue.id,
        distrust=_edited_spans(line, alignment),
    )
    y = speak(voice.restorer, inputs)
    if denoised is not None:
        level = active_level_db(denoised, sample_rate)
        if level > -90.0:
            y = y * np.float32(10.0 ** ((level - REFERENCE_LEVEL_DB) / 20.0))
    return y.astype(np.float32)


def render_line(
    line: LineAnalysis,
    voice: LoadedVoice,
    *,
    text: str | None = None,
    seed: int = 0,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
) -> RenderedLine:
    """Re-speak one analysed line in a voice (pure: no files).

    Parameters
    ----------
    line : LineAnalysis
        The cue (its ``start``/``end`` are the take's), alignment, prosody and lips.
    voice : LoadedVoice
        The actor's voice (:func:`adr.voice.voicefile.load_voice`).
    text : str, optional
        What to say; default the cue's text, else the analysed text. A text differing
        from the analysed one is edited in (:func:`edit_alignment`).
    seed : int
        Seed of the model's noise (same seed, same samples).
    audio : np.ndarray, shape (N,), optional
        The production line over ``[cue.start, cue.end)`` at ``sample_rate``: the take's
        own evidence for a voice with a restorer (ignored by the harmonic-plus-noise model).
        Without it the restorer speaks from the script, the prosody and the donor alone.
    sample_rate : int
        Rate of ``audio``.

    Returns
    -------
    RenderedLine
        48 kHz audio (N,), ``N`` the cue's length in samples at 48 kHz.
    """
    from adr.analysis.denoise import resample
    from adr.voice.features import frame_features

    cue, vc = line.cue, voice.config
    said = text if text is not None else (cue.text.strip() or line.text)
    alignment = edit_alignment(line.alignment, said)
    lips = line.lips.track if (vc.lips and line.lips is not None) else None
    feats = frame_features(
        alignment.phones,
        line.prosody,
        lips,
        start=cue.start,
        end=cue.end,
        frame_period=vc.frame_period,
        phone_inventory=vc.phone_inventory,
    )
    if voice.restorer is not None:
        y = resample(
            _restore(line, voice, said, alignment, audio, sample_rate),
            MEL.sample_rate,
            DELIVERY_RATE,
        )
        if voice.restorer.config.high_band:  # the band above 11 kHz, learned at enrollment
            from adr.voice.bandext import extend_band, profile_of

            y = extend_band(y, profile_of(voice.restorer.config))
    else:
        if voice.model is None:
            raise AdrError(voice.record.actor, "the voice has no model to speak with")
        shift = _level_shift(feats, voice.record.loudness_db)
        model_feats = dataclasses.replace(
            feats, loudness=np.maximum(feats.loudness + shift, SILENCE_DB)
        )
        y = voice.model.render(model_feats, seed=seed) * np.float32(10 ** (-shift / 20))
        y = resample(y, vc.sample_rate, DELIVERY_RATE)
    n = seconds_to_samples(cue.end, DELIVERY_RATE) - seconds_to_samples(cue.start, DELIVERY_RATE)
    y = np.pad(y[:n], (0, max(0, n - len(y))))
    y = (y * _gate(alignment.words, cue.start, n, DELIVERY_RATE)).astype(np.float32)
    return RenderedLine(
        cue.id, voice.record.actor, said, cue.start, cue.end, DELIVERY_RATE, y, alignment, feats
    )


# ----------------------------------------------------------------------------- session


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
    from adr.deliver.export import cue_time_reference
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
    from adr.ingest.lock import session_lock

    with session_lock(session.root, "render"):  # re-entrant: the CLI holds it too
        return _render_session_locked(
            session,
            voices_root=voices_root,
            cue_ids=cue_ids,
            mode=mode,
            progress=progress,
            force=force,
        )


def _render_session_locked(
    session: Session,
    *,
    voices_root: str | Path = "voices",
    cue_ids: Sequence[str] | None = None,
    mode: str = "script",
    progress: ProgressHook | None = None,
    force: bool = False,
) -> list[Take]:
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

"""A small ADR session with renders and analyses, for the conform/export/report tests.

Built once per test run (cached by temporary base folder): a 10 s picture at 25 fps with
timecode 01:00:00:00, production audio (festival speech of three lines over room tone, a
noise burst in the first line, generator noise over the second), renders of the first two
lines (clean speech; the first 30 ms late, the second time-stretched) written as
``renders/<cue>.wav`` + ``.json`` by the render contract, and analyses with the true word
timing, damage spans and prosody.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import soundfile as sf
from consent_data import consent_for
from media_files import make_picture

from adr.analysis.align import Alignment
from adr.analysis.analyze import LineAnalysis
from adr.analysis.asr import Transcript
from adr.analysis.avsync import AvOffset
from adr.analysis.damage import DamageReport, DamageSpan
from adr.analysis.speakers import SpeakerMatch
from adr.core.consent import Provenance
from adr.core.fsio import write_json
from adr.core.types import Cue, Phone, Take, Word
from adr.ingest.session import Session, create_session

SR = 48_000
FPS = 25
SECONDS = 10
TEXTS = {
    "101": "Roll sound, we are losing the light.",
    "102": "He said cut, so we stop right here.",
    "103": "Nobody moves until I say so.",
}
PLACES = {"101": 0.4, "102": 3.4, "103": 6.6}  # utterance starts, session seconds


@dataclass
class Built:
    session: Session
    production: np.ndarray  # (N,) float64, as written (24-bit values)
    clean: dict[str, np.ndarray]  # dry speech per cue, 48 kHz
    words: dict[str, tuple[Word, ...]]  # production word times, session s
    take_words: dict[str, tuple[Word, ...]]  # render word times, session s
    burst: tuple[float, float]


_CACHE: dict[str, Built] = {}


def provenance(actor: str, **consent: object) -> Provenance:
    """The provenance of a test take of ``actor`` (consent from :mod:`consent_data`)."""
    c = consent_for(actor, **consent)  # type: ignore[arg-type]
    return Provenance(
        actor, c, c.consent_id, "replace", "0.1.0", "2026-12-06T10:00:00Z", "perth-implicit"
    )


def speech(texts: list[str]) -> list[tuple[np.ndarray, tuple[Word, ...], tuple[Phone, ...]]]:
    """Festival (kal) speech at 48 kHz with its true word and phone timing (seconds)."""
    from adr.analysis.denoise import resample
    from adr.demo.tts import VOICES, synthesize

    try:
        utts = synthesize(VOICES["KAL"], texts, peak=0.5)
    except Exception as exc:  # noqa: BLE001 - any festival failure means: skip
        pytest.skip(f"festival is not usable ({exc})")
    out = []
    for u in utts:
        words = tuple(Word(w.text, w.start, w.end) for w in u.alignment.words)
        phones = tuple(Phone(p.symbol, p.start, p.end, p.word) for p in u.alignment.phones)
        out.append((resample(u.audio, u.sample_rate, SR).astype(np.float64), words, phones))
    return out


def _shift(words, dt: float):
    return tuple(Word(w.text, w.start + dt, w.end + dt) for w in words)


def _frame(t: float) -> float:
    return round(t * FPS) / FPS


def build(tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = str(tmp_path_factory.getbasetemp())
    if base in _CACHE:
        return _CACHE[base]
    import librosa

    from adr.analysis.prosody import extract_prosody

    d = tmp_path_factory.mktemp("deliver")
    rng = np.random.default_rng(7)
    n = SECONDS * SR
    pic = make_picture(
        d / "reel.mov", SECONDS, size="160x120", rate=FPS, options=("-timecode", "01:00:00:00")
    )
    lines = speech(list(TEXTS.values()))
    tone = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same") * 0.004
    dry = np.zeros(n)
    clean, words, take_words, phones = {}, {}, {}, {}
    for (cid, t0), (x, w, p) in zip(PLACES.items(), lines):
        a = round(t0 * SR)
        dry[a : a + len(x)] += x
        clean[cid], words[cid] = x, _shift(w, t0)
        phones[cid] = tuple(Phone(q.symbol, q.start + t0, q.end + t0, q.word) for q in p)
    production = dry + tone
    w101 = words["101"]
    burst = (w101[2].start + 0.02, w101[2].start + 0.32)  # inside "we are"
    b0, b1 = round(burst[0] * SR), round(burst[1] * SR)
    production[b0:b1] += 0.3 * rng.standard_normal(b1 - b0) * np.hanning(b1 - b0)
    t = np.arange(n) / SR
    hum = sum(np.sin(2 * np.pi * 50 * k * t) / k for k in range(1, 8)) * 0.06
    g0, g1 = round(3.2 * SR), round(6.4 * SR)
    production[g0:g1] += hum[g0:g1] * np.hanning(g1 - g0)
    prod_path = d / "boom.wav"
    sf.write(prod_path, production.astype(np.float32), SR, subtype="PCM_24")
    production = sf.read(prod_path, dtype="float64")[0]
    session = create_session("reel", pic, [prod_path], root=d / "sessions")

    cues = []
    for i, (cid, text) in enumerate(TEXTS.items()):
        w = words[cid]
        cues.append(
            Cue(
                cid,
                ["MAYA", "JOE", "KAL"][i],
                "KAL",
                _frame(w[0].start - 0.3),
                _frame(w[-1].end + 0.3),
                text,
                "noise",
                "",
            )
        )
    session.write_cues(cues)

    for cue in cues[:2]:
        n_cue = round(cue.end * SR) - round(cue.start * SR)
        x = clean[cue.id]
        onset = PLACES[cue.id] - cue.start
        if cue.id == "101":  # 30 ms late
            delay = 0.03
            take_words[cue.id] = _shift(words[cue.id], delay)
            placed = np.zeros(n_cue)
            a = round((onset + delay) * SR)
            placed[a : a + len(x)] = x[: n_cue - a]
        else:  # first two words 8 % faster, the rest 6 % slower
            b = round((words[cue.id][2].start - PLACES[cue.id]) * SR)
            y = np.concatenate(
                [
                    librosa.effects.time_stretch(x[:b], rate=1.08),
                    librosa.effects.time_stretch(x[b:], rate=0.94),
                ]
            )

            def m(tt: float, b=b) -> float:
                s = (tt - PLACES["102"]) * SR
                return PLACES["102"] + (s / 1.08 if s <= b else b / 1.08 + (s - b) / 0.94) / SR

            take_words[cue.id] = tuple(Word(q.text, m(q.start), m(q.end)) for q in words[cue.id])
            placed = np.zeros(n_cue)
            a = round(onset * SR)
            placed[a : a + len(y)] = y[: n_cue - a]
        rel = f"renders/{cue.id}.wav"
        sf.write(session.root / rel, (0.7 * placed).astype(np.float32), SR, subtype="PCM_24")
        write_json(
            session.root / f"renders/{cue.id}.json",
            Take(
                cue.id, "KAL", rel, cue.start, cue.end, SR, cue.text, provenance=provenance("KAL")
            ).to_dict(),
        )

    for cue in cues:
        seg = production[round(cue.start * SR) : round(cue.end * SR)]
        from adr.analysis.denoise import resample

        pros = extract_prosody(
            resample(seg.astype(np.float32), SR, 16000), 16000, start=cue.start, denoise="none"
        )
        spans = []
        if cue.id == "101":
            spans = [DamageSpan(burst[0], burst[1], "burst", -4.0)]
        elif cue.id == "102":
            spans = [DamageSpan(cue.start + 0.1, cue.end - 0.1, "noise", 2.0)]
        line = LineAnalysis(
            cue=cue,
            text=cue.text,
            text_source="script",
            transcript=Transcript(cue.text.lower().replace("cut", "cat"), "en", 1.0, words[cue.id]),
            alignment=Alignment(words[cue.id], phones[cue.id], 0.85, 0.85, "truth"),
            prosody=pros,
            speaking_rate=12.0,
            speaker=SpeakerMatch("KAL", 0.81, {"KAL": 0.81}),
            lips=None,
            av=AvOffset(0.02, 0.5, 0.7, 0.6),
            damage=DamageReport(
                8.0, {"ovrl": 2.1, "sig": 3.0, "bak": 1.9, "p808": 2.8}, spans, True, "burst"
            ),
        )
        write_json(session.analysis_dir / f"{cue.id}.json", line.to_dict())
    built = Built(session, production, clean, words, take_words, burst)
    _CACHE[base] = built
    return built

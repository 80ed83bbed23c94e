"""Tests of adr.voice.render: take length and timing, text edits, sessions, skipping, errors."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from consent_data import consent_for
from media_files import make_picture
from tiny_voice import TINY, save_untrained_voice

from adr.analysis.align import Alignment
from adr.analysis.analyze import LineAnalysis
from adr.analysis.asr import Transcript
from adr.analysis.damage import DamageReport
from adr.analysis.phonemes import PHONES, phone_id, phonemize_words
from adr.analysis.speakers import SpeakerMatch
from adr.core.errors import AdrError
from adr.core.timebase import DELIVERY_RATE, seconds_to_samples
from adr.core.types import Cue, Phone, Prosody, Take, Word
from adr.ingest.session import create_session
from adr.voice.render import edit_alignment, render_line, render_session
from adr.voice.voice_model import VoiceConfig, VoiceModel
from adr.voice.voicefile import EnrollmentRecord, LoadedVoice, load_voice, save_voice

TEXT = "the cat sat on the mat"


def make_line(
    cue_id: str = "101",
    start: float = 1.0,
    end: float = 3.52,
    text: str = TEXT,
    actor: str = "MAYA",
    speaker: str = "MAYA",
    word_len: float = 0.22,
    gap: float = 0.04,
) -> LineAnalysis:
    """A line whose words follow each other from start + 0.3 s, with a 0.3 s pause after
    the third word; prosody from 0.15 s before the cue to 0.15 s after."""
    words, phones, t = [], [], start + 0.3
    for k, (w, ipa) in enumerate(zip(text.split(), phonemize_words(text.split()))):
        if k == 3:
            phones.append(Phone("sil", t, t + 0.3))
            t += 0.3
        step = word_len / len(ipa)
        for i, sym in enumerate(ipa):
            phones.append(Phone(sym, t + i * step, t + (i + 1) * step, k))
        words.append(Word(w, t, t + word_len))
        t += word_len + gap
    assert t < end
    n = round((end - start + 0.3) / 0.01)
    times = start - 0.15 + 0.01 * np.arange(n)
    inside = np.zeros(n, bool)
    for w in words:
        inside |= (times >= w.start) & (times < w.end)
    pros = Prosody(
        start - 0.15,
        0.01,
        np.where(inside, 140.0 + 20 * np.sin(times), 0.0),
        inside,
        np.where(inside, -20.0, -70.0),
    )
    cue = Cue(cue_id, "MAYA", actor, start, end, text, status="flagged")
    return LineAnalysis(
        cue=cue,
        text=text,
        text_source="script",
        transcript=Transcript(text, "en", 1.0, tuple(words)),
        alignment=Alignment(tuple(words), tuple(phones), 0.9, 0.9, "pocketsphinx"),
        prosody=pros,
        speaking_rate=12.0,
        speaker=SpeakerMatch(speaker, 0.9, {}, start, end),
        lips=None,
        av=None,
        damage=DamageReport(3.0, None, [], True, "SNR 3 dB"),
        key="k1",
    )


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("voices")
    save_untrained_voice(root / "MAYA", "MAYA", consent_for("MAYA"))
    return root


def _runs(ids: np.ndarray) -> list[int]:
    return [int(v) for i, v in enumerate(ids) if i == 0 or v != ids[i - 1]]


def test_render_length_timing_and_energy(voices: Path) -> None:
    line = make_line(start=1.013, end=3.5071)
    out = render_line(line, load_voice(voices / "MAYA"))
    n = seconds_to_samples(3.5071, DELIVERY_RATE) - seconds_to_samples(1.013, DELIVERY_RATE)
    assert out.sample_rate == DELIVERY_RATE and out.audio.shape == (n,)
    assert out.audio.dtype == np.float32 and np.all(np.isfinite(out.audio))
    assert out.features.start == 1.013 and out.actor == "MAYA" and out.text == TEXT
    t = line.cue.start + np.arange(n) / DELIVERY_RATE
    in_words = np.zeros(n, bool)
    for w in line.alignment.words:
        in_words |= (t >= w.start) & (t < w.end)
    far = np.ones(n, bool)
    for w in line.alignment.words:
        far &= (t < w.start - 0.07) | (t > w.end + 0.07)
    assert np.sqrt(np.mean(out.audio[in_words] ** 2)) > 1e-4
    assert np.all(out.audio[far] == 0.0)  # before, after and in the long pause: silent
    assert far[: int(0.2 * DELIVERY_RATE)].all() and far[-int(0.2 * DELIVERY_RATE) :].all()
    again = render_line(line, load_voice(voices / "MAYA"))
    assert np.array_equal(out.audio, again.audio)  # same seed, same take


def test_model_hears_the_training_level_and_the_take_keeps_the_line_level(voices: Path) -> None:
    import dataclasses

    voice = load_voice(voices / "MAYA")
    at_20 = dataclasses.replace(voice, record=EnrollmentRecord(actor="MAYA", loudness_db=-20.0))
    loud = make_line()  # voiced frames at -20 dBFS
    quiet = dataclasses.replace(
        loud, prosody=dataclasses.replace(loud.prosody, energy=loud.prosody.energy - 20.0)
    )
    a, b = render_line(loud, at_20), render_line(quiet, at_20)
    assert np.allclose(b.audio, 0.1 * a.audio, atol=1e-6)  # same model input, 20 dB down
    assert np.all(b.features.loudness < a.features.loudness)  # features: the line's own


def test_text_edit_substitutes_one_word(voices: Path) -> None:
    line = make_line()
    voice = load_voice(voices / "MAYA")
    plain = render_line(line, voice)
    edited = render_line(line, voice, text="The dog sat on the mat.")
    assert edited.text == "The dog sat on the mat."
    cat = line.alignment.words[1]
    c = line.cue.start + (np.arange(plain.features.num_frames) + 0.5) * TINY.frame_period
    span = (c >= cat.start) & (c < cat.end)
    assert _runs(edited.features.phone_ids[span]) == [
        phone_id(p) for p in phonemize_words(["dog"])[0]
    ]
    assert _runs(plain.features.phone_ids[span]) == [
        phone_id(p) for p in phonemize_words(["cat"])[0]
    ]
    assert np.array_equal(edited.features.phone_ids[~span], plain.features.phone_ids[~span])
    for name in ("f0", "voiced", "loudness"):  # prosody is kept
        assert np.array_equal(getattr(edited.features, name), getattr(plain.features, name))
    assert [w.text for w in edited.alignment.words] == "the dog sat on the mat".split()
    assert edited.alignment.words[1].start == cat.start
    # the cue's own text is the default
    line2 = make_line(text=TEXT)
    line2 = type(line2)(
        **{**line2.__dict__, "cue": Cue("101", "MAYA", "MAYA", 1.0, 3.52, "the dog sat on the mat")}
    )
    assert np.array_equal(render_line(line2, voice).features.phone_ids, edited.features.phone_ids)


def test_text_edit_insertion_and_deletion() -> None:
    aln = make_line().alignment
    ins = edit_alignment(aln, "the black cat sat on the mat")
    words = [w.text for w in ins.words]
    assert words == "the black cat sat on the mat".split()
    the = aln.words[0]  # "black" joins "the": both share its span and the gap after it
    assert ins.words[0].start == the.start and ins.words[1].end <= aln.words[1].start + 1e-9
    assert ins.words[2].start == aln.words[1].start  # "cat" untouched
    assert all(b.start >= a.end - 1e-9 for a, b in zip(ins.phones, ins.phones[1:]))
    first = edit_alignment(aln, "oh the cat sat on the mat")  # insertion at the start
    assert [w.text for w in first.words][:2] == ["oh", "the"]
    assert first.words[0].start == aln.words[0].start
    dele = edit_alignment(aln, "the cat sat on mat")
    assert [w.text for w in dele.words] == "the cat sat on mat".split()
    gone = aln.words[4]  # the second "the" becomes a pause: no phone of a word there
    assert not [p for p in dele.phones if p.word >= 0 and p.start < gone.end and p.end > gone.start]
    assert edit_alignment(aln, "The cat, sat on the mat!") is aln
    with pytest.raises(AdrError, match="no words"):
        edit_alignment(aln, " ... ")


def test_render_rtf_of_default_model() -> None:
    torch.manual_seed(0)
    cfg = VoiceConfig(phone_inventory=PHONES)
    voice = LoadedVoice(VoiceModel(cfg).eval(), cfg, EnrollmentRecord(actor="X"))
    line = make_line(start=0.5, end=4.5)
    render_line(line, voice)  # warm-up
    t0 = time.perf_counter()
    out = render_line(line, voice)
    rtf = (time.perf_counter() - t0) / 4.0
    assert len(out.audio) == 4 * DELIVERY_RATE
    assert rtf < 1.0, rtf  # target 0.2 on 2 idle cores; lenient on a shared machine


# ----------------------------------------------------------------------------- sessions


@pytest.fixture()
def session(tmp_path: Path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg missing")
    pic = make_picture(tmp_path / "scene.mov", 8, tone=True)
    s = create_session("reel", pic, root=tmp_path / "sessions")
    lines = [make_line("101", 1.0, 3.52), make_line("102", 4.0, 6.52, actor="")]
    s.write_cues([ln.cue for ln in lines] + [Cue("103", "X", "X", 6.6, 6.9, "hi")])
    for ln in lines:
        (s.analysis_dir / f"{ln.cue.id}.json").write_text(json.dumps(ln.to_dict()))
    return s


def test_render_session_writes_takes_and_skips_when_up_to_date(
    session, voices: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = []
    takes = render_session(session, voices_root=voices, progress=events.append)
    assert [t.cue_id for t in takes] == ["101", "102"]  # 103 is not flagged
    assert takes[1].actor == "MAYA"  # from the identified speaker
    for take in takes:
        wav = session.root / take.path
        info = sf.info(str(wav))
        assert (info.samplerate, info.channels, info.subtype) == (48000, 1, "PCM_24")
        assert info.frames == seconds_to_samples(take.end, 48000) - seconds_to_samples(
            take.start, 48000
        )
        assert (
            Take.from_dict(json.loads((session.renders_dir / f"{take.cue_id}.json").read_text()))
            == take
        )
        assert take.path == f"renders/{take.cue_id}.wav" and take.mode == "script"
    assert {c.id: c.status for c in session.read_cues()} == {
        "101": "rendered",
        "102": "rendered",
        "103": "pending",
    }
    assert events[-1].done == events[-1].total == 2

    stamp = {t.cue_id: (session.root / t.path).stat().st_mtime_ns for t in takes}

    def no_voice(*_a, **_k):
        raise AssertionError("an up-to-date render was redone")

    monkeypatch.setattr("adr.voice.voicefile.load_voice", no_voice)
    assert render_session(session, voices_root=voices) == takes
    monkeypatch.undo()
    cues = session.read_cues()
    cues[0] = type(cues[0])(**{**cues[0].__dict__, "text": "the dog sat on the mat"})
    session.write_cues(cues)
    again = render_session(session, voices_root=voices)
    assert again[0].text == "the dog sat on the mat" and again[1] == takes[1]
    assert (session.root / again[0].path).stat().st_mtime_ns != stamp["101"]
    assert (session.root / again[1].path).stat().st_mtime_ns == stamp["102"]
    forced = render_session(session, voices_root=voices, cue_ids=["102"], force=True)
    assert (session.root / forced[0].path).stat().st_mtime_ns != stamp["102"]


def test_render_session_blind_mode_speaks_what_was_heard(session, voices: Path) -> None:
    import dataclasses

    path = session.analysis_dir / "101.json"
    line = LineAnalysis.from_dict(json.loads(path.read_text()))
    heard = dataclasses.replace(line.transcript, text="The cat sat on a mat.")
    path.write_text(json.dumps(dataclasses.replace(line, transcript=heard).to_dict()))
    take = render_session(session, voices_root=voices, cue_ids=["101"], mode="blind")[0]
    assert (take.text, take.mode) == ("The cat sat on a mat.", "blind")
    script = render_session(session, voices_root=voices, cue_ids=["101"])[0]
    assert (script.text, script.mode) == (TEXT, "script")


def test_render_session_errors(session, voices: Path) -> None:
    with pytest.raises(AdrError, match="no cue '999'"):
        render_session(session, voices_root=voices, cue_ids=["999"])
    with pytest.raises(AdrError, match="render mode"):
        render_session(session, voices_root=voices, mode="loud")
    with pytest.raises(AdrError, match="cue 103: not analysed yet; run adr analyze"):
        render_session(session, voices_root=voices, cue_ids=["103"])
    cues = session.read_cues()
    cues[0] = type(cues[0])(**{**cues[0].__dict__, "text": "?!"})
    session.write_cues(cues)
    with pytest.raises(AdrError, match="cue 101: no words to speak"):
        render_session(session, voices_root=voices)
    cues[0] = type(cues[0])(**{**cues[0].__dict__, "actor": "NOBODY", "text": TEXT})
    session.write_cues(cues)
    with pytest.raises(AdrError) as err:
        render_session(session, voices_root=voices)
    assert str(err.value) == (
        f"cue 101: no enrolled voice for actor NOBODY ({voices / 'NOBODY'} "
        "has no voice.json); run adr enroll"
    )
    assert not list(session.renders_dir.glob("*.wav"))  # checked before rendering anything


def test_restorer_voice_renders_the_cue_length_and_distrusts_edited_words(
    rng: np.random.Generator,
) -> None:
    """A restorer voice speaks a line from the donor, the take and the prosody; the take is
    the production clip; an edited word's span is never read from the take."""
    from adr.voice.restorer import Restorer, RestorerConfig
    from adr.voice.speak import distrust_spans
    from adr.voice.text_edit import edited_spans

    torch.manual_seed(0)
    cfg = VoiceConfig(phone_inventory=PHONES)
    voice = LoadedVoice(
        None,
        cfg,
        EnrollmentRecord(actor="MAYA"),
        Restorer(RestorerConfig(hidden=8, layers=2, kernel_size=3)).eval(),
    )
    line = make_line(start=1.0, end=3.52)
    clip = (0.05 * rng.standard_normal(int(2.52 * 16000))).astype(np.float32)
    out = render_line(line, voice, audio=clip, sample_rate=16000)
    n = seconds_to_samples(3.52, DELIVERY_RATE) - seconds_to_samples(1.0, DELIVERY_RATE)
    assert out.audio.shape == (n,) and np.all(np.isfinite(out.audio))
    assert np.max(np.abs(out.audio)) > 0  # something is said inside the words
    words = line.alignment.words
    edited = edit_alignment(line.alignment, TEXT.replace(words[1].text, "banana", 1))
    spans = edited_spans(line, edited)
    assert len(spans) == 1 and spans[0][0] >= words[1].start - 0.01
    rel = distrust_spans(np.ones(300, np.float32), 1.0, spans)
    assert rel.min() == 0.0 and rel.max() == 1.0
    # inside the edited span the take itself is withheld too (an ungated restorer reads it)
    from adr.voice.evidence import frame_times
    from adr.voice.speak import line_inputs
    from adr.voice.vocoder import MEL

    x = line_inputs(
        TEXT,
        edited.words,
        edited.phones,
        line.prosody,
        1.0,
        3.52,
        voice.restorer.config,
        audio=clip,
        distrust=spans,
    )
    t = frame_times(x.num_frames, 1.0)
    inside = (t >= spans[0][0]) & (t < spans[0][1])
    assert inside.any() and np.all(x.take_mel[:, inside] == np.float32(MEL.log_floor))
    assert np.all(x.reliability[inside] == 0) and np.any(x.take_mel[:, ~inside] > MEL.log_floor)


def test_render_session_with_a_restorer_voice_reads_the_production(session, tmp_path: Path) -> None:
    """A restorer voice renders through the session: the production line under the cue is
    its take evidence; takes are written at the cue's length."""
    from adr.voice.restorer import Restorer, RestorerConfig

    torch.manual_seed(0)
    root = tmp_path / "rvoices"
    restorer = Restorer(RestorerConfig(hidden=8, layers=2, kernel_size=3)).eval()
    save_voice(
        root / "MAYA",
        None,
        TINY,
        EnrollmentRecord(actor="MAYA"),
        restorer,
        consent=consent_for("MAYA"),
    )
    takes = render_session(session, voices_root=root)
    assert [t.cue_id for t in takes] == ["101", "102"]
    for take in takes:
        audio, sr = sf.read(session.root / take.path, dtype="float32")
        n = seconds_to_samples(take.end, sr) - seconds_to_samples(take.start, sr)
        assert sr == DELIVERY_RATE and len(audio) == n and np.all(np.isfinite(audio))


def _consented_voices(root: Path, **consent: object) -> Path:
    save_untrained_voice(root / "MAYA", "MAYA", consent_for("MAYA", **consent))  # type: ignore[arg-type]
    return root


@pytest.mark.parametrize(
    "consent, edit, message",
    [
        ({"productions": ("other*",)}, False, "does not cover session 'reel'"),
        ({"uses": ("replace",)}, True, "does not cover text edits"),
        ({"granted_on": "2020-01-01", "expires": "2021-12-31"}, False, "expired on 2021-12-31"),
        (None, False, "has no consent record"),
        ("tampered", False, "tampered"),
    ],
)
def test_render_refuses_uses_outside_the_consent(
    session, tmp_path: Path, consent, edit, message
) -> None:
    root = tmp_path / "v"
    if consent is None or consent == "tampered":
        _consented_voices(root)
        meta_path = root / "MAYA" / "voice.json"
        meta = json.loads(meta_path.read_text())
        if consent is None:  # a voice enrolled before consent was recorded
            meta.pop("consent"), meta.pop("seal")
        else:
            meta["consent"]["productions"] = ["reel"]
        meta_path.write_text(json.dumps(meta))
    else:
        _consented_voices(root, **consent)
    if edit:
        cues = session.read_cues()
        cues[0] = type(cues[0])(**{**cues[0].__dict__, "text": "the dog sat on the mat"})
        session.write_cues(cues)
    before = sorted(p.name for p in session.renders_dir.glob("*"))
    with pytest.raises(AdrError, match=message) as err:
        render_session(session, voices_root=root)
    assert "\n" not in str(err.value)
    assert err.value.where in ("voice MAYA", str(root / "MAYA" / "voice.json"))
    assert sorted(p.name for p in session.renders_dir.glob("*")) == before  # nothing written


def test_takes_carry_provenance_and_the_watermark(session, tmp_path: Path) -> None:
    from adr import __version__
    from adr.deliver.watermark import THRESHOLD, detect
    from adr.ingest.bwf import read_bext, read_provenance

    root = _consented_voices(tmp_path / "v", productions=("reel",))
    takes = render_session(session, voices_root=root, force=True)
    first = consent_for("MAYA", productions=("reel",))
    for take in takes:
        p = take.provenance
        assert p.synthetic and p.voice == "MAYA" and p.consent == first
        assert p.consent_id == first.consent_id and p.adr_version == __version__
        assert p.watermark == "perth-implicit" and p.use == "replace"
        stored = Take.from_dict(
            json.loads((session.renders_dir / f"{take.cue_id}.json").read_text())
        )
        assert stored == take
        audio, sr = sf.read(str(session.root / take.path), dtype="float32")
        assert detect(audio, sr) >= THRESHOLD
        bext = read_bext(session.root / take.path)
        assert bext.description.startswith(
            f"SYNTHETIC ADR cue {take.cue_id} | voice MAYA | {first.consent_id} | adr {__version__}"
        )
        assert read_provenance(session.root / take.path) == p.fields()
    # a new consent (still covering the session): the JSON follows, the audio stands
    from adr.voice.voicefile import update_consent

    stamp = (session.root / takes[0].path).stat().st_mtime_ns
    wider = consent_for("MAYA", productions=("reel", "reel-2"))
    update_consent(root / "MAYA", wider)
    again = render_session(session, voices_root=root)
    assert again[0].provenance.consent_id == wider.consent_id
    assert (session.root / again[0].path).stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    "consent, message",
    [
        ({"productions": ("other*",)}, "does not cover session 'reel'"),
        ({"granted_on": "2020-01-01", "expires": "2021-12-31"}, "expired on 2021-12-31"),
        ("tampered", "tampered"),
    ],
)
def test_cli_render_outside_the_consent_is_one_line_exit_2(
    session, tmp_path: Path, capsys: pytest.CaptureFixture, consent, message
) -> None:
    from adr.cli import main

    root = tmp_path / "v"
    _consented_voices(root, **(consent if isinstance(consent, dict) else {}))
    if consent == "tampered":
        meta_path = root / "MAYA" / "voice.json"
        meta = json.loads(meta_path.read_text())
        meta["consent"]["uses"] = ["replace", "edit", "new"]
        meta_path.write_text(json.dumps(meta))
    code = main(
        ["-q", "--sessions", str(tmp_path / "sessions"), "--voices", str(root), "render", "reel"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert err[0].startswith("adr: error: ") and "Traceback" not in err[0]
    assert not list(session.renders_dir.glob("*.wav"))

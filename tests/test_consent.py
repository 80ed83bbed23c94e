"""Consent and provenance (issue #12): the record, the voice's seal, scope rules, the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from consent_data import consent_for
from tiny_voice import save_untrained_voice

from adr.cli import main
from adr.core.consent import ConsentRecord, Provenance, check_scope, read_consent
from adr.core.errors import AdrError
from adr.voice.voicefile import (
    describe_voice,
    load_consent,
    load_voice,
    update_consent,
)

TOML = """actor = "MAYA"
name = "Maya Lind"
granted_by = "Maya Lind"
granted_on = 2026-03-01
productions = ["night-shift*", "reel"]
uses = ["replace"]
expires = 2099-12-31
note = "rider signed 2026-03-01"
"""


def _voice(folder: Path, consent: ConsentRecord | None) -> Path:
    return save_untrained_voice(folder, "MAYA", consent)


def test_record_reads_toml_and_json_strictly(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text(TOML)
    c = read_consent(p)
    assert c.granted_on == "2026-03-01" and c.productions == ("night-shift*", "reel")
    assert c.covers_session("Night-Shift-R2") and not c.covers_session("other")
    j = tmp_path / "c.json"
    j.write_text(json.dumps(c.to_dict()))
    assert read_consent(j) == c and c.consent_id.startswith("consent-")
    for bad, message in (
        (TOML + 'colour = "red"\n', "unknown key"),
        (TOML.replace('uses = ["replace"]', 'uses = ["sing"]'), "uses must be"),
        (TOML.replace("expires = 2099-12-31", "expires = 2020-01-01"), "before granted_on"),
        (TOML.replace('granted_by = "Maya Lind"\n', ""), "missing key"),
        (TOML.replace("2026-03-01\n", "next week\n", 1), "not valid TOML"),
        (TOML.replace('["night-shift*", "reel"]', "[]"), "productions is empty"),
    ):
        p.write_text(bad)
        with pytest.raises(AdrError, match=message) as err:
            read_consent(p)
        assert err.value.where == str(p) and "\n" not in str(err.value)
    with pytest.raises(AdrError, match="not found"):
        read_consent(tmp_path / "none.toml")


def test_scope_rules_each_name_the_voice_and_rule() -> None:
    c = consent_for("MAYA", productions=("reel*",), uses=("replace",), expires="2030-06-30")
    day = dt.date(2027, 1, 1)
    check_scope(c, voice="MAYA", session="reel-2", use="replace", today=day)
    cases = [
        (dict(session="other"), "does not cover session 'other'"),
        (dict(use="edit"), "does not cover text edits"),
        (dict(today=dt.date(2030, 7, 1)), "expired on 2030-06-30"),
        (dict(today=dt.date(2025, 1, 1)), "not yet valid"),
    ]
    for change, message in cases:
        kw = {"voice": "MAYA", "session": "reel-2", "use": "replace", "today": day, **change}
        with pytest.raises(AdrError, match=message) as err:
            check_scope(c, **kw)
        assert err.value.where == "voice MAYA"
    with pytest.raises(AdrError, match="has no consent record.*adr voice consent MAYA"):
        check_scope(None, voice="MAYA", session="reel", use="replace")
    with pytest.raises(AdrError, match="is for actor MAYA"):
        check_scope(c, voice="KAL", session="reel", use="replace", today=day)


def test_provenance_refuses_an_edited_record() -> None:
    c = consent_for("MAYA")
    p = Provenance(
        "MAYA", c, c.consent_id, "replace", "0.1.0", "2026-12-06T00:00:00Z", "perth-implicit"
    )
    assert Provenance.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    d = p.to_dict()
    d["consent"]["expires"] = "2199-12-31"
    with pytest.raises(ValueError, match="record was edited"):
        Provenance.from_dict(d)
    assert p.label().startswith("SYNTHETIC voice MAYA, consent-")


def test_voice_is_sealed_and_tampering_is_refused(tmp_path: Path) -> None:
    folder = _voice(tmp_path / "MAYA", consent_for("MAYA"))
    voice = load_voice(folder)
    assert voice.consent == consent_for("MAYA") and len(voice.seal) == 64
    meta_path = folder / "voice.json"
    good = meta_path.read_text()
    for edit in (
        lambda m: m["consent"].update(expires="2199-12-31"),
        lambda m: m["consent"].update(productions=["any*"]),
        lambda m: m["record"].update(minutes=99.0),
        lambda m: m.pop("seal"),
        lambda m: m.update(model_sha256="0" * 64),
    ):
        meta = json.loads(good)
        edit(meta)
        meta_path.write_text(json.dumps(meta))
        for load in (load_voice, load_consent, describe_voice):
            with pytest.raises(AdrError, match="tampered") as err:
                load(folder)
            assert err.value.where == str(meta_path) and "\n" not in str(err.value)
    meta = json.loads(good)
    meta.pop("seal"), meta.pop("consent")  # both removed: a voice without consent
    meta_path.write_text(json.dumps(meta))
    assert load_voice(folder).consent is None


def test_old_voice_loads_and_gets_consent_with_history(tmp_path: Path) -> None:
    folder = _voice(tmp_path / "MAYA", None)
    assert load_voice(folder).consent is None and load_consent(folder) == (None, "")
    assert "consent   NONE" in describe_voice(folder)
    first = consent_for("MAYA", productions=("reel",))
    assert update_consent(folder, first) == ["consent recorded (the voice had none)"]
    assert load_voice(folder).consent == first
    assert update_consent(folder, first) == []
    second = consent_for("MAYA", productions=("reel", "reel-2"), expires="2098-01-01")
    changes = update_consent(folder, second)
    assert changes == [
        "productions: ['reel'] -> ['reel', 'reel-2']",
        "expires: '2099-12-31' -> '2098-01-01'",
    ]
    meta = json.loads((folder / "voice.json").read_text())
    assert [h["consent"] for h in meta["consent_history"]] == [first.to_dict()]
    info = describe_voice(folder)
    assert second.consent_id in info and f"replaced  {first.consent_id}" in info
    with pytest.raises(AdrError, match="for actor KAL"):
        update_consent(folder, consent_for("KAL"))
    # a re-enrollment (save_voice) keeps the history and the replaced record
    _voice(folder, consent_for("MAYA", productions=("x",)))
    meta = json.loads((folder / "voice.json").read_text())
    assert [h["consent"] for h in meta["consent_history"]] == [first.to_dict(), second.to_dict()]


def test_cli_enroll_without_consent_and_voice_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    voices = tmp_path / "voices"
    base = ["--voices", str(voices), "--sessions", str(tmp_path / "s")]
    wav = tmp_path / "a.wav"
    assert main(base + ["enroll", "MAYA", "--audio", str(wav)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MAYA: no consent record" in err
    assert main(base + ["enroll", "MAYA", "--audio", str(wav), "--consent-name", "M"]) == 2
    assert "--consent-granted-by: missing" in capsys.readouterr().err
    other = tmp_path / "kal.toml"
    other.write_text(TOML.replace('actor = "MAYA"', 'actor = "KAL"'))
    assert main(base + ["enroll", "MAYA", "--audio", str(wav), "--consent", str(other)]) == 2
    assert "consent record is for actor KAL" in capsys.readouterr().err
    _voice(voices / "MAYA", None)
    assert main(base + ["voice", "info", "MAYA"]) == 0
    assert "consent   NONE" in capsys.readouterr().out
    new = tmp_path / "c.toml"
    new.write_text(TOML)
    assert main(base + ["voice", "consent", "MAYA", "--update", str(new)]) == 0
    out = capsys.readouterr().out
    assert "consent recorded (the voice had none)" in out
    new.write_text(TOML.replace('uses = ["replace"]', 'uses = ["replace", "edit"]'))
    assert main(base + ["voice", "consent", "MAYA", "--update", str(new)]) == 0
    assert "uses: ['replace'] -> ['replace', 'edit']" in capsys.readouterr().out
    assert main(base + ["voice", "info", "MAYA"]) == 0
    out = capsys.readouterr().out
    assert "Maya Lind, granted by Maya Lind on 2026-03-01" in out and "replaced  consent-" in out
    assert main(base + ["voice", "info", "NOBODY"]) == 2
    assert "no enrolled voice" in capsys.readouterr().err


def test_demo_writes_consent_records_for_its_synthetic_actors(tmp_path: Path) -> None:
    from adr.workflow import DEMO_SESSION, demo_consent

    path = demo_consent(tmp_path, "KAL", "Ray", "festival:voice_kal_diphone")
    c = read_consent(path)
    assert c.actor == "KAL" and "synthetic" in c.name and c.uses == ("replace", "edit")
    check_scope(c, voice="KAL", session=DEMO_SESSION, use="edit")
    stamp = path.stat().st_mtime_ns
    assert demo_consent(tmp_path, "KAL", "Ray", "x") == path  # written once
    assert path.stat().st_mtime_ns == stamp

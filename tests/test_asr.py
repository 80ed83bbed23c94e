"""Whisper model resolution and transcription with word timing."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from adr.analysis import asr, whisper_models
from adr.analysis.asr import Transcript, resolve_whisper_model, transcribe
from adr.core.errors import AdrError
from adr.core.types import Word

needs_festival = pytest.mark.skipif(shutil.which("festival") is None, reason="festival missing")


def _fake_ct2(n_vars: int = 3) -> bytes:
    """A tiny structurally valid CTranslate2 model.bin (version 6, Whisper spec)."""

    def string(s: str) -> bytes:
        b = s.encode() + b"\0"
        return struct.pack("<H", len(b)) + b

    out = struct.pack("<I", 6) + string("WhisperSpec") + struct.pack("<II", 3, n_vars)
    for k in range(n_vars):
        data = bytes(range(8 * (k + 1)))
        out += string(f"var{k}") + struct.pack("<B", 1) + struct.pack("<I", len(data))
        out += struct.pack("<B", 0) + struct.pack("<I", len(data)) + data
    return out + struct.pack("<I", 1) + string("alias") + string("var0")


def _parts(tmp: Path, blob: bytes) -> tuple[list[Path], Path]:
    meta = tmp / "meta"
    meta.mkdir()
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (meta / name).write_text("{}")
    half = len(blob) // 2
    p1, p2 = tmp / "model.bin.part1", tmp / "model.bin.part2"
    p1.write_bytes(blob[:half])
    p2.write_bytes(blob[half:])
    return [p1, p2], meta


def test_join_parts_verifies_and_is_atomic(tmp_path: Path) -> None:
    blob = _fake_ct2()
    parts, meta = _parts(tmp_path, blob)
    target = tmp_path / "cache" / "base"
    assert whisper_models._join_parts(parts, meta, target) == target
    assert (target / "model.bin").read_bytes() == blob
    assert (target / ".adr-verified").read_text().startswith("sha256 ")
    assert [p.name for p in target.parent.iterdir()] == ["base"]  # no temporary left behind
    whisper_models._join_parts(parts, meta, target)  # second call: already there


def test_join_parts_refuses_a_broken_model(tmp_path: Path) -> None:
    blob = _fake_ct2()
    parts, meta = _parts(tmp_path, blob[:-5])  # truncated
    target = tmp_path / "cache" / "base"
    with pytest.raises(AdrError, match="joining"):
        whisper_models._join_parts(parts, meta, target)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_resolve_explicit_path(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"x")
    (tmp_path / "config.json").write_text("{}")
    assert resolve_whisper_model(str(tmp_path)) == str(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AdrError, match="not a CTranslate2"):
        resolve_whisper_model(str(empty))


def test_resolve_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(AdrError, match="not found"):
        resolve_whisper_model(str(tmp_path / "no" / "such" / "model"))
    with pytest.raises(AdrError):
        resolve_whisper_model("./missing-model")


def test_resolve_env_var_and_hub_names(monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = resolve_whisper_model("tiny.en")
    assert (Path(tiny) / "model.bin").is_file()
    monkeypatch.setenv("ADR_WHISPER_MODEL", tiny)
    assert resolve_whisper_model() == tiny
    assert resolve_whisper_model(None) == tiny
    assert resolve_whisper_model("small") == "small"
    assert resolve_whisper_model("Systran/faster-whisper-base") == "Systran/faster-whisper-base"


def test_default_resolves_to_shipped_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADR_WHISPER_MODEL", raising=False)
    path = Path(resolve_whisper_model())
    assert path.name == "base" and (path / ".adr-verified").is_file()
    whisper_models._check_ct2_model(path / "model.bin")
    assert (path / "model.bin").stat().st_size == 2 * 72_608_766


def test_transcript_round_trip() -> None:
    tr = Transcript(
        "Hi there.", "en", 0.99, (Word("Hi", 1.0, 1.2, 0.9), Word("there.", 1.2, 1.5, 0.3))
    )
    assert Transcript.from_dict(tr.to_dict()) == tr
    assert tr.low_confidence_words(0.5) == (tr.words[1],)


def test_silence_gives_empty_transcript() -> None:
    tr = transcribe(np.zeros(32000, np.float32), model="tiny.en")
    assert tr.text == "" and tr.words == ()


@needs_festival
def test_transcribe_festival_sentence(tmp_path: Path) -> None:
    from test_align import festival_say

    audio, _ = festival_say("Please close the door before you go home.", tmp_path)
    tr = transcribe(audio, model="tiny.en", start=5.0)
    words = [w.text.strip(".,").lower() for w in tr.words]
    assert words == ["please", "close", "the", "door", "before", "you", "go", "home"]
    starts = [w.start for w in tr.words]
    assert starts == sorted(starts) and starts[0] >= 5.0
    assert all(w.end >= w.start for w in tr.words)
    assert all(0.0 <= w.confidence <= 1.0 for w in tr.words)
    assert tr.language == "en"


@pytest.mark.slow
@needs_festival
def test_language_check(tmp_path: Path) -> None:
    from test_align import festival_say

    audio, _ = festival_say("Please close the window before you leave the house.", tmp_path)
    code, p = asr.check_english(audio, "cue 101")
    assert code == "en" and p > 0.5

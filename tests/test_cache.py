"""adr.core.cache: the one cache-key rule, pinned to the keys results already on disk carry."""

from __future__ import annotations

import json
from pathlib import Path

from adr.core.cache import cache_key, sha256_file

PAYLOAD = {
    "cue": {"id": "101", "start": 1.25, "end": 3.5, "text": "Hello, world."},
    "voices": [("ANNA", 0.12345)],
    "path": Path("a/b.wav"),
    "n": None,
    "f": 0.1 + 0.2,
}

# Computed by the hand-made helpers before adr.core.cache existed (commit 8ec54f7):
# analyze._hash, enroll._key, export._digest, demo.build._key.
BEFORE = {
    "analyze": "009a60cc947f146a",
    "analyze_list": "4a5e79987a164eb7",
    "enroll": "d5172074ea690c294cc77ca171d9831a61d84532c2ce56139a8e5fa788d9014c",
    "export": "009a60cc947f146a08ba",
    "build": "226b6f37806fcda4",
}


def test_keys_equal_those_of_the_helpers_they_replace() -> None:
    assert cache_key(PAYLOAD, length=16) == BEFORE["analyze"]
    assert cache_key(["k", sorted({"b", "a"})], length=16) == BEFORE["analyze_list"]
    assert cache_key((3, "ANNA", {"x.wav": "ab"}, [1.5, None], PAYLOAD)) == BEFORE["enroll"]
    assert cache_key(PAYLOAD, length=20) == BEFORE["export"]
    assert cache_key((2, "lines", [PAYLOAD], 25.0), length=16) == BEFORE["build"]


def test_render_key_unchanged(tmp_path: Path) -> None:
    """The take key is the one render wrote before (its formula, written out here; the
    version number changes when takes must be redone, the encoding does not)."""
    import hashlib

    from adr.voice.render import RENDER_VERSION, _render_key

    (tmp_path / "voice.json").write_text(
        json.dumps({"model_sha256": "m", "restorer": {"sha256": "r"}})
    )
    analysis = tmp_path / "101.json"
    analysis.write_bytes(b'{"x": 1}')

    class CueTimes:
        start, end = 1.25, 3.5

    before = [
        RENDER_VERSION,
        hashlib.sha256(b'{"x": 1}').hexdigest(),
        "m",
        "r",
        1.25,
        3.5,
        "Hello, world.",
        "script",
    ]
    assert (
        _render_key(analysis, tmp_path, CueTimes, "Hello, world.", "script")
        == hashlib.sha256(json.dumps(before).encode()).hexdigest()
    )


def test_the_stages_use_the_helper() -> None:
    from adr.analysis import analyze
    from adr.deliver import export
    from adr.demo import build
    from adr.voice import enroll

    for module in (analyze, export, enroll):
        assert module.cache_key is cache_key
    assert build._key(2, "lines", [PAYLOAD], 25.0) == BEFORE["build"]


def test_key_sensitivity_and_file_hash(tmp_path: Path) -> None:
    assert cache_key({"a": 1, "b": 2}) == cache_key({"b": 2, "a": 1})  # order of keys
    assert cache_key({"a": 1}) != cache_key({"a": 1.0001})
    assert len(cache_key([1])) == 64 and len(cache_key([1], length=8)) == 8
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    assert sha256_file(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

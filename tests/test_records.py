"""adr.core.records: the records' dict round trip and strict loading."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from adr.core.records import Record, strict_from_dict


@dataclass(frozen=True)
class Inner(Record):
    a: int
    b: str = "x"


@dataclass(frozen=True)
class Outer(Record):
    name: str
    inner: Inner
    values: list[float] = field(default_factory=list)


def test_round_trip_and_nesting() -> None:
    o = Outer("n", Inner(3), [0.5, 1.5])
    d = o.to_dict()
    assert d == {"name": "n", "inner": {"a": 3, "b": "x"}, "values": [0.5, 1.5]}
    assert Inner.from_dict(d["inner"]) == Inner(3)
    assert isinstance(Inner.from_dict({"a": 1}), Inner)


def test_unknown_and_missing_keys_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Inner: unknown field\(s\) \['c'\]"):
        Inner.from_dict({"a": 1, "c": 2})
    with pytest.raises(ValueError, match=r"Inner: missing field\(s\) \['a'\]"):
        Inner.from_dict({"b": "y"})
    with pytest.raises(ValueError, match="unknown"):
        strict_from_dict(Inner, {"a": 1, "zz": 0})


def test_stage_records_share_the_base() -> None:
    """The records that had copies of the same two methods now inherit them, and stay strict."""
    from adr.analysis.damage import DamageSpan
    from adr.analysis.dnsmos import Dnsmos
    from adr.core.types import Cue, Phone, Word
    from adr.deliver.loudness import LoudnessSpec
    from adr.ingest.bwf import BextInfo
    from adr.metrics import WordErrors

    for cls in (Cue, Phone, Word, DamageSpan, Dnsmos, LoudnessSpec, BextInfo, WordErrors):
        assert issubclass(cls, Record)
        assert "from_dict" not in vars(cls), cls
    cue = Cue("101", "ANNA", "ANNA", 1.0, 2.5, "Hello.")
    assert Cue.from_dict(cue.to_dict()) == cue
    with pytest.raises(ValueError, match="unknown"):
        Cue.from_dict({**cue.to_dict(), "colour": "red"})
    d = Dnsmos(3.1, 3.5, 4.0)
    assert d.to_dict() == {"ovrl": 3.1, "sig": 3.5, "bak": 4.0, "p808": None}
    assert Dnsmos.from_dict({"ovrl": 3.1, "sig": 3.5, "bak": 4.0}) == d  # older results

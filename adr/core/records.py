"""The dict round trip of the frozen dataclasses that stages pass and files store.

A record subclasses :class:`Record` and is a frozen dataclass; it then has ``to_dict``
(:func:`dataclasses.asdict`: JSON-ready when its fields are) and a strict ``from_dict``
(:func:`strict_from_dict`: unknown keys and missing required keys raise ``ValueError``, so a
file written by another version is refused, never half read). A record whose fields need
converting (arrays, nested records, rounding) overrides either method and still ends in
:func:`strict_from_dict`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self, TypeVar

__all__ = ["Record", "strict_from_dict"]

T = TypeVar("T")


def strict_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from ``data``, refusing unknown and missing required keys.

    Raises
    ------
    ValueError
        If ``data`` has keys ``cls`` does not define, or lacks a key without a default.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    unknown = set(data) - {f.name for f in fields}
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {sorted(unknown)}")
    required = {
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    missing = required - set(data)
    if missing:
        raise ValueError(f"{cls.__name__}: missing field(s) {sorted(missing)}")
    return cls(**data)


class Record:
    """Base of the frozen dataclass records: ``to_dict`` and a strict ``from_dict``."""

    def to_dict(self) -> dict[str, Any]:
        """The record as a dict of its fields (nested dataclasses as dicts)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The record from :meth:`to_dict`'s output; unknown or missing keys raise
        ``ValueError``."""
        return strict_from_dict(cls, data)

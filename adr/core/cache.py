"""Cache keys: one rule for naming what a stored result was computed from.

A stage that keeps its results (analysis per line, enrollment, takes, export files, the demo
build) stores with each result the key of its inputs and redoes the work when the key
differs. :func:`cache_key` is that key: the SHA-256 of the inputs as canonical JSON (keys
sorted, anything JSON does not know written with ``str``). The keys of results already on
disk depend on exactly this encoding, so it must not change; tests/test_cache.py pins it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["cache_key", "sha256_file"]


def cache_key(payload: Any, *, length: int | None = None) -> str:
    """Hex SHA-256 of ``payload`` as canonical JSON.

    Parameters
    ----------
    payload : JSON-like
        Dicts, lists, tuples (encoded as lists), strings, numbers, None; other values
        (paths, ...) are encoded as their ``str``.
    length : int, optional
        Keep only the first ``length`` hex digits (None: all 64).

    Returns
    -------
    str
    """
    text = json.dumps(payload, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return digest if length is None else digest[:length]


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

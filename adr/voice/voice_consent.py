"""The consent a voice carries and the seal over its description (``voice.json``).

``voice.json`` holds the actor's consent (:class:`~adr.core.consent.ConsentRecord`) under
``"consent"``, the records it replaced under ``"consent_history"``, and ``"seal"``: the
SHA-256 of the rest of the description (:func:`voice_seal`). A hand edit breaks the seal and
the voice refuses to load (:func:`check_seal`); :func:`update_consent` is the one way to change
the consent, keeping the old record in the history. Voice files: :mod:`adr.voice.voicefile`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from adr.core.consent import ConsentRecord, consent_changes
from adr.core.errors import AdrError
from adr.core.fsio import read_json, write_json

__all__ = [
    "VOICE_FILE",
    "check_seal",
    "consent_history",
    "load_consent",
    "read_meta",
    "update_consent",
    "voice_seal",
]

VOICE_FILE = "voice.json"


def voice_seal(meta: dict[str, Any]) -> str:
    """SHA-256 of a voice description's canonical JSON without its ``"seal"`` key."""
    body = {k: v for k, v in meta.items() if k != "seal"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    ).hexdigest()


def check_seal(meta: dict[str, Any], meta_path: Path) -> ConsentRecord | None:
    """The voice's consent after checking the seal (None for a voice without consent)."""
    if "consent" not in meta and "seal" not in meta:
        return None
    if "seal" not in meta or meta["seal"] != voice_seal(meta):
        raise AdrError(
            meta_path,
            "the voice description was edited after it was written "
            "(its seal does not match): consent or record tampered; re-enroll "
            "the actor or restore the original voice.json",
        )
    if "consent" not in meta:
        raise AdrError(meta_path, "sealed voice without a consent record (tampered)")
    try:
        consent = ConsentRecord.from_dict(meta["consent"])
    except (ValueError, TypeError) as exc:
        raise AdrError(meta_path, f"invalid consent record ({exc})") from None
    actor = (meta.get("record") or {}).get("actor")
    if consent.actor != actor:
        raise AdrError(
            meta_path, f"the consent record is for actor {consent.actor}, the voice is {actor}"
        )
    return consent


def read_meta(folder: Path) -> tuple[dict[str, Any], Path]:
    meta_path = folder / VOICE_FILE
    if not meta_path.is_file() and not folder.is_dir():
        raise AdrError(folder, "no enrolled voice here; run adr enroll")
    meta = read_json(meta_path)
    if not isinstance(meta, dict):
        raise AdrError(meta_path, "not a voice description")
    return meta, meta_path


def load_consent(directory: str | Path) -> tuple[ConsentRecord | None, str]:
    """A voice's consent and seal, read from ``voice.json`` alone (no tensors loaded).

    Returns
    -------
    consent : ConsentRecord or None
        None for a voice enrolled before consent was recorded.
    seal : str
        The voice's seal (``""`` without consent).

    Raises
    ------
    AdrError
        Naming ``voice.json``: missing, unreadable, or edited after it was written.
    """
    meta, meta_path = read_meta(Path(directory))
    consent = check_seal(meta, meta_path)
    return consent, str(meta.get("seal", ""))


def consent_history(directory: str | Path) -> list[dict[str, Any]]:
    """The records a voice's consent replaced, oldest first (``{"consent", "replaced"}``)."""
    meta, meta_path = read_meta(Path(directory))
    check_seal(meta, meta_path)
    return list(meta.get("consent_history", []))


def update_consent(directory: str | Path, consent: ConsentRecord) -> list[str]:
    """Replace a voice's consent (``adr voice consent ACTOR --update FILE``).

    The old record goes to ``"consent_history"`` with the date it was replaced, and the
    voice is sealed again. Works on a voice enrolled before consent was recorded.

    Returns
    -------
    list of str
        What changed, one phrase per field (empty: nothing; the voice is not rewritten).

    Raises
    ------
    AdrError
        A tampered voice, or a record for another actor.
    """
    folder = Path(directory)
    meta, meta_path = read_meta(folder)
    old = check_seal(meta, meta_path)
    actor = (meta.get("record") or {}).get("actor")
    if consent.actor != actor:
        raise AdrError(
            meta_path,
            f"the consent record is for actor {consent.actor}, this "
            f"voice is {actor}; nothing changed",
        )
    changes = consent_changes(old, consent)
    if not changes:
        return []
    if old is not None:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta["consent_history"] = [
            *meta.get("consent_history", []),
            {"consent": old.to_dict(), "replaced": now},
        ]
    meta["consent"] = consent.to_dict()
    meta["seal"] = voice_seal(meta)
    write_json(meta_path, meta)
    return changes

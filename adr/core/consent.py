"""Consent and provenance: what an actor agreed to, and what a synthetic line says it is.

A voice is an actor's likeness. :class:`ConsentRecord` is the actor's informed consent to a
digital replica of their voice: who the actor is, who granted consent and when, the
productions it covers (session name patterns, ``fnmatch`` style, case-insensitive), the uses
it covers (:data:`USES`) and the last day it is valid. It is stored inside the voice
(:mod:`adr.voice.voicefile`) and checked by :func:`check_scope` before anything is rendered
or exported.

:class:`Provenance` is what a rendered take says about itself: synthetic, which voice, under
which consent (the record itself and its id), for which use, by which adr and when, with
which watermark. Renders, their Broadcast WAVs, the cue sheet, the timeline and the report
carry it.

A consent file is TOML or JSON with exactly these keys::

    actor = "MAYA"                       # the voice's actor id
    name = "Maya Lind"                   # the person whose voice it is
    granted_by = "Maya Lind"             # who granted consent (the actor or an agent)
    granted_on = 2026-03-01              # date of the grant (YYYY-MM-DD)
    productions = ["Night Shift*"]       # session names covered (patterns)
    uses = ["replace", "edit"]           # replace damaged lines, text edits, new lines
    expires = 2027-12-31                 # last day covered (YYYY-MM-DD)
    note = "SAG-AFTRA digital replica rider, signed 2026-03-01"   # optional
    reference = "contract 2026-114"      # optional
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adr.core.errors import AdrError

__all__ = ["USES", "ConsentRecord", "Provenance", "check_scope", "read_consent", "consent_changes"]

#: Uses a consent can cover: re-speak a damaged line with its own words, speak an edited
#: text over a line's timing, speak a line that was never recorded.
USES = ("replace", "edit", "new")


def _date(value: Any, name: str) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a date YYYY-MM-DD, got {value!r}")
    try:
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise ValueError(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None


def _strict(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{cls.__name__}: expected a table of keys, got {type(data).__name__}")
    fields = dataclasses.fields(cls)
    names = {f.name for f in fields}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown}")
    missing = sorted(
        f.name
        for f in fields
        if f.name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    )
    if missing:
        raise ValueError(f"missing key(s) {missing}")
    return dict(data)


@dataclass(frozen=True)
class ConsentRecord:
    """An actor's consent to a digital replica of their voice.

    Attributes
    ----------
    actor : str
        The voice's actor id (must be the voice it is stored in).
    name : str
        The person whose voice it is.
    granted_by : str
        Who granted consent (the actor, or an agent with authority).
    granted_on : str
        Date of the grant, ``YYYY-MM-DD``.
    productions : tuple of str
        Session names covered: patterns (``*``, ``?``, ``[...]``), case-insensitive.
    uses : tuple of str
        Subset of :data:`USES`.
    expires : str
        Last day covered, ``YYYY-MM-DD`` (not before ``granted_on``).
    note, reference : str
        Free note; the agreement's reference.

    Raises
    ------
    ValueError
        Empty names, a bad date, no production, an unknown use, expiry before the grant.
    """

    actor: str
    name: str
    granted_by: str
    granted_on: str
    productions: tuple[str, ...]
    uses: tuple[str, ...]
    expires: str
    note: str = ""
    reference: str = ""

    def __post_init__(self) -> None:
        for key in ("actor", "name", "granted_by", "note", "reference"):
            value = getattr(self, key)
            if not isinstance(value, str):
                raise ValueError(f"{key} must be text, got {value!r}")
            object.__setattr__(self, key, " ".join(value.split()))
        for key in ("actor", "name", "granted_by"):
            if not getattr(self, key):
                raise ValueError(f"{key} is empty")
        object.__setattr__(self, "granted_on", _date(self.granted_on, "granted_on"))
        object.__setattr__(self, "expires", _date(self.expires, "expires"))
        if self.expires < self.granted_on:
            raise ValueError(f"expires {self.expires} is before granted_on {self.granted_on}")
        for key in ("productions", "uses"):
            value = getattr(self, key)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{key} must be a list of text, got {value!r}")
            object.__setattr__(
                self, key, tuple(dict.fromkeys(v.strip() for v in value if v.strip()))
            )
        if not self.productions:
            raise ValueError(
                "productions is empty: name the productions (session name "
                "patterns) the consent covers"
            )
        bad = [u for u in self.uses if u not in USES]
        if bad or not self.uses:
            raise ValueError(
                f"uses must be some of {', '.join(USES)}, got {list(self.uses) or 'none'}"
            )

    @property
    def consent_id(self) -> str:
        """``consent-`` and 12 hex digits of the SHA-256 of the record's canonical JSON."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return "consent-" + hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["productions"], d["uses"] = list(self.productions), list(self.uses)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConsentRecord:
        d = _strict(cls, data)
        return cls(**d)

    def covers_session(self, session: str) -> bool:
        """True when session name ``session`` matches one of :attr:`productions`."""
        return any(fnmatch.fnmatchcase(session.lower(), p.lower()) for p in self.productions)

    def summary(self) -> str:
        """One line: id, person, productions, uses, validity."""
        return (
            f"{self.consent_id}: {self.name} (granted by {self.granted_by} on "
            f"{self.granted_on}), productions {', '.join(self.productions)}; uses "
            f"{', '.join(self.uses)}; expires {self.expires}"
        )


def read_consent(path: str | Path) -> ConsentRecord:
    """Read a consent file (``.toml`` or ``.json``), strictly.

    Raises
    ------
    AdrError
        Naming the file: missing, unreadable, not TOML/JSON, unknown or missing keys,
        invalid values.
    """
    import tomllib

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AdrError(p, "consent file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AdrError(p, f"consent file is not readable ({exc})") from None
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if p.suffix.lower() == ".json" else "TOML"
        raise AdrError(p, f"consent file is not valid {kind} ({exc})") from None
    try:
        return ConsentRecord.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise AdrError(p, f"invalid consent record: {exc}") from None


def consent_changes(old: ConsentRecord | None, new: ConsentRecord) -> list[str]:
    """What changed from ``old`` to ``new``, one phrase per field (``[]``: nothing)."""
    if old is None:
        return ["consent recorded (the voice had none)"]
    out = []
    a, b = old.to_dict(), new.to_dict()
    for key in b:
        if a[key] != b[key]:
            out.append(f"{key}: {a[key]!r} -> {b[key]!r}")
    return out


def check_scope(
    consent: ConsentRecord | None,
    *,
    voice: str,
    session: str,
    use: str,
    today: dt.date | None = None,
    cue: str = "",
) -> None:
    """Refuse a use of voice ``voice`` that its consent does not cover.

    Parameters
    ----------
    consent : ConsentRecord or None
        The voice's consent (None: the voice has none).
    voice : str
        The voice's actor id (named in the error).
    session : str
        The session's name, matched against ``consent.productions``.
    use : str
        One of :data:`USES`.
    today : datetime.date, optional
        Default: today (UTC).
    cue : str
        Cue id, named in the error when given.

    Raises
    ------
    AdrError
        ``"voice V: ..."`` naming the rule: no consent, a different actor, a session outside
        the productions, a use not covered, a consent not yet valid or expired.
    """
    where = f"voice {voice}"
    for_cue = f" (cue {cue})" if cue else ""
    if consent is None:
        raise AdrError(
            where,
            "has no consent record (enrolled before adr recorded consent); "
            f"add one with: adr voice consent {voice} --update FILE",
        )
    if consent.actor != voice:
        raise AdrError(
            where, f"consent {consent.consent_id} is for actor {consent.actor}, not this voice"
        )
    day = today or dt.datetime.now(dt.UTC).date()
    if day.isoformat() > consent.expires:
        raise AdrError(
            where,
            f"consent {consent.consent_id} expired on {consent.expires}; "
            f"nothing rendered or exported{for_cue}",
        )
    if day.isoformat() < consent.granted_on:
        raise AdrError(
            where,
            f"consent {consent.consent_id} is granted from {consent.granted_on}, not yet valid",
        )
    if not consent.covers_session(session):
        raise AdrError(
            where,
            f"consent {consent.consent_id} does not cover session "
            f"{session!r} (productions: {', '.join(consent.productions)})"
            f"{for_cue}",
        )
    if use not in consent.uses:
        what = {"edit": "text edits", "replace": "replacing lines", "new": "new lines"}.get(
            use, use
        )
        raise AdrError(
            where,
            f"consent {consent.consent_id} does not cover {what} "
            f"(uses: {', '.join(consent.uses)}){for_cue}",
        )


@dataclass(frozen=True)
class Provenance:
    """What a rendered take says about itself.

    Attributes
    ----------
    voice : str
        The voice (actor id) that spoke it.
    consent : ConsentRecord
        The consent it was rendered under.
    consent_id : str
        ``consent.consent_id`` (checked on reading: an edited record no longer matches).
    use : str
        ``"replace"`` or ``"edit"`` (:data:`USES`).
    adr_version : str
    date : str
        UTC date-time of the render, ISO 8601.
    watermark : str
        The watermark embedded in the audio (``"perth"``), or ``""``.
    synthetic : bool
        Always True for a take.
    """

    voice: str
    consent: ConsentRecord
    consent_id: str
    use: str
    adr_version: str
    date: str
    watermark: str = ""
    synthetic: bool = True

    def __post_init__(self) -> None:
        if self.consent_id != self.consent.consent_id:
            raise ValueError(
                f"consent_id {self.consent_id} does not match its record "
                f"({self.consent.consent_id}): the record was edited"
            )

    def fields(self) -> dict[str, str]:
        """Upper-case keys and text values, for iXML and timeline metadata."""
        return {
            "SYNTHETIC": "TRUE",
            "VOICE": self.voice,
            "CONSENT_ID": self.consent_id,
            "USE": self.use,
            "ADR_VERSION": self.adr_version,
            "RENDER_DATE": self.date,
            "WATERMARK": self.watermark or "none",
        }

    def bext_description(self, cue_id: str, rest: str = "") -> str:
        """A bext description (ASCII, <= 256 characters) that starts by saying what it is:
        ``SYNTHETIC ADR cue C | voice V | consent-... | adr X | DATE | rest``."""
        import unicodedata

        text = (
            f"SYNTHETIC ADR cue {cue_id} | voice {self.voice} | {self.consent_id} | "
            f"adr {self.adr_version} | {self.date}" + (f" | {rest}" if rest else "")
        )
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
        return " ".join(text.split())[:256]

    def label(self) -> str:
        """``SYNTHETIC voice V, consent ID, adr X, DATE`` (ASCII)."""
        return (
            f"SYNTHETIC voice {self.voice}, {self.consent_id}, adr {self.adr_version}, "
            f"{self.date}" + (f", watermark {self.watermark}" if self.watermark else "")
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["consent"] = self.consent.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        d = _strict(cls, data)
        d["consent"] = ConsentRecord.from_dict(d["consent"])
        return cls(**d)

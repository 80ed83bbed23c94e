"""Consent records for the tests: every test voice is enrolled with its actor's consent."""

from __future__ import annotations

from adr.core.consent import ConsentRecord


def consent_for(
    actor: str,
    productions: tuple[str, ...] = ("*",),
    uses: tuple[str, ...] = ("replace", "edit"),
    expires: str = "2099-12-31",
    granted_on: str = "2026-01-01",
) -> ConsentRecord:
    """A consent record of test actor ``actor`` (synthetic speech, no real person)."""
    return ConsentRecord(
        actor=actor,
        name=f"Test voice {actor}",
        granted_by="adr tests",
        granted_on=granted_on,
        productions=productions,
        uses=uses,
        expires=expires,
        note="synthetic test voice",
    )

"""The record of a finished enrollment (``enrollment.json``) and when it is reused.

A rerun of ``adr enroll`` with the same inputs finds the key of its inputs in
``enrollment.json`` and returns the recorded :class:`EnrollResult` at once, provided the
voice's files still match their hashes and ``voice.json`` still carries its seal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adr.core.errors import AdrError
from adr.core.fsio import read_json
from adr.core.types import strict_from_dict
from adr.voice.material import MaterialReport

__all__ = ["EnrollResult", "file_sha", "finished_enrollment"]


@dataclass(frozen=True)
class EnrollResult:
    """A finished enrollment.

    Attributes
    ----------
    actor, voice_dir : str
    material : MaterialReport
    record : adr.voice.voicefile.EnrollmentRecord
        What ``voice.json`` holds (sources, minutes, date, preset, steps, metrics).
    utterances : int
        Lines analysed (training plus held back).
    held_back : tuple of str
        Lines kept out of training, as ``file@start-end``.
    reused : bool
        True when a finished enrollment with the same inputs was returned unchanged.
    """

    actor: str
    voice_dir: str
    material: MaterialReport
    record: Any
    utterances: int = 0
    held_back: tuple[str, ...] = ()
    reused: bool = False
    consent_id: str = ""

    def summary(self) -> str:
        """One line for people, then one per line dropped (``file@start: why``)."""
        r = self.record
        m = "".join(f", {k} {v:.3g}" for k, v in r.metrics.items())
        dropped = [
            w.replace(": skipped (", ": ", 1).removesuffix(")")
            for w in self.material.warnings
            if ": skipped (" in w
        ]
        return (
            f"{self.actor}: voice {'up to date' if self.reused else 'trained'} in "
            f"{self.voice_dir} ({r.minutes:.2f} min, {self.utterances} lines, {r.steps} "
            f"steps, {r.train_seconds:.0f} s{m})"
            + (f"\n  consent {self.consent_id}" if self.consent_id else "")
            + "".join(f"\n  dropped {d}" for d in dropped)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "material": self.material.to_dict(),
            "record": self.record.to_dict(),
            "held_back": list(self.held_back),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnrollResult:
        from adr.voice.voicefile import EnrollmentRecord

        d = dict(data)
        d["material"] = MaterialReport.from_dict(d["material"])
        d["record"] = EnrollmentRecord.from_dict(d["record"])
        d["held_back"] = tuple(d.get("held_back", ()))
        return strict_from_dict(cls, d)


def file_sha(path: Path) -> str:
    from adr.voice.voicefile import sha256_file

    return sha256_file(path) if path.is_file() else ""


def finished_enrollment(folder: Path, key: str) -> EnrollResult | None:
    from adr.voice.voicefile import MODEL_FILE, RESTORER_FILE, VOICE_FILE, load_consent

    try:
        data = read_json(folder / "enrollment.json")
        meta = read_json(folder / VOICE_FILE)
        load_consent(folder)  # an edited voice.json is not reused
        model_sha, restorer = meta.get("model_sha256"), meta.get("restorer")
        if (
            data.get("key") != key
            or not (folder / "voiceprint.json").is_file()
            or (model_sha is None and restorer is None)
            or (model_sha is not None and model_sha != file_sha(folder / MODEL_FILE))
            or (restorer is not None and restorer.get("sha256") != file_sha(folder / RESTORER_FILE))
        ):
            return None
        return dataclasses.replace(EnrollResult.from_dict(data["result"]), reused=True)
    except (AdrError, KeyError, TypeError, ValueError, AttributeError):
        return None

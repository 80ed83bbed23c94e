"""Voice files: an enrolled actor's model on disk.

A voice is a folder with two files, each written atomically:

* ``model.safetensors``: the model's tensors (no pickle anywhere);
* ``voice.json``: ``format_version``, the :class:`~adr.voice.voice_model.VoiceConfig` and the
  :class:`EnrollmentRecord` (who, from what, how, how well);
* since format 2, optionally ``restorer.safetensors``: the actor's speech restorer
  (:mod:`adr.voice.restorer`), described in ``voice.json`` under ``"restorer"`` (its config
  and the file's SHA-256). A voice with a restorer renders through it; format-1 voices
  (harmonic-plus-noise model only) still load and render as before;
* the actor's consent (:class:`~adr.core.consent.ConsentRecord`; :mod:`adr.voice.voice_consent`)
  under ``"consent"``, the records it replaced under ``"consent_history"``, and ``"seal"``: the
  SHA-256 of the rest of ``voice.json`` (which holds the tensor files' SHA-256), so editing the
  consent, the record or a tensor file by hand invalidates the voice. A voice made before consent
  was recorded (no ``"consent"``, no ``"seal"``) still loads, but
  :func:`adr.core.consent.check_scope` refuses to render with it until ``adr voice consent ACTOR
  --update FILE`` gives it one.

Loading is strict: a missing or unexpected tensor, a wrong shape, an unknown format version
or a corrupt file raises :class:`~adr.core.errors.AdrError` naming the file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from adr.core.cache import sha256_file
from adr.core.consent import ConsentRecord
from adr.core.errors import AdrError
from adr.core.fsio import atomic_path, ensure_dir, read_json, write_json
from adr.core.records import Record
from adr.core.types import strict_from_dict
from adr.voice.restorer import Restorer, RestorerConfig
from adr.voice.voice_consent import (
    VOICE_FILE,
    check_seal,
    consent_history,
    load_consent,
    read_meta,
    update_consent,
    voice_seal,
)
from adr.voice.voice_model import VoiceConfig, VoiceModel

__all__ = [
    "VOICEFILE_FORMAT_VERSION",
    "MODEL_FILE",
    "RESTORER_FILE",
    "VOICE_FILE",
    "SourceFile",
    "EnrollmentRecord",
    "LoadedVoice",
    "save_voice",
    "load_voice",
    "load_consent",
    "consent_history",
    "describe_voice",
    "update_consent",
    "voice_seal",
    "sha256_file",
]

VOICEFILE_FORMAT_VERSION = 2
#: Voice file formats this adr reads.
READABLE_FORMATS = (1, 2)
MODEL_FILE = "model.safetensors"
RESTORER_FILE = "restorer.safetensors"


@dataclass(frozen=True)
class SourceFile(Record):
    """One recording used for enrollment."""

    path: str
    sha256: str
    seconds: float = 0.0


@dataclass(frozen=True)
class EnrollmentRecord:
    """How a voice was made.

    Attributes
    ----------
    actor : str
        Actor id.
    sources : tuple of SourceFile
        Recordings used, with their SHA-256.
    minutes : float
        Minutes of speech used for training.
    date : str
        ISO 8601 date-time of enrollment (UTC).
    preset : str
        Training preset name (``"fast"``, ``"default"``, ``"best"`` or ``"custom"``).
    steps : int
        Training steps run.
    train_seconds : float
        Wall-clock training time.
    metrics : dict of str to float
        Quality on held-back lines (speaker similarity, DNSMOS, F0 correlation ...).
    loudness_db : float or None
        Median loudness (dBFS, :func:`adr.voice.features.loudness_db`) of the training lines'
        voiced frames; :mod:`adr.voice.render` moves a line to this level for the model and the
        take back to the line's level. None for voices made before it was recorded.
    """

    actor: str
    sources: tuple[SourceFile, ...] = ()
    minutes: float = 0.0
    date: str = ""
    preset: str = "custom"
    steps: int = 0
    train_seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    loudness_db: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["sources"] = [s.to_dict() for s in self.sources]
        d["metrics"] = {k: float(v) for k, v in self.metrics.items()}
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnrollmentRecord:
        d = dict(data)
        if "sources" in d:
            d["sources"] = tuple(SourceFile.from_dict(s) for s in d["sources"])
        return strict_from_dict(cls, d)


@dataclass(frozen=True)
class LoadedVoice:
    """A voice read from disk: its harmonic-plus-noise model (eval mode; ``None`` for a
    voice enrolled with a restorer only), that model's config (its frame grid and phone
    inventory also describe a restorer voice's features), its record and its restorer."""

    model: VoiceModel | None
    config: VoiceConfig
    record: EnrollmentRecord
    restorer: Restorer | None = None
    consent: ConsentRecord | None = None
    seal: str = ""


def _save_tensors(module: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    for name, value in tensors.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise AdrError(path, f"tensor {name} holds NaN or infinite values; not saved")
    with atomic_path(path) as tmp:
        save_file(
            tensors,
            str(tmp),
            metadata={"format": "adr-voice", "format_version": str(VOICEFILE_FORMAT_VERSION)},
        )


def _load_tensors(module: torch.nn.Module, path: Path, expected_hash: str | None) -> None:
    """Strictly load ``path`` into ``module`` (no pickle), refusing non-finite weights."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise AdrError(path, "file not found")
    if expected_hash is not None and sha256_file(path) != expected_hash:
        raise AdrError(path, "checksum does not match voice.json (corrupt or replaced)")
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError, ValueError) as exc:
        raise AdrError(path, f"not a readable safetensors file ({exc})") from None
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise AdrError(
            path,
            f"tensors do not match the config (missing {missing[:3]}, unexpected {unexpected[:3]})",
        )
    for name, value in tensors.items():
        if value.shape != own[name].shape or value.dtype != own[name].dtype:
            raise AdrError(
                path,
                f"tensor {name} has shape {tuple(value.shape)} "
                f"{value.dtype}, the config needs {tuple(own[name].shape)} "
                f"{own[name].dtype}",
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise AdrError(
                path,
                f"tensor {name} holds NaN or infinite values (a diverged "
                "training?); re-enroll the actor",
            )
    with torch.no_grad():
        module.load_state_dict(tensors, strict=True)
    module.eval()


def save_voice(
    directory: str | Path,
    model: VoiceModel | None,
    config: VoiceConfig,
    record: EnrollmentRecord,
    restorer: Restorer | None = None,
    consent: ConsentRecord | None = None,
) -> Path:
    """Write ``model.safetensors`` and ``voice.json`` into ``directory``.

    Parameters
    ----------
    directory : str or Path
        The voice folder (created if needed).
    model : VoiceModel or None
        ``None`` only with a ``restorer``.
    config : VoiceConfig
        Must equal ``model.config``.
    record : EnrollmentRecord
    restorer : Restorer, optional
        The actor's restorer (written to ``restorer.safetensors``).
    consent : ConsentRecord, optional
        The actor's consent (``adr enroll`` always gives one); the voice is then sealed.
        A different consent already in the folder goes to the history.

    Returns
    -------
    Path
        The voice folder.
    """
    if model is None and restorer is None:
        raise ValueError("save_voice: a voice needs a model or a restorer")
    if model is not None and config != model.config:
        raise ValueError("save_voice: config differs from model.config")
    if consent is not None and consent.actor != record.actor:
        raise AdrError(record.actor, f"the consent record is for actor {consent.actor}")
    folder = ensure_dir(directory)
    history: list[dict[str, Any]] = []
    if consent is not None and (folder / VOICE_FILE).is_file():
        try:  # keep the consent this voice had before (a re-enrollment)
            old_meta = read_json(folder / VOICE_FILE)
            old = check_seal(old_meta, folder / VOICE_FILE)
            history = list(old_meta.get("consent_history", []))
            if old is not None and old != consent:
                history.append({"consent": old.to_dict(), "replaced": record.date})
        except (AdrError, AttributeError, TypeError):
            history = []
    meta: dict[str, Any] = {
        "format_version": VOICEFILE_FORMAT_VERSION,
        "config": config.to_dict(),
        "record": record.to_dict(),
    }
    if model is not None:
        _save_tensors(model, folder / MODEL_FILE)
        meta["model_sha256"] = sha256_file(folder / MODEL_FILE)
    else:
        (folder / MODEL_FILE).unlink(missing_ok=True)
    if restorer is not None:
        _save_tensors(restorer, folder / RESTORER_FILE)
        meta["restorer"] = {
            "config": restorer.config.to_dict(),
            "sha256": sha256_file(folder / RESTORER_FILE),
        }
    else:
        (folder / RESTORER_FILE).unlink(missing_ok=True)
    if consent is not None:
        meta["consent"] = consent.to_dict()
        if history:
            meta["consent_history"] = history
        meta["seal"] = voice_seal(meta)
    write_json(folder / VOICE_FILE, meta)
    return folder


def load_voice(directory: str | Path) -> LoadedVoice:
    """Read a voice folder written by :func:`save_voice` (strictly; never unpickles).

    Raises
    ------
    AdrError
        Naming ``voice.json``, ``model.safetensors`` or ``restorer.safetensors`` if missing,
        corrupt, of an unknown format version, not matching the config, or holding
        non-finite weights.
    """
    folder = Path(directory)
    meta_path = folder / VOICE_FILE
    meta = read_json(meta_path)
    if not isinstance(meta, dict):
        raise AdrError(meta_path, "not a voice description")
    version = meta.get("format_version")
    if version not in READABLE_FORMATS:
        raise AdrError(
            meta_path,
            f"unknown voice format_version {version!r} (this adr reads "
            f"{', '.join(map(str, READABLE_FORMATS))}); re-enroll the actor",
        )
    allowed = {"format_version", "config", "record", "model_sha256"}
    if version >= 2:
        allowed |= {"restorer", "consent", "consent_history", "seal"}
    extra = set(meta) - allowed
    if extra or "config" not in meta or "record" not in meta:
        raise AdrError(meta_path, "unexpected or missing fields in the voice description")
    try:
        config = VoiceConfig.from_dict(meta["config"])
        record = EnrollmentRecord.from_dict(meta["record"])
        rmeta = meta.get("restorer")
        rconfig = RestorerConfig.from_dict(rmeta["config"]) if rmeta is not None else None
    except (ValueError, TypeError, KeyError) as exc:
        raise AdrError(meta_path, f"invalid voice description ({exc})") from None
    consent = check_seal(meta, meta_path)
    model = None
    if version == 1 or "model_sha256" in meta or (folder / MODEL_FILE).exists():
        model = VoiceModel(config)
        _load_tensors(model, folder / MODEL_FILE, meta.get("model_sha256"))
    elif rconfig is None:
        raise AdrError(meta_path, "the voice has neither a model nor a restorer")
    restorer = None
    if rconfig is not None:
        restorer = Restorer(rconfig)
        _load_tensors(restorer, folder / RESTORER_FILE, (rmeta or {}).get("sha256"))
    return LoadedVoice(
        model=model,
        config=config,
        record=record,
        restorer=restorer,
        consent=consent,
        seal=str(meta.get("seal", "")),
    )


def describe_voice(directory: str | Path) -> str:
    """``adr voice info``: the voice's engine, material, training, metrics and consent.

    Reads ``voice.json`` only (the seal is checked; tensors are not loaded).

    Raises
    ------
    AdrError
        No voice, or a tampered one.
    """
    folder = Path(directory)
    meta, meta_path = read_meta(folder)
    consent = check_seal(meta, meta_path)
    try:
        record = EnrollmentRecord.from_dict(meta["record"])
    except (ValueError, TypeError, KeyError) as exc:
        raise AdrError(meta_path, f"invalid voice description ({exc})") from None
    engine = "restorer" if meta.get("restorer") else "harmonic-plus-noise (format 1 engine)"
    lines = [
        f"voice {record.actor}: {folder} (format {meta.get('format_version')}, {engine})",
        f"  enrolled  {record.date or '-'}; preset {record.preset}, {record.steps} steps, "
        f"{record.train_seconds:.0f} s training, {record.minutes:.2f} min of speech",
    ]
    lines += [
        f"  material  {s.path} ({s.seconds:.1f} s, sha256 {s.sha256[:12]})" for s in record.sources
    ]
    if record.metrics:
        lines.append("  metrics   " + ", ".join(f"{k} {v:.3g}" for k, v in record.metrics.items()))
    if consent is None:
        lines.append(
            f"  consent   NONE: this voice cannot render until it has one "
            f"(adr voice consent {record.actor} --update FILE)"
        )
    else:
        c = consent
        lines += [
            f"  consent   {c.consent_id} (voice sealed {str(meta['seal'])[:12]})",
            f"            {c.name}, granted by {c.granted_by} on {c.granted_on}, "
            f"expires {c.expires}",
            f"            productions {', '.join(c.productions)}; uses {', '.join(c.uses)}",
        ]
        if c.reference or c.note:
            lines.append(f"            {'; '.join(x for x in (c.reference, c.note) if x)}")
        for h in meta.get("consent_history", []):
            try:
                old = ConsentRecord.from_dict(h["consent"]).consent_id
            except (ValueError, TypeError, KeyError):
                old = "(unreadable record)"
            lines.append(f"  replaced  {old} on {h.get('replaced', '?')}")
    return "\n".join(lines)

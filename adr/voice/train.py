"""Enrollment: train a :class:`~adr.voice.voice_model.VoiceModel` on an actor's clean lines.

Random fixed-length crops of the training lines are re-synthesized from their own features and
compared with the recording by a multi-resolution STFT loss (Adam, warm-up + cosine learning rate,
gradient clipping). Checkpoints (:mod:`adr.voice.training`: safetensors + JSON, no pickle) are
written every ``checkpoint_every`` steps and at the end. Re-running with ``resume=True`` continues
from the newest and gives the same result as an uninterrupted run (up to nondeterminism of
multithreaded CPU kernels).
"""

from __future__ import annotations

import dataclasses
import hashlib
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
from adr.voice.features import FrameFeatures
from adr.voice.losses import MelLoss, MultiResolutionSTFTLoss
from adr.voice.training import TrainingRun, optimizer_step, warmup_cosine
from adr.voice.voice_model import VoiceConfig, VoiceModel, features_to_tensors

__all__ = [
    "TRAIN_FORMAT_VERSION",
    "TrainConfig",
    "TrainingExample",
    "preset",
    "train_voice",
    "learning_rate",
]

TRAIN_FORMAT_VERSION = 1


@dataclass(frozen=True)
class TrainConfig:
    """How a voice is trained (kept apart from :class:`VoiceConfig`, which is what it is).

    Attributes
    ----------
    steps : int
        Optimizer steps.
    batch_size : int
        Crops of ``segment_seconds`` per step.
    segment_seconds : float
        Length of each crop.
    learning_rate : float
        Peak learning rate.
    min_lr_ratio : float
        Final learning rate as a fraction of the peak (cosine decay).
    warmup_steps : int
        Linear warm-up.
    grad_clip : float
        Maximum gradient norm.
    checkpoint_every : int
        Steps between checkpoints (one is always written at the end).
    keep_checkpoints : int
        How many checkpoints to keep on disk.
    seed : int
        Seeds initialization, crops and noise.
    fft_sizes : tuple of int
        Resolutions of the STFT loss.
    mel_weight : float
        Weight of the log-mel loss (0 disables it).
    max_seconds : float
        Wall-clock budget (0: none). With a budget the cosine decay follows whichever of
        steps and time is further along, and training ends when either runs out, so it
        finishes on time at a low learning rate (then a resumed run is no longer
        bit-reproducible).
    format_version : int
    """

    steps: int = 2000
    batch_size: int = 8
    segment_seconds: float = 1.0
    learning_rate: float = 2e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 100
    grad_clip: float = 2.0
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    seed: int = 0
    fft_sizes: tuple[int, ...] = (2048, 1024, 512, 256, 128, 64)
    mel_weight: float = 0.0
    max_seconds: float = 0.0
    format_version: int = TRAIN_FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "fft_sizes", tuple(int(n) for n in self.fft_sizes))
        if self.format_version != TRAIN_FORMAT_VERSION:
            raise ValueError(f"TrainConfig: unknown format_version {self.format_version}")
        if self.steps < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ValueError("TrainConfig: steps, batch_size, checkpoint_every must be >= 1")
        if self.segment_seconds <= 0 or self.keep_checkpoints < 1:
            raise ValueError("TrainConfig: segment_seconds > 0 and keep_checkpoints >= 1")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["fft_sizes"] = list(self.fft_sizes)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return strict_from_dict(cls, dict(data))


# mel_weight 1.0: on LJSpeech (24 training lines, 8 held back, 1500 steps) speaker similarity
# 0.856 -> 0.875, F0 correlation 0.976 -> 0.990, WER 27.4 % -> 25.7 %, DNSMOS 2.90 -> 2.91
# (bench/results/results_voice.json, "-held8" runs); a step costs about 10 % more.
_PRESETS = {
    "fast": TrainConfig(
        steps=800, segment_seconds=0.5, checkpoint_every=100, max_seconds=210.0, mel_weight=1.0
    ),
    "default": TrainConfig(steps=2500, segment_seconds=0.5, max_seconds=840.0, mel_weight=1.0),
    "best": TrainConfig(
        steps=8000, batch_size=12, segment_seconds=1.2, checkpoint_every=250, mel_weight=1.0
    ),
}


def preset(name: str) -> TrainConfig:
    """The named training preset: ``"fast"`` (demo: 800 steps or 3.5 min, whichever ends
    first), ``"default"`` (enrollment: 2500 steps or 14 min) or ``"best"`` (8000 larger
    steps, no time limit; not measured, estimated 1-3 h on 2 cores)."""
    if name not in _PRESETS:
        raise AdrError(name, f"unknown training preset (choose from {', '.join(_PRESETS)})")
    return _PRESETS[name]


@dataclass(frozen=True, eq=False)
class TrainingExample:
    """One clean training line.

    Attributes
    ----------
    audio : np.ndarray, shape (N,), float32
        The recording at the model's sample rate, ``N == features.num_frames * hop``.
    features : FrameFeatures
        Its conditioning on the model's frame grid.
    """

    audio: np.ndarray
    features: FrameFeatures

    def __post_init__(self) -> None:
        object.__setattr__(self, "audio", np.ascontiguousarray(self.audio, dtype=np.float32))
        if self.audio.ndim != 1:
            raise ValueError("TrainingExample: audio must be one-dimensional")


def learning_rate(config: TrainConfig, step: int, elapsed: float = 0.0) -> float:
    """Learning rate at ``step`` (0-based) after ``elapsed`` seconds: linear warm-up, then
    cosine decay over the steps (or over ``max_seconds``, whichever is further along)."""
    c = config
    floor = _time_fraction(c, elapsed)
    return warmup_cosine(c.learning_rate, c.min_lr_ratio, c.warmup_steps, c.steps, step, floor)


def _time_fraction(config: TrainConfig, elapsed: float) -> float:
    return elapsed / config.max_seconds if config.max_seconds > 0 else 0.0


def _check_examples(examples: Sequence[TrainingExample], vc: VoiceConfig, frames: int) -> None:
    if not examples:
        raise AdrError("training data", "no training examples")
    for i, ex in enumerate(examples):
        f = ex.features
        if abs(f.frame_period - vc.frame_period) > 1e-9:
            raise AdrError(
                f"training example {i}",
                f"frame period {f.frame_period} is not the model's {vc.frame_period}",
            )
        if len(ex.audio) != f.num_frames * vc.hop_length:
            raise AdrError(
                f"training example {i}",
                f"{len(ex.audio)} samples for {f.num_frames} frames of {vc.hop_length}",
            )
        if f.phone_ids.size and int(f.phone_ids.max()) >= len(vc.phone_inventory):
            raise AdrError(f"training example {i}", "phone id outside the inventory")
    if all(ex.features.num_frames < frames for ex in examples):
        raise AdrError(
            "training data", f"every line is shorter than the training segment ({frames} frames)"
        )


def _fingerprint(examples: Sequence[TrainingExample]) -> str:
    h = hashlib.sha256()
    for ex in examples:
        h.update(ex.audio.tobytes())
        h.update(ex.features.phone_ids.tobytes())
        h.update(ex.features.f0.tobytes())
    return h.hexdigest()


def _sample_batch(
    examples: Sequence[TrainingExample],
    frames: int,
    hop: int,
    batch: int,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    usable = [ex for ex in examples if ex.features.num_frames >= frames]
    weights = np.array([ex.features.num_frames - frames + 1 for ex in usable], dtype=np.float64)
    picks = rng.choice(len(usable), size=batch, p=weights / weights.sum())
    audio, feats = [], []
    for i in picks:
        ex = usable[int(i)]
        first = int(rng.integers(0, ex.features.num_frames - frames + 1))
        feats.append(ex.features.crop(first, frames))
        audio.append(ex.audio[first * hop : (first + frames) * hop])
    return torch.from_numpy(np.stack(audio)), features_to_tensors(feats)  # (B, N), (B, T)


# ----------------------------------------------------------------------------- training


def train_voice(
    examples: Sequence[TrainingExample],
    voice_config: VoiceConfig,
    train_config: TrainConfig,
    work_dir: str | Path,
    *,
    progress: ProgressHook | None = None,
    resume: bool = True,
) -> VoiceModel:
    """Train a voice model, checkpointing into ``work_dir``.

    Parameters
    ----------
    examples : sequence of TrainingExample
        Clean lines at the model's sample rate and frame grid.
    voice_config : VoiceConfig
        The model to build.
    train_config : TrainConfig
        How to train it.
    work_dir : str or Path
        Folder for checkpoints (created if needed).
    progress : callable, optional
        Receives a :class:`~adr.core.progress.ProgressEvent` per step (stage ``"train voice"``,
        ``info`` with ``loss``, ``lr`` and ``eta_s``).
    resume : bool
        Continue from the newest checkpoint in ``work_dir`` if there is one (it must have
        been made with the same configs and data).

    Returns
    -------
    VoiceModel
        The trained model, in eval mode.
    """
    vc, tc = voice_config, train_config
    work = ensure_dir(work_dir)
    frames = max(1, int(round(tc.segment_seconds / vc.frame_period)))
    _check_examples(examples, vc, frames)
    fingerprint = _fingerprint(examples)

    with torch.random.fork_rng():
        torch.manual_seed(tc.seed)
        model = VoiceModel(vc)
    opt = torch.optim.Adam(model.parameters(), lr=tc.learning_rate)
    gen = torch.Generator().manual_seed(tc.seed + 1)
    rng = np.random.default_rng(tc.seed)
    stft_loss = MultiResolutionSTFTLoss(tc.fft_sizes)
    mel_loss = MelLoss(vc.sample_rate) if tc.mel_weight > 0 else None
    step, base_elapsed = 0, 0.0

    configs = {"voice_config": vc.to_dict(), "train_config": tc.to_dict()}
    run = TrainingRun(
        work, model, opt, gen, rng, configs, fingerprint, TRAIN_FORMAT_VERSION, tc.keep_checkpoints
    )
    if resume:
        step, base_elapsed = run.resume("adr enroll --fresh, or resume=False")

    model.train()
    start_step, t0 = step, time.perf_counter()
    loss_value = float("nan")
    total = tc.steps
    if tc.max_seconds > 0 and base_elapsed >= tc.max_seconds:
        total = step  # the time budget was used up before the interruption
    while step < total:
        lr = learning_rate(tc, step, base_elapsed + time.perf_counter() - t0)
        for group in opt.param_groups:
            group["lr"] = lr
        audio, batch = _sample_batch(examples, frames, vc.hop_length, tc.batch_size, rng)
        pred = model(batch, generator=gen)  # (B, N)
        loss = stft_loss(pred, audio)
        if mel_loss is not None:
            loss = loss + tc.mel_weight * mel_loss(pred, audio)
        loss_value = optimizer_step(model, opt, loss, tc.grad_clip)
        step += 1
        elapsed_run = time.perf_counter() - t0
        per_step = elapsed_run / (step - start_step)
        eta = per_step * (tc.steps - step)
        if tc.max_seconds > 0:
            left = tc.max_seconds - base_elapsed - elapsed_run
            eta = min(eta, max(0.0, left))
            if left <= 0:
                total = step  # out of time: this is the last step
        if step % tc.checkpoint_every == 0 or step == total:
            run.save(step, loss_value, base_elapsed + elapsed_run)
        if progress is not None:
            progress(
                ProgressEvent(
                    "train voice",
                    step,
                    total if step == total else tc.steps,
                    "step",
                    {"loss": round(loss_value, 4), "lr": lr, "eta_s": round(eta, 1)},
                )
            )
    model.eval()
    return model

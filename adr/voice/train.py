"""Enrollment: train a :class:`~adr.voice.voice_model.VoiceModel` on an actor's clean lines.

Random fixed-length crops of the training lines are re-synthesized from their own features
and compared with the recording by a multi-resolution STFT loss (Adam, warm-up + cosine
learning rate, gradient clipping). Checkpoints are written every ``checkpoint_every`` steps
and at the end, atomically, with no pickle: tensors (weights, optimizer moments, torch RNG)
in ``ckpt_NNNNNNN.safetensors``, everything else (step, configs, numpy RNG, data
fingerprint) in ``ckpt_NNNNNNN.json``; ``latest.json``, written last, names the newest
complete pair. Re-running with ``resume=True`` continues from it and gives the same result
as an uninterrupted run (up to nondeterminism of multithreaded CPU kernels).
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
from adr.core.fsio import atomic_path, ensure_dir, read_json, write_json
from adr.core.progress import ProgressEvent, ProgressHook
from adr.core.types import strict_from_dict
from adr.voice.features import FrameFeatures
from adr.voice.losses import MelLoss, MultiResolutionSTFTLoss
from adr.voice.voice_model import VoiceConfig, VoiceModel, features_to_tensors

__all__ = [
    "TRAIN_FORMAT_VERSION",
    "TrainConfig",
    "TrainingExample",
    "preset",
    "train_voice",
    "checkpoint_tensors",
    "save_checkpoint",
    "load_checkpoint",
    "restore_checkpoint",
    "learning_rate",
    "training_state",
]

TRAIN_FORMAT_VERSION = 1
_LATEST = "latest.json"


@dataclass(frozen=True)
class TrainConfig:
    """How a voice is trained (kept apart from :class:`VoiceConfig`, which is what it is).

    Attributes
    ----------
    steps : int
        Optimizer steps.
    batch_size : int
        Crops per step.
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
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, max((step - config.warmup_steps) / span, _time_fraction(config, elapsed)))
    lo = config.min_lr_ratio
    return config.learning_rate * (lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * progress)))


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


# ----------------------------------------------------------------------------- checkpoints


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
        work / _LATEST, {"step": step, "tensors": f"{stem}.safetensors", "state": f"{stem}.json"}
    )
    old = sorted(work.glob("ckpt_*.json"))[:-keep]
    for p in old:
        p.unlink(missing_ok=True)
        p.with_suffix(".safetensors").unlink(missing_ok=True)


def load_checkpoint(work: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    latest = work / _LATEST
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

    loaded = load_checkpoint(work) if resume else None
    if loaded is not None:
        state, tensors = loaded
        where = work / _LATEST
        if state.get("voice_config") != vc.to_dict() or state.get("train_config") != tc.to_dict():
            raise AdrError(
                where,
                "checkpoint was made with other settings; start again "
                "(adr enroll --fresh, or resume=False)",
            )
        if state.get("data_fingerprint") != fingerprint:
            raise AdrError(
                where,
                "checkpoint was made from other training data; start "
                "again (adr enroll --fresh, or resume=False)",
            )
        restore_checkpoint(model, opt, gen, state, tensors, where)
        rng.bit_generator.state = state["numpy_rng"]
        step, base_elapsed = int(state["step"]), float(state["elapsed_seconds"])

    def checkpoint(loss: float, elapsed: float) -> None:
        state = {
            "format_version": TRAIN_FORMAT_VERSION,
            "step": step,
            "loss": loss,
            "elapsed_seconds": round(elapsed, 3),
            "voice_config": vc.to_dict(),
            "train_config": tc.to_dict(),
            "data_fingerprint": fingerprint,
            "numpy_rng": rng.bit_generator.state,
            "param_groups": opt.state_dict()["param_groups"],
        }
        save_checkpoint(work, step, checkpoint_tensors(model, opt, gen), state, tc.keep_checkpoints)

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
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        step += 1
        loss_value = float(loss.detach())
        elapsed_run = time.perf_counter() - t0
        per_step = elapsed_run / (step - start_step)
        eta = per_step * (tc.steps - step)
        if tc.max_seconds > 0:
            left = tc.max_seconds - base_elapsed - elapsed_run
            eta = min(eta, max(0.0, left))
            if left <= 0:
                total = step  # out of time: this is the last step
        if step % tc.checkpoint_every == 0 or step == total:
            checkpoint(loss_value, base_elapsed + elapsed_run)
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


def training_state(work_dir: str | Path) -> dict[str, Any] | None:
    """The JSON state of the newest checkpoint in ``work_dir`` (``step``, ``loss``,
    ``elapsed_seconds``, configs ...), or ``None`` if there is none."""
    work = Path(work_dir)
    if not (work / _LATEST).is_file():
        return None
    pointer = read_json(work / _LATEST)
    return read_json(work / str(pointer.get("state", "")))

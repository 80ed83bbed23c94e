"""The tiny voices the tests train, save and render with (seconds, not minutes, on a CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from adr.analysis.phonemes import PHONES
from adr.core.consent import ConsentRecord
from adr.voice.train import TrainConfig
from adr.voice.voice_model import VoiceConfig, VoiceModel
from adr.voice.voicefile import EnrollmentRecord, save_voice

#: The sizes of a harmonic-plus-noise voice small enough to train a few steps in seconds.
TINY_SIZES: dict[str, Any] = dict(
    hidden=16, conv_layers=1, n_harmonics=8, n_noise_bands=5, phone_dim=4
)

#: That voice on the full phone inventory, without its recurrent layer.
TINY = VoiceConfig(phone_inventory=PHONES, **TINY_SIZES, gru=False)

#: Smaller still: a voice that is only saved and loaded, never trained.
SMALLEST = VoiceConfig(
    phone_inventory=PHONES,
    hidden=8,
    conv_layers=1,
    n_harmonics=4,
    n_noise_bands=3,
    phone_dim=4,
    gru=False,
)


def tiny_training(steps: int, segment_seconds: float = 0.3) -> TrainConfig:
    """``steps`` training steps of two crops, a checkpoint after every step."""
    return TrainConfig(
        steps=steps,
        batch_size=2,
        segment_seconds=segment_seconds,
        warmup_steps=1,
        checkpoint_every=1,
        fft_sizes=(256, 64),
    )


def save_untrained_voice(
    folder: Path, actor: str, consent: ConsentRecord | None, config: VoiceConfig = TINY
) -> Path:
    """Save an untrained voice of ``actor`` (weights seeded with 0) in ``folder``."""
    torch.manual_seed(0)
    return save_voice(
        folder, VoiceModel(config).eval(), config, EnrollmentRecord(actor=actor), consent=consent
    )

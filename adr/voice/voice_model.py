"""The per-actor voice model: frame features -> harmonic-plus-noise controls -> audio.

The network never decides pitch or timing: F0 drives the oscillators directly and every
input frame becomes exactly ``hop_length`` output samples. It learns the actor's timbre
(harmonic distribution, noise colour, level) from phone identity, phone position, F0,
voicing, loudness and, optionally, lip shape.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from adr.core.types import strict_from_dict
from adr.voice.features import FrameFeatures
from adr.voice.synth import Reverb, exp_sigmoid, filtered_noise, harmonic_synth

__all__ = [
    "HARMONIC_TILT_DB",
    "VOICE_FORMAT_VERSION",
    "VoiceConfig",
    "VoiceModel",
    "features_to_tensors",
]

#: Version of :class:`VoiceConfig` and of the model's tensor layout. Version 2 added
#: ``harmonic_tilt_db``; a version-1 config is read as version 2 with a flat (0 dB) tilt,
#: which is the model it described (the tilt only sets the initialization, so the tensors
#: and the rendered audio of a version-1 voice are unchanged).
VOICE_FORMAT_VERSION = 2

#: Initial slope of the harmonic distribution in dB per octave of harmonic number (why -12:
#: docs/decisions.md, "voice model: ...").
HARMONIC_TILT_DB = -12.0

_N_CONTINUOUS = 9  # log f0, voiced, loudness, pos, log dur, lips(2), lip mask, unvoiced f0


@dataclass(frozen=True)
class VoiceConfig:
    """Architecture and signal settings of a voice model (saved inside every voice file).

    Attributes
    ----------
    phone_inventory : tuple of str
        Phone symbols; index ``i`` is phone id ``i``. Must contain ``"sil"``.
    sample_rate : int
        Output rate, 22050 or 24000 Hz.
    hop_length : int
        Samples per frame (frame period ``hop_length / sample_rate``).
    n_harmonics, n_noise_bands : int
        Size of the harmonic bank and of the noise filter bank.
    hidden : int
        Channels of the conv stack and GRU.
    conv_layers : int
        Residual dilated conv blocks.
    kernel_size : int
        Conv kernel size.
    gru : bool
        Add a bidirectional GRU after the conv stack.
    phone_dim : int
        Phone embedding size.
    lips : bool
        Whether lip features are used as input.
    reverb_seconds : float
        Length of the learned room response (0 disables it).
    gate_unvoiced : bool
        Multiply the harmonic amplitude by the voiced flag.
    noise_fft : int
        STFT size of the noise filter (0: ``4 * hop_length``).
    harmonic_tilt_db : float
        Initial slope of the harmonic distribution, dB per octave of harmonic number
        (:data:`HARMONIC_TILT_DB`; 0 is a flat start). Only the initialization depends on it.
    format_version : int
        :data:`VOICE_FORMAT_VERSION` (a version-1 dict is upgraded by :meth:`from_dict`).
    """

    phone_inventory: tuple[str, ...]
    sample_rate: int = 22050
    hop_length: int = 220
    n_harmonics: int = 100
    n_noise_bands: int = 65
    hidden: int = 256
    conv_layers: int = 4
    kernel_size: int = 5
    gru: bool = True
    phone_dim: int = 64
    lips: bool = False
    reverb_seconds: float = 0.0
    gate_unvoiced: bool = True
    noise_fft: int = 0
    harmonic_tilt_db: float = HARMONIC_TILT_DB
    format_version: int = VOICE_FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "phone_inventory", tuple(self.phone_inventory))
        if self.format_version != VOICE_FORMAT_VERSION:
            raise ValueError(f"VoiceConfig: unknown format_version {self.format_version}")
        if self.sample_rate not in (22050, 24000):
            raise ValueError(
                f"VoiceConfig: sample_rate must be 22050 or 24000, not {self.sample_rate}"
            )
        if "sil" not in self.phone_inventory:
            raise ValueError("VoiceConfig: phone_inventory must contain 'sil'")
        if len(set(self.phone_inventory)) != len(self.phone_inventory):
            raise ValueError("VoiceConfig: phone_inventory has duplicates")
        if self.hop_length <= 0 or self.n_harmonics <= 0 or self.n_noise_bands < 2:
            raise ValueError("VoiceConfig: hop_length, n_harmonics, n_noise_bands too small")
        if self.hop_length % 2:
            raise ValueError("VoiceConfig: hop_length must be even")

    @property
    def frame_period(self) -> float:
        """Seconds per frame."""
        return self.hop_length / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["phone_inventory"] = list(self.phone_inventory)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VoiceConfig:
        """Strict inverse of :meth:`to_dict`; a version-1 dict (no ``harmonic_tilt_db``)
        becomes the equivalent version-2 config with a flat tilt."""
        d = dict(data)
        if d.get("format_version") == 1:
            if "harmonic_tilt_db" in d:
                raise ValueError("VoiceConfig: harmonic_tilt_db is not a version-1 field")
            d.update(harmonic_tilt_db=0.0, format_version=VOICE_FORMAT_VERSION)
        if "phone_inventory" in d:
            d["phone_inventory"] = tuple(d["phone_inventory"])
        return strict_from_dict(cls, d)


def features_to_tensors(
    features: FrameFeatures | list[FrameFeatures], device: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """Stack one or several equally long :class:`FrameFeatures` into a batch.

    Returns
    -------
    dict of torch.Tensor
        ``phone_ids`` (B, T) int64; ``f0``, ``voiced``, ``loudness``, ``phone_pos``,
        ``phone_dur``, ``lip_mask`` (B, T); ``lips`` (B, T, 2).
    """
    items = [features] if isinstance(features, FrameFeatures) else list(features)
    names = ("phone_ids", "phone_pos", "phone_dur", "f0", "voiced", "loudness", "lips", "lip_mask")
    return {n: torch.from_numpy(np.stack([getattr(f, n) for f in items])).to(device) for n in names}


def _inverse_exp_sigmoid(y: torch.Tensor) -> torch.Tensor:
    """Pre-activation giving :func:`~adr.voice.synth.exp_sigmoid` output ``y`` (0 < y < 2)."""
    s = (y.clamp(1e-6, 1.999) / 2.0) ** (1.0 / math.log(10.0))
    return torch.log(s / (1.0 - s))


class _ConvBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            channels, channels, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2
        )
        self.norm = nn.GroupNorm(1, channels)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.norm(self.conv(x)))  # (B, C, T)


class VoiceModel(nn.Module):
    """Phones + F0 + loudness (+ lips) -> harmonic-plus-noise audio of one actor.

    Parameters
    ----------
    config : VoiceConfig
    """

    def __init__(self, config: VoiceConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.phone_embedding = nn.Embedding(len(c.phone_inventory), c.phone_dim)
        self.input = nn.Linear(c.phone_dim + _N_CONTINUOUS, c.hidden)
        self.convs = nn.ModuleList(
            _ConvBlock(c.hidden, c.kernel_size, 2 ** (i % 3)) for i in range(c.conv_layers)
        )
        self.gru = (
            nn.GRU(c.hidden, c.hidden // 2, batch_first=True, bidirectional=True) if c.gru else None
        )
        self.head = nn.Sequential(
            nn.Linear(c.hidden, c.hidden),
            nn.GELU(),
            nn.Linear(c.hidden, 1 + c.n_harmonics + c.n_noise_bands),
        )
        self._init_harmonic_tilt()
        reverb_len = int(round(c.reverb_seconds * c.sample_rate))
        self.reverb = Reverb(reverb_len) if reverb_len > 1 else None

    def _init_harmonic_tilt(self) -> None:
        """Start the harmonic distribution at ``harmonic_tilt_db`` per octave of harmonic
        number (harmonic 1 at 0 dB) by setting the biases of its head outputs."""
        c = self.config
        if c.harmonic_tilt_db == 0.0:
            return
        last = self.head[-1]
        assert isinstance(last, nn.Linear)
        k = torch.arange(1, c.n_harmonics + 1, dtype=torch.float64)  # (K,)
        level = 10.0 ** (c.harmonic_tilt_db * torch.log2(k) / 20.0)  # (K,), 1 at k = 1
        with torch.no_grad():
            last.bias[1 : 1 + c.n_harmonics] = _inverse_exp_sigmoid(level).to(last.bias.dtype)

    def _inputs(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        voiced = batch["voiced"]
        log_f0 = (torch.log(batch["f0"].clamp_min(20.0)) - math.log(150.0)) / 0.5
        lips = (
            batch["lips"] * batch["lip_mask"].unsqueeze(-1)
            if self.config.lips
            else torch.zeros_like(batch["lips"])
        )
        lip_mask = batch["lip_mask"] if self.config.lips else torch.zeros_like(voiced)
        cont = torch.stack(
            [
                log_f0 * voiced,
                voiced,
                (batch["loudness"].clamp_min(-100.0) + 40.0) / 20.0,
                batch["phone_pos"],
                torch.log(batch["phone_dur"].clamp_min(1e-3)) + 2.5,
                lips[..., 0],
                lips[..., 1],
                lip_mask,
                log_f0 * (1.0 - voiced),
            ],
            dim=-1,
        )  # (B, T, 9)
        emb = self.phone_embedding(batch["phone_ids"])  # (B, T, E)
        return torch.cat([emb, cont], dim=-1)  # (B, T, E + 9)

    def controls(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Synthesizer controls per frame.

        Returns
        -------
        dict of torch.Tensor
            ``amplitude`` (B, T), ``distribution`` (B, T, K), ``noise`` (B, T, M).
        """
        c = self.config
        x = self.input(self._inputs(batch))  # (B, T, H)
        x = x.transpose(1, 2)  # (B, H, T)
        for block in self.convs:
            x = block(x)  # (B, H, T)
        x = x.transpose(1, 2)  # (B, T, H)
        if self.gru is not None:
            y, _ = self.gru(x)  # (B, T, H)
            x = x + y
        out = self.head(x)  # (B, T, 1 + K + M)
        amplitude = exp_sigmoid(out[..., 0])  # (B, T)
        if c.gate_unvoiced:
            amplitude = amplitude * batch["voiced"]
        distribution = exp_sigmoid(out[..., 1 : 1 + c.n_harmonics])  # (B, T, K)
        noise = exp_sigmoid(out[..., 1 + c.n_harmonics :] - 5.0)  # (B, T, M)
        return {"amplitude": amplitude, "distribution": distribution, "noise": noise}

    def forward(
        self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Synthesize audio.

        Parameters
        ----------
        batch : dict of torch.Tensor
            As :func:`features_to_tensors` returns, T frames.
        generator : torch.Generator, optional
            Noise source (for reproducible output).

        Returns
        -------
        torch.Tensor, shape (B, T * hop_length)
        """
        c = self.config
        ctl = self.controls(batch)
        harmonic = harmonic_synth(
            batch["f0"], ctl["amplitude"], ctl["distribution"], c.sample_rate, c.hop_length
        )  # (B, N)
        noise = filtered_noise(
            ctl["noise"], c.hop_length, c.noise_fft or 4 * c.hop_length, generator=generator
        )  # (B, N)
        audio = harmonic + noise  # (B, N)
        if self.reverb is not None:
            audio = self.reverb(audio)  # (B, N)
        return audio

    @torch.no_grad()
    def render(self, features: FrameFeatures, seed: int = 0) -> np.ndarray:
        """Speak one line.

        Parameters
        ----------
        features : FrameFeatures
            T frames at the model's frame period.
        seed : int
            Seed of the noise component (same seed, same samples).

        Returns
        -------
        np.ndarray, shape (T * hop_length,), float32, at ``config.sample_rate``.
        """
        if abs(features.frame_period - self.config.frame_period) > 1e-9:
            raise ValueError(
                f"features have frame period {features.frame_period}, the model "
                f"needs {self.config.frame_period}"
            )
        was_training = self.training
        self.eval()
        try:
            device = next(self.parameters()).device
            gen = torch.Generator(device=device).manual_seed(seed)
            audio = self(features_to_tensors(features, device), generator=gen)[0]  # (N,)
        finally:
            self.train(was_training)
        return audio.clamp(-1.0, 1.0).cpu().numpy().astype(np.float32)

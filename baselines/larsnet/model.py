"""LarsNet: five U-Nets (kick, snare, toms, hihat, cymbals) masking a stereo mixture's STFT.

STFT: n_fft = win = 4096, hop 1024, periodic Hann, centred. The input is right-padded so that
(length - 4096) is a multiple of 1024; the first 2048 of the 2049 bins go into the nets, the
masks are zero-padded back to 2049 bins and the mixture phase is kept. Frames are cut into
chunks of 512 (the last zero-padded) folded into the batch. Output stems are mask x mixture
STFT, or with the alpha-Wiener option `P_i = (mask_i |X|)^alpha`, `M_i = P_i / (sum_j P_j + 1e-7)`,
`y_i = iSTFT(M_i X)`.
"""

from dataclasses import asdict, dataclass

import torch
from torch import nn

from idm.config import dataclass_from_dict
from idm.constants import STEM_GROUPS

from .unet import BINS, UNet

STEMS = tuple(STEM_GROUPS)
"""LarsNet's stems, in output order (kick, snare, toms, hihat, cymbals)."""
N_FFT = 4096
HOP = 1024
CHUNK_FRAMES = 512
WIENER_EPS = 1e-7


@dataclass
class LarsNetConfig:
    """What builds a LarsNet (the `model` section of a LarsNet training config)."""

    channels: int = 2
    """Audio channels the nets take (2: stereo; mono input is duplicated)."""
    wiener_alpha: float = 0.0
    """Inference only: alpha-Wiener exponent, 0 for plain soft masks."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "LarsNetConfig":
        return dataclass_from_dict(cls, values)


def padded_length(n: int) -> int:
    """The length LarsNet pads an n-sample input to: at least N_FFT, N_FFT + a multiple of HOP."""
    return N_FFT + max(0, -(-(n - N_FFT) // HOP)) * HOP


def _window(x: torch.Tensor) -> torch.Tensor:
    return torch.hann_window(N_FFT, periodic=True, device=x.device, dtype=x.dtype)


def stft(x: torch.Tensor) -> torch.Tensor:
    """(..., T) -> complex (..., 2049, frames)."""
    shape = x.shape
    spec = torch.stft(x.reshape(-1, shape[-1]), N_FFT, HOP, N_FFT, _window(x), center=True, return_complex=True)
    return spec.reshape(*shape[:-1], *spec.shape[-2:])


def istft(spec: torch.Tensor, length: int) -> torch.Tensor:
    shape = spec.shape
    window = torch.hann_window(N_FFT, periodic=True, device=spec.device, dtype=spec.real.dtype)
    x = torch.istft(spec.reshape(-1, *shape[-2:]), N_FFT, HOP, N_FFT, window, center=True, length=length)
    return x.reshape(*shape[:-2], length)


def to_chunks(magnitude: torch.Tensor) -> torch.Tensor:
    """(C, 2048, M) -> (n, C, 2048, 512): 512-frame chunks, the last zero-padded."""
    m = magnitude.shape[-1]
    n = -(-m // CHUNK_FRAMES)
    padded = nn.functional.pad(magnitude, (0, n * CHUNK_FRAMES - m))
    return padded.reshape(*magnitude.shape[:2], n, CHUNK_FRAMES).permute(2, 0, 1, 3)


def from_chunks(chunks: torch.Tensor, m: int) -> torch.Tensor:
    """Inverse of `to_chunks`: (n, C, 2048, 512) -> (C, 2048, m)."""
    n, c, f, t = chunks.shape
    return chunks.permute(1, 2, 0, 3).reshape(c, f, n * t)[..., :m]


class LarsNet(nn.Module):
    """The five stem U-Nets; `separate` runs the whole pipeline on a waveform."""

    def __init__(self, config: LarsNetConfig = None):
        super().__init__()
        self.config = config or LarsNetConfig()
        self.nets = nn.ModuleDict({stem: UNet(self.config.channels) for stem in STEMS})

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Magnitude chunks (B, C, 2048, frames) -> masks (B, 5, C, 2048, frames), STEMS order."""
        return torch.stack([self.nets[stem](magnitude) for stem in STEMS], 1)

    def as_stereo(self, mixture: torch.Tensor) -> torch.Tensor:
        """(T,) or (C, T) -> (channels, T); mono is duplicated."""
        if mixture.dim() == 1:
            mixture = mixture[None]
        if mixture.shape[0] == 1 and self.config.channels > 1:
            mixture = mixture.expand(self.config.channels, -1)
        if mixture.dim() != 2 or mixture.shape[0] != self.config.channels:
            raise ValueError(f"LarsNet takes mono or {self.config.channels}-channel audio, got shape "
                             f"{tuple(mixture.shape)}")
        return mixture

    @torch.no_grad()
    def separate(self, mixture: torch.Tensor, wiener_alpha: float = None, batch_chunks: int = 4) -> torch.Tensor:
        """Mixture (T,) or (C, T) -> stems (5, C, T) in STEMS order.

        `wiener_alpha` (default: the config's) > 0 applies the alpha-Wiener filter; chunks go
        through the nets `batch_chunks` at a time.
        """
        alpha = self.config.wiener_alpha if wiener_alpha is None else wiener_alpha
        x = self.as_stereo(mixture).float()
        n = x.shape[-1]
        x = nn.functional.pad(x, (0, padded_length(n) - n))
        spec = stft(x)  # (C, 2049, M)
        magnitude = spec[:, :BINS].abs()
        chunks = to_chunks(magnitude)
        masks = torch.cat([self(chunks[i:i + batch_chunks]) for i in range(0, len(chunks), batch_chunks)])
        masks = torch.stack([from_chunks(masks[:, s], spec.shape[-1]) for s in range(len(STEMS))])
        masks = nn.functional.pad(masks, (0, 0, 0, 1))  # (5, C, 2049, M), Nyquist bin 0
        if alpha > 0:
            power = (masks * spec.abs()[None]) ** alpha
            masks = power / (power.sum(0, keepdim=True) + WIENER_EPS)
        return istft(masks * spec[None], x.shape[-1])[..., :n]


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())

"""Separation by ratio masking: the mixture's STFT shared out in proportion to the synthetic stems."""

import torch

from .constants import HOP_LENGTH

MASK_FFT = 1024


def _stft(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    return torch.stft(x, MASK_FFT, HOP_LENGTH, MASK_FFT, window, center=True, return_complex=True)


def ratio_mask(mixture: torch.Tensor, stems: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Mixture (B, T) and synthetic stems (B, K, T) -> separated stems (B, K, T).

    `mask_k = |S_k|^alpha / (sum_j |S_j|^alpha + 1e-12)`; where every stem is silent in a
    bin, every mask is 0 there and that part of the mixture goes to no stem.
    """
    b, k, t = stems.shape
    window = torch.hann_window(MASK_FFT, periodic=True, device=mixture.device, dtype=mixture.dtype)
    mix_spec = _stft(mixture, window)
    weights = _stft(stems.reshape(b * k, t), window).abs().pow(alpha)
    weights = weights.reshape(b, k, *weights.shape[1:])
    masks = weights / (weights.sum(1, keepdim=True) + 1e-12)
    separated = masks * mix_spec.unsqueeze(1)
    out = torch.istft(separated.reshape(b * k, *separated.shape[2:]), MASK_FFT, HOP_LENGTH, MASK_FFT,
                      window, center=True, length=t)
    return out.reshape(b, k, t)

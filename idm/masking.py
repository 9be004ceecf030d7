"""Separation by ratio masking: the mixture's STFT shared out in proportion to the synthetic stems."""

import torch

from .constants import HOP_LENGTH

MASK_FFT = 1024


def _stft(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    return torch.stft(x, MASK_FFT, HOP_LENGTH, MASK_FFT, window, center=True, return_complex=True)


def ratio_mask(mixture: torch.Tensor, stems: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Mixture (B, T) and synthetic stems (B, K, T) -> separated stems (B, K, T).

    `mask_k = |S_k|^alpha / (sum_j |S_j|^alpha + 1e-12)`; where every stem is silent in a
    bin, every mask is 0 there and that part of the mixture goes to no stem. Stems that
    are silent throughout are skipped (their output is exactly 0).
    """
    b, k, t = stems.shape
    out = torch.zeros(b * k, t, device=stems.device, dtype=stems.dtype)
    rows = torch.nonzero(stems.reshape(b * k, t).abs().amax(-1) > 0).flatten()  # silent stems: no mask
    if rows.numel() == 0:
        return out.reshape(b, k, t)
    window = torch.hann_window(MASK_FFT, periodic=True, device=mixture.device, dtype=mixture.dtype)
    weights = _stft(stems.reshape(b * k, t)[rows], window).abs().pow(alpha)
    item = torch.div(rows, k, rounding_mode="floor")
    total = torch.zeros((b, *weights.shape[1:]), device=weights.device, dtype=weights.dtype)
    total.index_add_(0, item, weights)
    separated = weights / (total[item] + 1e-12) * _stft(mixture, window)[item]
    out[rows] = torch.istft(separated, MASK_FFT, HOP_LENGTH, MASK_FFT, window, center=True, length=t)
    return out.reshape(b, k, t)


MASK_CONTEXT = MASK_FFT
"""Samples of context on each side that make a segment's masking equal to whole-signal masking:
every STFT frame reaching a segment sample lies within `MASK_FFT` of it."""

"""LarsNet's supervised objective: L1 between masked mixture magnitudes and the true stem magnitudes.

Each of the five U-Nets has its own term (the mean absolute difference over channels, bins
and the crop's frames); the loss is their sum, so every net gets exactly its own gradient,
as when the authors trained them one by one. Our preprocessed stems are mono: mixture and
stems are duplicated to the nets' channels, as a mono mixture is at separation time.
"""

import torch

from idm.stems import fold_stems

from .model import HOP, STEMS, stft
from .unet import BINS

TERMS = ("loss",) + tuple(f"l1_{stem}" for stem in STEMS)
"""Names of the per-example values `larsnet_loss` returns, the total first."""
FRAME_MULTIPLE = 64
"""The U-Net halves frames six times: training crops are padded to a multiple of this."""


def magnitudes(audio: torch.Tensor, channels: int) -> torch.Tensor:
    """(..., T) mono -> (..., channels, 2048, frames padded to FRAME_MULTIPLE) magnitudes."""
    spec = stft(audio.float())[..., :BINS, :].abs()
    frames = spec.shape[-1]
    spec = torch.nn.functional.pad(spec, (0, -frames % FRAME_MULTIPLE))
    return spec.unsqueeze(-3).expand(*spec.shape[:-2], channels, *spec.shape[-2:])


def larsnet_loss(forward, mixture: torch.Tensor, stems: torch.Tensor, channels: int, amp=None) -> dict:
    """Per-example terms {name: (B,)}: mixture (B, T), class stems (B, 9, T), `forward` the
    (DDP-wrapped) LarsNet mapping magnitudes (B, C, 2048, M) to masks (B, 5, C, 2048, M)."""
    frames = 1 + mixture.shape[-1] // HOP  # the crop's own frames (the padding is not scored)
    x = magnitudes(mixture, channels)
    target = magnitudes(fold_stems(stems, len(STEMS)), channels)
    with torch.autocast(mixture.device.type, dtype=amp, enabled=amp is not None):
        masks = forward(x)
    error = (masks.float() * x[:, None] - target).abs()[..., :frames]
    per_stem = error.mean((2, 3, 4))  # (B, 5)
    return dict(zip(TERMS, (per_stem.sum(1), *per_stem.unbind(1))))

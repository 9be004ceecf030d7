"""LarsNet's U-Net (Mezza et al. 2024): one per stem, stereo magnitudes in, a soft mask out.

The module tree is the official code's, so the released `.pth` files load strictly:
`input_norm` (a BatchNorm over the 2048 frequency bins, bins as the norm's channels);
`enc1..enc6`, each `conv` (Conv2d 5x5 stride 2) then `bn` and LeakyReLU(0.2), the conv
output before `bn` kept as the skip; `dec1..dec6`, each `conv_trans` (ConvTranspose2d 5x5
stride 2) -> ReLU -> `bn` (-> Dropout 0.5 in the first three); `mask_layer.0`, a Conv2d(2, 2,
4x4, dilation 2), then a sigmoid. `dec1` takes enc6's conv output; each later decoder takes
the SKIP FIRST, `cat([skip, upsampled])` (the other order fits the same weights and gives
other masks). Frequency and frames must be multiples of 64.
"""

import torch
from torch import nn

CHANNELS = (16, 32, 64, 128, 256, 512)
BINS = 2048
"""Frequency bins the net sees (the STFT's 2049 less the Nyquist bin)."""
DROPOUT = 0.5


class EncoderBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 5, stride=2, padding=2)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> tuple:
        """(activated output, skip = the conv output before the norm)."""
        skip = self.conv(x)
        return nn.functional.leaky_relu(self.bn(skip), 0.2), skip


class DecoderBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, dropout: bool):
        super().__init__()
        self.conv_trans = nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1)
        self.bn = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(DROPOUT) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.bn(torch.relu(self.conv_trans(x))))


class UNet(nn.Module):
    """One LarsNet stem network: (B, 2, 2048, frames) magnitudes -> (B, 2, 2048, frames) mask in [0, 1]."""

    def __init__(self, channels: int = 2):
        super().__init__()
        self.input_norm = nn.BatchNorm2d(BINS)
        widths = (channels,) + CHANNELS
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]), 1):
            self.add_module(f"enc{i}", EncoderBlock(a, b))
        ins = [CHANNELS[-1]] + [2 * c for c in CHANNELS[-2::-1]]  # 512, 512, 256, 128, 64, 32
        outs = list(CHANNELS[-2::-1]) + [channels]  # 256, 128, 64, 32, 16, 2
        for i, (a, b) in enumerate(zip(ins, outs), 1):
            self.add_module(f"dec{i}", DecoderBlock(a, b, dropout=i <= 3))
        self.mask_layer = nn.Sequential(nn.Conv2d(channels, channels, 4, dilation=2, padding=3), nn.Sigmoid())

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(magnitude.transpose(1, 2)).transpose(1, 2)
        skips = []
        for i in range(1, len(CHANNELS) + 1):
            x, skip = getattr(self, f"enc{i}")(x)
            skips.append(skip)
        x = self.dec1(skips[-1])  # the decoder starts from the last conv output
        for i, skip in zip(range(2, len(CHANNELS) + 1), skips[-2::-1]):
            x = getattr(self, f"dec{i}")(torch.cat([skip, x], 1))
        return self.mask_layer(x)

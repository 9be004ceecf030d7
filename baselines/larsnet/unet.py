"""LarsNet's U-Net (Mezza et al. 2024): one per stem, stereo magnitudes in, a soft mask out.

Input (B, 2, 2048, frames) magnitudes. A BatchNorm over the 2048 frequency bins (bins as the
norm's channels), then six encoder blocks [Conv2d 5x5 stride 2 -> BatchNorm -> LeakyReLU(0.2)]
whose pre-normalisation conv outputs are the skips; six decoder blocks [ConvTranspose2d 5x5
stride 2 -> ReLU -> BatchNorm (-> Dropout 0.5 in the first three)], each but the first fed
with the previous output concatenated with the mirrored skip; a Conv2d(2, 2, 4x4, dilation 2)
mask head and a sigmoid. Frequency and frames must be multiples of 64.
"""

import torch
from torch import nn

CHANNELS = (16, 32, 64, 128, 256, 512)
BINS = 2048
"""Frequency bins the net sees (the STFT's 2049 less the Nyquist bin)."""


class EncoderBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 5, stride=2, padding=2)
        self.norm = nn.BatchNorm2d(c_out)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> tuple:
        """(activated output, skip = the conv output)."""
        skip = self.conv(x)
        return self.act(self.norm(skip)), skip


class DecoderBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, dropout: bool):
        super().__init__()
        self.conv = nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1)
        self.act = nn.ReLU()
        self.norm = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(0.5) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.norm(self.act(self.conv(x))))


class UNet(nn.Module):
    """One LarsNet stem network: (B, 2, 2048, frames) magnitudes -> (B, 2, 2048, frames) mask in [0, 1]."""

    def __init__(self, channels: int = 2):
        super().__init__()
        self.input_norm = nn.BatchNorm2d(BINS)
        widths = (channels,) + CHANNELS
        self.encoder = nn.ModuleList(EncoderBlock(a, b) for a, b in zip(widths[:-1], widths[1:]))
        ins = [CHANNELS[-1]] + [2 * c for c in CHANNELS[-2::-1]]  # 512, 512, 256, 128, 64, 32
        outs = list(CHANNELS[-2::-1]) + [channels]  # 256, 128, 64, 32, 16, 2
        self.decoder = nn.ModuleList(DecoderBlock(a, b, dropout=i < 3) for i, (a, b) in enumerate(zip(ins, outs)))
        self.mask = nn.Conv2d(channels, channels, 4, dilation=2, padding=3)

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(magnitude.transpose(1, 2)).transpose(1, 2)
        skips = []
        for block in self.encoder:
            x, skip = block(x)
            skips.append(skip)
        x = self.decoder[0](skips[-1])  # the decoder starts from the last conv output
        for block, skip in zip(self.decoder[1:], skips[-2::-1]):
            x = block(torch.cat([x, skip], 1))
        return torch.sigmoid(self.mask(x))

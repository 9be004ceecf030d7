"""One-shot synthesiser: a FiLM-conditioned dilated TCN on noise, then a decay envelope.

`OneShotSynth.forward` is the plain, differentiable definition. On the CPU, inference goes
through `idm.fast_synth` and training through `idm.synth_backward` (its forward with a
hand-written backward): the same numbers and gradients, faster and in less memory.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .config import ModelConfig
from .constants import SAMPLE_RATE
from .encoder import exp_sigmoid


def inference_noise(seed: int, n_classes: int, length: int) -> torch.Tensor:
    """The reproducible noise block (K, 1, N): float32 on the CPU from `seed`, shared by all items."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn((n_classes, 1, length), generator=generator)


class FiLMBlock(nn.Module):
    """InstanceNorm -> causal dilated conv -> FiLM -> GELU, plus a 1x1 residual conv of the input."""

    def __init__(self, channels: int, cond_dim: int, kernel: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation)
        self.film = nn.Linear(cond_dim, 2 * channels)
        self.residual = nn.Conv1d(channels, channels, 1)
        self.causal_pad = (kernel - 1) * dilation

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        u = F.pad(F.instance_norm(h), (self.causal_pad, 0))
        gamma, beta = self.film(cond).unsqueeze(-1).chunk(2, dim=1)
        return F.gelu(gamma * self.conv(u) + beta) + self.residual(h)


class DecayEnvelope(nn.Module):
    """Conditioning (R, C) -> exponential decay `exp(-alpha * scale * t)` over N samples, (R, 1, N).

    `scale` is a buffer, never trained: the released model keeps it at exactly 20.0.
    """

    def __init__(self, cond_dim: int, length: int, scale: float):
        super().__init__()
        self.hidden = nn.Linear(cond_dim, cond_dim)
        self.out = nn.Linear(cond_dim, 1)
        self.register_buffer("scale", torch.tensor(float(scale)))
        self.length = length

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        alpha = exp_sigmoid(self.out(torch.relu(self.hidden(cond))))
        t = torch.arange(self.length, device=cond.device, dtype=cond.dtype) / SAMPLE_RATE
        return torch.exp(-alpha.unsqueeze(-1) * self.scale * t)


def batch_peak(x: torch.Tensor) -> torch.Tensor:
    """max |x| over the whole tensor: the released synthesiser's normaliser, one scalar per batch."""
    return x.abs().amax()


def normalize_batch(x: torch.Tensor, peak=batch_peak) -> torch.Tensor:
    """Scale `x` so that its peak is 0.95. `peak(x)` gives the normaliser (a scalar, or a tensor
    broadcasting against `x`): by default one scalar for the whole batch, as trained."""
    return x / (peak(x) + 1e-6) * 0.95


class OneShotSynth(nn.Module):
    """Noise (R, 1, N) and conditioning (R, C) -> one-shot samples (R, N); R = items x classes."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        ch = config.synth_channels
        self.in_proj = nn.Conv1d(1, ch, 1)
        self.blocks = nn.ModuleList(
            FiLMBlock(ch, config.cond_dim, config.synth_kernel, config.dilation_base ** n)
            for n in range(config.synth_layers)
        )
        self.out_proj = nn.Conv1d(ch, 1, 1)
        self.envelope = DecayEnvelope(config.cond_dim, config.one_shot_length, config.envelope_scale)
        self.recompute = False
        """Training on the plain path: keep only each block's input and recompute the block in
        backward (the same numbers in a fraction of the memory, for one more forward pass)."""
        self.plain = False
        """Run this module's own forward even where `InverseDrumMachine.one_shots` would take a
        fast path (the definition, for tests and benchmarks)."""

    def tcn(self, noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The un-normalised TCN output (R, 1, N)."""
        h = self.in_proj(noise)
        recompute = self.recompute and torch.is_grad_enabled()
        for block in self.blocks:
            h = checkpoint(block, h, cond, use_reentrant=False) if recompute else block(h, cond)
        return self.out_proj(h)

    def finish(self, raw: torch.Tensor, cond: torch.Tensor, peak=batch_peak) -> torch.Tensor:
        """The TCN's raw output (R, N) -> one-shots (R, N): peak-normalised, then enveloped."""
        return normalize_batch(raw, peak) * self.envelope(cond)[:, 0]

    def forward(self, noise: torch.Tensor, cond: torch.Tensor, peak=batch_peak) -> torch.Tensor:
        return self.finish(self.tcn(noise, cond)[:, 0], cond, peak)

"""The drum machine: one-shots placed at the activations, scaled by per-class track gains."""

import torch
from torch import nn

from .constants import FRAME_RATE, HOP_LENGTH
from .encoder import exp_sigmoid


def onset_frames(times) -> torch.Tensor:
    """Grid frame of each onset time in seconds: floor(t * frame rate), as a 1-D long tensor."""
    return torch.floor(torch.as_tensor(times, dtype=torch.float64).reshape(-1) * FRAME_RATE).long()


def onset_times_to_grid(times_per_class, n_frames: int, device=None) -> torch.Tensor:
    """Onset times in seconds, one sequence per class, -> binary grid (K, n_frames).

    Frames as `onset_frames`; onsets outside the grid are dropped.
    """
    grid = torch.zeros(len(times_per_class), n_frames, device=device)
    for k, times in enumerate(times_per_class):
        frames = onset_frames(times)
        grid[k, frames[(frames >= 0) & (frames < n_frames)].to(grid.device)] = 1.0
    return grid


def _fft_size(n: int) -> int:
    """Smallest 2^a * 3^b * 5^c >= n (fast sizes for the FFT)."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _place(activations: torch.Tensor, samples: torch.Tensor, total: int) -> torch.Tensor:
    """Sparse activations: add each scaled one-shot at its frame. Samples that no onset
    reaches stay exactly 0, and a sample's sum does not depend on how the input is cut."""
    b, k, _ = activations.shape
    n = samples.shape[-1]
    out = torch.zeros(b, k, total, device=activations.device, dtype=samples.dtype)
    hits = torch.nonzero(activations).tolist()
    for (bi, ki, mi), value in zip(hits, activations[activations != 0].tolist()):
        s = mi * HOP_LENGTH
        e = min(total, s + n)
        if s < e:
            out[bi, ki, s:e] += value * samples[bi, ki, : e - s]
    return out


def sequence(activations: torch.Tensor, samples: torch.Tensor, length: int = None,
             block_frames: int = 2048) -> torch.Tensor:
    """Convolve zero-inserted activations (B, K, M) with one-shots (B, K, N) -> tracks (B, K, length).

    Frame m becomes sample m*hop; the result is the exact linear convolution truncated to
    `length` samples (default M*hop; up to M*hop + N - 1 keeps the ring-out). Sparse
    activations (peak-picked onsets: at most one frame in eight active) are placed
    directly; dense ones (teacher forcing in training) go through FFT overlap-add over
    blocks of `block_frames` frames, so memory stays bounded on long inputs.
    """
    activations, samples = activations.float(), samples.float()  # FFTs in float32, also under autocast
    b, k, m = activations.shape
    n = samples.shape[-1]
    total = m * HOP_LENGTH if length is None else length
    if not activations.requires_grad and 8 * torch.count_nonzero(activations) <= activations.numel():
        return _place(activations, samples, total)
    out = torch.zeros(b, k, total, device=activations.device, dtype=samples.dtype)
    block_frames = max(1, min(block_frames, m))
    size = _fft_size(block_frames * HOP_LENGTH + n - 1)
    kernel = torch.fft.rfft(samples, size)
    for f0 in range(0, min(m, -(-total // HOP_LENGTH)), block_frames):
        a = activations[..., f0:f0 + block_frames]
        if not torch.any(a):
            continue
        x = torch.zeros(b, k, a.shape[-1] * HOP_LENGTH, device=a.device, dtype=samples.dtype)
        x[..., ::HOP_LENGTH] = a
        y = torch.fft.irfft(torch.fft.rfft(x, size) * kernel, size)
        s0 = f0 * HOP_LENGTH
        s1 = min(total, s0 + x.shape[-1] + n - 1)
        out[..., s0:s1] += y[..., :s1 - s0]
    return out


class TrackGains(nn.Module):
    """One small MLP per class on the time-averaged features -> a gain per (item, class)."""

    def __init__(self, dim: int, hidden: int, n_classes: int):
        super().__init__()
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, hidden), nn.LeakyReLU(0.01), nn.Linear(hidden, hidden),
                          nn.LeakyReLU(0.01), nn.Linear(hidden, 1))
            for _ in range(n_classes)
        )

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, D) time-averaged features -> (B, K) gains."""
        return exp_sigmoid(torch.cat([mlp(pooled) for mlp in self.mlps], dim=1))

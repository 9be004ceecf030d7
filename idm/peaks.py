"""Onset peak picking with the exact semantics of `librosa.util.peak_pick`, per row.

The moving maximum covers frames [n - pre_max, n + post_max) truncated at the edges,
the moving average covers [n - pre_avg, n + post_avg) truncated at the edges (which is
what librosa's filters plus its edge corrections compute), and peaks closer than `wait`
frames to the previously accepted one are dropped greedily from left to right.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from .constants import FRAME_RATE


def default_peak_params(frame_rate: float = FRAME_RATE) -> dict:
    """The released model's peak-picking parameters, in frames."""
    return dict(
        pre_max=math.floor(frame_rate / 20), post_max=math.floor(frame_rate / 20),
        pre_avg=math.floor(frame_rate / 10), post_avg=math.floor(frame_rate / 10),
        delta=0.2, wait=math.floor(frame_rate / 16),
    )


def model_peak_params(config) -> dict:
    """The peak-picking parameters of a model (`ModelConfig`): the released ones, with the model's
    per-class `onset_delta` where it has one."""
    params = default_peak_params()
    if config.onset_delta:
        params["delta"] = config.onset_delta
    return params


def _moving_max(x: torch.Tensor, pre: int, post: int) -> torch.Tensor:
    padded = F.pad(x, (pre, post - 1), value=-math.inf)
    return padded.unfold(-1, pre + post, 1).amax(-1)


def _moving_mean(x: torch.Tensor, pre: int, post: int) -> torch.Tensor:
    n = x.shape[-1]
    csum = F.pad(torch.cumsum(x.double(), dim=-1), (1, 0))
    idx = torch.arange(n, device=x.device)
    lo = (idx - pre).clamp(min=0)
    hi = (idx + post).clamp(max=n)
    return ((csum[..., hi] - csum[..., lo]) / (hi - lo)).to(x.dtype)


def _greedy_wait(frames: np.ndarray, wait: int) -> np.ndarray:
    if frames.size < 2 or np.all(np.diff(frames) > wait):
        return frames
    kept, last = [], -math.inf
    for f in frames.tolist():
        if f > last + wait:
            kept.append(f)
            last = f
    return np.asarray(kept, dtype=frames.dtype)


def peak_pick(probs: torch.Tensor, pre_max: int, post_max: int, pre_avg: int, post_avg: int,
              delta, wait: int) -> torch.Tensor:
    """Binary peak grid of the same shape as `probs` (..., K, M), each row picked on its own.

    `delta` is one threshold, or one per class (a sequence of K). Computed on the CPU (the arrays
    are small; float64 sums are not on every device) and returned on `probs`' device.
    """
    shape = probs.shape
    x = probs.detach().reshape(-1, shape[-1]).cpu()
    if not isinstance(delta, (int, float)):
        delta = torch.as_tensor(delta, dtype=x.dtype).expand(shape[:-1]).reshape(-1, 1)
    candidates = (x == _moving_max(x, pre_max, post_max)) & (x >= _moving_mean(x, pre_avg, post_avg) + delta)
    candidates &= x != 0
    grid = torch.zeros_like(x)
    rows, frames = torch.nonzero(candidates, as_tuple=True)
    rows, frames = rows.numpy(), frames.numpy()
    bounds = np.searchsorted(rows, np.arange(x.shape[0] + 1))
    for r in range(x.shape[0]):
        grid[r, torch.from_numpy(_greedy_wait(frames[bounds[r]:bounds[r + 1]], wait))] = 1.0
    return grid.reshape(shape).to(probs.device)

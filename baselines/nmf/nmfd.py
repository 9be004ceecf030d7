"""Non-negative matrix factor deconvolution (NMFD, Smaragdis 2004) with KL multiplicative updates.

A magnitude spectrogram V (K bins, M frames) is modelled as the convolution of R templates
W (K, R, T) with activations H (R, N), N = M - T + 1:
`L[k, m] = sum_r sum_t W[k, r, t] H[r, m - t]`. Each convolution is one matrix product with
the activations stacked at every delay (R T rows), on any device.
Each component is then rebuilt alone and the mixture STFT is ratio-masked with it.
"""

import math

import torch

from idm.constants import SAMPLE_RATE

N_FFT = 2048
HOP = 512
FRAME_RATE = SAMPLE_RATE / HOP
"""Frames per second of the NMFD spectrogram (86.13)."""
TOLERANCE = 1e-4
"""Relative change of the KL divergence under which the updates stop."""
NEMA_LAMBDA = 0.55
FLOOR = 1e-10
"""Value of the activation grid away from onsets (a hard zero would never move again)."""
EPS = 1e-12


def stft(x: torch.Tensor) -> torch.Tensor:
    """Complex STFT (..., 1025, 1 + T // 512) with a periodic Hann window, centred."""
    window = torch.hann_window(N_FFT, periodic=True, device=x.device, dtype=x.dtype)
    return torch.stft(x, N_FFT, HOP, N_FFT, window, center=True, return_complex=True)


def istft(spec: torch.Tensor, length: int) -> torch.Tensor:
    window = torch.hann_window(N_FFT, periodic=True, device=spec.device, dtype=spec.real.dtype)
    return torch.istft(spec, N_FFT, HOP, N_FFT, window, center=True, length=length)


def nema(x: torch.Tensor, lam: float = NEMA_LAMBDA) -> torch.Tensor:
    """Non-linear exponential moving average along the last axis: y[n] = max(x[n], l y[n-1] + (1-l) x[n])."""
    y = x.clone()
    for n in range(1, x.shape[-1]):
        y[..., n] = torch.maximum(x[..., n], lam * y[..., n - 1] + (1 - lam) * x[..., n])
    return y


def onset_activations(onsets, n: int) -> torch.Tensor:
    """(R, n) activations from onset times (one array per component): 1 at floor(t * frame rate),
    FLOOR elsewhere, smoothed by NEMA; onsets past the last activation frame are dropped."""
    grid = torch.full((len(onsets), n), FLOOR, dtype=torch.float64)
    for r, times in enumerate(onsets):
        frames = torch.floor(torch.as_tensor(times, dtype=torch.float64).reshape(-1) * FRAME_RATE).long()
        frames = frames[(frames >= 0) & (frames < n)]
        grid[r, frames] = 1.0
    return nema(grid)


def delayed(H: torch.Tensor, t_frames: int, m: int) -> torch.Tensor:
    """(R * T, m): row r * T + t holds H[r] delayed by t frames, cut to m frames."""
    r, n = H.shape
    out = H.new_zeros(r, t_frames, m)
    for t in range(t_frames):
        width = min(n, m - t)
        out[:, t, t:t + width] = H[:, :width]
    return out.reshape(r * t_frames, m)


def reconstruct(W: torch.Tensor, H: torch.Tensor, m: int) -> torch.Tensor:
    """Each component's part of the model spectrogram, rebuilt alone: (R, K, m)."""
    k, r, t = W.shape
    shifted = delayed(H, t, m).reshape(r, t, m)
    return torch.stack([W[:, j] @ shifted[j] for j in range(r)])


def kl_divergence(V: torch.Tensor, L: torch.Tensor) -> float:
    return float((V * torch.log((V + EPS) / (L + EPS)) - V + L).sum())


def normalize_templates(W: torch.Tensor, H: torch.Tensor) -> tuple:
    """Each template scaled to unit sum, its activations scaled the other way (the model is unchanged)."""
    norms = W.sum((0, 2)).clamp_min(EPS)
    return W / norms[None, :, None], H * norms[:, None]


def nmfd(V: torch.Tensor, W: torch.Tensor, H: torch.Tensor, iterations: int, update_templates: bool = True,
         update_activations: bool = True, tolerance: float = TOLERANCE) -> tuple:
    """Fit W (K, R, T) and H (R, M - T + 1) to V (K, M) by KL multiplicative updates.

    Templates are renormalised after every update; the loop stops early once the KL divergence
    changes by less than `tolerance` relative to its value. Returns (W, H, divergences).
    """
    W, H = W.clone(), H.clone()
    k, m = V.shape
    if H.shape[-1] != m - W.shape[-1] + 1:
        raise ValueError(f"activations of {H.shape[-1]} frames do not fit {m} frames and templates of "
                         f"{W.shape[-1]}")
    t, n = W.shape[-1], H.shape[-1]
    W, H = normalize_templates(W, H)
    shifted = delayed(H, t, m)
    L = W.reshape(k, -1) @ shifted
    divergences = [kl_divergence(V, L)]
    for _ in range(iterations):
        if update_activations:  # H[r, n] *= sum_kt W[k, r, t] (V / L)[k, n + t] / sum_kt W[k, r, t]
            P = (W.reshape(k, -1).T @ (V / (L + EPS))).reshape(-1, t, m)  # (R, T, m)
            numerator = sum(P[:, j, j:j + n] for j in range(t))
            H = H * numerator / W.sum((0, 2))[:, None].clamp_min(EPS)
            shifted = delayed(H, t, m)
            L = W.reshape(k, -1) @ shifted
        if update_templates:  # W[k, r, t] *= sum_n (V / L)[k, n + t] H[r, n] / sum_n H[r, n]
            numerator = ((V / (L + EPS)) @ shifted.T).reshape(W.shape)
            W = W * numerator / H.sum(-1)[None, :, None].clamp_min(EPS)
            W, H = normalize_templates(W, H)
            shifted = delayed(H, t, m)
            L = W.reshape(k, -1) @ shifted
        divergences.append(kl_divergence(V, L))
        if abs(divergences[-2] - divergences[-1]) <= tolerance * max(abs(divergences[-2]), EPS):
            break
    return W, H, divergences


def ratio_mask_separate(spec: torch.Tensor, W: torch.Tensor, H: torch.Tensor, length: int) -> torch.Tensor:
    """Each component rebuilt alone ratio-masks (exponent 1) the mixture STFT `spec` -> (R, length) waveforms."""
    parts = reconstruct(W, H, spec.shape[-1])  # (R, K, M)
    masks = parts / (parts.sum(0, keepdim=True) + EPS)
    return istft(masks * spec[None], length)


def random_templates(k: int, r: int, t: int, seed: int) -> torch.Tensor:
    """Uniform [0, 1) templates (K, R, T) from a seeded generator."""
    return torch.rand((k, r, t), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def template_frames(seconds: float = 1.0) -> int:
    """Frames of the STFT of a `seconds`-long one-shot (87 for 1 s)."""
    return 1 + math.floor(seconds * SAMPLE_RATE / HOP)

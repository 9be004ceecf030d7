"""The IDM training objective (architecture doc, section 5), one value per example.

`loss = MRSTFT(mix_estimate, mix) + onset_weight * BCE(onset_logits, grid)
        + kit_weight * CE(kit_logits, kit_id)`

Every term is computed per example and then averaged, so a batch split over ranks or
micro-steps gives the same loss as the whole batch at once. For the mean terms (log and
linear magnitude, BCE, CE) this is the plain batch mean; the spectral convergence
`||Y - X||_F / ||Y||_F` is taken per example (a ratio of norms over a whole batch would
couple the examples). Examples whose kit is unknown (kit id -1, or a kit the classifier
does not have) add no kit term.
"""

import torch
import torch.nn.functional as F

RESOLUTIONS = ((2048, 512), (1024, 256), (512, 128), (256, 64))
"""(FFT size = window, hop) of the multi-resolution STFT loss."""
TERMS = ("loss", "mrstft", "onset_bce", "kit_ce")
"""Names of the per-example values `idm_loss` returns, the total first."""


def stft_magnitude(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """|STFT| of (B, T) with a periodic Hann window, centred with reflect padding, floored at 1e-4."""
    window = torch.hann_window(n_fft, periodic=True, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, n_fft, hop, n_fft, window, center=True, pad_mode="reflect", return_complex=True)
    return torch.sqrt(torch.clamp(spec.real ** 2 + spec.imag ** 2, min=1e-8))


def mrstft(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Multi-resolution STFT loss per example (B,): spectral convergence + mean |log X - log Y|
    + mean |X - Y| (X the estimate's magnitudes, Y the target's), averaged over RESOLUTIONS."""
    estimate, target = estimate.float(), target.float()
    total = estimate.new_zeros(estimate.shape[0])
    for n_fft, hop in RESOLUTIONS:
        x, y = stft_magnitude(estimate, n_fft, hop), stft_magnitude(target, n_fft, hop)
        convergence = torch.linalg.vector_norm(y - x, dim=(1, 2)) / torch.linalg.vector_norm(y, dim=(1, 2))
        log_distance = (torch.log(x) - torch.log(y)).abs().mean((1, 2))
        linear_distance = (x - y).abs().mean((1, 2))
        total = total + convergence + log_distance + linear_distance
    return total / len(RESOLUTIONS)


def idm_loss(out: dict, mixture: torch.Tensor, grid: torch.Tensor, kit_id: torch.Tensor,
             onset_weight: float, kit_weight: float) -> dict:
    """Per-example terms {name: (B,)} for `TERMS`, from the model's teacher-forced output `out`."""
    analysis = out["analysis"]
    with torch.autocast(mixture.device.type, enabled=False):
        spectral = mrstft(out["mix_estimate"], mixture)
        onset = F.binary_cross_entropy_with_logits(analysis.onset_logits.float(), grid,
                                                   reduction="none").mean((1, 2))
        logits = analysis.kit_logits.float()
        known = (kit_id >= 0) & (kit_id < logits.shape[-1])
        kit = F.cross_entropy(logits, kit_id.clamp(0, logits.shape[-1] - 1), reduction="none") * known
    total = spectral + onset_weight * onset + kit_weight * kit
    return dict(zip(TERMS, (total, spectral, onset, kit)))

"""Separation API: a mixture in, separated and synthesised stems plus the transcription out."""

from dataclasses import dataclass

import numpy as np
import torch

from .audio import AudioError, read_audio
from .constants import CLASS_NAMES, CLASSES, FRAME_RATE, HOP_LENGTH, SAMPLE_RATE
from .masking import MASK_CONTEXT, ratio_mask
from .model import InverseDrumMachine
from .peaks import default_peak_params, peak_pick
from .sequencer import onset_times_to_grid
from .synth import inference_noise

MASKING = ("wiener", "none")


@dataclass
class Separation:
    """Result of `separate` for a batch of B mixtures (B = 1 for a single file or 1-D tensor).

    Tensors are on the CPU; K follows `idm.constants.CLASSES`.
    """

    separated: torch.Tensor  # (B, K, T) the mixture ratio-masked by the synthetic stems
    synthesized: torch.Tensor  # (B, K, T) the raw resynthesis
    onsets: list  # per item: {class: onset times in seconds (np.ndarray)}
    velocities: list  # per item: {class: velocities at those onsets (np.ndarray)}
    kit_probs: torch.Tensor  # (B, n_kits)
    samples: torch.Tensor  # (B, K, N) the one-shots used
    sample_rate: int = SAMPLE_RATE


def _class_index(name: str) -> int:
    by_name = {v: k for k, v in CLASS_NAMES.items()}
    code = by_name.get(name, name)
    if code not in CLASSES:
        raise ValueError(f"unknown drum class {name!r} (classes: {', '.join(CLASSES)})")
    return CLASSES.index(code)


def _external_grid(onsets, batch: int, n_frames: int, device) -> torch.Tensor:
    """Onsets as {class: times} (one item) or a list of them (one per item) -> (B, K, M)."""
    per_item = [onsets] if isinstance(onsets, dict) else list(onsets)
    if len(per_item) != batch:
        raise ValueError(f"got onsets for {len(per_item)} items, but the batch has {batch}")
    grids = []
    for item in per_item:
        times = [[] for _ in CLASSES]
        for name, t in item.items():
            t = np.asarray(t, dtype=np.float64).reshape(-1)
            if not np.isfinite(t).all():
                raise ValueError(f"onset times of {name!r} must be finite numbers of seconds")
            times[_class_index(name)] = t
        grids.append(onset_times_to_grid(times, n_frames, device))
    return torch.stack(grids)


def _as_batch(audio, notes) -> torch.Tensor:
    if not isinstance(audio, torch.Tensor):
        return read_audio(audio, notes).unsqueeze(0)
    x = audio.detach().float()
    if x.dim() == 1:
        x = x.unsqueeze(0)
    if x.dim() != 2:
        raise AudioError(f"input tensor: expected (T,) or (B, T) mono audio, got shape {tuple(x.shape)}")
    if x.shape[-1] == 0:
        raise AudioError("input tensor: empty audio (no samples)")
    if not torch.isfinite(x).all():
        raise AudioError("input tensor: audio contains NaN or Inf samples")
    return x


def _render_and_mask(model, x, activations, samples, gains, masking, alpha, segment):
    """Synthesised and separated stems (B, K, T), computed segment by segment.

    Each segment is rendered with MASK_CONTEXT samples of context on both sides, so the
    result equals processing the whole signal at once while memory stays bounded.
    """
    b, t = x.shape
    k = activations.shape[1]
    synthesized = torch.empty(b, k, t)
    separated = synthesized if masking == "none" else torch.empty(b, k, t)
    for s0 in range(0, t, segment):
        s1 = min(t, s0 + segment)
        c0, c1 = max(0, s0 - MASK_CONTEXT), min(t, s1 + MASK_CONTEXT)
        stems = model.render(activations, samples, gains, c1, start=c0)
        synthesized[..., s0:s1] = stems[..., s0 - c0: s1 - c0].cpu()
        if masking == "wiener":
            separated[..., s0:s1] = ratio_mask(x[:, c0:c1], stems, alpha)[..., s0 - c0: s1 - c0].cpu()
    return separated, synthesized


@torch.no_grad()
def separate(audio, model: InverseDrumMachine, masking: str = "wiener", alpha: float = 1.0,
             onsets=None, seed: int = 0, device=None, notes=None, segment: float = 30.0) -> Separation:
    """Separate drum mixtures into the nine class stems.

    audio: a file path (any rate and channel count; downmixed and resampled), or a mono
    44.1 kHz tensor (T,) or (B, T). masking: `wiener` (ratio mask with exponent `alpha`
    on the mixture) or `none` (separated = the raw resynthesis). onsets: optional given
    transcription, {class: times in seconds} or one such dict per batch item; classes are
    codes (`KD`) or stem names (`kick`). seed: the synthesiser noise (see
    `idm.synth.inference_noise`). notes: callable receiving lines about conversions.
    segment: seconds of audio rendered and masked at a time (bounds memory on long inputs;
    the result does not depend on it).
    """
    if masking not in MASKING:
        raise ValueError(f"masking must be one of {', '.join(MASKING)}, not {masking!r}")
    if not segment > 0:
        raise ValueError(f"segment must be a positive number of seconds, not {segment!r}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device)
    x = _as_batch(audio, notes).to(device)
    b, t = x.shape
    analysis = model.analyse(x)
    if onsets is None:
        grid = peak_pick(torch.sigmoid(analysis.onset_logits), **default_peak_params())
    else:
        grid = _external_grid(onsets, b, analysis.onset_logits.shape[-1], device)
    noise = inference_noise(seed, model.config.n_classes, model.config.one_shot_length).to(device)
    samples = model.one_shots(analysis.kit_probs, noise.repeat(b, 1, 1))
    hops = max(1, round(segment * SAMPLE_RATE / HOP_LENGTH))
    separated, synthesized = _render_and_mask(model, x, grid * analysis.velocity, samples, analysis.gains,
                                              masking, alpha, hops * HOP_LENGTH)
    onset_list, velocity_list = [], []
    grid_cpu, vel_cpu = grid.cpu().numpy(), analysis.velocity.cpu().numpy()
    for i in range(b):
        frames = [np.flatnonzero(grid_cpu[i, k]) for k in range(len(CLASSES))]
        onset_list.append({c: f / FRAME_RATE for c, f in zip(CLASSES, frames)})
        velocity_list.append({c: vel_cpu[i, k, f] for k, (c, f) in enumerate(zip(CLASSES, frames))})
    return Separation(separated, synthesized, onset_list, velocity_list,
                      analysis.kit_probs.cpu(), samples.cpu())

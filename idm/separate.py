"""Separation API: a mixture in, separated and synthesised stems plus the transcription out."""

from dataclasses import dataclass

import numpy as np
import torch

from .audio import AudioError, read_audio
from .constants import CLASSES, FRAME_RATE, HOP_LENGTH, SAMPLE_RATE, class_code
from .masking import MASK_CONTEXT, ratio_mask
from .model import InverseDrumMachine
from .one_shots import as_one_shots, fit_length, layered_render, replace_one_shots
from .sequencer import onset_frames, onset_times_to_grid
from .synth import inference_noise
from .peaks import model_peak_params, peak_pick
from .tom_order import carried_velocity, split_toms

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
    samples: torch.Tensor  # (B, K, N) the one-shots used (of a class with velocity layers, its loudest)
    sample_rate: int = SAMPLE_RATE


def _class_index(name: str) -> int:
    code = class_code(name)
    if code is None:
        raise ValueError(f"unknown drum class {name!r} (classes: {', '.join(CLASSES)})")
    return CLASSES.index(code)


def _external_grid(onsets, batch: int, n_frames: int, device, notes=None) -> torch.Tensor:
    """Onsets as {class: times} (one item) or a list of them (one per item) -> (B, K, M).

    Onsets past the end of the audio are dropped, and counted through `notes`."""
    per_item = [onsets] if isinstance(onsets, dict) else list(onsets)
    if len(per_item) != batch:
        raise ValueError(f"got onsets for {len(per_item)} items, but the batch has {batch}")
    grids = []
    for item in per_item:
        times = [[] for _ in CLASSES]
        for name, t in item.items():
            t = np.asarray(t, dtype=np.float64).reshape(-1)
            if not (np.isfinite(t).all() and (t >= 0).all()):
                raise ValueError(f"onset times of {name!r} must be finite, non-negative numbers of seconds")
            times[_class_index(name)] = t
        grids.append(onset_times_to_grid(times, n_frames, device))
        late = sum(int((onset_frames(t) >= n_frames).sum()) for t in times)
        if late and notes:
            notes(f"{late} given onsets lie past the end of the audio; ignored")
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


@dataclass
class Transcription:
    """What `transcribe` reads from a batch of mixtures: everything rendering needs.

    Tensors are on the model's device; `onsets` and `velocities` are per-item dicts as in
    `Separation`.
    """

    mixture: torch.Tensor  # (B, T) mono 44.1 kHz
    activations: torch.Tensor  # (B, K, M) onset grid times velocity
    samples: torch.Tensor  # (B, K, N) one-shots (of a class with velocity layers, its loudest)
    gains: torch.Tensor  # (B, K) track gains
    kit_probs: torch.Tensor  # (B, n_kits)
    onsets: list
    velocities: list
    layers: dict = None  # {class index: (B, L, N)} velocity layers of given one-shots (see idm.one_shots)


def kit_index(model: InverseDrumMachine, kit) -> int:
    """A kit of the model, by name (any case) or id -> its id; ValueError naming the model's kits."""
    kits = model.config.kits
    if isinstance(kit, str) and kit.lower() in kits:
        return kits.index(kit.lower())
    if isinstance(kit, str) and kit.strip().isdigit():
        kit = int(kit)
    if isinstance(kit, int) and not isinstance(kit, bool) and 0 <= kit < len(kits):
        return kit
    raise ValueError(f"kit {kit!r} is not one of the model's kits: {listed_kits(kits)}")


def listed_kits(kits) -> str:
    """Kit names with their ids, as `--list-models` and kit errors show them: `brooklyn (0), heavy (1)`."""
    return ", ".join(f"{name} ({i})" for i, name in enumerate(kits))


def onset_times(grid: torch.Tensor) -> list:
    """Per item of a picked onset grid (B, K, M): {class code: onset times in seconds}."""
    grid = grid.cpu().numpy()
    return [{c: np.flatnonzero(grid[i, k]) / FRAME_RATE for k, c in enumerate(CLASSES)} for i in range(len(grid))]


@torch.no_grad()
def detect_onsets(audio, model: InverseDrumMachine, device=None, notes=None, mid_tom_gap: float = None) -> list:
    """The model's transcription alone (encoder, transcription head, peak picking; no synthesis):
    per item, {class code: onset times in seconds}, as `transcribe` finds them."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    x = _as_batch(audio, notes).to(device)
    picked = peak_pick(torch.sigmoid(model.to(device).analyse(x).onset_logits), **model_peak_params(model.config))
    return onset_times(split_toms(picked, x, model.config, mid_tom_gap))


@torch.no_grad()
def transcribe(audio, model: InverseDrumMachine, onsets=None, seed: int = 0, device=None,
               notes=None, kit=None, one_shots=None, mid_tom_gap: float = None) -> Transcription:
    """Read mixtures, transcribe them (or take the given `onsets`) and synthesise the one-shots.

    Arguments as in `separate`; `kit`, a kit of the model (name or id), replaces the predicted
    kit probabilities by that kit's one-hot (the "ground-truth kit" setting); `one_shots`
    replace the synthesised one-shots of their classes. The result is rendered by `iter_segments`.
    """
    kit = None if kit is None else kit_index(model, kit)
    given = None if one_shots is None else fit_length(as_one_shots(one_shots, notes),
                                                        model.config.one_shot_length, notes)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device)
    x = _as_batch(audio, notes).to(device)
    b = x.shape[0]
    analysis = model.analyse(x)
    if onsets is None:
        picked = peak_pick(torch.sigmoid(analysis.onset_logits), **model_peak_params(model.config))
        grid = split_toms(picked, x, model.config, mid_tom_gap)
        analysis.velocity = carried_velocity(analysis.velocity, picked, grid)
    else:
        grid = _external_grid(onsets, b, analysis.onset_logits.shape[-1], device, notes)
    noise = inference_noise(seed, model.config.n_classes, model.config.one_shot_length).to(device)
    if kit is not None:
        analysis.kit_probs = torch.nn.functional.one_hot(torch.full((b,), kit, device=device),
                                                         model.config.n_kits).to(analysis.kit_probs.dtype)
    samples, layers = model.one_shots(analysis.kit_probs, noise.repeat(b, 1, 1)), None
    if given:
        samples, layers = replace_one_shots(samples, given)
    onset_list, velocity_list = onset_times(grid), []
    grid_cpu, vel_cpu = grid.cpu().numpy(), analysis.velocity.cpu().numpy()
    for i in range(b):
        frames = [np.flatnonzero(grid_cpu[i, k]) for k in range(len(CLASSES))]
        velocity_list.append({c: vel_cpu[i, k, f] for k, (c, f) in enumerate(zip(CLASSES, frames))})
    return Transcription(x, grid * analysis.velocity, samples, analysis.gains, analysis.kit_probs,
                         onset_list, velocity_list, layers)


@dataclass
class Segment:
    """Samples [start, stop) of the stems of every item (CPU tensors)."""

    start: int
    stop: int
    mixture: torch.Tensor  # (B, L)
    separated: torch.Tensor  # (B, K, L)
    synthesized: torch.Tensor  # (B, K, L)


def segment_samples(segment: float) -> int:
    """A segment length in seconds -> samples, a whole number of hops (at least one)."""
    if not segment > 0:
        raise ValueError(f"segment must be a positive number of seconds, not {segment!r}")
    return max(1, round(segment * SAMPLE_RATE / HOP_LENGTH)) * HOP_LENGTH


@torch.no_grad()
def iter_segments(transcription: Transcription, model: InverseDrumMachine, masking: str = "wiener",
                  alpha: float = 1.0, segment: float = 30.0):
    """Render and mask the stems `segment` seconds at a time, yielding `Segment`s in order.

    Each segment is rendered with MASK_CONTEXT samples of context on both sides, so the
    concatenated segments equal processing the whole signal at once, in bounded memory.
    """
    if masking not in MASKING:
        raise ValueError(f"masking must be one of {', '.join(MASKING)}, not {masking!r}")
    step = segment_samples(segment)
    x, t = transcription.mixture, transcription.mixture.shape[-1]
    for s0 in range(0, t, step):
        s1 = min(t, s0 + step)
        c0, c1 = max(0, s0 - MASK_CONTEXT), min(t, s1 + MASK_CONTEXT)
        stems = layered_render(model, transcription.activations, transcription.samples, transcription.layers,
                               transcription.gains, c1, start=c0)
        synthesized = stems[..., s0 - c0: s1 - c0].cpu()
        if masking == "wiener":
            separated = ratio_mask(x[:, c0:c1], stems, alpha)[..., s0 - c0: s1 - c0].cpu()
        else:
            separated = synthesized
        yield Segment(s0, s1, x[:, s0:s1].cpu(), separated, synthesized)


def separate(audio, model: InverseDrumMachine, masking: str = "wiener", alpha: float = 1.0,
             onsets=None, seed: int = 0, device=None, notes=None, segment: float = 30.0,
             kit=None, one_shots=None, mid_tom_gap: float = None) -> Separation:
    """Separate drum mixtures into the nine class stems.

    audio: a file path (any rate and channel count; downmixed and resampled), or a mono
    44.1 kHz tensor (T,) or (B, T). masking: `wiener` (ratio mask with exponent `alpha`
    on the mixture) or `none` (separated = the raw resynthesis). onsets: optional given
    transcription, {class: times in seconds} or one such dict per batch item; classes are
    codes (`KD`) or stem names (`kick`). seed: the synthesiser noise (see
    `idm.synth.inference_noise`). notes: callable receiving lines about conversions.
    segment: seconds of audio rendered and masked at a time (bounds memory on long inputs;
    the result does not depend on it). kit: a kit of the model (name or id, see
    `model.config.kits`) that replaces the predicted kit. one_shots: recorded one-shots that
    replace the synthesised ones of their classes: a folder, or {class: audio (n,) at 44.1 kHz,
    or a list of velocity layers} (see `idm.one_shots`). mid_tom_gap: the pitch gap (semitones)
    at which a track's mid tom is split off its low or high tom (`idm.tom_order`; None: the
    model's `mid_tom_gap`, 0: never). For outputs longer than memory, use `transcribe` and
    `iter_segments` directly, as the `idm` command does.
    """
    if masking not in MASKING:
        raise ValueError(f"masking must be one of {', '.join(MASKING)}, not {masking!r}")
    segment_samples(segment)
    tr = transcribe(audio, model, onsets, seed, device, notes, kit, one_shots, mid_tom_gap)
    b, t = tr.mixture.shape
    k = tr.activations.shape[1]
    synthesized = torch.empty(b, k, t)
    separated = synthesized if masking == "none" else torch.empty(b, k, t)
    for seg in iter_segments(tr, model, masking, alpha, segment):
        synthesized[..., seg.start:seg.stop] = seg.synthesized
        separated[..., seg.start:seg.stop] = seg.separated
    return Separation(separated, synthesized, tr.onsets, tr.velocities, tr.kit_probs.cpu(), tr.samples.cpu())

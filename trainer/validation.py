"""Validation: the loss terms, peak-picked onset F-measure per class and kit accuracy.

The validation set is random crops of the validation split (one per item, at most
`data.val_crops`, with `items` sampling; `data.val_crops` with `duration`), drawn once from a
fixed seed, so every validation of every run sees the same audio. Each rank takes
every `world_size`-th crop and the sums are added over the ranks. The model runs as in
training (teacher-forced loss, the config's drive) with the fixed inference noise, and the
synthesiser is normalised per example, so a crop's numbers do not depend on its batch.
"""

import math

import numpy as np
import torch
from torch.utils.data import DataLoader

from data.datasets import CropDataset, collate
from evaluation.transcription import score_onsets
from idm.constants import CLASSES, FRAME_RATE
from idm.peaks import model_peak_params, peak_pick
from idm.synth import inference_noise

from .batches import onset_grid
from .distributed import all_sum
from .objective import TERMS, idm_loss
from .transcription_objective import TERMS as TRANSCRIPTION_TERMS
from .transcription_objective import transcription_loss

VAL_SEED = 0
"""Seed of the validation crops (fixed: runs with different training seeds compare)."""


def validation_set(data, stems: bool = False, kits=None) -> CropDataset:
    """The fixed validation crops of the `data` section (kit labels by `kits`, see CropDataset)."""
    if data.sampling == "items":  # one crop per item, at most val_crops
        sizes = dict(max_crops=data.val_crops or None)
    else:
        sizes = dict(crops_per_epoch=data.val_crops or None)
    return CropDataset(data.folder, data.val_split, seconds=data.crop_seconds, seed=VAL_SEED, stems=stems,
                       sampling=data.sampling, kits=kits, from_kits=data.val_kits, **sizes)


def validation_loader(dataset, ctx, batch_size: int, workers: int) -> DataLoader:
    """This rank's share of the validation crops, in batches."""
    mine = list(range(ctx.rank, len(dataset), ctx.world_size))
    batches = [mine[i:i + batch_size] for i in range(0, len(mine), batch_size)]
    return DataLoader(dataset, batch_sampler=batches, num_workers=workers, collate_fn=collate,
                      generator=torch.Generator())


def per_example_peak(n_classes: int):
    """Synthesiser normaliser taken over each example's K one-shots (see `idm.synth.batch_peak`)."""
    def peak(x: torch.Tensor) -> torch.Tensor:
        p = x.abs().reshape(-1, n_classes * x[0].numel()).amax(1)
        return p.repeat_interleave(n_classes).reshape((-1,) + (1,) * (x.dim() - 1))
    return peak


def onset_counts(picked: np.ndarray, onsets: list) -> np.ndarray:
    """(K, 3) reference, estimated and matched onsets of one example (the evaluation's 50 ms matching)."""
    counts = np.zeros((len(CLASSES), 3))
    for k, reference in enumerate(onsets):
        scores = score_onsets(reference, np.flatnonzero(picked[k]) / FRAME_RATE)
        counts[k] = scores["n_ref"], scores["n_est"], scores["tp"]
    return counts


def batch_onset_counts(onset_logits: torch.Tensor, onsets: list, model_config) -> np.ndarray:
    """(K, 3) `onset_counts` summed over a batch: its logits (B, K, M) peak-picked as at inference
    with the model's parameters (`model_config`)."""
    picked = peak_pick(torch.sigmoid(onset_logits.float()), **model_peak_params(model_config)).cpu().numpy()
    return sum(onset_counts(grid, times) for grid, times in zip(picked, onsets))


@torch.no_grad()
def validate(model, loader, ctx, config, amp_dtype) -> dict:
    """Metrics over the whole validation set (the same on every rank)."""
    was_training = model.training
    model.eval()
    mc, device = model.config, ctx.device
    noise = inference_noise(VAL_SEED, mc.n_classes, mc.one_shot_length).to(device)
    peak = per_example_peak(mc.n_classes)
    losses = torch.zeros(len(TERMS), dtype=torch.float64)
    kit = torch.zeros(3, dtype=torch.float64)  # examples, known kits, correct kits
    counts = np.zeros((len(CLASSES), 3))
    for batch in loader:
        x = batch["mixture"].to(device)
        grid = onset_grid(batch["onsets"], x.shape[-1], mc, device)
        kit_id = batch["kit_id"].to(device)
        true_kit = config.objective.true_kit_conditioning
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out = model(x, grid, noise if true_kit else noise.repeat(x.shape[0], 1, 1),
                        sigmoid_grid=config.objective.teacher_forcing == "sigmoid", peak=peak,
                        kit_id=kit_id if true_kit else None)
        terms = idm_loss(out, x, grid, kit_id, config.objective.onset_weight, config.objective.kit_weight)
        losses += torch.stack([terms[t].sum() for t in TERMS]).double().cpu()
        counts += batch_onset_counts(out["analysis"].onset_logits, batch["onsets"], mc)
        known = (kit_id >= 0) & (kit_id < mc.n_kits)
        correct = (out["analysis"].kit_logits.argmax(-1) == kit_id) & known
        kit += torch.tensor([x.shape[0], known.sum().item(), correct.sum().item()], dtype=torch.float64)
    totals = all_sum(ctx, torch.cat([losses, kit, torch.from_numpy(counts).reshape(-1)])).cpu().numpy()
    model.train(was_training)
    losses, (n, known, correct) = totals[:len(TERMS)], totals[len(TERMS):len(TERMS) + 3]
    counts = totals[len(TERMS) + 3:].reshape(len(CLASSES), 3)
    metrics = {t: float(v / n) for t, v in zip(TERMS, losses)}
    metrics["kit_accuracy"] = float(correct / known) if known else math.nan
    return {**metrics, **onset_f_metrics(counts)}


def onset_f_metrics(counts: np.ndarray) -> dict:
    """`onset_f/<class>` (pooled F-measure; NaN where a class has no onset either way) and
    `onset_f_mean` (over the classes with reference onsets) from (K, 3) reference, estimated and
    matched counts."""
    metrics, scores = {}, []
    for code, (n_ref, n_est, n_match) in zip(CLASSES, counts):
        f = 2 * n_match / (n_ref + n_est) if n_ref + n_est else math.nan
        metrics[f"onset_f/{code}"] = f
        if n_ref:
            scores.append(f)
    metrics["onset_f_mean"] = float(np.mean(scores)) if scores else math.nan
    return metrics


@torch.no_grad()
def validate_transcription(model, teacher, loader, ctx, config, amp_dtype) -> dict:
    """The transcription task's metrics over the validation set: its loss terms against the
    teacher, onset F per class, and how often the kit the model hears is the teacher's."""
    was_training = model.training
    model.eval()
    obj = config.objective
    losses = torch.zeros(len(TRANSCRIPTION_TERMS), dtype=torch.float64)
    kit = torch.zeros(2, dtype=torch.float64)  # examples, kit as the teacher's
    counts = np.zeros((len(CLASSES), 3))
    for batch in loader:
        x = batch["mixture"].to(ctx.device)
        grid = onset_grid(batch["onsets"], x.shape[-1], model.config, ctx.device)
        with torch.autocast(ctx.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            analysis, reference = model.analyse(x), teacher.analyse(x)
        terms = transcription_loss(analysis, reference, grid, obj.onset_weight, obj.kit_weight, obj.distill_weight)
        losses += torch.stack([terms[t].sum() for t in TRANSCRIPTION_TERMS]).double().cpu()
        counts += batch_onset_counts(analysis.onset_logits, batch["onsets"], model.config)
        same = (analysis.kit_logits.argmax(-1) == reference.kit_logits.argmax(-1)).sum().item()
        kit += torch.tensor([x.shape[0], same], dtype=torch.float64)
    totals = all_sum(ctx, torch.cat([losses, kit, torch.from_numpy(counts).reshape(-1)])).cpu().numpy()
    model.train(was_training)
    n, same = totals[len(TRANSCRIPTION_TERMS):len(TRANSCRIPTION_TERMS) + 2]
    metrics = {t: float(v / n) for t, v in zip(TRANSCRIPTION_TERMS, totals[:len(TRANSCRIPTION_TERMS)])}
    metrics["kit_agreement"] = float(same / n)
    counts = totals[len(TRANSCRIPTION_TERMS) + 2:].reshape(len(CLASSES), 3)
    return {**metrics, **onset_f_metrics(counts)}

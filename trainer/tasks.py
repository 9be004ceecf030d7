"""What the trainer trains (the config's `task`): IDM, its transcription alone, or the LarsNet baseline.

A task says how to build the model from the `model` section, whether crops carry their
stems, the names of its per-example loss terms, the frozen teacher it learns from (if any),
how one micro-batch becomes those terms, and how to validate and log media. Everything else (DDP, AMP, accumulation, checkpoints,
resuming, logging) is the trainer's and shared.
"""

import copy

import torch

from baselines.larsnet.model import STEMS, LarsNet, LarsNetConfig
from baselines.larsnet.training import TERMS as LARSNET_TERMS
from baselines.larsnet.training import larsnet_loss
from idm.config import ModelConfig
from idm.constants import SAMPLE_RATE
from idm.model import InverseDrumMachine

from .batches import example_gains, example_randomness, onset_grid, step_noise
from .distributed import all_sum
from .media import log_media
from .objective import TERMS as IDM_TERMS
from .objective import idm_loss
from .transcription_objective import TERMS as TRANSCRIPTION_TERMS
from .transcription_objective import onset_class_weights, transcription_loss
from .validation import validate, validate_transcription


class IDMTask:
    """The Inverse Drum Machine: mixtures and onsets, no stems."""

    name = "idm"
    model_config = ModelConfig
    stems = False
    terms = IDM_TERMS

    @staticmethod
    def build(model_config) -> torch.nn.Module:
        return InverseDrumMachine(model_config)

    @staticmethod
    def teacher(model):
        return None

    @staticmethod
    def micro_step(trainer, batch: dict, positions: range, step: int) -> dict:
        cfg, device = trainer.config, trainer.ctx.device
        mc = cfg.model
        gains, noise = example_randomness(cfg.train.seed, step, positions, cfg.objective, mc.n_classes,
                                          mc.one_shot_length, device)
        x = batch["mixture"].to(device, non_blocking=True) * gains[:, None]  # gain augmentation
        grid = onset_grid(batch["onsets"], x.shape[-1], mc, device)
        kit_id = batch["kit_id"].to(device)
        true_kit = None
        if cfg.objective.true_kit_conditioning:  # one noise block per step: one-shots per kit, not per crop
            true_kit, noise = kit_id, step_noise(cfg.train.seed, step, mc.n_classes, mc.one_shot_length, device)
        with torch.autocast(device.type, dtype=trainer.amp, enabled=trainer.amp is not None):
            out = trainer.forward(x, grid, noise, sigmoid_grid=cfg.objective.teacher_forcing == "sigmoid",
                                  peak=trainer.peak, kit_id=true_kit)
        return idm_loss(out, x, grid, kit_id, cfg.objective.onset_weight, cfg.objective.kit_weight)

    @staticmethod
    def validate(model, loader, ctx, config, amp, teacher=None) -> dict:
        return validate(model, loader, ctx, config, amp)

    @staticmethod
    def log_media(writer, model, dataset, n_clips: int, step: int, with_mixture: bool) -> None:
        log_media(writer, model, dataset, n_clips, step, with_mixture)

    @staticmethod
    def summary(metrics: dict) -> str:
        return (f"val loss {metrics['loss']:.4f} (mrstft {metrics['mrstft']:.4f}, onset bce "
                f"{metrics['onset_bce']:.4f}, kit ce {metrics['kit_ce']:.4f}), onset F {metrics['onset_f_mean']:.3f}, "
                f"kit accuracy {metrics['kit_accuracy']:.3f}")


class TranscriptionTask(IDMTask):
    """IDM's analysis alone (encoder, transcription head, kit classifier, track gains) from a trained
    model (`train.init`), on onset BCE, with the kit probabilities, velocities and track gains the
    synthesiser reads held to that model, frozen (the teacher): the synthesiser is not run, so a
    step costs a small part of IDM's, and the trained encoder drives the init model's synthesiser."""

    name = "transcription"
    terms = TRANSCRIPTION_TERMS

    @staticmethod
    def teacher(model) -> torch.nn.Module:
        """A frozen copy of the model as training starts (the `train.init` model: the trainer requires one)."""
        return copy.deepcopy(model).eval().requires_grad_(False)

    @staticmethod
    def micro_step(trainer, batch: dict, positions: range, step: int) -> dict:
        cfg, device = trainer.config, trainer.ctx.device
        obj = cfg.objective
        gains = example_gains(cfg.train.seed, step, positions, obj, device)
        x = batch["mixture"].to(device, non_blocking=True) * gains[:, None]  # gain augmentation
        grid = onset_grid(batch["onsets"], x.shape[-1], cfg.model, device)
        with torch.autocast(device.type, dtype=trainer.amp, enabled=trainer.amp is not None):
            with torch.no_grad():
                reference = trainer.teacher.analyse(x)
            analysis = trainer.forward(x)["analysis"]
        return transcription_loss(analysis, reference, grid, obj.onset_weight, obj.kit_weight, obj.distill_weight,
                                  onset_class_weights(obj.onset_class_weight, device))

    @staticmethod
    def validate(model, loader, ctx, config, amp, teacher=None) -> dict:
        return validate_transcription(model, teacher, loader, ctx, config, amp)

    @staticmethod
    def log_media(writer, model, dataset, n_clips: int, step: int, with_mixture: bool) -> None:
        log_media(writer, model, dataset, n_clips, step, with_mixture, separated=False)

    @staticmethod
    def summary(metrics: dict) -> str:
        return (f"val loss {metrics['loss']:.4f} (onset bce {metrics['onset_bce']:.4f}, kit kl {metrics['kit_kl']:.4f}, "
                f"velocity {metrics['velocity_l1']:.4f}, gain {metrics['gain_l1']:.4f}), onset F "
                f"{metrics['onset_f_mean']:.3f}, kit as the teacher's {metrics['kit_agreement']:.3f}")


class LarsNetTask:
    """The LarsNet baseline, supervised on the crops' stems folded into its five groups."""

    name = "larsnet"
    model_config = LarsNetConfig
    stems = True
    terms = LARSNET_TERMS

    @staticmethod
    def build(model_config) -> torch.nn.Module:
        return LarsNet(model_config)

    @staticmethod
    def teacher(model):
        return None

    @staticmethod
    def micro_step(trainer, batch: dict, positions: range, step: int) -> dict:
        cfg, device = trainer.config, trainer.ctx.device
        gains = example_gains(cfg.train.seed, step, positions, cfg.objective, device)[:, None]
        x = batch["mixture"].to(device, non_blocking=True) * gains
        stems = batch["stems"].to(device, non_blocking=True) * gains[..., None]
        return larsnet_loss(trainer.forward, x, stems, cfg.model.channels, trainer.amp)

    @staticmethod
    @torch.no_grad()
    def validate(model, loader, ctx, config, amp, teacher=None) -> dict:
        was_training = model.training
        model.eval()
        sums = torch.zeros(len(LARSNET_TERMS) + 1, dtype=torch.float64)
        for batch in loader:
            terms = larsnet_loss(model, batch["mixture"].to(ctx.device), batch["stems"].to(ctx.device),
                                 config.model.channels, amp)
            sums += torch.tensor([float(terms[t].sum()) for t in LARSNET_TERMS] + [len(terms["loss"])],
                                 dtype=torch.float64)
        totals = all_sum(ctx, sums).cpu()
        model.train(was_training)
        return {t: float(v / totals[-1]) for t, v in zip(LARSNET_TERMS, totals[:-1])}

    @staticmethod
    @torch.no_grad()
    def log_media(writer, model, dataset, n_clips: int, step: int, with_mixture: bool) -> None:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        for i in range(min(n_clips, len(dataset))):
            x = dataset[i]["mixture"]
            if with_mixture:
                writer.add_audio(f"clip{i}/mixture", x.clamp(-1, 1)[None], step, SAMPLE_RATE)
            stems = model.separate(x.to(device)).mean(1).cpu()  # (5, T), channels averaged
            for stem, audio in zip(STEMS, stems):
                writer.add_audio(f"clip{i}/separated_{stem}", audio.clamp(-1, 1)[None], step, SAMPLE_RATE)
        model.train(was_training)

    @staticmethod
    def summary(metrics: dict) -> str:
        return f"val loss {metrics['loss']:.4f} (" + ", ".join(
            f"{stem} {metrics[f'l1_{stem}']:.4f}" for stem in STEMS) + ")"


TASKS = {task.name: task for task in (IDMTask, TranscriptionTask, LarsNetTask)}

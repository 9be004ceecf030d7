"""Train IDM (its transcription alone, `task: transcription`, or the LarsNet baseline, `task: larsnet`):
`python -m trainer.train --config configs/X.yaml [section.key=value ...] [--resume [CKPT | auto]]`.

One process, or one per device under torchrun (`make train NPROC=...`). Every rank builds
the same model from the seed, wraps it in DistributedDataParallel and trains on its own
slot of each step's global batch (see `trainer.batches`); rank 0 alone logs, writes
TensorBoard and writes checkpoints. The run folder `log.out` holds `config.yaml`,
`checkpoints/last.pt`, `checkpoints/best.pt` (lowest validation loss) and `tensorboard/`.
"""

import argparse
import collections
import math
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from data.datasets import CropDataset, collate
from data.mixing import MixedCropDataset
from data.manifest import read_manifest, select
from idm.files import write_text_if_changed

from . import distributed, state
from .batches import StepSampler, slots
from .config import Config, ConfigError, load_config, with_data_kits
from .finetune import initial_model, set_trainable
from .optim import amp_dtype, build_optimizer, lr_at
from .tasks import TASKS
from .validation import validation_loader, validation_set


MIXED_CROPS_PER_EPOCH = 8192
"""Crops in an epoch of crops mixed from a kit bank (`mix.bank`) when `data.crops_per_epoch` is 0."""


class TrainError(RuntimeError):
    """A run that cannot start or go on; the message says why in one line."""


class Trainer:
    """One rank's share of a training run: model, optimiser, data, and (on rank 0) the logs."""

    def __init__(self, config: Config, ctx: distributed.Context, resume: str = None):
        config = with_data_kits(config)
        self.config, self.ctx = config, ctx
        self.task = TASKS[config.task]
        self.out = Path(config.log.out)
        self.checkpoints = self.out / "checkpoints"
        run = config.train
        last = self.checkpoints / state.LAST
        if resume == "auto":  # go on where a run stopped, or start one
            resume = "last" if last.exists() else None
        if not resume and ctx.main and last.exists():
            raise TrainError(f"{last} exists: pass --resume to continue that run, or choose another log.out")
        self.micro_batch = max(b - a for a, b in slots(run.batch_size, ctx.world_size, run.accumulate))
        try:
            train_kits = {row["kit"] for row in select(read_manifest(config.data.folder), config.data.train_split)}
        except (OSError, ValueError) as exc:
            raise TrainError(f"data.folder: {exc}") from None

        torch.manual_seed(run.seed)  # the same initial weights on every rank
        if run.init and config.task == "larsnet":
            raise TrainError(f"train.init: fine-tuning is for IDM models, not the {config.task} task")
        if config.task == "transcription" and (not run.init or run.trainable != "analysis"):
            raise TrainError("the transcription task trains a model's analysis from that model: set train.init "
                             "(e.g. idm-44-train-kits) and train.trainable: analysis")
        if config.mix.bank and self.task.stems:
            raise TrainError(f"mix.bank: crops mixed from a kit bank have no stems for the {config.task} task")
        like = {}
        if run.init:  # fine-tuning: the init model with the training split's new kits (the transcription
            # task keeps the init model's kits: its synthesiser knows no others)
            new_kits = [] if config.task == "transcription" else sorted(k for k in train_kits if k)
            model, like = initial_model(config, new_kits)
            config = self.config = replace(config, model=model.config)
        else:
            model = self.task.build(config.model)
        kits = getattr(config.model, "kit_names", None) or None
        try:
            if config.mix.bank:
                self.train_set = MixedCropDataset(config.mix.bank, config.data.crop_seconds, seed=run.seed,
                                                  size=config.data.crops_per_epoch or MIXED_CROPS_PER_EPOCH,
                                                  settings=config.mix)
            else:
                self.train_set = CropDataset(config.data.folder, config.data.train_split, config.data.crop_seconds,
                                             seed=run.seed, crops_per_epoch=config.data.crops_per_epoch or None,
                                             stems=self.task.stems, sampling=config.data.sampling, kits=kits)
            self.val_set = validation_set(config.data, stems=self.task.stems, kits=kits)
        except (OSError, ValueError) as exc:
            raise TrainError(f"data.folder: {exc}") from None
        trainable = set_trainable(model, run.trainable)
        if not trainable:
            raise TrainError(f"train.trainable {run.trainable}: the {config.task} model has no such parameters")
        if ctx.main and (run.init or run.trainable != "all"):
            started = "".join(f"; new kit {new} starts as {known}" for new, known in like.items())
            print(f"model: {run.init or 'random'} weights, kits {', '.join(config.model.kits)}{started}; training "
                  f"{run.trainable} ({trainable} of {sum(p.numel() for p in model.parameters())} values)",
                  file=sys.stderr)
        self.model, note = distributed.sync_batch_norm(model, ctx)
        self.model = self.model.to(ctx.device)
        self.teacher = self.task.teacher(self.model)  # frozen, before any resume: outside DDP and the checkpoints
        if run.recompute_synth:
            if not hasattr(self.model, "synth"):
                raise TrainError(f"train.recompute_synth: the {config.task} task has no synthesiser")
            self.model.synth.recompute = True
        if note and ctx.main:
            print(note, file=sys.stderr)
        # then each rank its own stream, so that dropout masks differ between ranks as between the
        # examples of one process's batch (IDM draws its randomness from per-example generators)
        torch.manual_seed(distributed.rank_seed(run.seed, ctx.rank))
        self.optimizer = build_optimizer([p for p in self.model.parameters() if p.requires_grad], config.optim)
        self.amp = amp_dtype(run.amp, ctx.device)
        self.scaler = torch.amp.GradScaler(ctx.device.type, enabled=self.amp == torch.float16)
        self.step, self.best_val_loss = 0, math.inf
        if resume:
            self.resume(last if resume == "last" else Path(resume))
        # DDP broadcasts rank 0's weights here and all-reduces (averages) gradients in backward
        self.ddp = (DistributedDataParallel(self.model, device_ids=[ctx.local_rank] if ctx.device.type == "cuda"
                                            else None) if ctx.distributed else self.model)
        self.forward = torch.compile(self.ddp) if run.compile else self.ddp
        self.peak = distributed.synced_peak(ctx)
        self.writer = None
        if ctx.main:
            from torch.utils.tensorboard import SummaryWriter
            self.out.mkdir(parents=True, exist_ok=True)
            write_text_if_changed(self.out / "config.yaml", config.to_yaml())
            self.writer = SummaryWriter(str(self.out / "tensorboard"))

    def resume(self, path: Path) -> None:
        """Continue from a checkpoint: weights, optimiser, scaler, step, best loss and RNG states."""
        try:
            saved = state.load(path)
        except ValueError as exc:
            raise TrainError(str(exc)) from None
        if saved.get("task", "idm") != self.config.task or saved["config"] != self.model.config.to_dict():
            raise TrainError(f"{path}: the checkpoint's model section differs from the config's")
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        if self.scaler.is_enabled() and saved.get("scaler"):
            self.scaler.load_state_dict(saved["scaler"])
        self.step, self.best_val_loss = int(saved["step"]), float(saved["best_val_loss"])
        best = self.checkpoints / state.BEST
        if best.exists():  # it may hold a better model than `path` knew of: never replace it by a worse one
            try:
                self.best_val_loss = min(self.best_val_loss, state.best_val_loss(best))
            except ValueError as exc:
                raise TrainError(str(exc)) from None
        if len(saved["rng"]) == self.ctx.world_size:
            state.set_rng_state(saved["rng"][self.ctx.rank])
        elif self.ctx.main:
            print(f"note: {path} was written by {len(saved['rng'])} ranks, this run has "
                  f"{self.ctx.world_size}: generator states not restored", file=sys.stderr)
        changed = [f"{s}.{k}" for s, section in self.config.to_dict().items() if isinstance(section, dict)
                   for k, v in section.items() if saved["train_config"].get(s, {}).get(k) != v]
        if self.ctx.main:
            print(f"resuming {path} at step {self.step}"
                  + (f" (changed: {', '.join(changed)})" if changed else ""), file=sys.stderr)

    def micro_step(self, batch: dict, positions: range, step: int) -> dict:
        """Forward one micro-batch; per-example loss terms (the task's)."""
        return self.task.micro_step(self, batch, positions, step)

    def fit(self) -> None:
        cfg, ctx, run = self.config, self.ctx, self.config.train
        sampler = StepSampler(len(self.train_set), run.batch_size, ctx.world_size, ctx.rank, run.accumulate,
                              self.step, run.steps)
        loader = DataLoader(self.train_set, batch_sampler=sampler, num_workers=cfg.data.workers,
                            collate_fn=collate, pin_memory=ctx.device.type == "cuda",
                            generator=torch.Generator())  # leaves the global generators alone
        val_loader = validation_loader(self.val_set, ctx, self.micro_batch, cfg.data.workers)
        # 0: once per epoch, as the released run validated and checkpointed
        self.val_every = cfg.log.val_every or sampler.steps_per_epoch
        checkpoint_every = cfg.log.checkpoint_every or sampler.steps_per_epoch
        batches = iter(loader)
        # loss of each micro-step: the sum of its examples' losses, scaled so that DDP's average over
        # ranks and the sum over micro-steps give the mean over the global batch
        scale = ctx.world_size / run.batch_size
        terms_names = self.task.terms
        window = torch.zeros(len(terms_names) + 1, dtype=torch.float64)  # loss sums and crop count since the last log
        window_time, recent = 0.0, collections.deque(maxlen=20)  # rank 0's last losses, for the bar
        bar = tqdm(total=run.steps, initial=self.step, disable=not ctx.main, desc="training", unit="step",
                   dynamic_ncols=True)
        while self.step < run.steps:
            step, t0 = self.step, time.perf_counter()
            lr = lr_at(step, cfg.optim, run.steps)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            for a in range(run.accumulate):
                if ctx.distributed:  # all-reduce gradients only on the last micro-step
                    self.ddp.require_backward_grad_sync = a == run.accumulate - 1
                terms = self.micro_step(next(batches), sampler.positions(a), step)
                self.scaler.scale(terms["loss"].sum() * scale).backward()
                window += torch.cat([torch.stack([terms[t].detach().sum() for t in terms_names]).double().cpu(),
                                     torch.tensor([len(terms["loss"])], dtype=torch.float64)])
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
            clip = cfg.optim.clip_grad_norm if cfg.optim.clip_grad_norm > 0 else math.inf
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip))
            if not math.isfinite(grad_norm) and not self.scaler.is_enabled():
                raise TrainError(f"the gradient is not finite at step {step} (norm {grad_norm}); "
                                 "lower optim.lr or check the data")
            self.scaler.step(self.optimizer)  # skipped by the scaler when fp16 gradients overflowed
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            window_time += time.perf_counter() - t0
            if ctx.main:
                recent.append(float(terms["loss"].detach().mean()))
                bar.set_postfix(loss=f"{sum(recent) / len(recent):.3f}", lr=f"{lr:.2e}")
                bar.update()
            if self.step % cfg.log.every == 0 or self.step == run.steps:
                self.log_training(window, window_time, lr, grad_norm)
                window.zero_()
                window_time = 0.0
            improved = False
            if self.step % self.val_every == 0 or self.step == run.steps:
                improved = self.run_validation(val_loader, bar)
            if self.step % checkpoint_every == 0 or self.step == run.steps or improved:
                self.save_checkpoints(sampler.epoch_of(self.step),
                                      last=self.step % checkpoint_every == 0 or self.step == run.steps,
                                      best=improved)
        bar.close()
        if ctx.main:
            print(f"done: {self.step} steps; best validation loss {self.best_val_loss:.4f}; "
                  f"checkpoints in {self.checkpoints}")
            self.writer.close()

    def log_training(self, window: torch.Tensor, seconds: float, lr: float, grad_norm: float) -> None:
        """Scalars of the steps since the last log (losses summed over every rank)."""
        totals = distributed.all_sum(self.ctx, window.clone()).cpu()
        if not self.ctx.main or totals[-1] == 0:
            return
        w = self.writer
        for name, value in zip(self.task.terms, totals[:-1] / totals[-1]):
            w.add_scalar(f"train/{name}", float(value), self.step)
        w.add_scalar("train/lr", lr, self.step)
        w.add_scalar("train/grad_norm", grad_norm, self.step)
        w.add_scalar("train/crops_per_second", float(totals[-1]) / max(seconds, 1e-9), self.step)
        if self.ctx.device.type == "cuda":
            w.add_scalar("train/gpu_memory_gb", torch.cuda.max_memory_allocated(self.ctx.device) / 2 ** 30,
                         self.step)
            torch.cuda.reset_peak_memory_stats(self.ctx.device)

    def run_validation(self, val_loader, bar) -> bool:
        """Validate (every rank), log (rank 0); True when the validation loss is the best so far."""
        metrics = self.task.validate(self.model, val_loader, self.ctx, self.config, self.amp, teacher=self.teacher)
        improved = metrics["loss"] < self.best_val_loss
        if improved:
            self.best_val_loss = metrics["loss"]
        if self.ctx.main:
            for name, value in metrics.items():
                self.writer.add_scalar(f"val/{name}", value, self.step)
            log = self.config.log
            first = self.step <= self.val_every
            if log.media_every and log.media_clips and (first or self.step % log.media_every == 0):
                self.task.log_media(self.writer, self.model, self.val_set, log.media_clips, self.step,
                                    with_mixture=first)
            self.writer.flush()
            bar.write(f"step {self.step}: {self.task.summary(metrics)}" + (" *best*" if improved else ""))
        return improved

    def save_checkpoints(self, epoch: int, last: bool, best: bool) -> None:
        """Gather every rank's RNG state; rank 0 writes `last` and/or `best`."""
        rng = distributed.all_gather_objects(self.ctx, state.rng_state())
        if not self.ctx.main:
            return
        blob = state.training_state(self.model, self.optimizer, self.scaler, self.config, self.step, epoch,
                                    self.best_val_loss, rng)
        if last:
            state.save(blob, self.checkpoints / state.LAST)
        if best:
            state.save(blob, self.checkpoints / state.BEST)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.train", description="Train an Inverse Drum Machine (one process, or under "
        "torchrun: one per device).",
        epilog="example: python -m trainer.train --config configs/tiny.yaml train.steps=200 log.out=runs/try")
    parser.add_argument("--config", help="YAML config (default: the released model's training, every default)")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value",
                        help="config overrides, values as YAML, e.g. train.batch_size=16 optim.lr=1e-3")
    parser.add_argument("--resume", nargs="?", const="last", metavar="CHECKPOINT",
                        help="continue a run: from LOG.OUT/checkpoints/last.pt, or from CHECKPOINT; `--resume auto` "
                        "continues from last.pt when there is one and starts a new run otherwise")
    return parser.parse_args(argv)


def _terminate(signum, frame):
    raise KeyboardInterrupt  # run the cleanup below when torchrun stops the workers


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    ctx = None
    try:
        ctx = distributed.setup(config.train.device)
        Trainer(config, ctx, args.resume).fit()
        return 0
    except (TrainError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error{f' (rank {ctx.rank})' if ctx and ctx.distributed else ''}: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if ctx is None or ctx.main:
            print("interrupted; `--resume` continues from the last checkpoint", file=sys.stderr)
        return 130
    finally:
        distributed.teardown()


if __name__ == "__main__":
    sys.exit(main())

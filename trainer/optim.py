"""Optimiser, learning-rate schedule (a pure function of the step) and mixed-precision settings."""

import math

import torch


def build_optimizer(params, optim) -> torch.optim.Optimizer:
    """Adam or AdamW with the config's learning rate, betas, eps and weight decay."""
    cls = torch.optim.AdamW if optim.optimizer == "adamw" else torch.optim.Adam
    if len(optim.betas) != 2:
        raise ValueError(f"optim.betas: expected two numbers, got {list(optim.betas)}")
    return cls(params, lr=optim.lr, betas=tuple(optim.betas), eps=optim.eps, weight_decay=optim.weight_decay)


def lr_at(step: int, optim, total_steps: int) -> float:
    """Learning rate of step `step` (0-based): linear warm-up over `warmup_steps`, then constant,
    or cosine / linear decay from `lr` to `min_lr` at the last step."""
    if step < optim.warmup_steps:
        return optim.lr * (step + 1) / optim.warmup_steps
    if optim.schedule == "constant":
        return optim.lr
    span = max(1, total_steps - 1 - optim.warmup_steps)
    progress = min(1.0, (step - optim.warmup_steps) / span)
    if optim.schedule == "cosine":
        factor = 0.5 * (1 + math.cos(math.pi * progress))
    else:
        factor = 1 - progress
    return optim.min_lr + (optim.lr - optim.min_lr) * factor


def amp_dtype(choice: str, device: torch.device):
    """The autocast dtype for `train.amp` on `device`, or None for full precision.

    auto: bf16 on GPUs that support it, fp16 on older GPUs, off on the CPU.
    """
    if choice == "off" or (choice == "auto" and device.type != "cuda"):
        return None
    if choice == "bf16":
        return torch.bfloat16
    if choice == "fp16":
        return torch.float16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

"""Training checkpoints: one plain dict, written atomically, that resumes a run bit-exactly.

Keys: `format`, `task` (`idm`, `transcription` or `larsnet`), `config` (the model config) and `model` (its
tensors), which make an IDM file loadable by `idm.load_model` and `idm separate --checkpoint`
(a LarsNet one by `baselines.larsnet.load_larsnet`); then `train_config`
(every section), `optimizer`, `scaler`, `step` (optimiser steps done), `epoch`,
`best_val_loss`, `world_size` and `rng` (the torch, CUDA, NumPy and Python generator
states of every rank, in rank order). Everything is a tensor, number, string, list or
dict, so `torch.load(..., weights_only=True)` reads it.
"""

import random

import numpy as np
import torch

from idm.checkpoint import OUR_FORMAT
from idm.files import atomic_path

LAST, BEST = "last.pt", "best.pt"


def rng_state() -> dict:
    """This process's generator states, in checkpoint-safe types."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
             "python": [version, list(internal), gauss]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state` saved."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def training_state(model, optimizer, scaler, config, step: int, epoch: int, best_val_loss: float,
                   rng: list) -> dict:
    """The checkpoint dict (see the module docstring) of a run after `step` optimiser steps."""
    return {"format": OUR_FORMAT, "task": config.task, "config": model.config.to_dict(),
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "train_config": config.to_dict(), "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler.is_enabled() else None,
            "step": step, "epoch": epoch, "best_val_loss": best_val_loss,
            "world_size": len(rng), "rng": rng}


def save(state: dict, path) -> None:
    """Write a checkpoint dict atomically (a temporary file beside it, then a rename)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load(path) -> dict:
    """Read a training checkpoint on the CPU; a one-line error if it is not one."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such checkpoint to resume from") from None
    except Exception as exc:
        raise ValueError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    missing = [k for k in ("model", "optimizer", "step", "rng", "train_config") if k not in state]
    if state.get("format") != OUR_FORMAT or missing:
        raise ValueError(f"{path}: not a training checkpoint (missing {', '.join(missing) or 'format'})")
    return state


def best_val_loss(path) -> float:
    """The validation loss recorded in the training checkpoint at `path`."""
    return float(load(path)["best_val_loss"])

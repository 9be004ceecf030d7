"""Test helper: train with config overrides, then save this rank's parameters and optimiser state.

Run as `python tests/train_worker.py OUT section.key=value ...`, alone or under torchrun;
writes OUT/rank<R>.pt, so a test can compare the ranks with each other and with one process.
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer import distributed  # noqa: E402
from trainer.config import load_config  # noqa: E402
from trainer.train import Trainer  # noqa: E402


def main() -> None:
    out, overrides = Path(sys.argv[1]), sys.argv[2:]
    resume = "last" if "--resume" in overrides else None
    config = load_config(None, [o for o in overrides if o != "--resume"])
    ctx = distributed.setup(config.train.device)
    try:
        trainer = Trainer(config, ctx, resume)
        trainer.fit()
        torch.save({"model": trainer.model.state_dict(), "optimizer": trainer.optimizer.state_dict()},
                   out / f"rank{ctx.rank}.pt")
    finally:
        distributed.teardown()


if __name__ == "__main__":
    main()

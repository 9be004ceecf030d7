"""Does IDM learn the recorded kits on a CPU? A short run, against the same network untrained.

    python benchmarks/kits_learning.py --data datasets/kits/data [--config configs/tiny.yaml] [--steps 600]

Trains CONFIG (default: the tiny architecture, which a CPU can train; `configs/idm_kits.yaml`
is the full one, for GPUs) on DATA, a folder of `make kits-data`, with the trainer in one
process. Then it scores the untrained network (the trainer's initial weights: same config,
same seed) and the trained one on the held-out splits: onset F-measure per class (50 ms,
counts pooled over the items) on `val_train_kits` (the training kits, unseen performances)
and `test_test_kits` (unseen kits), and the validation losses on the trainer's validation
crops. Prints Markdown tables, with the machine and the training time.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.datasets import ClipDataset  # noqa: E402
from evaluation.transcription import pooled_onset_f  # noqa: E402
from idm import load_model  # noqa: E402
from idm.constants import CLASSES  # noqa: E402
from idm.model import InverseDrumMachine  # noqa: E402
from machine import describe  # noqa: E402
from trainer.config import load_config, with_data_kits  # noqa: E402
from trainer.distributed import Context  # noqa: E402
from trainer.validation import validate, validation_loader, validation_set  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SPLITS = ("val_train_kits", "test_test_kits")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a folder preprocessed by `make kits-data` (DIR/data)")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "tiny.yaml")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "kits_learning")
    args = parser.parse_args()
    overrides = [f"data.folder={args.data}", f"log.out={args.out}", f"train.steps={args.steps}",
                 f"log.val_every={max(1, args.steps // 4)}", f"log.checkpoint_every={args.steps}", "log.media_every=0",
                 "model.n_kits=0", "train.device=cpu"]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "trainer.train", "--config", str(args.config), *overrides],
                          cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return 1
    config = with_data_kits(load_config(args.config, overrides))
    torch.manual_seed(config.train.seed)  # the trainer's initial weights
    untrained = InverseDrumMachine(config.model).eval()
    trained = load_model(args.out / "checkpoints" / "last.pt")
    print(f"{args.config.name} on {args.data}: {args.steps} steps of {config.train.batch_size} x "
          f"{config.data.crop_seconds:g} s crops in {seconds / 60:.1f} min on {describe()}\n")
    print("| split | network | " + " | ".join(CLASSES) + " |")
    print("| --- | --- |" + " ---: |" * len(CLASSES))
    for split in SPLITS:
        clips = ClipDataset(args.data, split)
        for name, model in (("untrained", untrained), ("trained", trained)):
            f = pooled_onset_f(model, clips)
            print(f"| {split} ({len(clips)} items) | {name} | " + " | ".join(f"{f[c]:.3f}" for c in CLASSES) + " |")
    loader = validation_loader(validation_set(config.data), Context(), 8, 0)
    before, after = (validate(m, loader, Context(), config, None) for m in (untrained, trained))
    print("\n| validation loss | untrained | trained |\n| --- | ---: | ---: |")
    for key in before:
        if "/" not in key:  # the losses, the kit accuracy and the mean onset F (per class above)
            print(f"| {key} | {before[key]:.4f} | {after[key]:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

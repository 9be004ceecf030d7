"""Loader throughput: random 6 s training crops per second from the training cache.

    python benchmarks/loader_speed.py [--data PREPROCESSED] [--workers 2] [--runs 5]

Without --data it generates a StemGMD-shaped set (procedural sounds, 24 performances x 2
kits, about 12 minutes of mixtures) and preprocesses it in a temporary folder. Each run
reads `--batches` batches of 33 crops (the paper's batch) through a DataLoader with
`--workers` worker processes, shuffled, as the trainer does; the first batch (worker start)
is not timed. Prints the median crops/s and the machine.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.datasets import CropDataset, collate  # noqa: E402
from data.generate import Take, generate  # noqa: E402
from data.preprocess import preprocess  # noqa: E402
from data.stemgmd import stemgmd_items  # noqa: E402
from machine import describe  # noqa: E402


def build(folder: Path) -> Path:
    takes = [Take("drummer1", "session1", "train", 8, 80 + 4 * i) for i in range(24)]
    generate(folder / "stemgmd", takes, ("brooklyn", "heavy"), renderer="procedural")
    plan = stemgmd_items(folder / "stemgmd", folder / "stemgmd" / "groove" / "info.csv")
    preprocess(plan, folder / "data", jobs=2, progress=False, say=lambda line: None)
    return folder / "data"


def crops_per_second(data: Path, workers: int, batches: int, batch_size: int, seed: int) -> float:
    dataset = CropDataset(data, "train_train_kits", seed=seed, crops_per_epoch=(batches + 1) * batch_size)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers, collate_fn=collate,
                        generator=torch.Generator().manual_seed(seed))
    iterator = iter(loader)
    next(iterator)
    start = time.perf_counter()
    n = sum(len(batch["id"]) for batch in iterator)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="a preprocessed folder (default: generate one)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=33)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or build(Path(tmp))
        rates = [crops_per_second(data, args.workers, args.batches, args.batch_size, seed) for seed in range(args.runs)]
        hours = CropDataset(data, "train_train_kits").lengths.sum() / 44100 / 3600
    print(f"loader: {statistics.median(rates):.0f} crops/s median of {args.runs} runs "
          f"({', '.join(f'{r:.0f}' for r in rates)}); 6 s crops, batch {args.batch_size}, {args.workers} workers, "
          f"{hours * 60:.1f} min of training audio in the cache")
    print(f"machine: {describe()}")


if __name__ == "__main__":
    main()

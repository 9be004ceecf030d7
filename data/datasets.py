"""Datasets over a preprocessed folder: random crops for training, fixed clips for validation and test.

An example is a dict: `mixture` (T,) float32, `onsets` and `velocities` (one array per
class, in CLASSES order, times in seconds from the example's start), `kit_id` (-1 when
unknown), `id`, `offset` (seconds into the item), `length` (samples of real audio before
zero padding), `scale` (the peak normalisation applied) and, when asked, `stems` (9, T).

Crops are a pure function of (seed, epoch, index): no random state is shared, so any number
of DataLoader workers (or DDP ranks taking disjoint indices) give the same examples.
"""

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from idm.constants import CLASS_NAMES, CLASSES, SAMPLE_RATE

from .cache import TrainingCache
from .manifest import read_manifest, select

CROP_SECONDS = 6.0
"""Training crop length of the released model."""


def kit_label(kits, name: str) -> int:
    """The label of kit `name` (any case) for a model whose kit names are `kits`: its position, -1 when absent."""
    name = (name or "").lower()
    return list(kits).index(name) if name in kits else -1


class _ItemsDataset(Dataset):
    """The manifest rows of some splits (only those of the kits in `from_kits`, if any), read
    through the training cache. `kit_id` is the manifest's, or with `kits` (a model's kit names)
    the kit's position among them (-1: absent)."""

    def __init__(self, folder, splits, normalize: bool, stems: bool, kits=None, from_kits=()):
        self.folder = folder
        self.rows = select(read_manifest(folder), splits, from_kits)
        if not self.rows:
            of = f" of kits {', '.join(from_kits)}" if from_kits else ""
            raise ValueError(f"{folder}: no items{of} in split {splits!r}")
        self.kit_ids = [r["kit_id"] if kits is None else kit_label(kits, r["kit"]) for r in self.rows]
        if stems and not all(r["stems"] for r in self.rows):
            raise ValueError(f"{folder}: split {splits!r} has items without stems; "
                             "preprocess with --stems all to keep every item's stems")
        self.cache = TrainingCache(folder)
        self.positions = np.array([self.cache.position[r["id"]] for r in self.rows], dtype=np.int64)
        self.lengths = self.cache.lengths[self.positions]
        self.normalize, self.stems = normalize, stems

    def example(self, k: int, offset: int, n: int) -> dict:
        """Samples [offset, offset + n) of row k (zero-padded past its end) with its onsets shifted."""
        i, row = int(self.positions[k]), self.rows[k]
        audio = self.cache.audio(i, offset, n)
        onsets, velocities = self.cache.onsets(i, offset / SAMPLE_RATE, (offset + n) / SAMPLE_RATE)
        peak = max(float(audio.max()), -float(audio.min())) if n else 0.0
        scale = 1.0 / peak if self.normalize and peak > 0 else 1.0
        audio *= scale
        example = {"mixture": torch.from_numpy(audio), "onsets": onsets, "velocities": velocities,
                   "kit_id": self.kit_ids[k], "id": row["id"], "offset": offset / SAMPLE_RATE,
                   "length": max(0, min(n, int(self.lengths[k]) - offset)), "scale": scale}
        if self.stems:
            stems = np.zeros((len(CLASSES), n), dtype=np.float32)
            for c, code in enumerate(CLASSES):
                path = f"{self.folder}/{row['stems']}/{CLASS_NAMES[code]}.wav"
                data, _ = sf.read(path, start=offset, frames=n, dtype="float32")
                stems[c, :len(data)] = data
            example["stems"] = torch.from_numpy(stems * scale)
        return example


SAMPLINGS = ("items", "duration")
"""How `CropDataset` picks the item of a crop (see there)."""


class CropDataset(_ItemsDataset):
    """Random `seconds`-long crops of the items of `splits`, for training.

    `sampling` picks the item of each crop:
    - `items` (the released run): an epoch is one crop of every item, the items in a fresh
      random order each epoch (more crops than items take further orders);
    - `duration`: an item drawn in proportion to its duration, so every second of audio is
      equally likely to be trained on, short fills included.
    The window is then uniform inside the item; items shorter than a crop are zero-padded.
    An epoch holds `crops_per_epoch` crops, by default one per item (`items`) or as many as fit
    end to end in the audio (`duration`), at most `max_crops`; `set_epoch` draws new ones. Each
    crop is divided by its peak (`normalize`), as the released model was trained.
    """

    def __init__(self, folder, splits="train_train_kits", seconds: float = CROP_SECONDS, seed: int = 0,
                 crops_per_epoch: int = None, normalize: bool = True, stems: bool = False,
                 sampling: str = "duration", max_crops: int = None, kits=None, from_kits=()):
        super().__init__(folder, splits, normalize, stems, kits, from_kits)
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {', '.join(SAMPLINGS)}, not {sampling!r}")
        self.n = int(round(seconds * SAMPLE_RATE))
        self.cumulative = np.cumsum(self.lengths)
        self.sampling = sampling
        default = len(self.rows) if sampling == "items" else max(1, int(self.lengths.sum() // self.n))
        self.size = int(min(crops_per_epoch or default, max_crops or np.inf))
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def crop(self, index: int, epoch: int = None) -> tuple:
        """(row, offset in samples) of crop `index` of `epoch` (default: the current epoch)."""
        if not 0 <= index < self.size:
            raise IndexError(index)
        epoch = self.epoch if epoch is None else epoch
        rng = np.random.default_rng([self.seed, epoch, index])
        if self.sampling == "items":
            order = np.random.default_rng([self.seed, epoch, index // len(self.rows), 1]).permutation(len(self.rows))
            k = int(order[index % len(self.rows)])
        else:
            k = int(np.searchsorted(self.cumulative, rng.integers(self.cumulative[-1]), side="right"))
        return k, int(rng.integers(max(0, int(self.lengths[k]) - self.n) + 1))

    def __getitem__(self, key) -> dict:
        """Crop `key` of the current epoch, or `key = (epoch, index)`: a sampler can then address
        any epoch without changing the dataset held by worker processes."""
        epoch, index = key if isinstance(key, tuple) else (None, key)
        k, offset = self.crop(index, epoch)
        return self.example(k, offset, self.n)


class ClipDataset(_ItemsDataset):
    """The items of `splits` in manifest order, for validation and test: each whole item, or
    `seconds` of each from `offset` seconds (zero-padded where an item is shorter)."""

    def __init__(self, folder, splits="val_train_kits", seconds: float = None, offset: float = 0.0,
                 normalize: bool = True, stems: bool = False, kits=None, from_kits=()):
        super().__init__(folder, splits, normalize, stems, kits, from_kits)
        self.n = None if seconds is None else int(round(seconds * SAMPLE_RATE))
        self.offset = int(round(offset * SAMPLE_RATE))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, k: int) -> dict:
        if self.n is None:
            return self.example(k, 0, int(self.lengths[k]))
        return self.example(k, self.offset, self.n)


def collate(batch) -> dict:
    """Stack examples: `mixture` (B, T) zero-padded to the longest, `stems` (B, 9, T) if present,
    `lengths`, `kit_id`, `offset`, `scale` tensors, and `onsets`, `velocities`, `id` as lists."""
    n = max(len(b["mixture"]) for b in batch)
    mixture = torch.zeros(len(batch), n)
    for j, b in enumerate(batch):
        mixture[j, :len(b["mixture"])] = b["mixture"]
    out = {"mixture": mixture,
           "lengths": torch.tensor([b["length"] for b in batch], dtype=torch.long),
           "kit_id": torch.tensor([b["kit_id"] for b in batch], dtype=torch.long),
           "offset": torch.tensor([b["offset"] for b in batch], dtype=torch.float64),
           "scale": torch.tensor([b["scale"] for b in batch], dtype=torch.float32),
           "onsets": [b["onsets"] for b in batch], "velocities": [b["velocities"] for b in batch],
           "id": [b["id"] for b in batch]}
    if "stems" in batch[0]:
        stems = torch.zeros(len(batch), len(CLASSES), n)
        for j, b in enumerate(batch):
            stems[j, :, :b["stems"].shape[-1]] = b["stems"]
        out["stems"] = stems
    return out

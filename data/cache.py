"""The training cache: every mixture in one memory-mapped array, and every onset in one table.

`cache/mixtures.npy` holds the mixtures of the manifest's items end to end (float16 by
default: about 66 dB of precision relative to each sample, half the disk and page cache
of float32), so a crop is one slice. `cache/index.npz` holds each item's id, start,
length and kit id, every onset (item order, time order) with its class and velocity, and
the hash of the manifest it was built from.
"""

import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from idm.constants import CLASSES
from idm.files import atomic_path
from idm.onset_files import read_tsv_rows

from .manifest import MANIFEST

CACHE = "cache"
MIXTURES_FILE = "mixtures.npy"
INDEX_FILE = "index.npz"
CACHE_DTYPES = ("float16", "float32")


def manifest_hash(folder) -> str:
    return hashlib.sha256((Path(folder) / MANIFEST).read_bytes()).hexdigest()


def cache_is_current(folder, dtype: str) -> bool:
    """True when the cache exists, was built from the current manifest and holds `dtype` samples."""
    try:
        with np.load(Path(folder) / CACHE / INDEX_FILE) as index:
            built_from = str(index["manifest_sha256"])
        mixtures = np.load(Path(folder) / CACHE / MIXTURES_FILE, mmap_mode="r")
    except (OSError, ValueError, KeyError):
        return False
    return built_from == manifest_hash(folder) and mixtures.dtype == np.dtype(dtype)


def build_cache(folder, rows, dtype: str = "float16", progress: bool = True) -> None:
    """Write the cache of manifest `rows` (in order) under `folder/cache`, streaming one mixture at a time."""
    folder = Path(folder)
    lengths = np.array([r["samples"] for r in rows], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    parsed, tables = {}, []  # one parse per annotation: the kits of a performance share it
    for row in rows:
        if row["annotation"] not in parsed:
            item_rows = read_tsv_rows(folder / row["annotation"])
            parsed[row["annotation"]] = (np.array([t for t, _, _ in item_rows], dtype=np.float64),
                                         np.array([CLASSES.index(c) for _, c, _ in item_rows], dtype=np.int8),
                                         np.array([v for _, _, v in item_rows], dtype=np.float32))
        tables.append(parsed[row["annotation"]])
    times, classes, velocities = (np.concatenate([t[j] for t in tables]) if tables else np.zeros(0) for j in range(3))
    onset_starts = np.concatenate([[0], np.cumsum([len(t[0]) for t in tables])]).astype(np.int64)
    cache = folder / CACHE
    cache.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache / MIXTURES_FILE) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(int(lengths.sum()),))
        for row, start in tqdm(list(zip(rows, starts)), desc="cache", unit="item", disable=not progress):
            audio, _ = sf.read(str(folder / row["mixture"]), dtype="float32")
            if len(audio) != row["samples"]:
                raise ValueError(f"{folder / row['mixture']}: {len(audio)} samples, the manifest says {row['samples']}")
            array[start:start + len(audio)] = audio
        array.flush()
        del array
    with atomic_path(cache / INDEX_FILE) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, ids=np.array([r["id"] for r in rows]), starts=starts, lengths=lengths,
                     kit_ids=np.array([r["kit_id"] for r in rows], dtype=np.int64),
                     onset_starts=onset_starts, onset_times=times.astype(np.float64),
                     onset_classes=classes.astype(np.int8), onset_velocities=velocities.astype(np.float32),
                     manifest_sha256=np.array(manifest_hash(folder)))


class TrainingCache:
    """Read access to a built cache. The mixture array is opened lazily, once per process, so a
    cache object can be pickled into DataLoader workers (each maps the file itself)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        path = self.folder / CACHE / INDEX_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no training cache here; run `python -m data.preprocess` first")
        with np.load(path) as index:
            if str(index["manifest_sha256"]) != manifest_hash(self.folder):
                raise ValueError(f"{self.folder / CACHE}: the cache was not built from {self.folder / MANIFEST}; "
                                 "rerun `python -m data.preprocess`")
            self.ids = [str(i) for i in index["ids"]]
            self.starts, self.lengths, self.kit_ids = index["starts"], index["lengths"], index["kit_ids"]
            self.onset_starts = index["onset_starts"]
            self.onset_times, self.onset_classes = index["onset_times"], index["onset_classes"]
            self.onset_velocities = index["onset_velocities"]
        self.position = {item_id: i for i, item_id in enumerate(self.ids)}
        self._mixtures = None

    def __getstate__(self):
        return dict(self.__dict__, _mixtures=None)

    @property
    def mixtures(self) -> np.ndarray:
        if self._mixtures is None:
            self._mixtures = np.load(self.folder / CACHE / MIXTURES_FILE, mmap_mode="r")
        return self._mixtures

    def audio(self, i: int, offset: int = 0, length: int = None) -> np.ndarray:
        """Samples [offset, offset + length) of item i as float32, zero-padded past its end."""
        n = int(self.lengths[i]) if length is None else length
        stop = min(int(self.lengths[i]), offset + n)
        start = int(self.starts[i])
        out = np.zeros(n, dtype=np.float32)
        if stop > offset:
            out[:stop - offset] = self.mixtures[start + offset:start + stop]
        return out

    def onsets(self, i: int, start_s: float = 0.0, stop_s: float = float("inf")) -> tuple:
        """Item i's onsets in [start_s, stop_s), shifted by -start_s: (times per class, velocities per class)."""
        a, b = self.onset_starts[i], self.onset_starts[i + 1]
        t, k, v = self.onset_times[a:b], self.onset_classes[a:b], self.onset_velocities[a:b]
        inside = (t >= start_s) & (t < stop_s)
        t, k, v = t[inside] - start_s, k[inside], v[inside]
        return (tuple(t[k == c] for c in range(len(CLASSES))), tuple(v[k == c] for c in range(len(CLASSES))))

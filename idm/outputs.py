"""Writing a separation to disk: one folder per track, stems as WAV, onsets as TSV, atomically."""

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .audio import write_wav
from .constants import CLASS_NAMES, CLASSES
from .files import default_mode


def onset_rows(onsets: dict, velocities: dict) -> list:
    """(time_s, class, velocity) rows of one item, sorted by time then class order."""
    rows = [(float(t), c, float(v)) for c in CLASSES for t, v in zip(onsets[c], velocities[c])]
    return sorted(rows, key=lambda r: (r[0], CLASSES.index(r[1])))


def write_onsets_tsv(path, onsets: dict, velocities: dict) -> None:
    """Write `time_s<TAB>class<TAB>velocity` lines (with that header) for one item."""
    with open(path, "w") as f:
        f.write("time_s\tclass\tvelocity\n")
        for t, c, v in onset_rows(onsets, velocities):
            f.write(f"{t:.6f}\t{c}\t{v:.6f}\n")


def read_onsets_tsv(path) -> dict:
    """Read an onsets TSV back as {class: np.ndarray of times}."""
    times = {c: [] for c in CLASSES}
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        if header[:2] != ["time_s", "class"]:
            raise ValueError(f"{path}: not an onsets TSV (header {header})")
        for line in f:
            if line.strip():
                t, c = line.split("\t")[:2]
                times[c].append(float(t))
    return {c: np.asarray(v) for c, v in times.items()}


def write_track(out_dir, track: str, separation, item: int = 0) -> Path:
    """Write item `item` of a `Separation` to `out_dir/track/`: `<stem>.wav` per class and
    `onsets.tsv`. The folder appears whole or not at all (built under a temporary name)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / track
    tmp = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{track}."))
    try:
        for k, code in enumerate(CLASSES):
            write_wav(tmp / f"{CLASS_NAMES[code]}.wav", separation.separated[item, k], separation.sample_rate)
        write_onsets_tsv(tmp / "onsets.tsv", separation.onsets[item], separation.velocities[item])
        os.chmod(tmp, default_mode(directory=True))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return final

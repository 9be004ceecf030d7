"""Evaluation tracks: a mixture, its reference stems, and (when known) its onsets and kit.

Two sources:

- a folder written by `make preprocess` (it has `manifest.csv`): the items of one split,
  with the stems it kept (`--stems eval`, the default, keeps them for the test splits);
- a folder of tracks, one subfolder each, holding reference stems named as `idm separate`
  names them: the nine classes (`kick.wav`, `snare.wav`, `hihat_closed.wav`, ...; absent
  ones are silent) or the five groups (`kick`, `snare`, `toms`, `hihat`, `cymbals`), in any
  format `idm separate` reads. An optional `onsets.tsv` or `.mid` (as `idm separate --onsets`
  takes them) is scored against transcriptions. Other files are ignored.

The mixture is always the sum of the reference stems, and both are scaled so the mixture
peaks at 1, as the model sees its inputs in training.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from data.datasets import ClipDataset
from data.manifest import MANIFEST
from idm.audio import read_audio
from idm.constants import CLASSES
from idm.inputs import AUDIO_SUFFIXES
from idm.onset_files import MIDI_SUFFIXES, read_onsets

from .spaces import stem_names


@dataclass
class Track:
    """One evaluation track. `stems` are in CLASSES order (9) or in the 5 groups' order."""

    id: str
    mixture: torch.Tensor  # (T,)
    stems: torch.Tensor  # (9 or 5, T)
    onsets: dict = None  # {class code: sorted times in seconds}, or None when unknown
    kit_id: int = -1  # -1 when unknown
    kit: str = ""  # the kit's name, '' when unknown

    @property
    def space(self) -> int:
        return self.stems.shape[0]


def _normalized(track_id, stems: torch.Tensor, onsets, kit_id, kit: str = "") -> Track:
    mixture = stems.sum(0)
    peak = float(mixture.abs().max())
    scale = 1.0 / peak if peak > 0 else 1.0
    return Track(track_id, mixture * scale, stems * scale, onsets, kit_id, kit)


class PreprocessedTracks:
    """The items of `split` in a preprocessed folder (only those of `kits`, if any), in manifest order."""

    def __init__(self, folder, split: str, kits=()):
        self.clips = ClipDataset(folder, split, normalize=False, stems=True, from_kits=kits)
        self.ids = [row["id"] for row in self.clips.rows]

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, i: int) -> Track:
        example = self.clips[i]
        onsets = {c: np.asarray(t, np.float64) for c, t in zip(CLASSES, example["onsets"])}
        return _normalized(example["id"], example["stems"], onsets, example["kit_id"], self.clips.rows[i]["kit"])


class TrackFolders:
    """Subfolders of `folder` with reference stems, in name order."""

    def __init__(self, folder):
        folder = Path(folder)
        found = [(p, self._stem_files(p)) for p in sorted(folder.iterdir())
                 if p.is_dir() and not p.name.startswith(".")]
        self.folders = [p for p, stems in found if stems]
        self.stems = [stems for _, stems in found if stems]
        if not self.folders:
            raise ValueError(f"{folder}: no manifest.csv and no track folders with reference stems "
                             f"(named {', '.join(stem_names(9))} or {', '.join(stem_names(5))})")
        self.ids = [p.name for p in self.folders]

    @staticmethod
    def _stem_files(track: Path) -> dict:
        files = {p.stem: p for p in track.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES}
        only_nine = [n for n in stem_names(9) if n in files and n not in stem_names(5)]
        only_five = [n for n in stem_names(5) if n in files and n not in stem_names(9)]
        if only_nine and only_five:
            raise ValueError(f"{track}: stems of both the 9 classes ({', '.join(only_nine)}) and the 5 groups "
                             f"({', '.join(only_five)})")
        space = 5 if only_five else 9
        found = {n: files[n] for n in stem_names(space) if n in files}
        return {"space": space, "files": found} if found else {}

    def __len__(self) -> int:
        return len(self.folders)

    def load(self, i: int) -> Track:
        folder, found = self.folders[i], self.stems[i]
        audio = {name: read_audio(path) for name, path in found["files"].items()}
        lengths = {len(a) for a in audio.values()}
        if len(lengths) > 1:
            raise ValueError(f"{folder}: reference stems differ in length ({sorted(lengths)} samples)")
        n = lengths.pop()
        stems = torch.stack([audio.get(name, torch.zeros(n)) for name in stem_names(found["space"])])
        onset_files = [p for p in sorted(folder.iterdir())
                       if p.name == "onsets.tsv" or p.suffix.lower() in MIDI_SUFFIXES]
        onsets = read_onsets(onset_files[0]) if onset_files else None
        return _normalized(folder.name, stems, onsets, -1)


def open_tracks(folder, split: str = None, kits=()):
    """The tracks of a preprocessed folder's `split` (only those of the kits named in `kits`, if
    any), or of a folder of track folders."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder")
    if (folder / MANIFEST).is_file():
        if not split:
            raise ValueError(f"{folder}: a preprocessed folder; name the split to evaluate (--split)")
        return PreprocessedTracks(folder, split, kits)
    if kits:
        raise ValueError(f"{folder}: a folder of track folders has no kit names; --kits needs a preprocessed folder")
    return TrackFolders(folder)

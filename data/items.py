"""One dataset item (a performance with one kit, or one of a user's recordings) and its processing.

Processing an item writes its mono 44.1 kHz mixture, its annotation TSV and, when asked,
its mono stems, then its record (a JSON file holding its manifest row). The record is
written last and names the sources it was made from, so it marks the item as done.
"""

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from idm.audio import read_audio_file, write_wav
from idm.constants import CLASS_NAMES, CLASSES, SAMPLE_RATE
from idm.files import write_text_if_changed
from idm.onset_files import onsets_tsv, read_onset_rows, sorted_rows

RECORDS = "records"
MIXTURES = "mixtures"
STEMS = "stems"
ANNOTATIONS = "annotations"


@dataclass
class Item:
    """What is known of an item before it is processed: its manifest fields and its sources."""

    id: str
    fields: dict
    annotation_source: str
    annotation: str
    """Path of the annotation TSV under the output folder (shared by the kits of one performance)."""
    stems: dict = field(default_factory=dict)
    """{class code: stem file} for an item mixed from stems; empty for a given mixture."""
    mixture_source: str = ""
    keep_stems: bool = False
    lacks: tuple = ()
    """Classes the item's kit has no sound for: their onsets are left out of its annotation."""

    def sources(self) -> list:
        return sorted(self.stems.values()) + [s for s in (self.mixture_source, self.annotation_source) if s]

    def signature(self) -> list:
        """What the record was made from: each source's path, size and modification time, the
        manifest fields known beforehand (a split that changes in info.csv redoes the item) and options."""
        stat = [(s, *_size_and_mtime(s)) for s in self.sources()]
        options = {"annotation": self.annotation, "keep_stems": self.keep_stems}
        if self.lacks:
            options["lacks"] = list(self.lacks)
        return [stat, self.fields, options]


@dataclass
class Plan:
    """The items found in a source folder, the files not understood (path, why) and skip counts."""

    items: list = field(default_factory=list)
    not_understood: list = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    kits: object = None
    """The source's `data.kit_table.KitTable`, copied beside the manifest; None for a folder of mixtures."""


def _size_and_mtime(path) -> tuple:
    s = os.stat(path)
    return s.st_size, s.st_mtime_ns


def record_path(out: Path, item_id: str) -> Path:
    return out / RECORDS / f"{item_id}.json"


def done_record(out: Path, item: Item):
    """The item's record if it was processed from the same sources with the same options, else None."""
    path = record_path(out, item.id)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("signature") != json.loads(json.dumps(item.signature())):
        return None
    return record


def source_frames(item: Item) -> int:
    """Length in 44.1 kHz samples the item's mixture will have, from file headers alone."""
    infos = [sf.info(p) for p in (item.stems.values() if item.stems else [item.mixture_source])]
    return max((-(-i.frames * SAMPLE_RATE // i.samplerate) for i in infos), default=0)


def _read_mixture(item: Item, notes) -> tuple:
    """(mixture (T,), {class: stem (T,)}) as float32 numpy arrays at 44.1 kHz, mono.

    Stems are summed over the length of those recorded at 44.1 kHz (any resampled stem,
    a sample longer or shorter after resampling, is cut or padded to it).
    """
    if not item.stems:
        return read_audio_file(item.mixture_source, notes)[0].numpy(), {}
    read = {c: read_audio_file(p, notes)[:2] for c, p in sorted(item.stems.items())}
    native = [len(wave) for wave, rate in read.values() if rate == SAMPLE_RATE]
    length = max(native or [len(wave) for wave, _ in read.values()])
    stems = {c: np.pad(wave.numpy()[:length], (0, max(0, length - len(wave)))) for c, (wave, _) in read.items()}
    mixture = np.zeros(length, dtype=np.float32)
    for s in stems.values():
        mixture += s
    return mixture, stems


def process_item(out, item: Item) -> dict:
    """Write the item's mixture, annotation and (if kept) stems under `out`, then its record; return it.

    Raises AudioError or OnsetFileError (one line naming the file) on unusable input.
    """
    out = Path(out)
    notes = []
    mixture, stems = _read_mixture(item, notes.append)
    rows, dropped = read_onset_rows(item.annotation_source, notes.append)
    duration = len(mixture) / SAMPLE_RATE
    late = sum(t >= duration for t, _, _ in rows)
    lacking = Counter(c for _, c, _ in rows if c in item.lacks)
    rows = sorted_rows(r for r in rows if r[0] < duration and r[1] not in item.lacks)
    write_text_if_changed(out / item.annotation, onsets_tsv(rows))
    mixture_path = Path(MIXTURES) / f"{item.id}.wav"
    write_wav(out / mixture_path, mixture)
    stems_folder = ""
    if item.keep_stems:
        stems_folder = f"{STEMS}/{item.id}"
        for code in CLASSES:
            write_wav(out / stems_folder / f"{CLASS_NAMES[code]}.wav",
                      stems.get(code, np.zeros_like(mixture)))
    counts = Counter(c for _, c, _ in rows)
    row = dict(item.fields, id=item.id, duration=round(duration, 6), samples=len(mixture),
               mixture=mixture_path.as_posix(), annotation=item.annotation, stems=stems_folder,
               missing_stems=" ".join(c for c in CLASSES if item.stems and c not in item.stems),
               **{f"n_{c}": counts[c] for c in CLASSES})
    record = {"row": row, "dropped_pitches": {str(p): n for p, n in sorted(dropped.items())},
              "late_onsets": late, "lacking_onsets": dict(sorted(lacking.items())), "notes": sorted(set(notes)),
              "signature": item.signature()}
    write_text_if_changed(record_path(out, item.id), json.dumps(record, indent=1) + "\n")
    return json.loads(json.dumps(record))

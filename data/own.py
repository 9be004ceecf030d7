"""Bring your own data: a folder of drum mixtures with per-file annotations becomes dataset items.

Each audio file `x/take.wav` needs an annotation beside it (or at the same relative path
under `annotations`): `x/take.tsv`, `.txt` (`time_s<TAB>class[<TAB>velocity]`) or
`.mid`/`.midi` (GMD pitch table). Kits and splits come from an optional labels CSV
(columns `file`, and `kit` and/or `split`), else from `kit` and a stable hash of the name.
"""

import csv
import hashlib
from pathlib import Path

from idm.inputs import find_inputs

from .items import ANNOTATIONS, Item, Plan

ANNOTATION_SUFFIXES = (".tsv", ".txt", ".mid", ".midi")
OWN_SPLITS = ("train", "val", "test")


def read_labels(path) -> dict:
    """A labels CSV -> {file name without suffix (posix, relative): {'kit': .., 'split': ..}}."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if "file" not in columns or not {"kit", "split"} & set(columns):
            raise ValueError(f"{path}: a labels CSV needs a 'file' column and a 'kit' or 'split' column")
        labels = {}
        for number, row in enumerate(reader, 2):
            split = (row.get("split") or "").strip()
            if split and split not in OWN_SPLITS:
                raise ValueError(f"{path}:{number}: split {split!r} is not one of {', '.join(OWN_SPLITS)}")
            name = Path(row["file"].strip()).with_suffix("").as_posix()
            labels[name] = {"kit": (row.get("kit") or "").strip(), "split": split}
    return labels


def hashed_split(name: str, val_fraction: float, test_fraction: float) -> str:
    """A split drawn from a stable hash of the track name, so adding files never moves old ones."""
    u = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") / 2 ** 64
    return "test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train"


def folder_items(root, annotations=None, labels=None, kit: str = "", kits=None, val_fraction: float = 0.1,
                 test_fraction: float = 0.0, exclude=()) -> Plan:
    """The items of a folder of mixtures; files without an annotation are reported, not used.

    Kit ids number the kits in the order of `kits` when given, else in sorted order; an item
    without a kit gets kit id -1 (no kit supervision).
    """
    root = Path(root)
    labels = read_labels(labels) if labels else {}
    plan = Plan()
    inputs, errors = find_inputs([root], exclude, skipped=lambda *entry: plan.not_understood.append(entry))
    plan.not_understood += [(str(p), why) for p, why in errors]
    found = []
    for entry in inputs:
        base = (Path(annotations) / entry.track) if annotations else entry.path.with_suffix("")
        candidates = [base.with_name(base.name + s) for s in ANNOTATION_SUFFIXES]
        present = [c for c in candidates if c.is_file()]
        if len(present) != 1:
            why = "no annotation file" if not present else "more than one annotation file"
            plan.not_understood.append((str(entry.path), f"{why} ({base.name}{{{','.join(ANNOTATION_SUFFIXES)}}})"))
            continue
        label = labels.get(entry.track, {})
        found.append((entry, present[0], label.get("kit") or kit,
                      label.get("split") or hashed_split(entry.track, val_fraction, test_fraction)))
    names = list(kits) if kits else sorted({k for _, _, k, _ in found if k})
    unknown = sorted({k for _, _, k, _ in found if k and k not in names})
    if unknown:
        raise ValueError(f"kits {', '.join(unknown)} are labelled but not in the given kit list {', '.join(names)}")
    for entry, annotation, kit_name, split in found:
        fields = dict(drummer="", session="", performance=entry.track, kit=kit_name,
                      kit_id=names.index(kit_name) if kit_name else -1, kit_group="", gmd_split="", split=split)
        plan.items.append(Item(entry.track, fields, str(annotation), f"{ANNOTATIONS}/{entry.track}.tsv",
                               mixture_source=str(entry.path)))
    return plan

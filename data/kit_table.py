"""The kit table: which kits a StemGMD-shaped tree holds, their group and ids, and the classes they lack.

A tree may carry its own table as `kits.csv` at its root (columns `name`, `group` (train or
test), `kit_id`, `lacks`: space-separated class codes the kit has no sound for); without one
it holds StemGMD's ten kits, numbered as the released model's kit classifier numbers them.
Kit names are matched in any case. Preprocessing copies the table beside the manifest, so
training and evaluation know the kits of the data.
"""

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from idm.constants import CLASSES, TEST_KITS, TRAIN_KITS

KIT_TABLE = "kits.csv"
KIT_COLUMNS = ("name", "group", "kit_id", "lacks")
GROUPS = {"train": "train_kits", "test": "test_kits"}
"""A kit's group in the table -> its kit group in the manifest and the split names."""


@dataclass(frozen=True)
class Kit:
    """One kit: its name (lower case), group ('train' or 'test'), id and the classes it lacks."""

    name: str
    group: str
    kit_id: int
    lacks: tuple = field(default=())

    @property
    def kit_group(self) -> str:
        return GROUPS[self.group]


class KitTable:
    """Kits by lower-case name, in table order."""

    def __init__(self, kits):
        self.kits = {}
        for kit in kits:
            if kit.name in self.kits:
                raise ValueError(f"kit {kit.name!r} is listed twice")
            self.kits[kit.name] = kit
        ids = [k.kit_id for k in self.kits.values()]
        if len(set(ids)) != len(ids):
            raise ValueError("two kits share a kit id")

    def get(self, name: str):
        """The kit named `name` (any case), or None."""
        return self.kits.get(name.lower())

    def names(self, group: str = None) -> list:
        return [k.name for k in self.kits.values() if group is None or k.group == group]

    @property
    def n_train_kits(self) -> int:
        """How many kits a model trained on this data classifies: the training kits."""
        return len(self.names("train"))

    def text(self) -> str:
        """The table as `kits.csv` text."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(KIT_COLUMNS)
        for k in self.kits.values():
            writer.writerow([k.name, k.group, k.kit_id, " ".join(k.lacks)])
        return buffer.getvalue()


STEMGMD_KIT_TABLE = KitTable([Kit(name, "train", i) for i, name in enumerate(TRAIN_KITS)]
                             + [Kit(name, "test", len(TRAIN_KITS) + i) for i, name in enumerate(TEST_KITS)])
"""StemGMD's kits: the training kits 0..5 in the released classifier's order, then the test kits."""


def read_kit_table(path) -> KitTable:
    """A `kits.csv` file -> KitTable; ValueError naming the file and line on a bad row."""
    path = Path(path)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("name", "group") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: not a kit table (no column {', '.join(missing)})")
        kits = []
        for number, row in enumerate(reader, 2):
            name, group = row["name"].strip().lower(), row["group"].strip()
            if not name or group not in GROUPS:
                raise ValueError(f"{path}:{number}: a kit needs a name and a group (train or test), got "
                                 f"{row['name']!r}, {row['group']!r}")
            lacks = tuple((row.get("lacks") or "").split())
            unknown = [c for c in lacks if c not in CLASSES]
            if unknown:
                raise ValueError(f"{path}:{number}: unknown classes {', '.join(unknown)} (classes are "
                                 f"{', '.join(CLASSES)})")
            kit_id = (row.get("kit_id") or "").strip()
            if kit_id and not kit_id.lstrip("-").isdigit():
                raise ValueError(f"{path}:{number}: kit_id {kit_id!r} is not a whole number")
            kits.append(Kit(name, group, int(kit_id) if kit_id else len(kits), lacks))
    try:
        return KitTable(kits)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def find_kit_table(root) -> KitTable:
    """The table of the tree at `root`: its `kits.csv`, else StemGMD's kits."""
    path = Path(root) / KIT_TABLE
    return read_kit_table(path) if path.is_file() else STEMGMD_KIT_TABLE


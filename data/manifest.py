"""The manifest: one CSV row per item, the table every dataset and evaluation reads."""

import csv
import io
from pathlib import Path

from idm.constants import CLASSES

from .stemgmd import row_splits

MANIFEST = "manifest.csv"
COUNT_COLUMNS = tuple(f"n_{c}" for c in CLASSES)
"""Onsets per class in the item's annotation."""
COLUMNS = ("id", "drummer", "session", "performance", "kit", "kit_id", "kit_group", "gmd_split", "split",
           "duration", "samples", "mixture", "annotation", "stems", "missing_stems") + COUNT_COLUMNS
"""Manifest columns: paths are relative to the manifest's folder; `stems` is a folder or empty."""
INTEGER_COLUMNS = ("kit_id", "samples") + COUNT_COLUMNS


def manifest_text(rows) -> str:
    """The CSV text of manifest rows (dicts with every column of COLUMNS)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: row[c] for c in COLUMNS} for row in rows)
    return buffer.getvalue()


def read_manifest(folder) -> list:
    """Rows of `folder/manifest.csv` as dicts, numbers typed (kit_id is -1 for an unlabelled item)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest here; run `python -m data.preprocess` first")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for c in INTEGER_COLUMNS:
            row[c] = int(row[c])
        row["duration"] = float(row["duration"])
    return rows


def select(rows, splits, kits=()) -> list:
    """The rows of one split name or of any of several (a test split includes its eval_session
    items: see `data.stemgmd.row_splits`), only those of the kits named in `kits` if any."""
    wanted = {splits} if isinstance(splits, str) else set(splits)
    return [r for r in rows if wanted.intersection(row_splits(r)) and (not kits or r["kit"] in kits)]

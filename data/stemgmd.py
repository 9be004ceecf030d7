"""StemGMD's layout and the paper's splits: stem folders, kits, and where a stem file belongs.

StemGMD (Mezza et al. 2024) renders each Groove MIDI Dataset performance through ten kits
as nine stems, best known as `<root>/audio/<drummer>/<session>/<kit>/<stem>/<performance>.wav`.
The layout is not relied on: a file is placed by the kit and stem names found anywhere in
its path, and everything else is reported as not understood.
"""

import os
from dataclasses import dataclass
from pathlib import PurePath

from tqdm import tqdm

from idm.inputs import audio_files

from .gmd import PerformanceIndex, read_info
from .items import ANNOTATIONS, Item, Plan
from .kit_table import STEMGMD_KIT_TABLE, KitTable

STEM_FOLDERS = {
    "kick": "KD",
    "snare": "SD",
    "hihat_closed": "HH_CHH",
    "hihat_open": "HH_OHH",
    "low_tom": "TT_HFT",
    "mid_tom": "TT_LMT",
    "hi_tom": "TT_HMT",
    "crash_left": "CY_CR",
    "ride": "CY_RD",
}
"""StemGMD stem folder -> class code."""
STEM_OF_CLASS = {code: folder for folder, code in STEM_FOLDERS.items()}
"""Class code -> StemGMD stem folder."""

SPLITS = ("train_train_kits", "val_train_kits", "test_train_kits", "test_test_kits",
          "eval_session_train_kits", "eval_session_test_kits")
"""The paper's six splits: GMD's split (or its eval_session) crossed with the kit group."""

ADAPTATION_SPLITS = ("adapt_test_kits", "adapt_val_test_kits")
"""GMD's train and validation performances with the test kits, in none of the paper's splits: kept
with `keep_unsplit`, for fine-tuning a model to kits it was not trained on (and validating it),
scored on the test kits' own test split."""

EVALUATION_SPLITS = SPLITS[1:]
"""Splits whose items keep their stems on disk for evaluation."""


def row_splits(row) -> list:
    """Every split a manifest row belongs to: its own (`split`), and for an eval_session item of
    GMD's test split also that test split of its kit group.

    As the authors built them: GMD labels its eval_session performances `test`, and the authors
    left eval_session out of training only, so their test_train_kits and test_test_kits hold
    those performances too; the eval_session splits are subsets of the test splits.
    """
    split = row["split"]
    if split.startswith("eval_session_") and row.get("gmd_split") == "test":
        return [split, "test_" + split[len("eval_session_"):]]
    return [split]


def is_test_split(split: str) -> bool:
    """Whether `split` holds test items, so it may only report: a test split, or an eval_session
    split (its GMD-test items belong to a test split too: see `row_splits`)."""
    return split.startswith(("test", "eval_session_"))


def kit_group(kit: str, kits: KitTable = STEMGMD_KIT_TABLE) -> str:
    """'train_kits' or 'test_kits' for a kit of the table, '' for any other name."""
    found = kits.get(kit)
    return found.kit_group if found else ""


def paper_split(gmd_split: str, group: str, eval_session: bool) -> str:
    """The paper's split of one performance rendered with a kit of `group`; '' when in none.

    GMD's eval_session performances form their own splits; otherwise GMD's train,
    validation and test splits with the training kits, and its test split with the test kits.
    """
    if not group:
        return ""
    if eval_session:
        return f"eval_session_{group}"
    if group == "train_kits":
        return {"train": "train_train_kits", "validation": "val_train_kits",
                "test": "test_train_kits"}.get(gmd_split, "")
    return "test_test_kits" if gmd_split == "test" else ""


def adaptation_split(gmd_split: str, group: str) -> str:
    """The adaptation split (ADAPTATION_SPLITS) of a performance in none of the paper's splits."""
    return {"train": "adapt_test_kits", "validation": "adapt_val_test_kits"}.get(gmd_split, "") \
        if group == "test_kits" else ""


def check_splits(rows, kits: KitTable = STEMGMD_KIT_TABLE) -> None:
    """Raise ValueError unless the paper's splits are disjoint where they must be.

    No performance of train_train_kits may appear in any other split of the paper, validation
    and test performances may not meet, each split holds only kits of its own group, and the
    adaptation splits share no performance with each other or the test kits' test splits.
    """
    performances = {s: set() for s in SPLITS + ADAPTATION_SPLITS}
    for row in rows:
        split = row["split"]
        if split not in performances:
            continue
        performances[split].add((row["drummer"], row["session"], row["performance"]))
        group = "train_kits" if split.endswith("train_kits") else "test_kits"
        if kit_group(row["kit"], kits) != group:
            raise ValueError(f"{row['id']}: kit {row['kit']!r} (not one of the {group}) in split {split}")
    pairs = [("train_train_kits", s) for s in SPLITS[1:]] + [("val_train_kits", s) for s in SPLITS[2:]]
    pairs += [(a, b) for a in ("test_train_kits", "test_test_kits")
              for b in ("eval_session_train_kits", "eval_session_test_kits")]
    pairs += [(a, b) for a in ADAPTATION_SPLITS for b in ("adapt_val_test_kits", "test_test_kits",
                                                          "eval_session_test_kits") if a != b]
    for a, b in pairs:
        shared = performances[a] & performances[b]
        if shared:
            example = "/".join(sorted(shared)[0])
            raise ValueError(f"splits {a} and {b} share {len(shared)} performances, e.g. {example}")


@dataclass(frozen=True)
class StemFile:
    """One stem file placed in the dataset: which performance, kit and class it holds."""

    path: str
    performance: str
    kit: str
    stem: str
    drummer: str = ""
    session: str = ""

    @property
    def code(self) -> str:
        return STEM_FOLDERS[self.stem]


def place_stem_file(path, root, kits: KitTable = STEMGMD_KIT_TABLE) -> tuple:
    """(StemFile, '') for a stem file found under `root`, or (None, why it was not understood).

    The kit and the stem are path components equal to a kit of the table and a stem folder
    name (any case, at any depth); the performance is the file name without its suffix; the drummer
    is a component `drummer<N>` above the kit and the session the component after it.
    """
    parts = [p.lower() for p in PurePath(path).relative_to(root).parts]
    folders = parts[:-1]
    found = [i for i, p in enumerate(folders) if kits.get(p)]
    stems = [i for i, p in enumerate(folders) if p in STEM_FOLDERS]
    if len(found) != 1:
        return None, "no kit name in the path" if not found else "more than one kit name in the path"
    if len(stems) != 1:
        return None, "no stem folder name in the path" if not stems else "more than one stem name in the path"
    drummers = [i for i, p in enumerate(folders[:found[0]]) if p.startswith("drummer") and p[7:].isdigit()]
    drummer = folders[drummers[-1]] if drummers else ""
    session = folders[drummers[-1] + 1] if drummers and drummers[-1] + 1 < found[0] else ""
    return StemFile(str(path), PurePath(path).stem, folders[found[0]], folders[stems[0]], drummer, session), ""


def annotation_name(p, lacks=()) -> str:
    """Where a performance's annotation goes under the output: one file shared by its kits, and one
    per set of lacking classes (`<name>.without-TT_LMT.tsv`) for kits that lack some."""
    suffix = ".without-" + "-".join(lacks) if lacks else ""
    return f"{ANNOTATIONS}/{p.drummer}/{p.session}/{p.name}{suffix}.tsv"


def stemgmd_items(root, info_csv, keep_stems: str = "eval", keep_unsplit: bool = False, exclude=(),
                  progress: bool = False, kits: KitTable = STEMGMD_KIT_TABLE) -> Plan:
    """The items (performance x kit) of a StemGMD tree, their stem files and GMD MIDI annotations.

    `keep_stems` is 'eval' (items of the evaluation splits), 'all' or 'none'; items in none
    of the paper's splits (train and validation performances with test kits) are skipped
    unless `keep_unsplit`, which puts them in the ADAPTATION_SPLITS. The onsets of classes a kit lacks (see `data.kit_table`) are left
    out of its items' annotations.
    """
    index = PerformanceIndex(read_info(info_csv))
    plan = Plan(kits=kits)
    found = {}  # (Performance, kit) -> {class code: path}
    files = audio_files(root, exclude, skipped=lambda *entry: plan.not_understood.append(entry))
    for path in tqdm(files, desc="scanning", unit=" files", disable=not progress):
        placed, why = place_stem_file(path, root, kits)
        performance = None
        if placed:
            performance, why = index.find(placed.performance, placed.drummer, placed.session)
        if performance is None:
            plan.not_understood.append((path, why))
            continue
        stems = found.setdefault((performance, placed.kit), {})
        if placed.code in stems:
            plan.not_understood.append((path, f"a second {placed.stem} file for {performance.name} with {placed.kit}"))
            continue
        stems[placed.code] = path
    missing_midi = set()
    for (p, kit), stems in sorted(found.items(), key=lambda e: (e[0][0].drummer, e[0][0].session, e[0][0].name,
                                                                 kits.get(e[0][1]).kit_id)):
        kit = kits.get(kit)
        group = kit.kit_group
        split = paper_split(p.split, group, p.eval_session) or (
            adaptation_split(p.split, group) if keep_unsplit else "")
        if not split and not keep_unsplit:
            plan.skipped["in none of the paper's splits"] += 1
            continue
        if not os.path.isfile(p.midi):
            if p.midi not in missing_midi:
                plan.not_understood.append((p.midi, "GMD MIDI file not found (its performance is skipped)"))
                missing_midi.add(p.midi)
            continue
        fields = dict(drummer=p.drummer, session=p.session, performance=p.name, kit=kit.name, kit_id=kit.kit_id,
                      kit_group=group, gmd_split=p.split, split=split)
        keep = keep_stems == "all" or (keep_stems == "eval" and split in EVALUATION_SPLITS)
        plan.items.append(Item(f"{p.drummer}/{p.session}/{p.name}/{kit.name}", fields, p.midi,
                               annotation_name(p, kit.lacks), stems, keep_stems=keep, lacks=kit.lacks))
    return plan

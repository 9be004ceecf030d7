"""The Groove MIDI Dataset's metadata: `info.csv` rows, matched to StemGMD's stem files."""

import csv
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

INFO_COLUMNS = ("drummer", "session", "id", "style", "bpm", "beat_type", "time_signature",
                "midi_filename", "audio_filename", "duration", "split")
"""The columns of GMD's info.csv."""

GMD_SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Performance:
    """One GMD performance: who played it, in which session, its split and its MIDI file."""

    drummer: str
    session: str
    name: str
    split: str
    midi: str

    @property
    def eval_session(self) -> bool:
        return self.session == "eval_session"


def find_info_csv(root, max_depth: int = 3):
    """The first GMD `info.csv` (by sorted path) at most `max_depth` folders below `root`, or None."""
    root = Path(root)
    for depth in range(max_depth + 1):
        for path in sorted(root.glob("/".join(["*"] * depth + ["info.csv"]))):
            with open(path, newline="") as f:
                header = next(csv.reader(f), [])
            if "midi_filename" in header:
                return path
    return None


def read_info(path) -> dict:
    """GMD's info.csv -> {(drummer, session, performance name): Performance}; MIDI paths are absolute.

    The session column (`drummer1/eval_session`) keeps its last part; the performance name is
    the MIDI file's name without its suffix, as StemGMD names its stem files.
    """
    path = Path(path)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("drummer", "session", "midi_filename", "split") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: not a GMD info.csv (no column {', '.join(missing)})")
        performances = {}
        for number, row in enumerate(reader, 2):
            if row["split"] not in GMD_SPLITS:
                raise ValueError(f"{path}:{number}: split {row['split']!r} is not one of {', '.join(GMD_SPLITS)}")
            midi = PurePosixPath(row["midi_filename"])
            p = Performance(row["drummer"], PurePosixPath(row["session"]).name, midi.stem, row["split"],
                            os.path.join(path.parent, *midi.parts))
            performances[(p.drummer, p.session, p.name)] = p
    return performances


class PerformanceIndex:
    """Look up GMD performances by drummer, session and name, or by a name that is unique."""

    def __init__(self, performances: dict):
        self.performances = performances
        self.by_name = {}
        for p in performances.values():
            self.by_name.setdefault(p.name, []).append(p)

    def find(self, name: str, drummer: str = "", session: str = "") -> tuple:
        """(Performance, '') or (None, why no single performance matches)."""
        if drummer and session:
            p = self.performances.get((drummer, session, name))
            return (p, "") if p else (None, f"no GMD performance {drummer}/{session}/{name}")
        matches = [p for p in self.by_name.get(name, []) if not drummer or p.drummer == drummer]
        if len(matches) == 1:
            return matches[0], ""
        return None, f"{len(matches) or 'no'} GMD performances named {name}" + (" (give the drummer and session "
                                                                                  "folders)" if matches else "")

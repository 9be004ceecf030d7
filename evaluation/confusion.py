"""Where transcription errors go: a confusion table of reference classes against estimated classes.

For one track, with onsets matched within the onset window one-to-one per class pair (as
`mir_eval.util.match_events` pairs them):

- the diagonal [r, r] counts the reference onsets of class r that its own output found (the
  true positives of the onset F-measure);
- [r, e], e != r, counts the reference onsets of r that class r's output missed and that a *false*
  onset of output e (one that matches no reference onset of e) lies on: a mid tom transcribed as a
  high tom adds to [tom_mid, tom_high]. An estimate that is right for its own class is never
  counted against another class playing at the same time;
- column K (`missed`) counts the reference onsets of r that no output found: neither r's nor a
  false onset of another class;
- row K (`false`) counts the false onsets of output e near no reference onset of any class.

A reference onset taken by two wrong outputs counts in both columns. Counts add over tracks.
"""

import mir_eval
import numpy as np

from idm.constants import CLASS_NAMES, CLASSES

from .transcription import WINDOW

COLUMNS = tuple(CLASS_NAMES[c] for c in CLASSES) + ("missed",)
"""Columns of the table: the estimated classes, then the missed reference onsets."""
ROWS = tuple(CLASS_NAMES[c] for c in CLASSES) + ("false",)
"""Rows: the reference classes, then the estimated onsets near no reference onset."""


def _near_any(times: np.ndarray, others: np.ndarray, window: float) -> np.ndarray:
    """For each of `times`, whether one of `others` lies within `window` seconds."""
    if len(times) == 0 or len(others) == 0:
        return np.zeros(len(times), dtype=bool)
    others = np.sort(others)
    right = np.searchsorted(others, times, side="left")
    before = np.abs(times - others[np.clip(right - 1, 0, len(others) - 1)]) <= window
    after = np.abs(others[np.clip(right, 0, len(others) - 1)] - times) <= window
    return before | after


def _unmatched(reference: np.ndarray, estimate: np.ndarray, window: float) -> tuple:
    """(reference onsets, estimated onsets) that the one-to-one matching within `window` leaves unpaired."""
    pairs = mir_eval.util.match_events(reference, estimate, window) if len(reference) and len(estimate) else []
    ref_left = np.ones(len(reference), dtype=bool)
    est_left = np.ones(len(estimate), dtype=bool)
    for i, j in pairs:
        ref_left[i], est_left[j] = False, False
    return reference[ref_left], estimate[est_left]


def confusion_counts(reference: dict, estimate: dict, window: float = WINDOW) -> np.ndarray:
    """(K + 1, K + 1) counts of one track (see the module) from {class code: onset times} dicts."""
    k = len(CLASSES)
    ref = [np.sort(np.asarray(reference.get(c, ()), dtype=np.float64).reshape(-1)) for c in CLASSES]
    est = [np.sort(np.asarray(estimate.get(c, ()), dtype=np.float64).reshape(-1)) for c in CLASSES]
    missed, false = zip(*(_unmatched(r, e, window) for r, e in zip(ref, est)))
    counts = np.zeros((k + 1, k + 1), dtype=np.int64)
    every_ref = np.concatenate(ref)
    for r in range(k):
        counts[r, r] = len(ref[r]) - len(missed[r])
        for e in range(k):
            if e != r and len(missed[r]) and len(false[e]):
                counts[r, e] = len(mir_eval.util.match_events(missed[r], false[e], window))
        other_false = np.concatenate([false[e] for e in range(k) if e != r])
        counts[r, k] = int((~_near_any(missed[r], other_false, window)).sum())
    for e in range(k):
        counts[k, e] = int((~_near_any(false[e], every_ref, window)).sum())
    return counts


def confusion_rows(system: str, counts: np.ndarray, n_ref) -> list:
    """CSV rows of one system's table: `system`, `reference`, `onsets` (the reference onsets of the
    row's class; for `false`, the false onsets) and one count per column."""
    totals = [int(n) for n in n_ref] + [int(counts[-1, :-1].sum())]
    return [{"system": system, "reference": name, "onsets": total, **dict(zip(COLUMNS, counts[i].tolist()))}
            for i, (name, total) in enumerate(zip(ROWS, totals))]

"""Onset scores of one class on one track, and pooling over tracks.

Per track, precision, recall and F-measure are `mir_eval.onset.f_measure` (window 50 ms).
The empty cases are explicit: a class the reference never plays has no precision, recall
or F-measure (NaN; per-track means leave it out), and its estimated onsets are counted as
`false_onsets`; a class the reference plays and the estimate does not scores 0. Pooled
scores sum true positives, references and estimates over tracks first.
"""

import math
import warnings

import mir_eval
import numpy as np

from idm.constants import CLASSES
from idm.separate import transcribe

WINDOW = 0.05
"""Onset matching tolerance in seconds (mir_eval's default; the paper's value is not known)."""
TRANSCRIPTION_METRICS = ("f", "precision", "recall", "n_ref", "n_est", "tp", "false_onsets")
"""Column names of the transcription scores."""


def _events(times) -> np.ndarray:
    return np.sort(np.asarray(times, dtype=np.float64).reshape(-1))


def score_onsets(reference, estimate, window: float = WINDOW) -> dict:
    """TRANSCRIPTION_METRICS of estimated onset times against reference onset times (seconds)."""
    reference, estimate = _events(reference), _events(estimate)
    tp = len(mir_eval.util.match_events(reference, estimate, window)) if len(reference) and len(estimate) else 0
    scores = {"n_ref": len(reference), "n_est": len(estimate), "tp": tp, "false_onsets": 0}
    if len(reference) == 0:
        scores.update(f=math.nan, precision=math.nan, recall=math.nan, false_onsets=len(estimate))
        return scores
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mir_eval warns about an empty estimate; 0 is the score we want
        f, precision, recall = mir_eval.onset.f_measure(reference, estimate, window)
    scores.update(f=f, precision=precision, recall=recall)
    return scores


def pooled(tp: int, n_ref: int, n_est: int) -> dict:
    """Precision, recall and F-measure of counts summed over tracks (NaN where undefined)."""
    precision = tp / n_est if n_est else math.nan
    recall = tp / n_ref if n_ref else math.nan
    if n_ref == 0:
        f = math.nan
    else:
        f = 2 * tp / (n_ref + n_est)
    return {"f": f, "precision": precision, "recall": recall}


def pooled_onset_f(model, clips, shift: int = 0, window: float = WINDOW) -> dict:
    """{class: onset F-measure} of `model`'s transcription of every clip of a `data.datasets.ClipDataset`,
    counts pooled over the clips. `shift` > 0 scores clip i's transcription against clip i + shift's
    reference: the chance level of a transcription with the right density but no alignment."""
    counts = {c: np.zeros(3) for c in CLASSES}
    for i in range(len(clips)):
        example, reference = clips[i], clips[(i + shift) % len(clips)]
        estimate = transcribe(example["mixture"], model).onsets[0]
        for k, c in enumerate(CLASSES):
            s = score_onsets(reference["onsets"][k], estimate[c], window)
            counts[c] += s["n_ref"], s["n_est"], s["tp"]
    return {c: pooled(int(tp), int(r), int(e))["f"] for c, (r, e, tp) in counts.items()}

"""Separation scores of one stem: the metrics, with silent references and segments handled.

Silent references (total energy <= 1e-4) get no SDR-type score by default (`exclude`,
ours): nSDR, SI-SDR and LSD are NaN, so summaries leave them out and count them, and
`pes_silent` (their PES, NaN for every other reference) tells how much the system leaked
into them. LSD is left out too: against a silent reference it measures leakage alone (0
for an exactly silent estimate, about 2 for -100 dBFS noise, 10.8 for -60 dBFS), which
would tilt a mean of distances between sounds. `zero` scores nSDR and SI-SDR 0 and keeps
them in the means, as the authors' code did, and computes LSD on them. PES and EPS are
always computed.

Segment-wise scoring cuts both signals into non-overlapping segments, drops those whose
reference is at or below -60 dB, and averages nSDR, SI-SDR and LSD over the rest.
"""

import math

import numpy as np

from .metrics import is_silent, lsd, nsdr, pes_eps, segment_is_silent, si_sdr

SILENT_MODES = ("exclude", "zero")
SEPARATION_METRICS = ("nsdr", "si_sdr", "lsd", "pes", "eps", "pes_silent")
"""Column names of the separation scores, in table order."""
SCORING_VERSION = 2
"""Raised whenever a score's definition changes, so cached scores of another version are not mixed in
(2: LSD of silent references left out under `exclude`, `pes_silent` added)."""


def _segments(n: int, length: int) -> list:
    return [(s, min(n, s + length)) for s in range(0, n, length)]


def score_stem(reference, estimate, silent: str = "exclude", segment_samples: int = None) -> dict:
    """Scores of one estimated stem: SEPARATION_METRICS plus `silent` (the reference is silent)
    and `segments` (how many segments were scored; 1 for whole-track scoring)."""
    if silent not in SILENT_MODES:
        raise ValueError(f"silent must be one of {', '.join(SILENT_MODES)}, not {silent!r}")
    reference, estimate = np.asarray(reference, np.float64), np.asarray(estimate, np.float64)
    pes, eps = pes_eps(reference, estimate)
    scores = {"pes": pes, "eps": eps, "silent": is_silent(reference)}
    scores["pes_silent"] = pes if scores["silent"] else math.nan
    if scores["silent"]:
        spans = []
    elif segment_samples is None:
        spans = [(0, len(reference))]
    else:
        spans = [(a, b) for a, b in _segments(len(reference), segment_samples)
                 if not segment_is_silent(reference[a:b])]
    if spans:
        pairs = [(reference[a:b], estimate[a:b]) for a, b in spans]
        scores["nsdr"] = float(np.mean([nsdr(r, e) for r, e in pairs]))
        scores["si_sdr"] = float(np.mean([si_sdr(r, e) for r, e in pairs]))
    else:
        scores["nsdr"] = scores["si_sdr"] = 0.0 if silent == "zero" else math.nan
    lsd_spans = spans or ([(0, len(reference))] if silent == "zero" else [])
    scores["lsd"] = float(np.mean([lsd(reference[a:b], estimate[a:b]) for a, b in lsd_spans])) if lsd_spans \
        else math.nan
    scores["segments"] = len(spans)
    return scores

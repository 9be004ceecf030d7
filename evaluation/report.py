"""Summaries of per-track scores: mean, median and a 95% bootstrap interval per class and system,
as CSV rows and Markdown tables."""

import math

import numpy as np

from .separation import SEPARATION_METRICS
from .spaces import stem_names
from .transcription import pooled

BOOTSTRAP = 1000
"""Resamples of the percentile bootstrap of the mean (fixed seed: reruns give the same intervals)."""
HEADLINE = ("si_sdr", "nsdr")
"""Metrics of the bar plots, in order."""


def bootstrap_interval(values, resamples: int = BOOTSTRAP, level: float = 0.95, seed: int = 0) -> tuple:
    """Percentile bootstrap interval of the mean of `values` (NaN, NaN for no values)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def _defined(values) -> np.ndarray:
    return np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)


def _mean(values) -> float:
    values = _defined(values)
    return float(values.mean()) if len(values) else math.nan


def _stats(values) -> dict:
    values = _defined(values)
    low, high = bootstrap_interval(values)
    mean = _mean(values)
    median = float(np.median(values)) if len(values) else math.nan
    return {"n": len(values), "mean": mean, "median": median, "ci_low": low, "ci_high": high}


def _groups(rows, keys) -> dict:
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    return groups


def summarize_separation(rows) -> list:
    """One summary row per (system, space, output, metric, stem): n scored, n_silent references
    (left out of SDR-type means unless scored 0), mean, median, ci_low, ci_high."""
    out = []
    for (system, space, output, stem), group in _groups(rows, ("system", "space", "output", "stem")).items():
        silent = sum(bool(r["silent"]) for r in group)
        for metric in SEPARATION_METRICS:
            out.append({"system": system, "space": space, "output": output, "metric": metric, "stem": stem,
                        "n_silent": silent, **_stats(r[metric] for r in group)})
    return out


def summarize_transcription(rows) -> list:
    """One summary row per (system, space, stem): per-track mean F (over tracks where the class
    plays), its median and interval, mean precision and recall, pooled F/P/R, and the false
    onsets on tracks where the class never plays (`false_onsets`, over `silent_tracks`)."""
    out = []
    for (system, space, stem), group in _groups(rows, ("system", "space", "stem")).items():
        stats = _stats(r["f"] for r in group)
        counts = {k: sum(int(r[k]) for r in group) for k in ("tp", "n_ref", "n_est")}
        total = pooled(counts["tp"], counts["n_ref"], counts["n_est"])
        out.append({"system": system, "space": space, "stem": stem, "tracks": stats["n"],
                    "f_mean": stats["mean"], "f_median": stats["median"],
                    "ci_low": stats["ci_low"], "ci_high": stats["ci_high"],
                    "precision_mean": _mean(r["precision"] for r in group),
                    "recall_mean": _mean(r["recall"] for r in group),
                    "pooled_f": total["f"], "pooled_precision": total["precision"], "pooled_recall": total["recall"],
                    "silent_tracks": sum(int(r["n_ref"]) == 0 for r in group),
                    "false_onsets": sum(int(r["false_onsets"]) for r in group)})
    return out


def _cell(mean, low, high, digits: int = 2) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _table(header, body) -> list:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(map(str, row)) + " |" for row in body]


METRIC_TITLES = {"nsdr": "nSDR (dB, higher is better)", "si_sdr": "SI-SDR (dB, higher is better)",
                 "lsd": "LSD (lower is better)", "pes": "PES (dB, leakage into silence; lower is better)",
                 "eps": "EPS (dB, holes; lower is better)",
                 "pes_silent": "PES of the silent references alone (dB, leakage where the class never plays; "
                               "lower is better)"}


def markdown(separation: list, transcription: list, systems, title: str, notes=(), unavailable=None) -> str:
    """Markdown tables: per space (5 groups first), per output and metric, systems x stems with
    `mean [95% interval]`; then onset F-measure (per-track mean [interval], pooled). Systems in
    `unavailable` get a row of `unavailable` in the masked tables of the 5-group space."""
    unavailable = unavailable or {}
    lines = [f"# {title}", "", *notes]
    index = {(r["system"], r["space"], r["output"], r["metric"], r["stem"]): r for r in separation}
    for space in sorted({r["space"] for r in separation}):
        names = stem_names(space)
        for output in ("masked", "synth"):
            for metric in SEPARATION_METRICS:
                body, scored = [], False
                for system in systems:
                    cells = [index.get((system, space, output, metric, s)) for s in names]
                    if any(cells):
                        body.append([system] + [_cell(c["mean"], c["ci_low"], c["ci_high"]) if c else "–"
                                                for c in cells])
                        scored = scored or any(c and c["n"] for c in cells)
                    elif system in unavailable and space == 5 and output == "masked":
                        body.append([system] + ["unavailable"] * len(names))
                if scored:  # a table of dashes alone (no silent reference for pes_silent) is left out
                    lines += ["", f"## {space} classes, {output}: {METRIC_TITLES[metric]}", ""]
                    lines += _table(["system", *names], body)
        silent = {s: r["n_silent"] for (sy, sp, o, m, s), r in index.items() if sp == space and m == "nsdr"}
        if any(silent.values()):
            lines += ["", f"Silent references in the {space}-class space (no SDR-type score unless "
                      "`--silent zero`): " + ", ".join(f"{s} {n}" for s, n in silent.items() if n)]
    tindex = {(r["system"], r["space"], r["stem"]): r for r in transcription}
    for space in sorted({r["space"] for r in transcription}):
        names = stem_names(space)
        body = []
        for system in systems:
            cells = [tindex.get((system, space, s)) for s in names]
            if any(cells):
                body.append([system] + [f"{_cell(c['f_mean'], c['ci_low'], c['ci_high'], 3)}; pooled "
                                        f"{c['pooled_f']:.3f}; false {c['false_onsets']}" if c else "–"
                                        for c in cells])
        if body:
            lines += ["", f"## {space} classes: onset F-measure (per-track mean [95% interval]; pooled; "
                      "false onsets on tracks where the class never plays)", ""]
            lines += _table(["system", *names], body)
    return "\n".join(lines) + "\n"

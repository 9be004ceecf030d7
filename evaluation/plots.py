"""PNG figures of an evaluation: per-class bars with 95% intervals, and one example track's
waveforms and onset piano roll."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from idm.constants import SAMPLE_RATE  # noqa: E402
from idm.files import atomic_path  # noqa: E402

from .confusion import COLUMNS, ROWS  # noqa: E402
from .report import HEADLINE, METRIC_TITLES  # noqa: E402
from .spaces import stem_names  # noqa: E402


def _save(fig, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def bar_plot(summary: list, systems, path, space: int = 5, output: str = "masked") -> None:
    """Mean per stem and system with 95% bootstrap intervals, one panel per headline metric."""
    names = stem_names(space)
    index = {(r["system"], r["metric"], r["stem"]): r for r in summary
             if r["space"] == space and r["output"] == output}
    shown = [s for s in systems if any((s, m, n) in index for m in HEADLINE for n in names)]
    fig, axes = plt.subplots(1, len(HEADLINE), figsize=(6 * len(HEADLINE), 4), squeeze=False)
    width = 0.8 / max(1, len(shown))
    for ax, metric in zip(axes[0], HEADLINE):
        for i, system in enumerate(shown):
            rows = [index.get((system, metric, n)) for n in names]
            mean = np.array([r["mean"] if r else np.nan for r in rows])
            low = np.array([r["ci_low"] if r else np.nan for r in rows])
            high = np.array([r["ci_high"] if r else np.nan for r in rows])
            x = np.arange(len(names)) + (i - (len(shown) - 1) / 2) * width
            ax.bar(x, mean, width, label=system, yerr=[mean - low, high - mean], capsize=2)
        ax.set_xticks(np.arange(len(names)), names, rotation=30 if space == 9 else 0)
        ax.set_title(f"{space} classes, {output}: {METRIC_TITLES[metric]}", fontsize=9)
        ax.axhline(0, color="black", linewidth=0.5)
    axes[0][0].legend(fontsize=7)
    _save(fig, path)


def example_plot(track_id: str, reference: np.ndarray, estimates: dict, reference_onsets: dict,
                 estimated_onsets: dict, path, space: int = 5) -> None:
    """Waveforms of the reference and every system's masked stems (one row per stem), and a piano
    roll of the reference onsets against each system's. `estimates`: {system: (S, T) array};
    onsets: {stem name: times} for the reference and {system: {stem name: times}}."""
    names = stem_names(space)
    t = np.arange(reference.shape[-1]) / SAMPLE_RATE
    colors = {system: f"C{i}" for i, system in enumerate(dict.fromkeys([*estimates, *estimated_onsets]))}
    fig, axes = plt.subplots(len(names) + 1, 1, figsize=(12, 1.6 * (len(names) + 2)), sharex=True)
    for j, name in enumerate(names):
        ax = axes[j]
        ax.plot(t, reference[j], color="black", linewidth=0.6, label="reference")
        for system, stems in estimates.items():
            ax.plot(t, stems[j], linewidth=0.5, alpha=0.7, color=colors[system], label=system)
        ax.set_ylabel(name, fontsize=8)
    axes[0].legend(fontsize=7, loc="upper right", ncol=len(estimates) + 1)
    axes[0].set_title(f"{track_id}: masked stems ({space} classes) and onsets", fontsize=9)
    roll = axes[-1]
    rows = [("reference", reference_onsets)] + list(estimated_onsets.items())
    height = 0.8 / len(rows)
    for i, (label, onsets) in enumerate(rows):
        for j, name in enumerate(names):
            times = np.asarray(onsets.get(name, []))
            times = times[times <= t[-1]] if len(t) else times
            y = j + 0.4 - (i + 0.5) * height
            roll.plot(times, np.full(len(times), y), "|", markersize=6, color=colors.get(label, "black"),
                      label=label if j == 0 else None)
    roll.set_yticks(np.arange(len(names)), names, fontsize=8)
    roll.set_xlabel("seconds")
    roll.legend(fontsize=7, loc="upper right", ncol=len(rows))
    _save(fig, path)


def confusion_plot(system: str, counts: np.ndarray, n_ref, path) -> None:
    """Heat map of one system's confusion table (`evaluation.confusion`): each reference class's row
    as shares of its onsets, the `false` row as counts."""
    k = len(ROWS) - 1
    shares = counts[:k] / np.maximum(np.asarray(n_ref, dtype=np.float64)[:, None], 1)
    fig, ax = plt.subplots(figsize=(8.5, 6.5))
    ax.imshow(np.vstack([shares, np.zeros((1, k + 1))]), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(k + 1):
        for j in range(k + 1):
            if i == k and j == k:
                continue
            text = f"{counts[i, j]}" if i == k else f"{shares[i, j]:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if i < k and shares[i, j] > 0.6 else "black")
    ax.set_xticks(np.arange(k + 1), COLUMNS, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(np.arange(k + 1), [f"{name} ({int(n)})" for name, n in zip(ROWS, list(n_ref) + [counts[k].sum()])],
                  fontsize=8)
    ax.set_xlabel("estimated class")
    ax.set_ylabel("reference class (onsets)")
    ax.set_title(f"{system}: share of each class's onsets found by each output; false onsets (counts)", fontsize=9)
    _save(fig, path)

"""One tom per hit, on a validation split: keep only the most probable tom output within a window.

    python benchmarks/one_tom_per_hit.py [MODEL] [--data datasets/kits/data] [--split val_train_kits]

Peak-picks the model's onset probabilities with its own thresholds, then, wherever two tom outputs
fire within `window` frames of each other, drops the less probable one. Prints the pooled onset F
(50 ms) of each tom class, of the toms group (the three toms as one class, as the 5-group tables
score them) and the mean over the nine classes, per window (0: the rule off). Test splits are
refused: a rule like this is chosen on validation.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.datasets import ClipDataset  # noqa: E402
from data.stemgmd import is_test_split  # noqa: E402
from evaluation.spaces import fold_onsets  # noqa: E402
from evaluation.transcription import score_onsets  # noqa: E402
from idm.checkpoint import load_model  # noqa: E402
from idm.constants import CLASS_NAMES, CLASSES, FRAME_RATE  # noqa: E402
from idm.peaks import model_peak_params, peak_pick  # noqa: E402
from idm.stems import stem_layout  # noqa: E402
from machine import describe  # noqa: E402
from trainer.thresholds import onset_probabilities, pooled_f  # noqa: E402
from trainer.validation import onset_counts  # noqa: E402

TOMS = list(stem_layout(5)["toms"])


def one_tom_per_hit(grid: np.ndarray, probs: np.ndarray, window: int) -> np.ndarray:
    """`grid` (K, M) with, of any two tom onsets within `window` frames, the less probable dropped."""
    grid = grid.copy()
    for frame, k in sorted((f, k) for k in TOMS for f in np.flatnonzero(grid[k])):
        if not grid[k, frame]:
            continue
        lo = max(0, frame - window)
        for other in TOMS:
            if other == k:
                continue
            for f in lo + np.flatnonzero(grid[other, lo:frame + window + 1]):
                grid[(k, frame) if probs[other, f] > probs[k, frame] else (other, f)] = 0
    return grid


def toms_group_counts(grids: list, references: list) -> np.ndarray:
    """Reference, estimated and matched onsets of the three toms scored as one class (`fold_onsets`)."""
    counts = np.zeros(3)
    for grid, onsets in zip(grids, references):
        estimated = fold_onsets({code: np.flatnonzero(grid[k]) / FRAME_RATE for k, code in enumerate(CLASSES)}, 5)
        scores = score_onsets(fold_onsets(dict(zip(CLASSES, onsets)), 5)["toms"], estimated["toms"])
        counts += scores["n_ref"], scores["n_est"], scores["tp"]
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default="idm-44-recorded-kits", help="a model name or file")
    parser.add_argument("--data", type=Path, default=Path("datasets/kits/data"), help="make kits-data's data/")
    parser.add_argument("--split", default="val_train_kits", help="a validation split (default: %(default)s)")
    parser.add_argument("--windows", type=int, nargs="+", default=[0, 2, 4], help="windows in frames (0: off)")
    args = parser.parse_args(argv)
    if is_test_split(args.split):
        print(f"error: {args.split} holds test items: rules are chosen on validation splits", file=sys.stderr)
        return 1
    model = load_model(args.model)
    clips = ClipDataset(args.data, args.split)
    probs = onset_probabilities(model, clips)
    references = [clips[i]["onsets"] for i in range(len(clips))]
    grids = [peak_pick(p, **model_peak_params(model.config)).numpy() for p in probs]
    names = [CLASS_NAMES[CLASSES[k]] for k in TOMS]
    print(f"{args.model}, {len(clips)} items of {args.split}; {describe()}")
    print(f"| window (frames) | {' | '.join(names)} | toms group | mean of 9 |\n|{' --- |' * (len(names) + 3)}")
    for window in args.windows:
        kept = [one_tom_per_hit(g, p.numpy(), window) if window else g for g, p in zip(grids, probs)]
        f = pooled_f(sum(onset_counts(g, r) for g, r in zip(kept, references)))
        print(f"| {window} | {' | '.join(f'{f[k]:.3f}' for k in TOMS)} | "
              f"{pooled_f(toms_group_counts(kept, references)):.3f} | {f.mean():.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

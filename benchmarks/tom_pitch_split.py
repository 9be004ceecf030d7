"""The mid tom split off by pitch (`idm.tom_order`), on a validation split, per pitch gap.

    python benchmarks/tom_pitch_split.py [MODEL ...] [--data datasets/kits/data] [--split val_train_kits]

Peak-picks each model's onset probabilities with its own thresholds, then splits the mid tom
off the low or high tom within each track (`split_mid_tom`) with each gap of `--gaps`
(semitones; 0: the rule off). Prints the pooled onset F (50 ms) of each tom, of the toms group
and the mean of the nine classes, with the kits of the split each scored alone too (a kit
without a mid tom shows what the rule costs where there is none to find). Test splits are
refused: the gap is chosen on validation.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.datasets import ClipDataset  # noqa: E402
from data.stemgmd import is_test_split  # noqa: E402
from idm.checkpoint import load_model  # noqa: E402
from idm.constants import CLASS_NAMES, CLASSES  # noqa: E402
from idm.peaks import model_peak_params, peak_pick  # noqa: E402
from idm.tom_order import HIGH, LOW, MID, split_mid_tom  # noqa: E402
from machine import describe  # noqa: E402
from one_tom_per_hit import toms_group_counts  # noqa: E402
from trainer.thresholds import onset_probabilities, pooled_f  # noqa: E402
from trainer.validation import onset_counts  # noqa: E402

TOMS = (LOW, MID, HIGH)


def table_rows(grids: list, references: list, label: str) -> str:
    """One markdown row: the toms' F, the toms group's and the mean of the nine classes."""
    f = pooled_f(sum(onset_counts(g, r) for g, r in zip(grids, references)))
    return (f"| {label} | {' | '.join(f'{f[k]:.3f}' for k in TOMS)} | "
            f"{pooled_f(toms_group_counts(grids, references)):.3f} | {f.mean():.3f} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", default=["idm-44-train-kits", "idm-44-recorded-kits"],
                        help="model names or files")
    parser.add_argument("--data", type=Path, default=Path("datasets/kits/data"), help="make kits-data's data/")
    parser.add_argument("--split", default="val_train_kits", help="a validation split (default: %(default)s)")
    parser.add_argument("--gaps", type=float, nargs="+", default=[0, 1.5, 2, 2.5, 3, 4],
                        help="pitch gaps in semitones (0: the rule off)")
    args = parser.parse_args(argv)
    if is_test_split(args.split):
        print(f"error: {args.split} holds test items: rules are chosen on validation splits", file=sys.stderr)
        return 1
    clips = ClipDataset(args.data, args.split)
    items = [clips[i] for i in range(len(clips))]
    kits = [clips.rows[i]["kit"] for i in range(len(clips))]
    references = [item["onsets"] for item in items]
    names = [CLASS_NAMES[CLASSES[k]] for k in TOMS]
    print(f"{len(clips)} items of {args.split}; {describe()}")
    for name in args.models:
        model = load_model(name)
        with torch.no_grad():
            probs = onset_probabilities(model, clips)
        grids = [peak_pick(p, **model_peak_params(model.config)).numpy() for p in probs]
        print(f"\n{name}\n\n| gap (semitones), kits | {' | '.join(names)} | toms group | mean of 9 |\n"
              f"|{' --- |' * (len(names) + 3)}")
        for gap in args.gaps:
            split = [split_mid_tom(g, item["mixture"].numpy(), gap) if gap else g for g, item in zip(grids, items)]
            print(table_rows(split, references, f"{gap:g}, all"))
            for kit in sorted(set(kits)):
                chosen = [i for i, k in enumerate(kits) if k == kit]
                print(table_rows([split[i] for i in chosen], [references[i] for i in chosen], f"{gap:g}, {kit}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

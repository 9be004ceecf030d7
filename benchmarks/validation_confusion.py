"""Where a model's onsets go on validation items: the confusion table of `make eval`, without separation.

    python benchmarks/validation_confusion.py MODEL [--data datasets/kits/data]
        [--split train_train_kits val_train_kits] [--kits forzee_stereo]

Transcribes every item of the splits (only the `--kits` ones' when given), peak-picks with the
model's own thresholds and prints the pooled confusion counts (`evaluation.confusion`: rows are
reference classes, columns the outputs a missed onset was heard as, then `missed`; the last row
counts false onsets near no reference onset). Made for the kit held out of `make
transcriber-holdout`: which classes its unheard drums are taken for. Test splits are refused.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.datasets import ClipDataset  # noqa: E402
from data.stemgmd import is_test_split  # noqa: E402
from evaluation.confusion import COLUMNS, ROWS, confusion_counts  # noqa: E402
from idm.checkpoint import CheckpointError, load_model  # noqa: E402
from idm.constants import CLASSES  # noqa: E402
from idm.peaks import model_peak_params, peak_pick  # noqa: E402
from idm.separate import onset_times  # noqa: E402
from trainer.thresholds import onset_probabilities  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a model name or file")
    parser.add_argument("--data", type=Path, default=Path("datasets/kits/data"), help="data folder")
    parser.add_argument("--split", nargs="+", default=["train_train_kits", "val_train_kits"], help="splits")
    parser.add_argument("--kits", nargs="+", default=["forzee_stereo"], help="only these kits' items")
    args = parser.parse_args(argv)
    tests = [s for s in args.split if is_test_split(s)]
    if tests:
        print(f"validation_confusion: error: {tests[0]} holds test items", file=sys.stderr)
        return 1
    try:
        model = load_model(args.model)
        clips = ClipDataset(args.data, args.split, from_kits=args.kits)
    except (CheckpointError, OSError, ValueError) as exc:
        print(f"validation_confusion: error: {exc}", file=sys.stderr)
        return 1
    params = model_peak_params(model.config)
    counts = 0
    for i, probs in enumerate(onset_probabilities(model, clips)):
        estimate = onset_times(peak_pick(probs, **params)[None])[0]
        reference = dict(zip(CLASSES, clips[i]["onsets"]))
        counts = counts + confusion_counts(reference, estimate)
    print(f"{args.model} on {len(clips)} items of {', '.join(args.split)} ({', '.join(args.kits)}), "
          f"its own thresholds:\n")
    print("| reference | " + " | ".join(COLUMNS) + " |\n|" + " --- |" * (len(COLUMNS) + 1))
    for row, values in zip(ROWS, counts):
        print(f"| {row} | " + " | ".join(str(int(v)) for v in values) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

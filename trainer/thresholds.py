"""`python -m trainer.thresholds MODEL --data FOLDER`: per-class onset thresholds chosen on a
validation split, written into the model.

Peak picking keeps a frame whose onset probability is a local maximum at least `delta` above its
local mean (`idm.peaks`); the released model uses 0.2 for every class. For each class this picks
the `delta` from DELTAS with the highest pooled onset F-measure (50 ms) over the whole items of
one or more splits (`--kits`: only those kits' items, such as a kit held out of training), ties
going to the value nearest 0.2; a class the items never play keeps 0.2. It prints
each class's F with 0.2 and with its chosen value, and writes the model with the chosen values
(`ModelConfig.onset_delta`, read by `idm separate`, `make eval` and validation) to `--out`,
by default over MODEL itself, atomically, with `--mid-tom-gap` too where given
(`ModelConfig.mid_tom_gap`, chosen with `benchmarks/tom_pitch_split.py`). Test splits are
refused: they only report.

`--choose-with OTHER` chooses with another model's probabilities and writes the values into
MODEL: a model of the same recipe trained with `--kits` held out (`mix.hold_out`) chooses, on
kits it never heard, thresholds for MODEL, which heard them. Several held-out models pool their
counts, each on the items of its own kit: `--choose-with A.pt:kit_a B.pt:kit_b ...`.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from data.datasets import ClipDataset
from data.stemgmd import is_test_split
from idm.checkpoint import CheckpointError, load_model, save_model, sha256_of
from idm.config import ModelConfig
from idm.constants import CLASS_NAMES, CLASSES
from idm.tom_order import MID_TOM_GAP
from idm.peaks import default_peak_params, peak_pick
from trainer.validation import onset_counts

RELEASED_DELTA = default_peak_params()["delta"]
DELTAS = tuple(round(0.025 * (i + 1), 3) for i in range(16))
"""The thresholds tried: 0.025 to 0.4 in steps of 0.025."""


@torch.no_grad()
def onset_probabilities(model, clips) -> list:
    """The model's onset probabilities (K, M) for every item of `clips` (a ClipDataset)."""
    model.eval()
    return [torch.sigmoid(model.analyse(clips[i]["mixture"][None]).onset_logits[0])
            for i in tqdm(range(len(clips)), desc="transcribing", unit="item", leave=False)]


def sweep(probs: list, references: list, deltas=DELTAS) -> np.ndarray:
    """(len(deltas), K, 3) reference, estimated and matched onsets, pooled over the items, for
    peak picking with each threshold in `deltas`."""
    params = default_peak_params()
    counts = np.zeros((len(deltas), len(CLASSES), 3))
    for d, delta in enumerate(deltas):
        for p, onsets in zip(probs, references):
            counts[d] += onset_counts(peak_pick(p, **{**params, "delta": delta}).numpy(), onsets)
    return counts


def sweep_clips(model, clips) -> np.ndarray:
    """`sweep` of `model`'s probabilities over the items of `clips` (a ClipDataset)."""
    return sweep(onset_probabilities(model, clips), [clips[i]["onsets"] for i in range(len(clips))])


def chooser_and_kits(spec: str, kits=()) -> tuple:
    """('OTHER', [KIT]) from 'OTHER:KIT', or ('OTHER', kits) from a plain 'OTHER'."""
    path, _, kit = spec.rpartition(":")
    if path and kit and "/" not in kit:
        return path, [kit]
    return spec, list(kits)


def pooled_f(counts: np.ndarray) -> np.ndarray:
    """F-measure of (..., 3) reference, estimated and matched counts (0 where there is neither)."""
    total = counts[..., 0] + counts[..., 1]
    return np.divide(2 * counts[..., 2], total, out=np.zeros_like(total), where=total > 0)


def choose(counts: np.ndarray, deltas=DELTAS) -> tuple:
    """Per class, the threshold of `deltas` with the highest F (ties: nearest the released 0.2;
    a class without reference onsets: 0.2)."""
    f = pooled_f(counts)
    chosen = []
    for k in range(len(CLASSES)):
        if counts[0, k, 0] == 0:
            chosen.append(RELEASED_DELTA)
            continue
        best = max(range(len(deltas)), key=lambda d: (round(f[d, k], 9), -abs(deltas[d] - RELEASED_DELTA)))
        chosen.append(deltas[best])
    return tuple(chosen)


def with_thresholds(model, chosen, **settings):
    """`model` with its per-class thresholds set to `chosen` (and other config `settings`, if any)."""
    model.config = ModelConfig.from_dict({**model.config.to_dict(), "onset_delta": tuple(chosen), **settings})
    return model


def report(released: np.ndarray, tuned: np.ndarray, chosen: tuple) -> str:
    """A markdown table: per class, the threshold chosen and the pooled F with 0.2 and with it."""
    rows = ["| class | delta | F with 0.2 | F with delta | onsets |", "| --- | --- | --- | --- | --- |"]
    for k, code in enumerate(CLASSES):
        rows.append(f"| {CLASS_NAMES[code]} | {chosen[k]:.3f} | {pooled_f(released[k]):.3f} | {pooled_f(tuned[k]):.3f} "
                    f"| {int(released[k, 0])} |")
    rows.append(f"| mean | | {pooled_f(released).mean():.3f} | {pooled_f(tuned).mean():.3f} | |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.thresholds", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a model name or file")
    parser.add_argument("--data", type=Path, required=True, help="a data folder (make kits-data's data/)")
    parser.add_argument("--split", nargs="+", default=["val_train_kits"],
                        help="the validation splits (default: %(default)s)")
    parser.add_argument("--kits", nargs="+", default=[], help="only these kits' items (default: every kit)")
    parser.add_argument("--out", type=Path, help="the model file to write (default: MODEL itself)")
    parser.add_argument("--mid-tom-gap", type=float, nargs="?", const=MID_TOM_GAP, metavar="SEMITONES",
                        help=f"also write this mid tom gap (idm.tom_order; alone: {MID_TOM_GAP:g}) into the model "
                             "(default: keep its own)")
    parser.add_argument("--choose-with", nargs="+", default=[], metavar="OTHER[:KIT]",
                        help="choose with these models' probabilities (each one that never heard its KIT, on KIT's "
                             "items; without KIT, on --kits' items), pooled, and write into MODEL")
    args = parser.parse_args(argv)
    for split in args.split:
        if is_test_split(split):
            print(f"thresholds: error: {split} holds test items: thresholds are chosen on validation splits",
                  file=sys.stderr)
            return 1
    if args.mid_tom_gap is not None and not args.mid_tom_gap >= 0:
        print(f"thresholds: error: --mid-tom-gap {args.mid_tom_gap}: semitones, 0 for none", file=sys.stderr)
        return 1
    if args.out is None and not Path(args.model).is_file():
        print(f"thresholds: error: {args.model} is not a model file: give --out to write the tuned model",
              file=sys.stderr)
        return 1
    out = args.out or Path(args.model)
    try:
        model = load_model(args.model)
        specs = [chooser_and_kits(spec, args.kits) for spec in args.choose_with] or [(None, args.kits)]
        choosers = [(load_model(path) if path else model, ClipDataset(args.data, args.split, from_kits=kits))
                    for path, kits in specs]
    except (CheckpointError, OSError, ValueError) as exc:
        print(f"thresholds: error: {exc}", file=sys.stderr)
        return 1
    counts = sum(sweep_clips(chooser, clips) for chooser, clips in choosers)
    chosen = choose(counts)
    released = counts[DELTAS.index(RELEASED_DELTA)]  # classes are picked apart: the sweep holds both
    tuned = counts[[DELTAS.index(d) for d in chosen], np.arange(len(CLASSES))]
    kits = [kit for _, of_kits in specs for kit in of_kits]
    of = f" ({', '.join(kits)})" if kits else ""
    by = f", chosen with {' '.join(args.choose_with)}" if args.choose_with else ""
    n = sum(len(clips) for _, clips in choosers)
    print(f"{n} items of {', '.join(args.split)}{of}, pooled onset F (50 ms){by}:\n"
          f"{report(released, tuned, chosen)}")
    gap = {} if args.mid_tom_gap is None else {"mid_tom_gap": args.mid_tom_gap}
    try:
        save_model(with_thresholds(model, chosen, **gap), out)
    except OSError as exc:
        print(f"thresholds: error: {out}: {exc}", file=sys.stderr)
        return 1
    print(f"{out}: {out.stat().st_size} bytes, sha256 {sha256_of(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

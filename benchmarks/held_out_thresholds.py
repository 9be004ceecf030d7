"""Thresholds for kits nobody trained on: chosen on kits the model heard, or pooled over held-out kits?

    python benchmarks/held_out_thresholds.py runs/holdout/baseline.pt:forzee_stereo \
        runs/holdout_bja/baseline.pt:bja_pacific ... [--data datasets/kits/data] [--out DIR] [-j 2]

Each MODEL:KIT is a model of one recipe trained with KIT held out (`make transcriber-holdout`).
Leaving one kit out at a time, three rules choose each class's threshold (`trainer.thresholds`)
for its model, scored on the kit it never heard (pooled onset F, 50 ms, over the kit's items of
`--split`):

- `0.2`: the released value for every class;
- `heard`: chosen with the model on `--heard-split` items of the kits it heard (the release's
  own rule: thresholds from validation on its training kits);
- `held-out`: chosen with the other held-out models, each on its own unheard kit, counts pooled
  (`trainer.thresholds --choose-with A.pt:kit_a ...`, which writes them into a release).

With `--out`, the models with the `heard` and `held-out` thresholds are written there and their
masked SI-SDR (5 groups) scored on the kit's `--separation-split` items (the ones with stems),
since thresholds move separation too. Prints markdown tables and the machine.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.datasets import ClipDataset  # noqa: E402
from data.manifest import read_manifest, select  # noqa: E402
from data.stemgmd import is_test_split  # noqa: E402
from evaluation.run import evaluate  # noqa: E402
from idm.checkpoint import load_model, save_model  # noqa: E402
from idm.constants import CLASS_NAMES, CLASSES  # noqa: E402
from machine import describe  # noqa: E402
from trainer.thresholds import DELTAS, RELEASED_DELTA, choose, chooser_and_kits, pooled_f, sweep_clips, \
    with_thresholds  # noqa: E402

RULES = ("0.2", "heard", "held-out")
GROUPS = ("kick", "snare", "toms", "hihat", "cymbals")


def scored(counts: np.ndarray, chosen) -> np.ndarray:
    """Per class, the pooled F of `counts` (a sweep) at the chosen thresholds."""
    return pooled_f(counts[[DELTAS.index(d) for d in chosen], np.arange(len(CLASSES))])


def rule_thresholds(held: dict, heard: dict) -> dict:
    """{kit: {rule: thresholds}} for each held-out kit, left out of its own choice."""
    return {kit: {"0.2": (RELEASED_DELTA,) * len(CLASSES), "heard": choose(heard[kit]),
                  "held-out": choose(sum(c for other, c in held.items() if other != kit))} for kit in held}


def onset_table(held: dict, thresholds: dict) -> str:
    """Per kit and rule, the nine classes' F and their mean; then the rules' mean over the kits."""
    rows = [f"| kit | rule | {' | '.join(CLASS_NAMES[c] for c in CLASSES)} | mean |",
            "| --- | --- |" + " --- |" * (len(CLASSES) + 1)]
    means = {rule: [] for rule in RULES}
    for kit, counts in held.items():
        for rule in RULES:
            f = scored(counts, thresholds[kit][rule])
            means[rule].append(f.mean())
            rows.append(f"| {kit} | {rule} | {' | '.join(f'{x:.3f}' for x in f)} | {f.mean():.4f} |")
    for rule in RULES:
        rows.append(f"| mean of kits | {rule} |" + " |" * len(CLASSES) + f" {np.mean(means[rule]):.4f} |")
    return "\n".join(rows)


def separation_table(models: dict, thresholds: dict, data, split: str, out: Path, jobs: int) -> str:
    """Masked SI-SDR (5 groups) of each held-out model with the `heard` and `held-out` thresholds
    on its own kit's items of `split`, and the mean over the kits."""
    rows = [f"| kit | rule | {' | '.join(GROUPS)} |", "| --- | --- |" + " --- |" * len(GROUPS)]
    means = {rule: [] for rule in RULES[1:]}
    for kit, path in models.items():
        files = {}
        for rule in RULES[1:]:
            files[rule] = out / "models" / f"{kit}-{rule}.pt"
            files[rule].parent.mkdir(parents=True, exist_ok=True)
            save_model(with_thresholds(load_model(path), thresholds[kit][rule]), files[rule])
        summary = evaluate(data, split, [str(f) for f in files.values()], out / "separation" / kit, jobs=jobs,
                           kits=[kit], progress=False, notes=lambda line: None)
        for rule, f in files.items():
            sdr = {r["stem"]: r["mean"] for r in summary["separation"] if r["system"] == str(f)
                   and r["space"] == 5 and r["output"] == "masked" and r["metric"] == "si_sdr"}
            means[rule].append([sdr[g] for g in GROUPS])
            rows.append(f"| {kit} | {rule} | {' | '.join(f'{sdr[g]:.2f}' for g in GROUPS)} |")
    for rule, values in means.items():
        rows.append(f"| mean of kits | {rule} | {' | '.join(f'{x:.2f}' for x in np.mean(values, axis=0))} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("held_out", nargs="+", metavar="MODEL:KIT", help="models each trained without its KIT")
    parser.add_argument("--data", type=Path, default=Path("datasets/kits/data"))
    parser.add_argument("--split", nargs="+", default=["train_train_kits", "val_train_kits"],
                        help="the held-out kits' items scored and pooled (default: %(default)s)")
    parser.add_argument("--heard-split", default="val_train_kits",
                        help="the items of the heard kits the `heard` rule chooses on (default: %(default)s)")
    parser.add_argument("--separation-split", default="val_train_kits",
                        help="the held-out kits' items with stems, for separation (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="also score separation, writing models and results here")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="evaluation workers (default: %(default)s)")
    args = parser.parse_args(argv)
    for split in (*args.split, args.heard_split, args.separation_split):
        if is_test_split(split):
            parser.error(f"{split} holds test items: thresholds are chosen on validation splits")
    models = {}
    for spec in args.held_out:
        path, kits = chooser_and_kits(spec)
        if len(kits) != 1:
            parser.error(f"{spec}: give each model as MODEL:KIT, the kit it never heard")
        models[kits[0]] = path
    if len(models) < 2:
        parser.error("leaving one kit out needs at least two held-out models")
    held, heard = {}, {}
    heard_split_kits = {row["kit"] for row in select(read_manifest(args.data), args.heard_split)}
    for kit, path in models.items():
        model = load_model(path)
        held[kit] = sweep_clips(model, ClipDataset(args.data, args.split, from_kits=[kit]))
        heard_kits = sorted(heard_split_kits - {kit})
        heard[kit] = sweep_clips(model, ClipDataset(args.data, args.heard_split, from_kits=heard_kits))
    thresholds = rule_thresholds(held, heard)
    print(f"## Pooled onset F on each held-out kit ({', '.join(args.split)}), each rule's thresholds\n")
    print(onset_table(held, thresholds))
    print("\n## Thresholds\n")
    print(f"| kit | rule | {' | '.join(CLASS_NAMES[c] for c in CLASSES)} |\n| --- | --- |" + " --- |" * len(CLASSES))
    for kit, rules in thresholds.items():
        for rule in RULES[1:]:
            print(f"| {kit} | {rule} | {' | '.join(f'{d:.3f}' for d in rules[rule])} |")
    if args.out:
        print(f"\n## Masked SI-SDR (dB) on each held-out kit's {args.separation_split} items\n")
        print(separation_table(models, thresholds, args.data, args.separation_split, args.out, args.jobs))
    print(f"\nmachine: {describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Plot runs' TensorBoard curves: validation onset F per class, and the training loss terms.

    python benchmarks/training_curves.py runs/transcriber_kits/cycle1 runs/transcriber_kits/cycle2 \
        docs/images/transcriber_curves.png

Reads every event file under each RUN/tensorboard and draws two panels: `val/onset_f/<class>` (and
the mean) against the step, and the `train/` loss terms of the runs' task. Several runs are drawn
one after the other (a run that starts from the previous one's model), a dashed line at each start.
"""

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from idm.constants import CLASS_NAMES, CLASSES  # noqa: E402


def scalars(run: Path) -> dict:
    """{tag: [(step, value)]} of every event file of the run, later files overriding earlier steps."""
    series = {}
    for path in sorted((run / "tensorboard").glob("events.*")):
        events = EventAccumulator(str(path), size_guidance={"scalars": 0}).Reload()
        for tag in events.Tags()["scalars"]:
            points = series.setdefault(tag, {})
            points.update({e.step: e.value for e in events.Scalars(tag)})
    return {tag: sorted(points.items()) for tag, points in series.items()}


def chained(runs: list) -> tuple:
    """`scalars` of runs that follow one another, each one's steps after the previous one's last;
    and the step at which each run after the first starts."""
    series, starts, offset = {}, [], 0
    for run in runs:
        own = scalars(run)
        if not own:
            raise ValueError(f"{run}/tensorboard has no scalars")
        if series:
            starts.append(offset)
        for tag, points in own.items():
            series.setdefault(tag, []).extend((offset + step, value) for step, value in points)
        offset += max(step for points in own.values() for step, _ in points)
    return series, starts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run folders (log.out), in the order they ran")
    parser.add_argument("out", type=Path, help="the PNG to write")
    args = parser.parse_args(argv)
    try:
        series, starts = chained(args.runs)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    fig, (val, train) = plt.subplots(1, 2, figsize=(13, 4.5))
    for i, code in enumerate(CLASSES):
        points = series.get(f"val/onset_f/{code}", [])
        val.plot([s for s, _ in points], [v for _, v in points], marker=".", color=f"C{i}", label=CLASS_NAMES[code])
    mean = series.get("val/onset_f_mean", [])
    val.plot([s for s, _ in mean], [v for _, v in mean], color="black", linewidth=2, label="mean")
    val.set(xlabel="step", ylabel="onset F (50 ms, pooled)", title="validation onset F per class", ylim=(0, 1))
    val.legend(fontsize=7, ncol=2)
    for tag, points in series.items():
        if tag.startswith("train/") and tag.split("/")[1] not in ("lr", "grad_norm", "crops_per_second"):
            train.plot([s for s, _ in points], [v for _, v in points], label=tag[len("train/"):])
    for start in starts:
        for panel in (val, train):
            panel.axvline(start, color="grey", linestyle="--", linewidth=1)
    train.set(xlabel="step", yscale="log", title="training loss terms")
    train.legend(fontsize=7)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110, bbox_inches="tight")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

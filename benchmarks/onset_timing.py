"""How much of the separation a model loses to the timing of its onsets, on a validation split.

    python benchmarks/onset_timing.py [MODEL] [--data datasets/kits/data] [--split val_train_kits] [--items 8]

For `--items` tracks spread evenly over the split, it transcribes each with the model (its own
thresholds) and prints, per class, where each detected onset that matches a reference onset
(within 50 ms, the evaluation's window) lies on the onset grid against the reference's frame
(-1: a frame early, +1: a frame late). Then it separates each track three ways and prints the
masked SI-SDR (5 groups, the mean over the tracks): with the detected onsets; with the detected
onsets whose match is known moved onto the reference's time ("snapped": the same hits found and
missed, each found one on time); and with the reference onsets. Snapped against detected is what
timing costs; reference against snapped is what the missed, false and confused hits cost. Test
splits are refused: a rule chosen from this is chosen on validation.
"""

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.stemgmd import is_test_split  # noqa: E402
from evaluation.score import score_track  # noqa: E402
from evaluation.systems import Estimate  # noqa: E402
from evaluation.tracks import open_tracks  # noqa: E402
from evaluation.transcription import WINDOW  # noqa: E402
from idm.checkpoint import load_model  # noqa: E402
from idm.constants import CLASS_NAMES, CLASSES  # noqa: E402
from idm.separate import detect_onsets, separate  # noqa: E402
from idm.sequencer import onset_frames  # noqa: E402
from machine import describe  # noqa: E402

WAYS = ("detected", "snapped", "reference")
GROUPS = ("kick", "snare", "toms", "hihat", "cymbals")


def matches(detected: np.ndarray, reference: np.ndarray) -> list:
    """(detected index, reference index) of each detected onset whose nearest reference onset lies
    within the evaluation's window."""
    if not len(reference):
        return []
    nearest = np.abs(reference[None, :] - detected[:, None]).argmin(1) if len(detected) else []
    return [(i, j) for i, j in enumerate(nearest) if abs(reference[j] - detected[i]) <= WINDOW]


def snapped(detected: dict, reference: dict) -> dict:
    """`detected` with each onset that matches a reference onset moved onto it."""
    out = {}
    for code in CLASSES:
        times = np.asarray(detected[code], dtype=np.float64).copy()
        ref = np.asarray(reference.get(code, ()), dtype=np.float64)
        for i, j in matches(times, ref):
            times[i] = ref[j]
        out[code] = times
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default="idm-44-recorded-kits", help="a model name or file")
    parser.add_argument("--data", type=Path, default=Path("datasets/kits/data"), help="a preprocessed folder")
    parser.add_argument("--split", default="val_train_kits", help="a validation split (default: %(default)s)")
    parser.add_argument("--items", type=int, default=8, help="tracks, spread over the split (default: %(default)s)")
    args = parser.parse_args(argv)
    if is_test_split(args.split):
        print(f"onset_timing: error: {args.split} holds test items: rules are chosen on validation splits",
              file=sys.stderr)
        return 1
    torch.set_num_threads(min(2, torch.get_num_threads()))
    model, tracks = load_model(args.model), open_tracks(args.data, args.split)
    offsets, scores = {code: Counter() for code in CLASSES}, {}
    for index in tqdm(np.linspace(0, len(tracks) - 1, min(args.items, len(tracks))).astype(int), desc="tracks"):
        track = tracks.load(int(index))
        detected = detect_onsets(track.mixture, model)[0]
        for code in CLASSES:
            times = np.asarray(detected[code], dtype=np.float64)
            ref = np.asarray(track.onsets.get(code, ()), dtype=np.float64)
            for i, j in matches(times, ref):
                offsets[code][int(onset_frames(times[i])[0] - onset_frames(ref[j])[0])] += 1
        for way, onsets in zip(WAYS, (detected, snapped(detected, track.onsets), track.onsets)):
            synth = separate(track.mixture, model, masking="none", onsets=onsets).synthesized[0]
            for row in score_track(track, Estimate(synth=synth), spaces=(5,))["separation"]:
                if row["output"] == "masked":
                    scores.setdefault((way, row["stem"]), []).append(row["si_sdr"])
    print(f"{args.model} on {args.split} of {args.data}, {describe()}")
    print("\nMatched onsets by frame against the reference's (share of each class's matches):")
    for code in CLASSES:
        total = sum(offsets[code].values())
        shares = " ".join(f"{d:+d}: {n / max(total, 1):.2f}" for d, n in sorted(offsets[code].items()))
        print(f"{CLASS_NAMES[code]:>13} ({total} matched) {shares}")
    print("\n| group | " + " | ".join(WAYS) + " |\n| --- |" + " --- |" * len(WAYS))
    for group in GROUPS:
        print(f"| {group} | " + " | ".join(f"{np.nanmean(scores.get((way, group), [np.nan])):.2f}" for way in WAYS)
              + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

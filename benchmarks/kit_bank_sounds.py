"""What each kit of a kit bank sounds like, per class: a check that every class sounds as its drum.

    python benchmarks/kit_bank_sounds.py [BANK] [--velocity 96]

Prints, for every kit and class of the bank (`python -m data.kit_bank`) at one velocity layer, the
one-shot's length, its ring (seconds from its loudest 10 ms to 40 dB below) and its spectral
centroid (`data.kit_bank.hit_measures`). A kick sits low, a closed hi-hat is short and bright,
cymbals ring: a kit whose every class rings for seconds with one centroid is not a drum kit (as
TimGM6mb on MIDI channel 1, a piano, was).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.kit_bank import BANK_VELOCITIES, KitBank, hit_measures  # noqa: E402
from idm.constants import CLASS_NAMES, CLASSES  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bank", nargs="?", default="datasets/transcriber_bank", help="kit bank folder")
    parser.add_argument("--velocity", type=int, default=96, choices=BANK_VELOCITIES,
                        help="velocity layer to measure (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        bank = KitBank(args.bank)
    except ValueError as exc:
        print(f"kit_bank_sounds: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.bank}, velocity {args.velocity}: length, ring to -40 dB, spectral centroid\n")
    print("| kit | class | length (s) | ring (s) | centroid (Hz) |\n| --- | --- | --- | --- | --- |")
    for kit in bank.kits:
        for code in CLASSES:
            if code in bank.hits[kit]:
                seconds, ring, centroid = hit_measures(dict(bank.hits[kit][code])[args.velocity])
                print(f"| {kit} | {CLASS_NAMES[code]} | {seconds:.2f} | {ring:.2f} | {centroid:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m data.kit_bank OUT`: the training kits' one-shots at several velocities, for mixing on the fly.

    python -m data.kit_bank datasets/transcriber_bank

Loads every kit of the training group of the kit lists (by default `configs/recorded_kits.yaml`
and `configs/extra_training_kits.yaml`: the four recorded training kits and TimGM6mb; add
`configs/articulation_kits.yaml` for other strokes of their drums) the way
`make kits-data` plays them (`data.recorded_kits.KitSounds`), and writes
`OUT/<kit>/velocity_<v>/<stem>.wav` for each velocity of `BANK_VELOCITIES` and each class the kit
has, then `OUT/bank.txt` (the kits, their packages and licences) last, so a bank with that file is
complete. A stem of `make kits-data` is exactly the sum of these hits at its notes
(`data.kits_data.render_stem`), so `data.mixing` mixes new performances from them. Test kits are
never written. The same arguments give the same bytes.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from idm.audio import read_audio
from idm.constants import CLASS_NAMES, CLASSES, SAMPLE_RATE
from idm.files import write_text_if_changed

from .kits_data import DEFAULT_KITS, write_one_shots
from .recorded_kits import KitError, KitSounds, read_kit_list

EXTRA_KITS = Path(__file__).resolve().parent.parent / "configs" / "extra_training_kits.yaml"
BANK_LIST = "bank.txt"
"""Written last: the kits of a complete bank, with their packages and licences."""
BANK_VELOCITIES = (16, 32, 48, 64, 80, 96, 112, 127)
"""MIDI velocities of the hits written per kit and class (a note plays the nearest, scaled to its velocity)."""


def build_bank(out, kit_lists=(DEFAULT_KITS, EXTRA_KITS), say=print) -> list:
    """Write the bank of the training kits of `kit_lists` under `out`; returns the kit names."""
    out = Path(out)
    sources = [s for kit_list in kit_lists for s in read_kit_list(kit_list) if s.group == "train"]
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise KitError(f"{out}: a kit is listed twice in {', '.join(map(str, kit_lists))}")
    for source in sources:
        say(f"{source.name}: loading {source.kind} sounds from {source.path}")
        kit = KitSounds(source, {c: set(BANK_VELOCITIES) | {100} for c in CLASSES})  # 100: <stem>.wav
        write_one_shots(out, kit, BANK_VELOCITIES)
    write_text_if_changed(out / BANK_LIST, "".join(f"{s.name}\t{s.package}\t{s.license}\n" for s in sources))
    return names


def hit_measures(shot: np.ndarray) -> tuple:
    """(seconds, ring, centroid) of a one-shot: its length, the seconds from its loudest 10 ms to
    where its 10 ms RMS has fallen 40 dB below it, and the spectral centroid (Hz) of its first 8192
    samples from that peak: a kick's is low, a closed hi-hat's short and bright."""
    window = int(0.010 * SAMPLE_RATE)
    rms = np.sqrt(np.convolve(shot.astype(np.float64) ** 2, np.ones(window) / window, "same"))
    peak = int(np.argmax(rms))
    fallen = np.flatnonzero(rms[peak:] < rms[peak] * 0.01)
    ring = (fallen[0] if fallen.size else len(shot) - peak) / SAMPLE_RATE
    head = shot[peak:peak + 8192] * np.hanning(min(8192, len(shot) - peak))
    magnitude = np.abs(np.fft.rfft(head))
    centroid = float(np.sum(np.fft.rfftfreq(len(head), 1 / SAMPLE_RATE) * magnitude) / max(np.sum(magnitude), 1e-12))
    return len(shot) / SAMPLE_RATE, ring, centroid


def recorded_kit(name: str) -> str:
    """The recorded kit a bank kit plays: `avl_black_pearl` for itself and for `avl_black_pearl+strokes`
    (other strokes of its drums, `configs/articulation_kits.yaml`)."""
    return name.split("+")[0]


class KitBank:
    """A bank folder in memory: `hits[kit][code]` is a list of (velocity, one-shot float32 array),
    quietest first; a class a kit lacks has no entry. The recorded kits named in `leave_out` are not
    loaded, with their other strokes (a kit held out of training, to validate on as an unseen kit)."""

    def __init__(self, folder, leave_out=()):
        folder = Path(folder)
        if not (folder / BANK_LIST).is_file():
            raise ValueError(f"{folder}: no complete kit bank (make it with python -m data.kit_bank {folder})")
        self.hits = {}
        for name in sorted(line.split("\t")[0] for line in (folder / BANK_LIST).read_text().splitlines() if line):
            kit = folder / name
            classes = {}
            for code in CLASSES:
                layers = sorted((int(v.name.split("_")[1]), v / f"{CLASS_NAMES[code]}.wav")
                                for v in kit.glob("velocity_*") if (v / f"{CLASS_NAMES[code]}.wav").is_file())
                if layers:
                    classes[code] = [(v, read_audio(path).numpy()) for v, path in layers]
            if classes:
                self.hits[kit.name] = classes
        if not self.hits:
            raise ValueError(f"{folder}: no kits in the bank (make it with python -m data.kit_bank {folder})")
        recorded = sorted({recorded_kit(name) for name in self.hits})
        unknown = sorted(set(leave_out) - set(recorded))
        if unknown:
            raise ValueError(f"{folder}: no kit {', '.join(unknown)} in the bank to leave out "
                             f"(it has {', '.join(recorded)})")
        for name in [n for n in self.hits if recorded_kit(n) in leave_out]:
            del self.hits[name]
        if not self.hits:
            raise ValueError(f"{folder}: every kit of the bank is left out")
        self.kits = sorted(self.hits)

    def kits_with(self, code: str) -> list:
        """The kits that have class `code`."""
        return [k for k in self.kits if code in self.hits[k]]

    def hit(self, kit: str, code: str, velocity: float) -> tuple:
        """(layer index, gain): the layer nearest to `velocity` and the gain that brings it there."""
        layers = self.hits[kit][code]
        i = int(np.argmin([abs(v - velocity) for v, _ in layers]))
        return i, float(velocity) / layers[i][0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.kit_bank", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="output folder (gets <kit>/velocity_<v>/<stem>.wav)")
    parser.add_argument("--kits", type=Path, nargs="+", default=[DEFAULT_KITS, EXTRA_KITS],
                        help="kit list YAML files; their training kits are written (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        names = build_bank(args.out, args.kits)
    except (KitError, OSError, ValueError) as exc:
        print(f"kit_bank: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {len(names)} kits ({', '.join(names)}), velocities {', '.join(map(str, BANK_VELOCITIES))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m data.kits_data OUT`: a StemGMD-shaped set played on recorded acoustic kits.

    python -m data.kits_data datasets/kits --performances 120 --seconds 30
    python -m data.preprocess stemgmd datasets/kits/stemgmd datasets/kits/data

Generates GMD-style performances (`data.grooves`: ten styles, tom fills, open hi-hats, ghost
notes, crashes) with GMD's info.csv and MIDI files, and renders each, class by class, through
the recorded kits of a kit list (`configs/recorded_kits.yaml`) by placing each kit's one-shots
at the notes' sample positions, so the audio starts where the annotation says. Writes under OUT:

- `stemgmd/groove/info.csv`, `stemgmd/groove/<drummer>/<session>/<performance>.mid`;
- `stemgmd/audio/<drummer>/<session>/<kit>/<stem folder>/<performance>.flac` (mono 24-bit
  44.1 kHz; a class with no notes, or one the kit lacks, gets no file). Training kits play
  every performance, test kits the test ones and, for fine-tuning to them, a few training and
  validation performances (`adapt`; the adaptation splits of `data.stemgmd.ADAPTATION_SPLITS`,
  which preprocessing keeps with `--keep-unsplit`), so no test kit reaches a training split;
- `stemgmd/kits.csv`: the kit table preprocessing reads (name, group, kit id, classes lacked);
- `one_shots/<kit>/<stem>.wav` (velocity 100; the layout `python -m baselines.nmf.templates
  --one-shots` reads) and `one_shots/<kit>/velocity_<v>/<stem>.wav` for a few more velocities;
- `kits_report.md`: per kit and class, the onsets and the attack lag of the audio behind
  its annotation (median and max), and the classes each kit lacks.

The same arguments give the same bytes, and a rerun rewrites no audio or MIDI file that is
already as it would be (so preprocessing it again has nothing to do).
"""

import argparse
import csv
import io
import math
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from idm.audio import write_wav
from idm.constants import CLASS_NAMES, CLASSES, GMD_PITCH_TO_CLASS, SAMPLE_RATE
from idm.files import write_bytes_if_changed, write_text_if_changed
from idm.midi import smf_bytes, tick_to_seconds

from .gmd import INFO_COLUMNS
from .grooves import STYLES, TICKS_PER_BEAT, performance
from .kit_table import KIT_TABLE, Kit, KitTable
from .recorded_kits import KitError, KitSounds, read_kit_list
from .stemgmd import STEM_OF_CLASS

STEMGMD_FOLDER = "stemgmd"
"""The StemGMD-shaped tree under the output folder (beside one_shots/ and kits_report.md)."""
DEFAULT_KITS = Path(__file__).resolve().parent.parent / "configs" / "recorded_kits.yaml"
ADAPT_PERFORMANCES = 12
"""Training performances the test kits also play, for fine-tuning (a quarter as many validation ones)."""
ONE_SHOT_VELOCITIES = (32, 64, 100, 127)
"""Velocities of the one-shots written per kit and class (100 is also written as `<stem>.wav`)."""
TAIL_SECONDS = 2.0
"""Seconds after the last bar, for the last crash to ring."""
LAG_WINDOW = (0.010, 0.002, 0.020)
"""Attack-lag measurement: level before the onset over [-10 ms, -2 ms], attack searched over [-2 ms, +20 ms]."""
LAG_DB = -35.0
"""An attack is where the stem first comes within this many dB of the peak of its first 20 ms (5 dB
below the level a one-shot is trimmed at, `data.recorded_kits.ATTACK_DB`, so that a hit whose
sound starts with a plateau near that level is not read as late)."""


def plan_performances(count: int, seconds: float, seed: int = 0) -> list:
    """[(info row, notes, end tick, bpm)] of `count` performances of about `seconds` each.

    The styles are cycled; a seeded shuffle puts a tenth (at least one) in GMD's test split,
    a tenth in validation, the rest in train. Drummers and sessions are numbered GMD's way.
    """
    order = np.random.default_rng([seed, 1]).permutation(count)
    n_test = n_val = max(1, round(count / 10))
    splits = {int(i): "test" for i in order[:n_test]}
    splits.update({int(i): "validation" for i in order[n_test:n_test + n_val]})
    planned = []
    for i in range(count):
        rng = np.random.default_rng([seed, 0, i])
        style = STYLES[i % len(STYLES)]
        bpm = int(rng.integers(style.tempo[0], style.tempo[1] + 1))
        bars = max(2, round(seconds * bpm / 240 * rng.uniform(0.75, 1.25)))
        notes = performance(rng, style, bpm, bars)
        drummer, session = f"drummer{1 + i % 5}", f"session{1 + i // 25}"
        name = f"{i + 1}_{style.name}_{bpm}_beat_4-4"
        relative = f"{drummer}/{session}/{name}"
        end = (bars + 1) * 4 * TICKS_PER_BEAT
        row = dict(drummer=drummer, session=f"{drummer}/{session}", id=relative, style=style.name, bpm=bpm,
                   beat_type="beat", time_signature="4-4", midi_filename=f"{relative}.mid",
                   audio_filename=f"{relative}.wav", duration=round(end * 60 / bpm / TICKS_PER_BEAT, 6),
                   split=splits.get(i, "train"))
        planned.append((row, notes, bpm))
    return planned


def performance_midi(notes, bpm: int, name: str) -> bytes:
    """A GMD-like MIDI file of the notes: channel 10, notes 1/8 beat long."""
    events = []
    for tick, pitch, velocity in notes:
        events.append((tick, 2, bytes([0x99, pitch, velocity])))
        events.append((tick + TICKS_PER_BEAT // 8, 1, bytes([0x89, pitch, 0])))
    return smf_bytes(events, [(0, round(60_000_000 / bpm))], name, TICKS_PER_BEAT)


def note_times(notes, bpm: int) -> list:
    """[(seconds, class code, velocity)] of GMD notes (as preprocessing reads them back from the MIDI)."""
    tempi = [(0, round(60_000_000 / bpm))]
    return [(tick_to_seconds(tick, tempi, TICKS_PER_BEAT), GMD_PITCH_TO_CLASS[pitch], velocity)
            for tick, pitch, velocity in notes]


def render_stem(kit: KitSounds, code: str, hits, length: int) -> np.ndarray:
    """Mono stem (length,) of one class: the kit's one-shot of each hit's velocity at its sample."""
    stem = np.zeros(length, dtype=np.float64)
    for t, c, velocity in hits:
        if c != code:
            continue
        shot = kit.hit(code, velocity)
        start = int(round(t * SAMPLE_RATE))
        end = min(length, start + len(shot))
        stem[start:end] += shot[:end - start]
    return stem.astype(np.float32)


def attack_lags(stem: np.ndarray, times) -> tuple:
    """(lags in ms of the stem's attacks behind `times`, how many onsets could not be measured).

    An attack is the first sample within LAG_DB of the peak of [-2 ms, +20 ms] around the onset.
    Onsets where earlier hits still ring above half that threshold just before (over [-10 ms,
    -2 ms]) are not measured: there the threshold would be crossed by the ringing.
    """
    before, early, after = (int(s * SAMPLE_RATE) for s in LAG_WINDOW)
    magnitude = np.abs(stem)
    lags, unmeasured = [], 0
    for t in times:
        n = int(round(t * SAMPLE_RATE))
        window = magnitude[max(0, n - early):n + after]
        floor = magnitude[max(0, n - before):max(0, n - early)].max(initial=0.0)
        peak = window.max(initial=0.0)
        threshold = peak * 10 ** (LAG_DB / 20)
        if peak == 0 or 2 * floor >= threshold:
            unmeasured += 1
            continue
        first = int(np.argmax(window >= threshold)) - min(early, n)
        lags.append(1000 * first / SAMPLE_RATE)
    return lags, unmeasured


def write_one_shots(out: Path, kit: KitSounds, velocities=ONE_SHOT_VELOCITIES) -> None:
    """`one_shots/<kit>/<stem>.wav` at velocity 100 and `one_shots/<kit>/velocity_<v>/<stem>.wav`."""
    for code in CLASSES:
        if not kit.has(code):
            continue
        for v in velocities:
            write_wav(out / kit.name / f"velocity_{v}" / f"{CLASS_NAMES[code]}.wav", kit.hit(code, v))
        write_wav(out / kit.name / f"{CLASS_NAMES[code]}.wav", kit.hit(code, 100))


def lag_report(sources, stats: dict) -> str:
    """The kits report: per kit and class, onsets and attack lag (median, max), lacked classes."""
    lines = ["# Recorded kits: onsets and attack lag", "",
             f"Attack lag: from the annotated onset to the first sample of the class's stem within "
             f"{-LAG_DB:g} dB of the peak of its first 20 ms. Onsets where earlier hits still ring above "
             "half that level just before are not measured.", "",
             "| kit | group | class | onsets | measured | lag median (ms) | lag max (ms) |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for source in sources:
        for code in CLASSES:
            if code in source.lacks:
                lines.append(f"| {source.name} | {source.group} | {code} | lacked | | | |")
                continue
            lags, count, unmeasured = stats[(source.name, code)]
            median = f"{np.median(lags):.2f}" if lags else "n/a"
            worst = f"{np.max(lags):.2f}" if lags else "n/a"
            lines.append(f"| {source.name} | {source.group} | {code} | {count} | {count - unmeasured} | "
                         f"{median} | {worst} |")
    lines += ["", "| kit | package | licence | lacks |", "| --- | --- | --- | --- |"]
    lines += [f"| {s.name} | {s.package} | {s.license} | {' '.join(s.lacks) or 'nothing'} |" for s in sources]
    return "\n".join(lines) + "\n"


def adaptation_performances(planned, count: int) -> set:
    """Ids of the first `count` training and `count / 4` (at least one) validation performances."""
    chosen = set()
    for split, n in (("train", count), ("validation", max(1, count // 4) if count else 0)):
        chosen.update([row["id"] for row, _, _ in planned if row["split"] == split][:n])
    return chosen


def build(out, kit_list=DEFAULT_KITS, performances: int = 120, seconds: float = 30.0, seed: int = 0,
          progress: bool = True, say=print, adapt: int = ADAPT_PERFORMANCES) -> dict:
    """Write the set under `out` (see the module's docstring); returns {(kit, class): (lags, onsets, unmeasured)}."""
    out = Path(out)
    tree = out / STEMGMD_FOLDER
    sources = read_kit_list(kit_list)
    planned = plan_performances(performances, seconds, seed)
    for row, notes, bpm in planned:
        write_bytes_if_changed(tree / "groove" / row["midi_filename"],
                               performance_midi(notes, bpm, Path(row["midi_filename"]).stem))
    info = io.StringIO()
    writer = csv.DictWriter(info, INFO_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(row for row, _, _ in planned)
    write_text_if_changed(tree / "groove" / "info.csv", info.getvalue())
    stats = {}
    adapting = adaptation_performances(planned, adapt)
    for source in sources:
        played = [(row, note_times(notes, bpm)) for row, notes, bpm in planned
                  if source.group == "train" or row["split"] == "test" or row["id"] in adapting]
        velocities = {}
        for _, hits in played:
            for _, code, velocity in hits:
                velocities.setdefault(code, set()).add(velocity)
        say(f"{source.name}: loading {source.kind} sounds from {source.path}")
        kit = KitSounds(source, {c: velocities.get(c, set()) | set(ONE_SHOT_VELOCITIES) for c in CLASSES})
        write_one_shots(out / "one_shots", kit)
        for code in CLASSES:
            stats[(source.name, code)] = ([], 0, 0)
        for row, hits in tqdm(played, desc=source.name, unit="performance", disable=not progress, file=sys.stderr):
            length = int(math.ceil((row["duration"] + TAIL_SECONDS) * SAMPLE_RATE))
            for code in CLASSES:
                times = [t for t, c, _ in hits if c == code]
                if not times or not kit.has(code):
                    continue
                stem = render_stem(kit, code, hits, length)
                lags, unmeasured = attack_lags(stem, times)
                known, count, missed = stats[(source.name, code)]
                stats[(source.name, code)] = (known + lags, count + len(times), missed + unmeasured)
                path = tree / "audio" / row["drummer"] / Path(row["session"]).name / source.name / \
                    STEM_OF_CLASS[code] / f"{Path(row['midi_filename']).stem}.flac"
                if float(np.abs(stem).max()) >= 1.0:
                    raise KitError(f"{path}: the stem clips (peak {np.abs(stem).max():.2f}); lower KICK_PEAK")
                flac = io.BytesIO()
                sf.write(flac, stem, SAMPLE_RATE, subtype="PCM_24", format="FLAC")
                write_bytes_if_changed(path, flac.getvalue())  # a rerun leaves the tree as it is
    table = KitTable([Kit(s.name, s.group, i, s.lacks) for i, s in enumerate(
        [s for s in sources if s.group == "train"] + [s for s in sources if s.group == "test"])])
    write_text_if_changed(tree / KIT_TABLE, table.text())
    write_text_if_changed(out / "kits_report.md", lag_report(sources, stats))
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.kits_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="output folder (gets stemgmd/, one_shots/, kits_report.md)")
    parser.add_argument("--kits", type=Path, default=DEFAULT_KITS, help="kit list YAML (default: %(default)s)")
    parser.add_argument("--performances", type=int, default=120, help="performances to generate (default 120)")
    parser.add_argument("--seconds", type=float, default=30.0, help="mean length of a performance (default 30)")
    parser.add_argument("--adapt", type=int, default=ADAPT_PERFORMANCES, metavar="N",
                        help="training performances the test kits also play, for fine-tuning (and N/4 validation "
                             "ones; default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.performances < 3 or args.seconds <= 0 or args.adapt < 0:
        parser.error("--performances must be at least 3 (train, validation, test), --seconds positive and "
                     "--adapt 0 or more")
    try:
        build(args.out, args.kits, args.performances, args.seconds, args.seed, progress=not args.quiet,
              say=(lambda _: None) if args.quiet else print, adapt=args.adapt)
    except (KitError, OSError, ValueError) as exc:
        print(f"kits_data: error: {exc}", file=sys.stderr)
        return 2
    print((args.out / "kits_report.md").read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m data.generate OUT`: a small StemGMD-shaped dataset, so every stage runs on a laptop.

Writes GMD-style MIDI grooves (humanised, with tempo changes, using the GMD pitch set) and
their `groove/info.csv`, and renders each groove class by class into
`audio/<drummer>/<session>/<kit>/<stem>/<performance>.wav` (16-bit stereo 44.1 kHz, like
StemGMD; a stem with no notes gets no file). Rendering uses FluidSynth with a General MIDI
soundfont when both are installed (`--renderer fluidsynth`), otherwise small procedural
drum sounds, one timbre per pitch and kit (`--renderer procedural`, fast and deterministic).
"""

import argparse
import csv
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from idm.constants import CLASSES, GMD_PITCH_TO_CLASS, SAMPLE_RATE, TEST_KITS, TRAIN_KITS
from idm.files import atomic_path
from idm.midi import smf_bytes, tick_to_seconds

from .gmd import INFO_COLUMNS
from .stemgmd import STEM_OF_CLASS

TICKS_PER_BEAT = 480
"""GMD's MIDI resolution."""
UNMAPPED_PITCH = 39
"""Hand clap: a pitch outside the GMD table, which preprocessing must count and drop."""
TAIL_SECONDS = 1.5
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2",
              "/usr/share/sounds/sf2/default-GM.sf2")
DRUM_PROGRAMS = (0, 16, 8, 24, 32, 40, 25, 48, 0, 8)
"""General MIDI drum-kit program (bank 128) used for kit ids 0..9 by the FluidSynth renderer."""


@dataclass(frozen=True)
class Take:
    """One generated performance: where it sits in GMD and how long it is."""

    drummer: str
    session: str
    split: str
    bars: int = 4
    bpm: float = 110.0
    all_pitches: bool = False
    """End with two bars that play every GMD pitch and the unmapped one."""


DEMO_TAKES = tuple(
    [Take("drummer1", "session1", "train", 6, bpm) for bpm in (92, 100, 108, 116, 124, 132, 140, 96)]
    + [Take("drummer1", "session2", split, 6, bpm) for split, bpm in
       (("validation", 104), ("validation", 128), ("test", 98), ("test", 120))]
    + [Take("drummer1", "eval_session", "test", 6, bpm, True) for bpm in (112, 136)])
"""`make demo-data`: 8 training, 2 validation, 2 test and 2 eval_session performances."""
DEMO_KITS = ("brooklyn", "heavy", "bluebird")


def groove(rng: np.random.Generator, take: Take) -> tuple:
    """(notes as (tick, pitch, velocity), tempo map as (tick, us per beat), end tick) of a take."""
    bar, sixteenth = 4 * TICKS_PER_BEAT, TICKS_PER_BEAT // 4
    notes = []

    def hit(tick, pitch, low=60, high=120):
        jitter = int(rng.integers(-12, 13)) if tick > 0 else int(rng.integers(0, 13))
        notes.append((tick + jitter, pitch, int(rng.integers(low, high + 1))))

    for b in range(take.bars):
        start = b * bar
        ride = b % 4 >= 2
        if b % 4 == 0:
            hit(start, int(rng.choice([49, 49, 57, 55, 52])))
        for s in range(16):
            t = start + s * sixteenth
            if s % 2 == 0:
                hit(t, int(rng.choice([51, 51, 59, 53])) if ride else int(rng.choice([42, 42, 42, 44, 22])), 50, 110)
            if s in (0, 8) or (s in (3, 10, 14) and rng.random() < 0.35):
                hit(t, 36, 80, 127)
            if s in (4, 12):
                hit(t, 38, 90, 127)
            elif s % 2 == 1 and rng.random() < 0.12:
                hit(t, int(rng.choice([37, 40, 38])), 25, 60)
            if s in (6, 14) and not ride and rng.random() < 0.3:
                hit(t, int(rng.choice([46, 46, 26])), 60, 110)
        if b % 4 == 3:
            for s, pitch in zip(range(12, 16), rng.choice([50, 48, 47, 45, 43, 58], 4)):
                hit(start + s * sixteenth, int(pitch), 70, 120)
    end = take.bars * bar
    if take.all_pitches:
        pitches = sorted(GMD_PITCH_TO_CLASS) + [UNMAPPED_PITCH]
        for i, pitch in enumerate(rng.permutation(pitches)):
            notes.append((end + i * (2 * bar // len(pitches)), int(pitch), 100))
        end += 2 * bar
    tempo = 60_000_000 / take.bpm
    tempi = [(b * bar, int(tempo * (1.0 if b == 0 else rng.uniform(0.9, 1.1)))) for b in range(0, end // bar, 2)]
    return sorted(notes), tempi, end


def groove_midi(notes, tempi, name: str, program: int = 0) -> bytes:
    """A GMD-like MIDI file: channel 10, notes 1/8 beat long, the drum kit `program` selected first."""
    events = [(0, 0, bytes([0xC9, program]))]
    for tick, pitch, velocity in notes:
        events.append((tick, 2, bytes([0x99, pitch, velocity])))
        events.append((tick + TICKS_PER_BEAT // 8, 1, bytes([0x89, pitch, 0])))
    return smf_bytes(events, tempi, name, TICKS_PER_BEAT)


@functools.lru_cache(maxsize=256)
def one_shot(pitch: int, kit: int, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A procedural one-shot of a GMD pitch on kit `kit`: fixed per (pitch, kit), different across both."""
    rng = np.random.default_rng([pitch, kit, 7])
    code = GMD_PITCH_TO_CLASS.get(pitch, "SD")
    scale = 0.8 + 0.4 * ((kit * 0.37) % 1.0)
    decay = {"KD": 0.25, "SD": 0.18, "HH_CHH": 0.05, "HH_OHH": 0.45, "TT_HFT": 0.4, "TT_LMT": 0.35,
             "TT_HMT": 0.3, "CY_CR": 1.4, "CY_RD": 0.9}[code] * rng.uniform(0.8, 1.2)
    n = int(rate * min(2.0, 4 * decay))
    t = np.arange(n) / rate
    env = np.exp(-t / decay)
    noise = rng.standard_normal(n)
    if code == "KD" or code.startswith("TT"):
        f0 = {"KD": 50, "TT_HFT": 85, "TT_LMT": 120, "TT_HMT": 165}[code] * scale * rng.uniform(0.9, 1.1)
        phase = 2 * np.pi * np.cumsum(f0 * (1 + 1.5 * np.exp(-t / 0.03))) / rate
        x = np.sin(phase) + 0.1 * noise * np.exp(-t / 0.01)
    elif code == "SD":
        x = 0.5 * np.sin(2 * np.pi * 190 * scale * t) + 0.7 * np.diff(noise, prepend=0.0)
    else:
        partials = rng.uniform(3000, 9000, 6) * scale
        metal = sum(np.sign(np.sin(2 * np.pi * f * t)) for f in partials) / 6
        x = 0.6 * np.diff(np.diff(noise, prepend=0.0), prepend=0.0) / 2 + 0.4 * metal
    x = x * env * np.minimum(1.0, t / 0.001 + 0.05)
    return (x / np.max(np.abs(x))).astype(np.float32)


def one_shot_mixture(pitches, seconds: float = 4.0, hits: int = 12, tail: float = 1.5, kit: int = 0,
                     seed: int = 0) -> tuple:
    """A mixture of known one-shots, for testing separation: each GMD pitch of `pitches` is hit
    `hits` times at random 1/8 s grid points (plus up to 10 ms) in the first `seconds`, at random
    velocities, followed by `tail` seconds. Returns (stems (9, T) float32 in CLASSES order,
    onsets {class code: times}, {class code: the one-shot played})."""
    rng = np.random.default_rng(seed)
    n = int((seconds + tail) * SAMPLE_RATE)
    stems = np.zeros((len(CLASSES), n), dtype=np.float32)
    onsets, shots = {c: np.zeros(0) for c in CLASSES}, {}
    for pitch in pitches:
        code = GMD_PITCH_TO_CLASS[pitch]
        shot, c = one_shot(pitch, kit), CLASSES.index(code)
        shots[code] = shot
        onsets[code] = np.sort(rng.choice(np.arange(0, seconds, 0.125), hits, replace=False)
                               + rng.uniform(0, 0.01, hits))
        for t in onsets[code]:
            s = int(round(t * SAMPLE_RATE))
            e = min(n, s + len(shot))
            stems[c, s:e] += rng.uniform(0.4, 1.0) * shot[:e - s]
    return stems, onsets, shots


def render_procedural(notes, tempi, code: str, kit: int, length: int) -> np.ndarray:
    """Stereo (length, 2) stem of one class: the kit's one-shots at the notes' sample positions."""
    out = np.zeros(length, dtype=np.float32)
    times = [tick_to_seconds(n[0], tempi, TICKS_PER_BEAT) for n in notes]
    for t, (_, pitch, velocity) in zip(times, notes):
        if GMD_PITCH_TO_CLASS.get(pitch) != code:
            continue
        shot = one_shot(pitch, kit)
        s = int(round(t * SAMPLE_RATE))
        e = min(length, s + len(shot))
        out[s:e] += 0.25 * velocity / 127 * shot[:e - s]
    pan = 0.5 + 0.3 * np.sin(CLASSES.index(code))
    return np.stack([out * (1 - pan) * 2, out * pan * 2], axis=1)


def find_soundfont():
    """The first General MIDI soundfont installed (Debian's packages), or None."""
    return next((p for p in SOUNDFONTS if os.path.isfile(p)), None)


def render_fluidsynth(notes, tempi, code: str, kit: int, length: int, soundfont: str) -> np.ndarray:
    """Stereo (length, 2) stem of one class rendered by FluidSynth from a MIDI file of its notes alone."""
    mine = [n for n in notes if GMD_PITCH_TO_CLASS.get(n[1]) == code]
    with tempfile.TemporaryDirectory() as tmp:
        midi, wav = Path(tmp) / "stem.mid", Path(tmp) / "stem.wav"
        midi.write_bytes(groove_midi(mine, tempi, code, DRUM_PROGRAMS[kit]))
        subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.6", "-r", str(SAMPLE_RATE),
                        "-F", str(wav), soundfont, str(midi)], check=True, capture_output=True)
        audio, _ = sf.read(str(wav), dtype="float32", always_2d=True)
    audio = audio[:length]
    return np.pad(audio, ((0, length - len(audio)), (0, 0)))


def generate(out, takes=DEMO_TAKES, kits=DEMO_KITS, renderer: str = "auto", seed: int = 0, progress=None) -> list:
    """Write a StemGMD-shaped tree under `out` (audio/ and groove/); returns the info.csv rows.

    `renderer` is 'procedural', 'fluidsynth' or 'auto' (FluidSynth when it and a soundfont exist).
    """
    out = Path(out)
    soundfont = find_soundfont() if shutil.which("fluidsynth") else None
    if renderer == "fluidsynth" and soundfont is None:
        raise RuntimeError("the fluidsynth renderer needs `fluidsynth` and a GM soundfont "
                           "(Debian: apt-get install fluidsynth timgm6mb-soundfont)")
    use_fluidsynth = renderer == "fluidsynth" or (renderer == "auto" and soundfont is not None)
    kit_ids = {k: i for i, k in enumerate(TRAIN_KITS + TEST_KITS)}
    rows, counters = [], {}
    for take in takes:
        rng = np.random.default_rng([seed, len(rows)])
        number = counters[(take.drummer, take.session)] = counters.get((take.drummer, take.session), 0) + 1
        style = ["funk", "rock", "jazz", "latin", "hiphop"][len(rows) % 5]
        name = f"{number}_{style}-groove{number}_{round(take.bpm)}_beat_4-4"
        notes, tempi, end = groove(rng, take)
        duration = tick_to_seconds(end, tempi, TICKS_PER_BEAT)
        relative = f"{take.drummer}/{take.session}/{name}"
        midi = out / "groove" / f"{relative}.mid"
        with atomic_path(midi) as tmp:
            tmp.write_bytes(groove_midi(notes, tempi, name))
        length = int((duration + TAIL_SECONDS) * SAMPLE_RATE)
        for kit in kits:
            for code in CLASSES:
                if not any(GMD_PITCH_TO_CLASS.get(p) == code for _, p, _ in notes):
                    continue
                audio = (render_fluidsynth(notes, tempi, code, kit_ids[kit], length, soundfont) if use_fluidsynth
                         else render_procedural(notes, tempi, code, kit_ids[kit], length))
                path = out / "audio" / take.drummer / take.session / kit / STEM_OF_CLASS[code] / f"{name}.wav"
                with atomic_path(path) as tmp:
                    sf.write(str(tmp), np.clip(audio, -1, 1), SAMPLE_RATE, subtype="PCM_16", format="WAV")
        rows.append(dict(drummer=take.drummer, session=f"{take.drummer}/{take.session}", id=f"{relative}",
                         style=f"{style}/groove{number}", bpm=round(take.bpm), beat_type="beat", time_signature="4-4",
                         midi_filename=f"{relative}.mid", audio_filename=f"{relative}.wav",
                         duration=round(duration, 6), split=take.split))
        if progress:
            progress(name)
    with atomic_path(out / "groove" / "info.csv") as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, INFO_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="output folder (gets audio/ and groove/)")
    parser.add_argument("--kits", default=",".join(DEMO_KITS), help="comma-separated StemGMD kit names")
    parser.add_argument("--renderer", choices=("auto", "fluidsynth", "procedural"), default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    kits = [k.strip() for k in args.kits.split(",")]
    unknown = [k for k in kits if k not in TRAIN_KITS + TEST_KITS]
    if unknown:
        parser.error(f"unknown kits {', '.join(unknown)}; StemGMD's are {', '.join(TRAIN_KITS + TEST_KITS)}")
    try:
        rows = generate(args.out, DEMO_TAKES, kits, args.renderer, args.seed)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"generate: error: {exc}", file=sys.stderr)
        return 1
    fluidsynth = args.renderer != "procedural" and shutil.which("fluidsynth") and find_soundfont()
    how = f"FluidSynth with {find_soundfont()}" if fluidsynth else "procedural sounds"
    print(f"{args.out}: {len(rows)} performances x {len(kits)} kits, rendered with {how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

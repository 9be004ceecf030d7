"""Transcriptions on disk: onset TSVs (`time_s<TAB>class<TAB>velocity`) and drum MIDI files."""

from collections import Counter
from pathlib import Path

import numpy as np

from .constants import CLASSES, GM_NOTES, GMD_PITCH_TO_CLASS, class_code
from .midi import DRUM_CHANNEL, MidiError, drum_midi_bytes, midi_velocity, read_note_ons

TSV_HEADER = ("time_s", "class", "velocity")
MIDI_SUFFIXES = (".mid", ".midi", ".smf")


class OnsetFileError(ValueError):
    """An onsets file that cannot be used, with a one-line reason naming the file."""


def onset_rows(onsets: dict, velocities: dict) -> list:
    """(time_s, class, velocity) rows of one item, sorted by time then class order."""
    rows = [(float(t), c, float(v)) for c in CLASSES for t, v in zip(onsets[c], velocities[c])]
    return sorted(rows, key=lambda r: (r[0], CLASSES.index(r[1])))


def onsets_tsv(rows) -> str:
    """The TSV text of (time_s, class, velocity) rows, with its header line."""
    lines = ["\t".join(TSV_HEADER)] + [f"{t:.6f}\t{c}\t{v:.6f}" for t, c, v in rows]
    return "\n".join(lines) + "\n"


def onsets_midi(rows, name: str = "drums") -> bytes:
    """A drum MIDI file of (time_s, class, velocity) rows: General MIDI notes on channel 10."""
    return drum_midi_bytes(((t, GM_NOTES[c], midi_velocity(v)) for t, c, v in rows), name)


def read_onsets_tsv(path) -> dict:
    """Read a TSV of `time_s<TAB>class[<TAB>velocity]` lines (header optional) as {class: times}.

    Classes are codes (`KD`) or stem names (`kick`).
    """
    times = {c: [] for c in CLASSES}
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise OnsetFileError(f"{path}: cannot read onsets ({getattr(exc, 'strerror', None) or exc})") from None
    for number, line in enumerate(lines, 1):
        fields = line.strip().split("\t") if "\t" in line else line.split()
        if not fields or (number == 1 and fields[0] == TSV_HEADER[0]):
            continue
        try:
            t = float(fields[0])
        except ValueError:
            t = float("nan")
        code = class_code(fields[1]) if len(fields) > 1 else None
        if not np.isfinite(t) or t < 0 or code is None:
            raise OnsetFileError(f"{path}:{number}: expected 'time_s<TAB>class', a time >= 0 and one of "
                                 f"{', '.join(CLASSES)} (or a stem name), got {line.strip()!r}")
        times[code].append(t)
    return {c: np.sort(np.asarray(v, dtype=np.float64)) for c, v in times.items()}


def read_onsets_midi(path, notes=None) -> dict:
    """Read a MIDI file's note-ons as {class: times}, pitches mapped with the GMD 22-pitch table.

    Notes on channel 10 are used when there are any, otherwise every channel's; pitches
    outside the table are dropped and counted through `notes`.
    """
    try:
        events = read_note_ons(path)
    except MidiError as exc:
        raise OnsetFileError(str(exc)) from None
    if any(channel == DRUM_CHANNEL for _, channel, _, _ in events):
        events = [e for e in events if e[1] == DRUM_CHANNEL]
    elif events and notes:
        notes(f"{path}: no notes on channel 10; reading every channel as drums")
    times = {c: [] for c in CLASSES}
    dropped = Counter()
    for t, _, pitch, _ in events:
        if pitch in GMD_PITCH_TO_CLASS:
            times[GMD_PITCH_TO_CLASS[pitch]].append(t)
        else:
            dropped[pitch] += 1
    if dropped and notes:
        listed = ", ".join(f"{p} ({n}x)" for p, n in sorted(dropped.items()))
        notes(f"{path}: dropped {sum(dropped.values())} notes with pitches outside the drum map: {listed}")
    return {c: np.asarray(v, dtype=np.float64) for c, v in times.items()}


def read_onsets(path, notes=None) -> dict:
    """Read a transcription (MIDI by suffix, otherwise TSV) as {class code: onset times in seconds}."""
    path = Path(path)
    if not path.is_file():
        raise OnsetFileError(f"{path}: no such onsets file")
    if path.suffix.lower() in MIDI_SUFFIXES:
        return read_onsets_midi(path, notes)
    return read_onsets_tsv(path)

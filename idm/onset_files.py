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


def sorted_rows(rows) -> list:
    """(time_s, class, velocity) rows sorted by time, then class order: the order files are written in."""
    return sorted(rows, key=lambda r: (r[0], CLASSES.index(r[1])))


def onset_rows(onsets: dict, velocities: dict) -> list:
    """(time_s, class, velocity) rows of one item, sorted (see `sorted_rows`)."""
    return sorted_rows((float(t), c, float(v)) for c in CLASSES for t, v in zip(onsets[c], velocities[c]))


def onsets_tsv(rows) -> str:
    """The TSV text of (time_s, class, velocity) rows, with its header line."""
    lines = ["\t".join(TSV_HEADER)] + [f"{t:.6f}\t{c}\t{v:.6f}" for t, c, v in rows]
    return "\n".join(lines) + "\n"


def onsets_midi(rows, name: str = "drums") -> bytes:
    """A drum MIDI file of (time_s, class, velocity) rows: General MIDI notes on channel 10."""
    return drum_midi_bytes(((t, GM_NOTES[c], midi_velocity(v)) for t, c, v in rows), name)


def rows_to_times(rows) -> dict:
    """(time_s, class, velocity) rows -> {class code: sorted onset times in seconds}."""
    times = {c: [] for c in CLASSES}
    for t, code, _ in rows:
        times[code].append(t)
    return {c: np.sort(np.asarray(v, dtype=np.float64)) for c, v in times.items()}


def read_tsv_rows(path) -> list:
    """Read a TSV of `time_s<TAB>class[<TAB>velocity]` lines (header optional) as rows, in file order.

    Classes are codes (`KD`) or stem names (`kick`); a missing velocity reads as 1.
    """
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise OnsetFileError(f"{path}: cannot read onsets ({getattr(exc, 'strerror', None) or exc})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        fields = line.strip().split("\t") if "\t" in line else line.split()
        if not fields or (number == 1 and fields[0] == TSV_HEADER[0]):
            continue
        t, velocity = _number(fields[0]), _number(fields[2]) if len(fields) > 2 else 1.0
        code = class_code(fields[1]) if len(fields) > 1 else None
        if not np.isfinite(t) or t < 0 or code is None or not np.isfinite(velocity) or velocity < 0:
            raise OnsetFileError(f"{path}:{number}: expected 'time_s<TAB>class[<TAB>velocity]', a time >= 0, one of "
                                 f"{', '.join(CLASSES)} (or a stem name) and a velocity >= 0, got {line.strip()!r}")
        rows.append((t, code, velocity))
    return rows


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def read_onsets_tsv(path) -> dict:
    """Read an onsets TSV (see `read_tsv_rows`) as {class: sorted times}."""
    return rows_to_times(read_tsv_rows(path))


def read_midi_rows(path, notes=None) -> tuple:
    """A MIDI file's note-ons as (time_s, class, MIDI velocity / 127) rows and a Counter of dropped pitches.

    Pitches are mapped with the GMD 22-pitch table. Notes on channel 10 are used when
    there are any, otherwise every channel's (said through `notes`).
    """
    try:
        events = read_note_ons(path)
    except MidiError as exc:
        raise OnsetFileError(str(exc)) from None
    if any(channel == DRUM_CHANNEL for _, channel, _, _ in events):
        events = [e for e in events if e[1] == DRUM_CHANNEL]
    elif events and notes:
        notes(f"{path}: no notes on channel 10; reading every channel as drums")
    rows, dropped = [], Counter()
    for t, _, pitch, velocity in events:
        if pitch in GMD_PITCH_TO_CLASS:
            rows.append((t, GMD_PITCH_TO_CLASS[pitch], velocity / 127))
        else:
            dropped[pitch] += 1
    return rows, dropped


def read_onset_rows(path, notes=None) -> tuple:
    """Read a transcription (MIDI by suffix, otherwise TSV) as (rows, Counter of dropped MIDI pitches)."""
    path = Path(path)
    if not path.is_file():
        raise OnsetFileError(f"{path}: no such onsets file")
    if path.suffix.lower() in MIDI_SUFFIXES:
        return read_midi_rows(path, notes)
    return read_tsv_rows(path), Counter()


def read_onsets(path, notes=None) -> dict:
    """Read a transcription (MIDI by suffix, otherwise TSV) as {class code: onset times in seconds}.

    MIDI pitches outside the drum map are dropped and counted through `notes`.
    """
    rows, dropped = read_onset_rows(path, notes)
    if dropped and notes:
        listed = ", ".join(f"{p} ({n}x)" for p, n in sorted(dropped.items()))
        notes(f"{path}: dropped {sum(dropped.values())} notes with pitches outside the drum map: {listed}")
    return rows_to_times(rows)

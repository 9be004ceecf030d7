"""Standard MIDI Files, written and read by hand (no dependency): drum notes in, drum notes out.

Writing: format 0, 960 ticks per quarter note at 120 BPM (1920 ticks per second, so times
are kept to 0.26 ms), 4/4, every note on channel 10 (the General MIDI drum channel).
Reading: formats 0 and 1 with the full tempo map, or SMPTE time; running status, SysEx
and meta events are understood.
"""

import math
import struct

TICKS_PER_BEAT = 960
TEMPO = 500_000
"""Microseconds per quarter note of written files (120 BPM)."""
DRUM_CHANNEL = 9
"""Channel 10 in 1-based numbering."""
NOTE_SECONDS = 0.1
"""Longest written note; a note ends earlier where the same drum strikes again."""
VELOCITY_RANGE_DB = 40.0
"""Model velocities from -40 dB to 0 dB (amplitude 0.01 to 1) span MIDI velocities 1 to 127."""


class MidiError(ValueError):
    """A MIDI file that cannot be read, with a one-line reason."""


def midi_velocity(velocity: float) -> int:
    """The model's velocity (an amplitude scale, about 0 to 2) -> MIDI velocity 1..127, in dB."""
    if not velocity > 0:
        return 1
    level = 1.0 + 20.0 * math.log10(velocity) / VELOCITY_RANGE_DB
    return int(min(127, max(1, round(127 * level))))


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _seconds_to_ticks(seconds: float) -> int:
    return max(0, round(seconds * TICKS_PER_BEAT * 1_000_000 / TEMPO))


def drum_midi_bytes(notes, name: str = "drums") -> bytes:
    """A Standard MIDI File of drum hits; `notes` is an iterable of (time_s, pitch, velocity 1..127)."""
    hits = sorted((_seconds_to_ticks(t), int(p), int(v)) for t, p, v in notes)
    longest = _seconds_to_ticks(NOTE_SECONDS)
    ends, seen = [], {}  # seen: pitch -> (earliest tick walked so far, the next later tick after it)
    for tick, pitch, _ in reversed(hits):  # backwards: each hit's next strike of its drum is known
        first, after = seen.get(pitch, (None, None))
        later = after if first == tick else first
        ends.append(tick + longest if later is None else min(tick + longest, later))
        if first != tick:
            seen[pitch] = (tick, first)
    events = []  # (tick, order, message): note-offs sort before note-ons on the same tick
    for (tick, pitch, velocity), end in zip(hits, reversed(ends)):
        events.append((tick, 1, bytes([0x90 | DRUM_CHANNEL, pitch, velocity])))
        events.append((max(end, tick + 1), 0, bytes([0x80 | DRUM_CHANNEL, pitch, 0])))
    return smf_bytes(events, [(0, TEMPO)], name)


def smf_bytes(events, tempi, name: str = "drums", ticks_per_beat: int = TICKS_PER_BEAT) -> bytes:
    """A format-0 Standard MIDI File in 4/4 from raw channel messages and a tempo map.

    `events` holds (tick, order, message bytes), written in (tick, order) order; `tempi`
    holds (tick, microseconds per quarter note) changes.
    """
    title = name.encode("utf-8")[:127]
    meta = [(0, -3, b"\xff\x03" + _varlen(len(title)) + title),
            (0, -1, b"\xff\x58\x04\x04\x02\x18\x08")]  # 4/4, 24 clocks per click, 8 32nds per quarter
    meta += [(int(tick), -2, b"\xff\x51\x03" + int(tempo).to_bytes(3, "big")) for tick, tempo in tempi]
    track = bytearray()
    now = 0
    for tick, _, message in sorted(meta + list(events), key=lambda e: (e[0], e[1])):
        track += _varlen(tick - now) + message
        now = tick
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks_per_beat)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


class _Reader:
    def __init__(self, data: bytes, pos: int = 0):
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise MidiError("file ends in the middle of an event")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def varlen(self) -> int:
        value = 0
        for _ in range(4):
            b = self.byte()
            value = (value << 7) | (b & 0x7F)
            if not b & 0x80:
                return value
        raise MidiError("variable-length number longer than 4 bytes")


def _track_events(data: bytes):
    """(tick, kind, payload) of one track: kind 'note' -> (channel, pitch, velocity), 'tempo' -> us."""
    r = _Reader(data)
    tick, status = 0, None
    while r.pos < len(data):
        tick += r.varlen()
        first = r.byte()
        if first == 0xFF:
            kind, length = r.byte(), r.varlen()
            payload = r.take(length)
            if kind == 0x51 and length == 3:
                yield tick, "tempo", int.from_bytes(payload, "big")
            elif kind == 0x2F:
                return
            continue
        if first in (0xF0, 0xF7):
            r.take(r.varlen())
            continue
        if first & 0x80:
            status = first
            data1 = r.byte()
        elif status is None:
            raise MidiError("data byte without a status byte")
        else:
            data1 = first
        if status & 0xF0 in (0xC0, 0xD0):
            continue
        data2 = r.byte()
        if status & 0xF0 == 0x90 and data2 > 0:
            yield tick, "note", (status & 0x0F, data1, data2)


def read_note_ons(path) -> list:
    """Note-ons (velocity > 0) of a MIDI file as (time_s, channel 0..15, pitch, velocity), by time."""
    try:
        data = open(path, "rb").read()
    except OSError as exc:
        raise MidiError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return _note_ons(data)
    except MidiError as exc:
        raise MidiError(f"{path}: not a readable MIDI file ({exc})") from None


def _note_ons(data: bytes) -> list:
    r = _Reader(data)
    if r.take(4) != b"MThd":
        raise MidiError("no MThd header")
    length = struct.unpack(">I", r.take(4))[0]
    fmt, n_tracks, division = struct.unpack(">HHH", r.take(6))
    r.take(length - 6)
    if division == 0:
        raise MidiError("zero ticks per quarter note")
    if fmt > 2:
        raise MidiError(f"unknown format {fmt}")
    notes, tempi = [], []
    for _ in range(n_tracks):
        kind, size = r.take(4), struct.unpack(">I", r.take(4))[0]
        body = r.take(size)
        if kind != b"MTrk":
            continue
        for tick, what, payload in _track_events(body):
            (tempi if what == "tempo" else notes).append((tick, payload))
    if division & 0x8000:
        frames_per_second = 256 - (division >> 8)
        seconds_per_tick = 1.0 / (frames_per_second * (division & 0xFF))
        return sorted((tick * seconds_per_tick, *note) for tick, note in notes)
    return sorted((tick_to_seconds(tick, sorted(tempi), division), *note) for tick, note in notes)


def tick_to_seconds(tick: int, tempi: list, ticks_per_beat: int) -> float:
    """Seconds at `tick` through a tempo map: (tick, microseconds per beat) changes, sorted by tick."""
    seconds, last_tick, tempo = 0.0, 0, TEMPO
    for change_tick, new_tempo in tempi:
        if change_tick >= tick:
            break
        seconds += (change_tick - last_tick) * tempo / 1e6 / ticks_per_beat
        last_tick, tempo = change_tick, new_tempo
    return seconds + (tick - last_tick) * tempo / 1e6 / ticks_per_beat

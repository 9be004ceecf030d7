"""The hand-written MIDI reader and writer, checked against mido (an independent implementation)."""

import mido
import numpy as np
import pytest

from idm.midi import MidiError, drum_midi_bytes, midi_velocity, read_note_ons
from idm.onset_files import read_onsets


def test_written_file_read_by_mido(tmp_path):
    notes = [(0.0, 36, 100), (0.5, 38, 90), (0.5, 42, 60), (0.52, 42, 61), (1.2345, 51, 1), (3.0, 49, 127)]
    path = tmp_path / "drums.mid"
    path.write_bytes(drum_midi_bytes(notes, "test"))
    midi = mido.MidiFile(str(path))
    assert midi.type == 0 and midi.ticks_per_beat == 960
    ons, now = [], 0.0
    for message in midi:  # mido converts ticks to seconds through the tempo map
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            ons.append((now, message.channel, message.note, message.velocity))
        if message.type == "note_off":
            assert message.channel == 9
    assert [(c, n, v) for _, c, n, v in ons] == [(9, p, v) for _, p, v in notes]
    np.testing.assert_allclose([t for t, *_ in ons], [t for t, _, _ in notes], atol=0.5 / 1920 + 1e-9)
    ours = read_note_ons(path)  # our reader agrees with mido's
    assert [rest for _, *rest in ours] == [rest for _, *rest in ons]
    np.testing.assert_allclose([t for t, *_ in ours], [t for t, *_ in ons], atol=1e-9)


def test_tempo_map_running_status_and_format_1(tmp_path):
    """A mido-written type-1 file: tempo changes on track 0, drums and a melody on others."""
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    tempo = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000, time=0),
                            mido.MetaMessage("set_tempo", tempo=250000, time=960),
                            mido.MetaMessage("set_tempo", tempo=1000000, time=960)])
    drums = mido.MidiTrack()
    for pitch in (36, 22, 39, 59, 38, 45):
        drums.append(mido.Message("note_on", channel=9, note=pitch, velocity=80, time=240))
        drums.append(mido.Message("note_on", channel=9, note=pitch, velocity=0, time=120))
    drums.append(mido.Message("program_change", channel=9, program=0, time=0))
    drums.append(mido.Message("sysex", data=[1, 2, 3], time=0))
    melody = mido.MidiTrack([mido.Message("note_on", channel=0, note=36, velocity=70, time=10)])
    midi.tracks += [tempo, drums, melody]
    path = tmp_path / "gmd_like.mid"
    midi.save(str(path))
    expected, now = {}, 0.0
    for message in mido.MidiFile(str(path)):
        now += message.time
        if message.type == "note_on" and message.velocity > 0 and message.channel == 9:
            expected.setdefault(message.note, []).append(now)
    lines = []
    onsets = read_onsets(path, notes=lines.append)
    pitch_of = {"KD": 36, "HH_CHH": 22, "CY_RD": 59, "SD": 38, "TT_LMT": 45}
    for code, times in onsets.items():
        np.testing.assert_allclose(times, expected.get(pitch_of.get(code), []), atol=1e-9, err_msg=code)
    assert lines == [f"{path}: dropped 1 notes with pitches outside the drum map: 39 (1x)"]


def test_velocity_mapping_and_bad_files(tmp_path):
    assert [midi_velocity(v) for v in (0.0, 0.005, 0.01, 0.1, 1.0, 1.9)] == [1, 1, 1, 64, 127, 127]
    for content, problem in [(b"MThd", "ends in the middle"), (b"RIFF....", "no MThd header"),
                             (drum_midi_bytes([(0.0, 36, 90)])[:-6], "ends in the middle")]:
        path = tmp_path / "bad.mid"
        path.write_bytes(content)
        with pytest.raises(MidiError, match=problem):
            read_note_ons(path)

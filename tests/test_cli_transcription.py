"""Transcriptions through `idm separate`: onsets.tsv and --midi out, --onsets (TSV or MIDI) in."""

import mido
import numpy as np
import soundfile as sf

from idm.constants import CLASS_NAMES, CLASSES, FRAME_RATE, GM_NOTES
from idm.midi import midi_velocity

from conftest import read_folder, run_idm


def _tsv_rows(path):
    lines = path.read_text().splitlines()
    assert lines[0] == "time_s\tclass\tvelocity"
    return [(float(t), c, float(v)) for t, c, v in (line.split("\t") for line in lines[1:])]


def test_midi_matches_onsets_tsv_note_by_note(tmp_path, demo_path):
    proc = run_idm("separate", demo_path, "-o", tmp_path, "--midi", "--seed", "1234", "-q")
    assert proc.returncode == 0, proc.stderr
    rows = _tsv_rows(tmp_path / demo_path.stem / "onsets.tsv")
    assert len(rows) == 78
    midi = mido.MidiFile(str(tmp_path / demo_path.stem / "onsets.mid"))
    tempos = [m.tempo for m in midi.tracks[0] if m.type == "set_tempo"]
    assert midi.ticks_per_beat == 960 and tempos == [500000]
    notes, now = [], 0.0
    for message in midi:
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            notes.append((now, message.channel, message.note, message.velocity))
    assert len(notes) == len(rows)
    expected = sorted((GM_NOTES[code], t, velocity) for t, code, velocity in rows)  # hits at one time: any order
    for (note, t, velocity), (t_midi, channel, midi_note, midi_vel) in zip(
            expected, sorted(notes, key=lambda n: (n[2], n[0]))):
        assert abs(t - t_midi) <= 0.5 / 1920 + 1e-6  # the file's time base: 1920 ticks per second
        assert (channel, midi_note) == (9, note)
        assert abs(midi_vel - midi_velocity(velocity)) <= 1


def _given_frames():
    return {"KD": [10, 200, 390], "SD": [100, 300], "HH_CHH": [50, 150, 250, 350], "CY_RD": [120]}


def _check_given(track, frames):
    rows = _tsv_rows(track / "onsets.tsv")
    got = {c: sorted(round(t * FRAME_RATE) for t, code, _ in rows if code == c) for c in CLASSES}
    assert got == {c: frames.get(c, []) for c in CLASSES}
    stems = read_folder(track)
    for code in CLASSES:
        active = np.abs(stems[CLASS_NAMES[code]]).max() > 0
        assert active == (code in frames), code  # classes without given onsets stay silent


def test_onsets_from_tsv(tmp_path, clip_path):
    frames = _given_frames()
    lines = ["time_s\tclass\tvelocity"] + [f"{(f + 0.5) / FRAME_RATE:.6f}\t{CLASS_NAMES[c] if c == 'SD' else c}\t1.0"
                                           for c, fs in frames.items() for f in fs]
    given = tmp_path / "given.tsv"
    given.write_text("\n".join(lines) + "\n")
    proc = run_idm("separate", clip_path, "-o", tmp_path / "out", "--onsets", given, "-q")
    assert proc.returncode == 0, proc.stderr
    _check_given(tmp_path / "out" / "clip", frames)


def test_onsets_from_midi(tmp_path, clip_path):
    frames = _given_frames()
    pitches = {"KD": 36, "SD": 40, "HH_CHH": 44, "CY_RD": 53}  # GMD pitches beyond the GM notes
    midi = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=600000)])
    events = sorted((round((f + 0.5) / FRAME_RATE / 0.6 * 480), pitches[c]) for c, fs in frames.items() for f in fs)
    events.append((events[-1][0] + 10, 39))  # hand clap: not a drum of the model, dropped with a note
    now = 0
    for tick, pitch in events:
        track.append(mido.Message("note_on", channel=9, note=pitch, velocity=90, time=tick - now))
        now = tick
    midi.tracks.append(track)
    given = tmp_path / "given.mid"
    midi.save(str(given))
    proc = run_idm("separate", clip_path, "-o", tmp_path / "out", "--onsets", given)
    assert proc.returncode == 0, proc.stderr
    assert "dropped 1 notes with pitches outside the drum map: 39 (1x)" in proc.stderr
    _check_given(tmp_path / "out" / "clip", frames)


def test_bad_onsets_files(tmp_path, clip_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("time_s\tclass\n0.5\tcowbell\n")
    proc = run_idm("separate", clip_path, "-o", tmp_path / "out", "--onsets", bad)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert f"{bad}:2: expected 'time_s<TAB>class[<TAB>velocity]'" in proc.stderr and "cowbell" in proc.stderr
    assert proc.stderr.startswith(f"idm: error: {bad}:2:")
    other = tmp_path / "other.wav"
    sf.write(str(other), np.zeros(4410, np.float32), 44100)
    proc = run_idm("separate", clip_path, other, "-o", tmp_path / "out", "--onsets", bad)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "--onsets gives the transcription of one input, but there are 2" in proc.stderr
    assert not (tmp_path / "out").exists()

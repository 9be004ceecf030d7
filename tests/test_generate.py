"""The StemGMD-shaped generator: GMD metadata, and FluidSynth stems whose hits sit on the MIDI onsets."""

import csv
import os
import shutil

import numpy as np
import pytest
import soundfile as sf
from conftest import run_module

from data.generate import Take, find_soundfont, generate
from test_preprocess import midi_onsets


def test_generated_tree_has_gmd_metadata_and_stemgmd_files(tmp_path):
    proc = run_module("data.generate", tmp_path, "--kits", "heavy,roots", "--renderer", "procedural")
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "groove" / "info.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["split"] for r in rows].count("train") == 8 and len(rows) == 14
    for row in rows:
        assert (tmp_path / "groove" / row["midi_filename"]).is_file()
        name = row["midi_filename"].split("/")[-1][:-4]
        for kit in ("heavy", "roots"):
            kick = tmp_path / "audio" / row["session"] / kit / "kick" / f"{name}.wav"
            info = sf.info(str(kick))
            assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_16")
    bad = run_module("data.generate", tmp_path / "x", "--kits", "garage")
    assert bad.returncode == 2 and "unknown kits garage" in bad.stderr


def test_fluidsynth_stems_strike_on_the_midi_onsets(tmp_path):
    if not (shutil.which("fluidsynth") and find_soundfont()):
        message = "fluidsynth and a GM soundfont are needed (apt-get install fluidsynth timgm6mb-soundfont)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    rows = generate(tmp_path, [Take("drummer1", "session1", "train", 2, 100)], ("brooklyn", "heavy"),
                    renderer="fluidsynth")
    notes = midi_onsets(tmp_path / "groove" / rows[0]["midi_filename"])
    name = rows[0]["midi_filename"].split("/")[-1][:-4]
    stems = {}
    for kit in ("brooklyn", "heavy"):
        audio, rate = sf.read(str(tmp_path / "audio" / "drummer1" / "session1" / kit / "kick" / f"{name}.wav"))
        stems[kit] = audio.mean(axis=1)
        envelope = np.abs(stems[kit])
        for t, pitch, _ in notes:
            if pitch != 36:
                continue
            s = int(t * rate)
            before, after = envelope[max(0, s - 400):s].max(initial=0), envelope[s:s + 1500].max()
            assert after > 0.05 and after > 1.5 * before  # a kick starts within 34 ms of each KD onset
    assert not np.allclose(stems["brooklyn"], stems["heavy"])  # kits sound different

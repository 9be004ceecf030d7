"""`idm separate` on folders: recursion, a corrupt file, parallel workers, no overwriting."""

import os

import numpy as np
import soundfile as sf

from conftest import read_folder, run_idm


def _library(root, demo_audio):
    """A music-library-like tree: audio in nested folders, a corrupt file, non-audio files."""
    clip = demo_audio.numpy()
    (root / "live" / "2024").mkdir(parents=True)
    sf.write(str(root / "a.wav"), clip[: 2 * 44100], 44100, subtype="FLOAT")
    sf.write(str(root / "live" / "b.flac"), clip[44100: 3 * 44100], 44100)
    sf.write(str(root / "live" / "2024" / "c.ogg"), clip[2 * 44100: 4 * 44100], 44100)
    (root / "live" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk that is not audio")
    (root / "notes.txt").write_text("not audio")
    (root / ".hidden.wav").write_bytes(b"ignored: hidden")
    return ["a", "live/b", "live/2024/c"]


def test_folder_with_nested_folders_and_a_corrupt_file(tmp_path, demo_audio):
    root = tmp_path / "library"
    tracks = _library(root, demo_audio)
    out = tmp_path / "parallel"
    proc = run_idm("separate", root, "-o", out, "-j", "2", "--midi")
    assert proc.returncode == 1
    bad = root / "live" / "broken.wav"
    assert f"idm: error: {bad}: cannot read audio" in proc.stderr
    assert f"idm: 1 of 4 files failed: {bad}" in proc.stderr
    for track in tracks:
        assert len(read_folder(out / track)) == 9, track
        assert (out / track / "onsets.tsv").is_file() and (out / track / "onsets.mid").is_file()
    assert not (out / "live" / "broken").exists()
    assert sorted(p.name for p in out.iterdir()) == ["a", "live"]  # no staging folder left behind
    # one worker process gives the same files as two
    proc = run_idm("separate", root, "-o", tmp_path / "serial", "-q")
    assert proc.returncode == 1 and proc.stdout == ""
    for track in tracks:
        serial, parallel = read_folder(tmp_path / "serial" / track), read_folder(out / track)
        for stem in serial:
            assert np.abs(serial[stem] - parallel[stem]).max() < 1e-5, (track, stem)
        assert (tmp_path / "serial" / track / "onsets.tsv").read_text() == (out / track / "onsets.tsv").read_text()


def test_output_folder_inside_the_input_folder_is_not_read(tmp_path, clip_path):
    root = tmp_path / "songs"
    root.mkdir()
    os.link(clip_path, root / "clip.wav")
    assert run_idm("separate", root, "-o", root / "separated", "-q").returncode == 0
    proc = run_idm("separate", root, "-o", root / "separated", "-q", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (root / "separated").iterdir()) == ["clip"]


def test_existing_outputs_need_overwrite(tmp_path, clip_path):
    out = tmp_path / "out"
    assert run_idm("separate", clip_path, "-o", out, "-q").returncode == 0
    before = {p.name: p.stat().st_mtime_ns for p in (out / "clip").iterdir()}
    proc = run_idm("separate", clip_path, "-o", out, "--stems", "kick")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert f"{out / 'clip' / 'kick.wav'}: exists (use --overwrite" in proc.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (out / "clip").iterdir()} == before
    proc = run_idm("separate", clip_path, "-o", out, "--stems", "kick", "--overwrite", "--seed", "5")
    assert proc.returncode == 0, proc.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (out / "clip").iterdir()}
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {"kick.wav", "onsets.tsv"}
    assert sorted(p.name for p in out.iterdir()) == ["clip"]


def test_missing_inputs_and_empty_folders(tmp_path, clip_path):
    (tmp_path / "empty").mkdir()
    proc = run_idm("separate", tmp_path / "empty", tmp_path / "nope.wav", clip_path, "-o", tmp_path / "out", "-q")
    assert proc.returncode == 1
    assert f"{tmp_path / 'empty'}: no audio files in this folder" in proc.stderr
    assert f"{tmp_path / 'nope.wav'}: no such file or folder" in proc.stderr
    assert "2 of 3 files failed" in proc.stderr
    assert len(read_folder(tmp_path / "out" / "clip")) == 9

"""`python -m data.preprocess stemgmd` on a generated StemGMD-shaped tree: manifest, splits,
annotations against an independent MIDI reading, mixtures against the stems, and the report."""

import csv
from collections import Counter
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

from conftest import run_module
from data.datasets import ClipDataset
from data.manifest import read_manifest, select

# The 22-pitch GMD table, written out here from the issue so the test does not read the code's copy.
GMD_TABLE = {36: "KD", 38: "SD", 37: "SD", 40: "SD", 42: "HH_CHH", 22: "HH_CHH", 44: "HH_CHH",
             46: "HH_OHH", 26: "HH_OHH", 43: "TT_HFT", 58: "TT_HFT", 47: "TT_LMT", 45: "TT_LMT",
             50: "TT_HMT", 48: "TT_HMT", 49: "CY_CR", 52: "CY_CR", 55: "CY_CR", 57: "CY_CR",
             51: "CY_RD", 53: "CY_RD", 59: "CY_RD"}
STEM_CLASS = {"kick": "KD", "snare": "SD", "hihat_closed": "HH_CHH", "hihat_open": "HH_OHH", "low_tom": "TT_HFT",
              "mid_tom": "TT_LMT", "hi_tom": "TT_HMT", "crash_left": "CY_CR", "ride": "CY_RD"}
STEM_FILE = {"KD": "kick", "SD": "snare", "HH_CHH": "hihat_closed", "HH_OHH": "hihat_open", "TT_HFT": "tom_low",
             "TT_LMT": "tom_mid", "TT_HMT": "tom_high", "CY_CR": "crash", "CY_RD": "ride"}


def manifest(out):
    with open(Path(out) / "manifest.csv", newline="") as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def midi_onsets(path):
    """(time_s, pitch, velocity) of every note-on, timed by mido through the file's tempo map."""
    now, notes = 0.0, []
    for message in mido.MidiFile(str(path)):
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            notes.append((now, message.note, message.velocity))
    return notes


def snr_below(reference, estimate, hz):
    """SNR in dB of the spectrum below `hz` (44.1 kHz signals)."""
    r, e = np.fft.rfft(reference), np.fft.rfft(estimate)
    band = np.fft.rfftfreq(len(reference), 1 / 44100) < hz
    return 10 * np.log10(np.sum(np.abs(r[band]) ** 2) / np.sum(np.abs(r[band] - e[band]) ** 2))


def test_manifest_and_splits(stemgmd_data):
    out, stdout = stemgmd_data
    rows = manifest(out)
    expected = {
        "drummer1/session1/1_funk-groove1_100_beat_4-4/brooklyn": ("train", "train_train_kits", "0", "train_kits"),
        "drummer1/session2/1_rock-groove1_126_beat_4-4/brooklyn": ("validation", "val_train_kits", "0", "train_kits"),
        "drummer1/eval_session/1_jazz-groove1_84_beat_4-4/brooklyn":
            ("test", "eval_session_train_kits", "0", "train_kits"),
        "drummer1/eval_session/1_jazz-groove1_84_beat_4-4/bluebird":
            ("test", "eval_session_test_kits", "6", "test_kits"),
    }
    assert {i: (r["gmd_split"], r["split"], r["kit_id"], r["kit_group"]) for i, r in rows.items()} == expected
    # train/validation takes with the test kit are in none of the paper's splits
    assert "items skipped: 2 in none of the paper's splits" in stdout
    assert len({r["id"] for r in rows.values()}) == 4
    # stems are kept for the evaluation splits only
    assert [i for i, r in rows.items() if not r["stems"]] == [next(iter(expected))]
    missing = {i: r["missing_stems"] for i, r in rows.items() if r["missing_stems"]}
    assert missing == {"drummer1/session2/1_rock-groove1_126_beat_4-4/brooklyn": "CY_RD"}
    # the test splits hold their eval_session items (GMD labels them test; only training left them
    # out), so the eval_session splits are subsets of them, and the report counts them in both
    listed = read_manifest(out)
    for group in ("train_kits", "test_kits"):
        subset = [r["id"] for r in select(listed, f"eval_session_{group}")]
        assert len(subset) == 1 and [r["id"] for r in select(listed, f"test_{group}")] == subset
        assert len(ClipDataset(out, f"test_{group}")) == 1
    for split, n in (("train_train_kits", 1), ("val_train_kits", 1), ("test_train_kits", 1), ("test_test_kits", 1),
                     ("eval_session_train_kits", 1), ("eval_session_test_kits", 1)):
        assert f"\n  {split:<26}{n:>8}\n" in stdout
    assert "stem files absent (taken as silent): CY_RD 1x" in stdout
    assert "resampling 48000 Hz -> 44100 Hz: 1 files" in stdout
    assert (out / "report.txt").read_text() in stdout


def test_annotations_match_an_independent_midi_reading(stemgmd_tree, stemgmd_data):
    root, _ = stemgmd_tree
    out, stdout = stemgmd_data
    dropped = 0
    for row in manifest(out).values():
        midi = root / "groove" / row["drummer"] / row["session"] / f"{row['performance']}.mid"
        mido_file = mido.MidiFile(str(midi))
        assert sum(m.type == "set_tempo" for m in mido_file.tracks[0]) >= 3  # tempo changes
        notes = midi_onsets(midi)
        assert set(GMD_TABLE) <= {p for _, p, _ in notes}  # all 22 pitches occur
        expected = sorted((round(t, 6), GMD_TABLE[p], round(v / 127, 6)) for t, p, v in notes if p in GMD_TABLE)
        with open(out / row["annotation"]) as f:
            lines = [line.rstrip("\n").split("\t") for line in f]
        assert lines[0] == ["time_s", "class", "velocity"]
        got = sorted((float(t), c, float(v)) for t, c, v in lines[1:])
        assert len(got) == len(expected)
        for (t1, c1, v1), (t2, c2, v2) in zip(got, expected):
            assert c1 == c2 and abs(t1 - t2) < 2e-6 and abs(v1 - v2) < 2e-6
        counts = Counter(c for _, c, _ in got)
        assert all(int(row[f"n_{c}"]) == counts[c] for c in STEM_FILE)
        dropped += sum(p == 39 for _, p, _ in notes)
    assert dropped == 4 and "MIDI notes dropped (pitch outside the GMD table): 39 (4x)" in stdout


def test_mixture_is_the_sum_of_the_stems(stemgmd_tree, stemgmd_data):
    _, originals = stemgmd_tree
    out, _ = stemgmd_data
    for item, row in manifest(out).items():
        mixture, rate = sf.read(str(out / row["mixture"]), dtype="float32")
        assert rate == 44100 and mixture.ndim == 1 and len(mixture) == int(row["samples"])
        parts = {stem: a for (perf, kit, stem), a in originals.items() if perf == row["performance"]
                 and kit == row["kit"] and STEM_CLASS[stem] not in row["missing_stems"].split()}
        assert len(parts) == 9 - len(row["missing_stems"].split())
        expected = sum(parts.values())
        assert len(mixture) == len(expected)
        if row["split"] == "train_train_kits":  # a mono kick, and a snare at 48 kHz
            snare_48k, rate = sf.read(str(stemgmd_tree[0] / "audio" / row["drummer"] / row["session"] / row["kit"]
                                          / "snare" / f"{row['performance']}.wav"), dtype="float32")
            assert rate == 48000 and snare_48k.ndim == 2
            snare = AF.resample(torch.from_numpy(snare_48k.mean(axis=1)), 48000, 44100).numpy()[:len(mixture)]
            others = sum(a for s, a in parts.items() if s != "snare")
            np.testing.assert_allclose(mixture - others, snare, atol=4e-5)  # the mono kick: one 16-bit step
            assert snr_below(parts["snare"], snare, 15000) > 40  # resampling twice loses only the top band
        else:
            np.testing.assert_allclose(mixture, expected, atol=1e-6)
        if row["stems"]:
            for code, name in STEM_FILE.items():
                stem, _ = sf.read(str(out / row["stems"] / f"{name}.wav"), dtype="float32")
                folder = next(s for s, c in STEM_CLASS.items() if c == code)
                np.testing.assert_allclose(stem, parts.get(folder, np.zeros_like(mixture)), atol=1e-6)


def test_cache_holds_every_mixture(stemgmd_data):
    out, _ = stemgmd_data
    from data.cache import TrainingCache
    cache = TrainingCache(out)
    rows = manifest(out)
    assert cache.ids == list(rows)
    for i, row in enumerate(rows.values()):
        mixture, _ = sf.read(str(out / row["mixture"]), dtype="float32")
        np.testing.assert_allclose(cache.audio(i), mixture, atol=2e-3, rtol=1e-3)  # float16
        times, _ = cache.onsets(i)
        assert [len(t) for t in times] == [int(row[f"n_{c}"]) for c in sorted(STEM_FILE)]


def test_not_understood_files_and_a_corrupt_stem(stemgmd_tree, tmp_path):
    root = tmp_path / "tree"
    source, _ = stemgmd_tree
    for path in source.rglob("*"):
        if path.is_file():
            (root / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            (root / path.relative_to(source)).write_bytes(path.read_bytes())
    stray = [root / "audio" / "drummer1" / "session1" / "mystery_kit" / "kick" / "x.wav",
             root / "audio" / "drummer1" / "session1" / "brooklyn" / "cowbell" / "x.wav",
             root / "audio" / "drummer1" / "session1" / "brooklyn" / "kick" / "9_not-in-gmd.wav"]
    for path in stray:
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), np.zeros(100), 44100)
    corrupt = next((root / "audio" / "drummer1" / "eval_session" / "bluebird" / "snare").glob("*.wav"))
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    out = tmp_path / "out"
    proc = run_module("data.preprocess", "stemgmd", root, out)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"preprocess: error: {corrupt}: cannot read audio")
    assert "3 items processed, 0 already done, 1 failed" in proc.stdout
    assert f"{stray[0]}: no kit name in the path" in proc.stdout
    assert f"{stray[1]}: no stem folder name in the path" in proc.stdout
    assert f"{stray[2]}: no GMD performance drummer1/session1/9_not-in-gmd" in proc.stdout
    assert "files not understood: 3" in proc.stdout
    assert len(manifest(out)) == 3 and not list(out.rglob("*.tmp"))


def test_missing_gmd_metadata_is_one_line(tmp_path):
    (tmp_path / "audio").mkdir()
    proc = run_module("data.preprocess", "stemgmd", tmp_path, tmp_path / "out")
    assert proc.returncode == 2
    assert proc.stderr == f"preprocess: error: {tmp_path}: no GMD info.csv found; pass --gmd /path/to/groove\n"
    assert not (tmp_path / "out").exists()


def test_overlapping_splits_are_refused():
    from data.stemgmd import check_splits
    row = dict(drummer="drummer1", session="session1", performance="1_funk", kit="brooklyn", kit_group="train_kits",
               id="x")
    check_splits([dict(row, split="train_train_kits"), dict(row, kit="bluebird", kit_group="test_kits", split="")])
    with pytest.raises(ValueError, match="splits train_train_kits and val_train_kits share 1 performances"):
        check_splits([dict(row, split="train_train_kits"), dict(row, kit="heavy", split="val_train_kits")])
    with pytest.raises(ValueError, match="kit 'bluebird'"):
        check_splits([dict(row, kit="bluebird", split="val_train_kits")])


def test_dry_run_estimates_and_a_full_disk_is_refused(stemgmd_tree, tmp_path, monkeypatch):
    root, _ = stemgmd_tree
    out = tmp_path / "out"
    proc = run_module("data.preprocess", "stemgmd", root, out, "--dry-run")
    assert proc.returncode == 0 and not out.exists()
    # 4 items of about 16-18 s: mixtures 4 x 4 bytes/sample, stems 9 x that for the 3 evaluation items
    assert proc.stdout.startswith("4 items: 0 already done, 4 to process; about ")
    assert "(mixtures 11." in proc.stdout and "stems 7" in proc.stdout and "cache 5." in proc.stdout

    import shutil

    from data.preprocess import PreprocessError, preprocess
    from data.stemgmd import stemgmd_items
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**12, 10**12 - 10**6, 10**6))
    plan = stemgmd_items(root, root / "groove" / "info.csv")
    with pytest.raises(PreprocessError, match=r"not enough free disk space \(1.0 MB free, about 96.4 MB needed\)"):
        preprocess(plan, out, progress=False, say=lambda line: None)
    assert not out.exists()

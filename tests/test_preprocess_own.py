"""Bring your own data: a folder of mixtures with TSV and MIDI annotations and a labels CSV
becomes the same manifest, annotations and cache as StemGMD."""

import mido
import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
from conftest import run_module

from data.datasets import CropDataset
from data.manifest import read_manifest


def bursts(seconds, rate, channels, seed):
    rng = np.random.default_rng(seed)
    audio = rng.standard_normal((int(seconds * rate), channels)) * 0.05
    return (audio * np.exp(-np.arange(len(audio)) % (rate // 2) / (rate / 20))[:, None]).astype(np.float32)


def test_own_folder_becomes_a_dataset(tmp_path):
    lib = tmp_path / "lib"
    (lib / "live").mkdir(parents=True)
    a = bursts(3.0, 48000, 2, 0)
    sf.write(str(lib / "a.wav"), a, 48000, subtype="FLOAT")
    (lib / "a.tsv").write_text("time_s\tclass\tvelocity\n0.5\tKD\t0.8\n1.0\tsnare\n2.9\thihat_closed\t0.3\n"
                               "3.5\tKD\t1.0\n")
    sf.write(str(lib / "live" / "b.flac"), bursts(8.0, 44100, 1, 1)[:, 0], 44100)
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=600000, time=0)])
    for pitch, velocity in ((36, 127), (38, 64), (44, 100), (39, 90), (51, 32)):
        track += [mido.Message("note_on", channel=9, note=pitch, velocity=velocity, time=480),
                  mido.Message("note_off", channel=9, note=pitch, velocity=0, time=0)]
    midi.tracks.append(track)
    midi.save(str(lib / "live" / "b.mid"))
    sf.write(str(lib / "c.wav"), bursts(2.0, 44100, 1, 2)[:, 0], 44100)  # no annotation
    sf.write(str(lib / "d.wav"), bursts(7.0, 44100, 1, 3)[:, 0], 44100)
    (lib / "d.txt").write_text("1.0 KD\n")
    (lib / "e.wav").symlink_to(tmp_path / "elsewhere.wav")  # a broken link: reported, not used
    (tmp_path / "labels.csv").write_text("file,kit,split\na.wav,studio,train\nlive/b.flac,garage,val\n")
    out = tmp_path / "out"
    proc = run_module("data.preprocess", "folder", lib, out, "--labels", tmp_path / "labels.csv", "--kit", "studio",
                      "--val-fraction", "0")
    assert proc.returncode == 0, proc.stderr
    assert f"{lib / 'c.wav'}: no annotation file (c{{.tsv,.txt,.mid,.midi}})" in proc.stdout
    assert (f"{lib / 'e.wav'}: a broken symbolic link (to {tmp_path / 'elsewhere.wav'}, which does not exist)"
            in proc.stdout)
    assert "MIDI notes dropped (pitch outside the GMD table): 39 (1x)" in proc.stdout
    assert "onsets after the end of the audio (dropped): 1" in proc.stdout
    rows = {r["id"]: r for r in read_manifest(out)}
    assert {i: (r["kit"], r["kit_id"], r["split"]) for i, r in rows.items()} == {
        "a": ("studio", 1, "train"), "live/b": ("garage", 0, "val"), "d": ("studio", 1, "train")}
    assert (out / "annotations" / "a.tsv").read_text() == ("time_s\tclass\tvelocity\n0.500000\tKD\t0.800000\n"
                                                          "1.000000\tSD\t1.000000\n2.900000\tHH_CHH\t0.300000\n")
    b_lines = (out / "annotations" / "live" / "b.tsv").read_text().splitlines()[1:]
    assert b_lines == [f"{0.6 * (i + 1) + (0.6 if i >= 3 else 0):.6f}\t{c}\t{v / 127:.6f}"
                       for i, (c, v) in enumerate((("KD", 127), ("SD", 64), ("HH_CHH", 100), ("CY_RD", 32)))]
    mixture, rate = sf.read(str(out / rows["a"]["mixture"]), dtype="float32")
    expected = AF.resample(torch.from_numpy(a.mean(axis=1)), 48000, 44100).numpy()
    assert rate == 44100 and rows["a"]["samples"] == len(expected) == 3 * 44100
    np.testing.assert_allclose(mixture, expected, atol=1e-6)

    crops = CropDataset(out, "train", seed=0, crops_per_epoch=20)
    short = [crops[i] for i in range(20) if crops[i]["id"] == "a"]
    assert short, "the 3 s item is drawn"
    for example in short:  # shorter than a crop: zero-padded, onsets unshifted
        assert example["mixture"].shape == (6 * 44100,) and example["length"] == 3 * 44100 and example["offset"] == 0
        assert not example["mixture"][3 * 44100:].any()
        assert [list(t) for t in example["onsets"]] == [[], [], [2.9], [], [0.5], [1.0], [], [], []]

    ordered = run_module("data.preprocess", "folder", lib, tmp_path / "out2", "--labels", tmp_path / "labels.csv",
                         "--kits", "studio,garage", "-q")
    assert {r["id"]: r["kit_id"] for r in read_manifest(tmp_path / "out2")} == {"a": 0, "live/b": 1, "d": -1}
    assert ordered.returncode == 0
    bad = run_module("data.preprocess", "folder", lib, tmp_path / "out3", "--labels", tmp_path / "labels.csv",
                     "--kits", "studio")
    assert bad.returncode == 2 and bad.stderr == ("preprocess: error: kits garage are labelled but not in the given "
                                                  "kit list studio\n")

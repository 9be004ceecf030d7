"""Given one-shots and kits: `idm separate --one-shots DIR` and `--kit`, read back; velocity layers;
bad one-shot files; the API's `one_shots=` and `kit=`."""

import re
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from idm.audio import read_audio
from idm.constants import CLASS_NAMES, CLASSES, FRAME_RATE, HOP_LENGTH, SAMPLE_RATE, TRAIN_KITS
from idm.one_shots import layered_render, replace_one_shots
from idm.separate import separate

from conftest import read_folder, run_idm

GIVEN = {"KD": [40, 300, 560], "TT_HFT": [150, 420], "SD": [100, 360]}
"""Onset frames of the given transcription: kick and the floor tom get given one-shots, the snare not."""


def _onsets_file(path):
    lines = ["time_s\tclass"] + [f"{(f + 0.5) / FRAME_RATE:.6f}\t{c}" for c, frames in GIVEN.items() for f in frames]
    path.write_text("\n".join(lines) + "\n")
    return path


def _kick(rate: int) -> np.ndarray:
    t = np.arange(int(0.4 * rate)) / rate
    return (np.sin(2 * np.pi * 55 * t) * np.exp(-6 * t)).astype(np.float32)


def _tom() -> np.ndarray:
    t = np.arange(int(1.5 * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.5 * np.sin(2 * np.pi * 110 * t) * np.exp(-3 * t)).astype(np.float32)


def _one_shot_folder(folder):
    """kick: 48 kHz stereo with 10 ms of leading silence, 0.4 s; floor tom as StemGMD's single hit
    `hi_tom-1` (its tom naming: TT_HFT), 1.5 s. Returns the two at 44.1 kHz, cut to the attack."""
    folder.mkdir()
    kick48 = _kick(48000)
    sf.write(str(folder / "kick.wav"), np.stack([np.concatenate([np.zeros(480, np.float32), kick48])] * 2, 1),
             48000, subtype="FLOAT")
    sf.write(str(folder / "hi_tom-1.wav"), _tom(), SAMPLE_RATE, subtype="PCM_24")
    (folder / "README.txt").write_text("not audio: ignored\n")
    return {"KD": _kick(SAMPLE_RATE), "TT_HFT": _tom()}


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


def test_given_one_shots_replace_their_classes_in_the_written_stems(tmp_path, clip_path):
    expected = _one_shot_folder(tmp_path / "shots")
    onsets = _onsets_file(tmp_path / "onsets.tsv")
    common = ("separate", clip_path, "--onsets", onsets, "--masking", "none", "--seed", "3")
    proc = run_idm(*common, "--one-shots", tmp_path / "shots", "-o", tmp_path / "given")
    assert proc.returncode == 0, proc.stderr
    assert "resampling 48000 Hz -> 44100 Hz" in proc.stderr and "downmixing 2 channels" in proc.stderr
    assert "cut 10.0 ms of silence before the attack" in proc.stderr
    assert "one-shot kick: 0.400 s, padded with silence to 1.000 s" in proc.stderr
    assert "one-shot tom_low: kept the first 1.000 s of 1.500 s" in proc.stderr
    plain = run_idm(*common, "-o", tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    given = read_folder(tmp_path / "given" / clip_path.stem)
    synthesized = read_folder(tmp_path / "plain" / clip_path.stem)

    for code, shot in expected.items():  # each isolated hit of a given class is the given one-shot, scaled
        stem = given[CLASS_NAMES[code]]
        for frame in GIVEN[code][:2]:
            start = frame * HOP_LENGTH
            hit = stem[start:start + min(len(shot), SAMPLE_RATE, 100 * HOP_LENGTH)]
            assert _correlation(hit, shot) > 0.999, code
        assert _correlation(stem, synthesized[CLASS_NAMES[code]]) < 0.5, code
    for code in CLASSES:  # the other classes keep the synthesised one-shots
        if code not in expected:
            np.testing.assert_array_equal(given[CLASS_NAMES[code]], synthesized[CLASS_NAMES[code]], err_msg=code)


def test_api_one_shots_and_kit_equal_the_command_line(tmp_path, clip_path, model):
    expected = _one_shot_folder(tmp_path / "shots")
    audio = torch.from_numpy(sf.read(str(clip_path), dtype="float32")[0])
    by_folder = separate(audio, model, one_shots=tmp_path / "shots", kit="heavy", seed=5)
    kick = read_audio(tmp_path / "shots" / "kick.wav")  # 48 kHz stereo, resampled and downmixed
    by_dict = separate(audio, model, one_shots={"kick": kick, "hi_tom-1": torch.from_numpy(expected["TT_HFT"])},
                       kit=1, seed=5)
    assert torch.equal(by_folder.kit_probs, torch.nn.functional.one_hot(torch.tensor([1]), 6).float())
    np.testing.assert_allclose(by_folder.separated.numpy(), by_dict.separated.numpy(), atol=2e-5)
    proc = run_idm("separate", clip_path, "--one-shots", tmp_path / "shots", "--kit", "heavy", "--seed", "5",
                   "-o", tmp_path / "out", "-q")
    assert proc.returncode == 0, proc.stderr
    written = read_folder(tmp_path / "out" / clip_path.stem)
    for k, code in enumerate(CLASSES):
        np.testing.assert_allclose(written[CLASS_NAMES[code]], by_folder.separated[0, k].numpy(), atol=1e-5)


def test_velocity_layers_play_by_velocity_relative_to_the_loudest_onset(model):
    n = model.config.one_shot_length
    synthesized = torch.rand(1, len(CLASSES), n) - 0.5
    soft, loud = torch.zeros(n), torch.zeros(n)
    soft[:100], loud[:50] = 0.1, 1.0  # the quiet layer is the longer one: order is by loudness, not length
    samples, layers = replace_one_shots(synthesized, {"SD": [soft, loud]})
    k = CLASSES.index("SD")
    activations = torch.zeros(1, len(CLASSES), 40)
    activations[0, k, 5], activations[0, k, 25] = 0.3, 0.9  # 0.3 / 0.9 < 1/2: the soft layer; 0.9: the loud one
    gains = torch.full((1, len(CLASSES)), 2.0)
    stems = layered_render(model, activations, samples, layers, gains, 40 * HOP_LENGTH)[0, k]
    energy = synthesized[0, k].square().sum().sqrt()
    soft_hit = stems[5 * HOP_LENGTH:5 * HOP_LENGTH + 100]
    loud_hit = stems[25 * HOP_LENGTH:25 * HOP_LENGTH + 50]
    torch.testing.assert_close(soft_hit, 2.0 * 0.3 * soft[:100] * energy / soft.square().sum().sqrt())
    torch.testing.assert_close(loud_hit, 2.0 * 0.9 * loud[:50] * energy / loud.square().sum().sqrt())
    assert torch.equal(samples[0, k], layers[k][0, 1])  # `samples` holds the loudest layer
    plain = model.render(activations, samples, gains, 40 * HOP_LENGTH)[0]
    others = [i for i in range(len(CLASSES)) if i != k]
    full = layered_render(model, activations, samples, layers, gains, 40 * HOP_LENGTH)[0]
    assert torch.equal(full[others], plain[others])


def test_layers_from_subfolders_are_noted(tmp_path, clip_path):
    folder = tmp_path / "shots"
    (folder / "velocity_40").mkdir(parents=True)
    sf.write(str(folder / "snare.wav"), 0.9 * _tom()[:SAMPLE_RATE // 2], SAMPLE_RATE)
    sf.write(str(folder / "velocity_40" / "snare.wav"), 0.2 * _tom()[:SAMPLE_RATE // 2], SAMPLE_RATE)
    proc = run_idm("separate", clip_path, "--one-shots", folder, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert f"{folder}: 2 velocity layers of snare" in proc.stderr


def test_bad_one_shot_files_fail_with_one_line_and_no_output(tmp_path, clip_path):
    cases = {
        "silent": ("kick.wav", np.zeros(4410, np.float32), "silent"),
        "too-long": ("snare.wav", 0.1 * np.ones(11 * SAMPLE_RATE, np.float32), "11.0 s long, not a one-shot"),
        "unknown": ("cowbell.wav", _tom()[:4410], "'cowbell' names no drum class"),
    }
    for name, (file, audio, problem) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        sf.write(str(folder / file), audio, SAMPLE_RATE)
        out = tmp_path / f"out-{name}"
        proc = run_idm("separate", clip_path, "--one-shots", folder, "-o", out)
        assert proc.returncode == 1, name
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("idm: error: ") and problem in lines[0], proc.stderr
        assert str(folder) in lines[0] and not out.exists(), name
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "ride.wav").write_bytes(b"RIFF not really a wave file")
    proc = run_idm("separate", clip_path, "--one-shots", broken, "-o", tmp_path / "out-broken")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and str(broken / "ride.wav") in lines[0], proc.stderr
    assert not (tmp_path / "out-broken").exists()


def test_kits_are_listed_and_unknown_kits_refused(tmp_path, clip_path):
    proc = run_idm("separate", "--list-models")
    assert proc.returncode == 0 and ", ".join(f"{k} ({i})" for i, k in enumerate(TRAIN_KITS)) in proc.stdout
    proc = run_idm("separate", clip_path, "--kit", "bluebird", "-o", tmp_path / "out")
    assert proc.returncode == 1 and "kit 'bluebird' is not one of the model's kits: brooklyn (0)" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_recorded_hydrogen_kit_folder_is_read_as_it_ships(tmp_path, clip_path):
    """ForzeeStereo's samples (hydrogen-drumkits, installed by .ci/run) as they ship: `Kick-0` .. `Kick-4` are
    five velocity layers, 48 kHz stereo, 2 s, each with 6 to 12 ms of silence before the attack."""
    kit = Path("/usr/share/hydrogen/data/drumkits/ForzeeStereo")
    folder = tmp_path / "forzee"
    folder.mkdir()
    for name in ("Kick-0", "Kick-1", "Kick-2", "Kick-3", "Kick-4", "Snare-4"):
        shutil.copy(kit / f"{name}.wav", folder / f"{name}.wav")
    proc = run_idm("separate", clip_path, "--one-shots", folder, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert f"{folder}: 5 velocity layers of kick" in proc.stderr
    cuts = [float(m) for m in re.findall(r"cut (\d+\.\d) ms of silence before the attack", proc.stderr)]
    assert len(cuts) == 6 and all(5 < c < 13 for c in cuts), cuts
    assert proc.stderr.count("resampling 48000 Hz -> 44100 Hz") == 6
    assert "one-shot kick (layer 1): kept the first 1.000 s of 1.99" in proc.stderr
    written = read_folder(tmp_path / "out" / clip_path.stem)
    assert np.abs(written["kick"]).max() > 0.01 and np.abs(written["snare"]).max() > 0.01

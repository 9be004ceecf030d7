"""Stem selection, LarsNet's five groups, the residual and file name templates through `idm separate`."""

import numpy as np
import soundfile as sf

from idm.constants import CLASS_NAMES, STEM_GROUPS

from conftest import read_folder, run_idm


def test_merge_stems_residual_and_template(tmp_path, clip_path):
    mixture, _ = sf.read(str(clip_path), dtype="float32")
    assert run_idm("separate", clip_path, "-o", tmp_path / "nine", "-q").returncode == 0
    nine = read_folder(tmp_path / "nine" / "clip")
    assert sorted(nine) == sorted(CLASS_NAMES.values())

    assert run_idm("separate", clip_path, "-o", tmp_path / "five", "--merge", "5", "-q").returncode == 0
    five = read_folder(tmp_path / "five" / "clip")
    assert sorted(five) == sorted(STEM_GROUPS)
    for group, codes in STEM_GROUPS.items():
        np.testing.assert_allclose(five[group], sum(nine[CLASS_NAMES[c]] for c in codes), atol=1e-6)

    proc = run_idm("separate", clip_path, "-o", tmp_path / "some", "--merge", "5", "--stems", "hihat,kick",
                   "--residual", "--filename", "{model}/{track}_{stem}.{ext}", "-q")
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "some" / "idm-44-train-kits"
    assert sorted(p.name for p in folder.iterdir()) == ["clip_hihat.wav", "clip_kick.wav", "clip_onsets.tsv",
                                                         "clip_residual.wav"]
    some = {p.stem.split("_", 1)[1]: sf.read(str(p), dtype="float32")[0] for p in folder.glob("*.wav")}
    np.testing.assert_allclose(some["hihat"], five["hihat"], atol=1e-6)
    np.testing.assert_allclose(some["kick"] + some["hihat"] + some["residual"], mixture, atol=1e-5)
    assert np.abs(some["residual"]).max() > 0.05  # snare and the rest of the kit went to the residual


def test_bad_stem_options(tmp_path, clip_path):
    for flags, problem in [(("--stems", "cowbell"), "unknown stem 'cowbell' (stems: crash, ride,"),
                           (("--merge", "5", "--stems", "hihat_open"), "unknown stem 'hihat_open' (stems: kick,"),
                           (("--filename", "{track}.{ext}"), "with {stem} in it"),
                           (("--filename", "../{stem}.{ext}"), "not a plain relative file name"),
                           (("--filename", "{track}/{bpm}_{stem}.{ext}"), "use the fields"),
                           (("--segment", "0"), "segment must be a positive number")]:
        proc = run_idm("separate", clip_path, "-o", tmp_path / "out", *flags)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and problem in proc.stderr, proc.stderr
        assert not (tmp_path / "out").exists()


def test_template_without_track_clashes_between_inputs(tmp_path, clip_path):
    other = tmp_path / "other.wav"
    sf.write(str(other), sf.read(str(clip_path), dtype="float32")[0][:44100], 44100)
    proc = run_idm("separate", clip_path, other, "-o", tmp_path / "out", "--filename", "{stem}.{ext}", "-q")
    assert proc.returncode == 1
    assert f"{other}: its outputs would have the names of {clip_path}'s (put {{track}} in --filename)" in proc.stderr
    assert len(read_folder(tmp_path / "out")) == 9

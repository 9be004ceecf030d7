"""Bad input: a one-line error naming the file and the problem, exit 1, no output written."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from idm import separate

from conftest import run_idm


def _bad_files(folder):
    folder.mkdir()
    (folder / "garbage.wav").write_bytes(b"RIFF not really a wave file")
    sf.write(str(folder / "empty.wav"), np.zeros(0, np.float32), 44100)
    nan = np.zeros(44100, np.float32)
    nan[100] = np.nan
    sf.write(str(folder / "nan.wav"), nan, 44100, subtype="FLOAT")
    inf = np.zeros(44100, np.float32)
    inf[5] = np.inf
    sf.write(str(folder / "inf.wav"), inf, 44100, subtype="FLOAT")
    return {
        folder / "missing.wav": "no such file",
        folder / "garbage.wav": "cannot read audio",
        folder / "empty.wav": "empty audio",
        folder / "nan.wav": "NaN or Inf",
        folder / "inf.wav": "NaN or Inf",
    }


def test_bad_audio_files(tmp_path):
    for path, problem in _bad_files(tmp_path / "in").items():
        out = tmp_path / "out"
        proc = run_idm("separate", path, "-o", out)
        assert proc.returncode == 1
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("idm: error:"), proc.stderr
        assert str(path) in lines[0] and problem in lines[0], proc.stderr
        assert not out.exists() or not any(out.iterdir())


def test_bad_file_among_good_ones(tmp_path, demo_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    proc = run_idm("separate", demo_path, bad, "-o", tmp_path / "out")
    assert proc.returncode == 1
    assert f"idm: error: {bad}: cannot read audio" in proc.stderr
    assert f"1 of 2 files failed: {bad}" in proc.stderr
    assert len(list((tmp_path / "out" / demo_path.stem).glob("*.wav"))) == 9
    assert not (tmp_path / "out" / "broken").exists()


def test_bad_checkpoints(tmp_path, demo_path):
    truncated = tmp_path / "truncated.ckpt"
    from idm.checkpoint import resolve_checkpoint

    truncated.write_bytes(resolve_checkpoint("idm-44-train-kits").read_bytes()[:5000])
    wrong = tmp_path / "wrong.pt"
    torch.save({"state_dict": {"encoder.nothing": torch.zeros(2)}}, wrong)
    for ckpt, problem in [(truncated, "not a readable checkpoint"), (wrong, "no place in the model"),
                          (tmp_path / "absent.ckpt", "no such checkpoint file")]:
        out = tmp_path / "out"
        proc = run_idm("separate", demo_path, "-o", out, "--checkpoint", ckpt)
        assert proc.returncode == 1
        assert proc.stderr.count("\n") == 1 and str(ckpt) in proc.stderr and problem in proc.stderr
        assert not out.exists()


def test_checksum_mismatch_through_the_command(tmp_path, demo_path):
    from idm.checkpoint import PRETRAINED, resolve_checkpoint

    name = "idm-44-train-kits"
    data = bytearray(resolve_checkpoint(name).read_bytes())
    data[1234] ^= 0x01
    (tmp_path / "ckpts" / name).mkdir(parents=True)
    (tmp_path / "ckpts" / name / PRETRAINED[name]["filename"]).write_bytes(bytes(data))
    env = dict(os.environ, IDM_CHECKPOINTS=str(tmp_path / "ckpts"))
    proc = subprocess.run([sys.executable, "-m", "idm", "separate", str(demo_path), "-o", str(tmp_path / "out"),
                           "-n", name], capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "checksum mismatch" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_bad_tensor_input(model):
    with pytest.raises(ValueError, match="NaN or Inf"):
        separate(torch.tensor([0.0, float("nan")] * 1000), model)
    with pytest.raises(ValueError, match="empty audio"):
        separate(torch.zeros(0), model)
    with pytest.raises(ValueError, match="masking"):
        separate(torch.zeros(4410), model, masking="soft")
    with pytest.raises(ValueError, match="unknown drum class 'cowbell'"):
        separate(torch.zeros(4410), model, onsets={"cowbell": [0.1]})
    with pytest.raises(ValueError, match="finite"):
        separate(torch.zeros(4410), model, onsets={"KD": [float("nan")]})
    with pytest.raises(ValueError, match="batch has 1"):
        separate(torch.zeros(4410), model, onsets=[{}, {}])


def test_silent_input_gives_silent_stems(model):
    result = separate(torch.zeros(44100 * 3), model)
    assert torch.count_nonzero(result.separated) == 0 and torch.isfinite(result.synthesized).all()
    assert sum(len(v) for v in result.onsets[0].values()) == 0


def test_unusable_device(tmp_path, demo_path):
    for device, problem in [("cuda:99", "cuda:99"), ("warp9", "not a torch device")]:
        proc = run_idm("separate", demo_path, "-o", tmp_path / "out", "-d", device)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and problem in proc.stderr
        assert not (tmp_path / "out").exists()


def test_broken_link_and_truncated_wav_get_a_line_each(tmp_path, demo_audio):
    folder = tmp_path / "in"
    folder.mkdir()
    clip = demo_audio[: 2 * 44100].numpy()
    sf.write(str(folder / "whole.wav"), clip, 44100, subtype="PCM_16")
    data = (folder / "whole.wav").read_bytes()
    (folder / "cut.wav").write_bytes(data[: 44 + 2 * 30000])  # the header still declares 88200 samples
    (folder / "gone.wav").symlink_to(tmp_path / "moved-away.wav")
    proc = run_idm("separate", folder, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count(f"idm: warning: {folder / 'gone.wav'}: skipped: a broken symbolic link (to "
                             f"{tmp_path / 'moved-away.wav'}, which does not exist)") == 1
    truncated = [line for line in proc.stderr.splitlines() if ": truncated:" in line]
    assert truncated == [f"{folder / 'cut.wav'}: truncated: its header declares 88200 samples, the file holds "
                         "30000 (0.68 s of 2.00 s); using those"]
    assert sf.info(str(tmp_path / "out" / "cut" / "kick.wav")).frames == 30000
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cut", "whole"]
    assert ": truncated:" not in run_idm("separate", folder / "whole.wav", "-o", tmp_path / "again").stderr

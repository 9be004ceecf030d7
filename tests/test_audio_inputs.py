"""Inputs of other rates, channel counts and lengths; external onsets; the demo groove."""

import subprocess
import sys

import numpy as np
import soundfile as sf
import torch

from idm import separate
from idm.constants import CLASS_NAMES
from idm.demo import groove
from idm.model import n_frames

from conftest import run_idm


def test_stereo_48k_is_downmixed_and_resampled(tmp_path):
    mix, _ = groove(bars=1)
    t = np.arange(int(len(mix) * 48000 / 44100)) / 48000
    left = np.interp(t, np.arange(len(mix)) / 44100, mix).astype(np.float32)
    path = tmp_path / "stereo48k.flac"
    sf.write(str(path), np.stack([left, 0.5 * left], axis=1), 48000)
    proc = run_idm("separate", path, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert "downmixing 2 channels to mono" in proc.stderr and "resampling 48000 Hz -> 44100 Hz" in proc.stderr
    kick, rate = sf.read(str(tmp_path / "out" / "stereo48k" / "kick.wav"))
    assert rate == 44100 and kick.ndim == 1 and abs(len(kick) - len(t) * 44100 / 48000) <= 1


def test_short_and_odd_lengths(model):
    for length in (4410, 4411, 44100 + 17):
        result = separate(torch.randn(length) * 0.1, model)
        assert result.separated.shape == (1, 9, length) and torch.isfinite(result.separated).all()
    assert n_frames(440744, model.config) == 1735


def test_given_onsets_replace_the_transcription(model, demo_audio):
    given = {"KD": [0.5, 1.5], "snare": [1.0], "CY_CR": []}
    result = separate(demo_audio[: 44100 * 2], model, onsets=given)
    assert np.allclose(result.onsets[0]["KD"], np.floor(np.array([0.5, 1.5]) * 44100 / 256) / (44100 / 256))
    assert np.allclose(result.onsets[0]["SD"], np.floor(1.0 * 44100 / 256) / (44100 / 256))
    silent = [c for c in CLASS_NAMES if c not in ("KD", "SD")]
    assert all(len(result.onsets[0][c]) == 0 for c in silent)
    assert all(torch.count_nonzero(result.synthesized[0, list(CLASS_NAMES).index(c)]) == 0 for c in silent)


def test_demo_groove_script(tmp_path):
    out = tmp_path / "groove.wav"
    proc = subprocess.run([sys.executable, "-m", "idm.demo", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    audio, rate = sf.read(str(out))
    assert rate == 44100 and len(audio) == 8 * 44100 and 0.85 < np.abs(audio).max() <= 0.9 + 1e-6

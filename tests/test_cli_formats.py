"""`idm separate` output formats: containers, bit depths, clip modes and the input's sample rate."""

import numpy as np
import soundfile as sf

from conftest import read_folder, run_idm


def test_formats_and_bit_depths(tmp_path, clip_path):
    runs = {"float": (), "flac": ("--format", "flac"), "int16": ("--int16",), "flac16": ("--format", "flac", "--int16")}
    for name, flags in runs.items():
        proc = run_idm("separate", clip_path, "-o", tmp_path / name, "-q", *flags)
        assert proc.returncode == 0, proc.stderr
    expected = {"float": ("WAV", "FLOAT", "wav"), "flac": ("FLAC", "PCM_24", "flac"),
                "int16": ("WAV", "PCM_16", "wav"), "flac16": ("FLAC", "PCM_16", "flac")}
    reference = read_folder(tmp_path / "float" / "clip")
    assert len(reference) == 9 and max(np.abs(a).max() for a in reference.values()) > 0.05
    for name, (container, subtype, ext) in expected.items():
        folder = tmp_path / name / "clip"
        stems = read_folder(folder, ext)
        assert sorted(stems) == sorted(reference)
        step = 2.0 ** -23 if subtype == "PCM_24" else 2.0 ** -15 if subtype == "PCM_16" else 0
        for stem, audio in stems.items():
            info = sf.info(str(folder / f"{stem}.{ext}"))
            assert (info.format, info.subtype, info.samplerate, info.channels) == (container, subtype, 44100, 1)
            assert np.abs(audio - reference[stem]).max() <= step, (name, stem)


def test_float_samples_cannot_go_in_flac(tmp_path, clip_path):
    proc = run_idm("separate", clip_path, "-o", tmp_path / "out", "--format", "flac", "--float32")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "flac files cannot hold float32 samples; use --int24 or --int16" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_clip_modes(tmp_path, demo_audio):
    loud = tmp_path / "loud.wav"
    sf.write(str(loud), 4 * demo_audio[: 3 * 44100].numpy(), 44100, subtype="FLOAT")
    stems = {}
    for mode in ("none", "rescale", "clamp"):
        proc = run_idm("separate", loud, "-o", tmp_path / mode, "--clip-mode", mode, "--residual")
        assert proc.returncode == 0, proc.stderr
        stems[mode] = read_folder(tmp_path / mode / "loud")
    peak = max(np.abs(a).max() for a in stems["none"].values())
    assert peak > 1.5  # the float files keep what would clip
    scale = 1 / (1.01 * peak)
    for stem, audio in stems["none"].items():  # one factor for every stem: they still add up
        np.testing.assert_allclose(stems["rescale"][stem], audio * scale, atol=1e-6)
        np.testing.assert_allclose(stems["clamp"][stem], np.clip(audio, -0.99, 0.99), atol=1e-7)
    assert f"all scaled by {scale:.4f}" in run_idm("separate", loud, "-o", tmp_path / "again").stderr


def test_stereo_48k_keep_sr(tmp_path, demo_audio):
    mono = demo_audio[: 3 * 44100].numpy()
    t = np.arange(int(len(mono) * 48000 / 44100) - 5) / 48000
    left = np.interp(t, np.arange(len(mono)) / 44100, mono).astype(np.float32)
    path = tmp_path / "stereo48k.wav"
    sf.write(str(path), np.stack([left, left], axis=1), 48000, subtype="FLOAT")
    for name, flags in [("model_rate", ()), ("keep", ("--keep-sr", "--int24"))]:
        proc = run_idm("separate", path, "-o", tmp_path / name, *flags)
        assert proc.returncode == 0, proc.stderr
        assert "downmixing 2 channels to mono" in proc.stderr and "resampling 48000 Hz -> 44100 Hz" in proc.stderr
    assert "writing stems at 48000 Hz" in proc.stderr
    kept = read_folder(tmp_path / "keep" / "stereo48k")
    at_model_rate = read_folder(tmp_path / "model_rate" / "stereo48k")
    for stem, audio in kept.items():
        info = sf.info(str(tmp_path / "keep" / "stereo48k" / f"{stem}.wav"))
        assert (info.samplerate, info.frames, info.subtype) == (48000, len(t), "PCM_24")
        assert len(at_model_rate[stem]) == int(np.ceil(len(t) * 44100 / 48000))
    kick = kept["kick"][: len(t) - 200]
    reference = np.interp(t[: len(t) - 200], np.arange(len(at_model_rate["kick"])) / 44100, at_model_rate["kick"])
    assert np.corrcoef(kick, reference)[0, 1] > 0.99

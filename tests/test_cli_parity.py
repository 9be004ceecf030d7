"""The `idm separate` command, run as a real subprocess, reproduces the reference stems."""

import numpy as np
import soundfile as sf

from idm.constants import CLASS_NAMES, CLASSES
from idm.onset_files import read_onsets_tsv

from conftest import assert_matches_at_positions, run_idm


def test_cli_reproduces_reference(tmp_path, demo_path, reference):
    proc = run_idm("separate", demo_path, "-o", tmp_path, "--seed", 1234)
    assert proc.returncode == 0, proc.stderr
    track = tmp_path / demo_path.stem
    stems = []
    for code in CLASSES:
        audio, rate = sf.read(str(track / f"{CLASS_NAMES[code]}.wav"), dtype="float32")
        info = sf.info(str(track / f"{CLASS_NAMES[code]}.wav"))
        assert rate == 44100 and info.subtype == "FLOAT" and info.channels == 1
        assert audio.shape == (reference["length"],)
        stems.append(audio)
    assert_matches_at_positions(np.stack(stems), reference, "separated", min_snr_db=50, norm_rtol=1e-3)
    onsets = read_onsets_tsv(track / "onsets.tsv")
    class_frames = reference["onset_frames"]
    frames = {c: class_frames[class_frames[:, 0] == k, 1] for k, c in enumerate(CLASSES)}
    for code in CLASSES:
        np.testing.assert_allclose(onsets[code], frames[code] / (44100 / 256), atol=1e-6)

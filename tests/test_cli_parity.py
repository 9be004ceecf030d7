"""The `idm separate` command, run as a real subprocess, reproduces the reference stems."""

import numpy as np
import soundfile as sf

from idm.constants import CLASS_NAMES, CLASSES
from idm.onset_files import read_onsets_tsv

from conftest import run_idm, snr_db


def test_cli_reproduces_reference(tmp_path, demo_path, reference):
    proc = run_idm("separate", demo_path, "-o", tmp_path, "--seed", 1234)
    assert proc.returncode == 0, proc.stderr
    track = tmp_path / demo_path.stem
    ref = reference["separated"][0]
    for k, code in enumerate(CLASSES):
        audio, rate = sf.read(str(track / f"{CLASS_NAMES[code]}.wav"), dtype="float32")
        info = sf.info(str(track / f"{CLASS_NAMES[code]}.wav"))
        assert rate == 44100 and info.subtype == "FLOAT" and info.channels == 1
        assert audio.shape == ref[k].shape
        if np.any(ref[k]):
            assert snr_db(ref[k], audio) >= 50, code
        else:
            assert not np.any(audio), code
    onsets = read_onsets_tsv(track / "onsets.tsv")
    frames = {c: np.flatnonzero(reference["onsets"][0, k]) for k, c in enumerate(CLASSES)}
    for code in CLASSES:
        np.testing.assert_allclose(onsets[code], frames[code] / (44100 / 256), atol=1e-6)

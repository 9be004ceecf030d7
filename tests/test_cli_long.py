"""Long files through `idm separate`: segment-wise streaming equals one piece, and memory stays bounded."""

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from conftest import read_folder, run_idm, snr_db

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from long_input import measure_separate, write_long_groove  # noqa: E402


def test_segments_equal_one_piece(tmp_path, demo_audio):
    clip = np.concatenate([demo_audio.numpy(), demo_audio.numpy()[::-1], demo_audio.numpy()])[: 25 * 44100 + 77]
    path = tmp_path / "long.wav"
    sf.write(str(path), clip, 44100, subtype="FLOAT")
    for name, segment in [("whole", "1000"), ("pieces", "2.7")]:
        proc = run_idm("separate", path, "-o", tmp_path / name, "--segment", segment, "--residual", "-q")
        assert proc.returncode == 0, proc.stderr
    whole, pieces = read_folder(tmp_path / "whole" / "long"), read_folder(tmp_path / "pieces" / "long")
    assert len(whole) == 10
    for stem, audio in whole.items():
        assert len(audio) == len(pieces[stem]) == len(clip)
        assert np.abs(audio - pieces[stem]).max() < 1e-4, stem
        if np.any(audio != pieces[stem]):
            assert snr_db(audio, pieces[stem]) >= 60, stem
    assert (tmp_path / "whole" / "long" / "onsets.tsv").read_text() == \
        (tmp_path / "pieces" / "long" / "onsets.tsv").read_text()


def test_ten_minutes_in_bounded_memory(tmp_path):
    path = tmp_path / "ten_minutes.wav"
    frames = write_long_groove(path, 10.0)
    wall, peak, proc = measure_separate([path, "-o", tmp_path / "out", "-q", "-d", "cpu"])
    assert proc.returncode == 0, proc.stderr
    print(f"10 min track: {wall:.1f} s, peak RSS {peak / 2 ** 30:.2f} GB")
    assert peak < 2.5 * 2 ** 30
    kick = sf.info(str(tmp_path / "out" / "ten_minutes" / "kick.wav"))
    assert kick.frames == frames
    rows = (tmp_path / "out" / "ten_minutes" / "onsets.tsv").read_text().splitlines()[1:]
    assert len(rows) > 1000 and float(rows[-1].split("\t")[0]) > 599  # transcribed to the end

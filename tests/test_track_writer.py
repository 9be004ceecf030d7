"""The output writer: staged streaming, no half-written files, block-wise resampling."""

import os
import signal

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

from idm.audio import resampled_blocks
from idm.track_writer import OutputError, OutputSpec, TrackWriter


def test_an_error_midway_leaves_nothing(tmp_path):
    spec = OutputSpec(tmp_path / "out")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with TrackWriter(spec, "song", ["kick", "snare"], [("onsets", "tsv")]) as writer:
            writer.write({"kick": np.ones(1000), "snare": np.zeros(1000)})
            writer.add("onsets", "tsv", "time_s\tclass\tvelocity\n")
            raise RuntimeError("disk on fire")
    assert list((tmp_path / "out").iterdir()) == []


def test_streamed_blocks_and_commit(tmp_path):
    spec = OutputSpec(tmp_path / "out", format="flac", depth="int16")
    rng = np.random.default_rng(0)
    blocks = [rng.uniform(-0.5, 0.5, n).astype(np.float32) for n in (1000, 1, 4096)]
    with TrackWriter(spec, "song", ["kick"]) as writer:
        for block in blocks:
            writer.write({"kick": block})
        paths = writer.commit()
    assert paths == [tmp_path / "out" / "song" / "kick.flac"]
    audio, rate = sf.read(str(paths[0]), dtype="float32")
    assert rate == 44100 and np.abs(audio - np.concatenate(blocks)).max() <= 2 ** -15
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["song"]
    with pytest.raises(OutputError, match="exists"):
        TrackWriter(spec, "song", ["kick"]).check()


@pytest.mark.parametrize("new", [48000, 22050, 8000, 96000, 32000])
def test_block_resampling_equals_one_piece(new):
    x = np.random.default_rng(1).standard_normal(99991).astype(np.float32)
    whole = AF.resample(torch.from_numpy(x), 44100, new).numpy()
    pieces = np.concatenate(list(resampled_blocks(lambda a, b: x[a:b], len(x), 44100, new, block=7000)))
    assert pieces.shape == whole.shape and np.abs(pieces - whole).max() < 1e-5


def test_ctrl_c_while_moving_files_into_place_comes_after_the_last(tmp_path, monkeypatch, ctrl_c_raises):
    spec = OutputSpec(tmp_path / "out")
    replace, calls = os.replace, []

    def replace_and_interrupt(source, target):
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C with one file in place and three to go
        calls.append(target)
        replace(source, target)

    monkeypatch.setattr(os, "replace", replace_and_interrupt)
    with pytest.raises(KeyboardInterrupt):
        with TrackWriter(spec, "song", ["kick", "snare", "crash"], [("onsets", "tsv")]) as writer:
            writer.write({"kick": np.ones(100), "snare": np.zeros(100), "crash": np.zeros(100)})
            writer.add("onsets", "tsv", "time_s\tclass\tvelocity\n")
            writer.commit()
    assert len(calls) == 4  # the track is whole, and the staging folder is gone
    assert sorted(p.name for p in (tmp_path / "out" / "song").iterdir()) == \
        ["crash.wav", "kick.wav", "onsets.tsv", "snare.wav"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["song"]

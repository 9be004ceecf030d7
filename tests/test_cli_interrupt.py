"""Ctrl-C during `idm separate` leaves no file and no staging folder in OUT, with one or two workers."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_interrupt_leaves_nothing(tmp_path, demo_audio, jobs):
    songs = tmp_path / "songs"
    songs.mkdir()
    long = np.tile(demo_audio.numpy(), 6)  # 60 s, written in 1 s segments: time to interrupt mid-track
    for name in ("a", "b"):
        sf.write(str(songs / f"{name}.wav"), long, 44100, subtype="FLOAT")
    out = tmp_path / "out"
    # Ctrl-C's default action restored: a shell running these tests in the background ignores SIGINT,
    # and a child started from there would inherit that
    proc = subprocess.Popen([sys.executable, "-m", "idm", "separate", str(songs), "-o", str(out), "-j", jobs,
                             "--segment", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not any(out.glob(".idm-*/0.wav")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "finished before it could be interrupted"
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "idm: interrupted" in stderr, stderr
    assert list(out.iterdir()) == []

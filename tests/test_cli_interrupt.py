"""Ctrl-C during `idm separate` leaves no file and no staging folder in OUT, with one or two workers,
and the worker pool stops in bounded time."""

import multiprocessing
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from idm import runner


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


class _InterruptedQueue:
    """A message queue whose `put` receives SIGTERM halfway through."""

    def __init__(self):
        self.items = []

    def put(self, item):
        os.kill(os.getpid(), signal.SIGTERM)
        self.items.append(item)


def test_worker_takes_sigterm_after_the_message_it_is_sending(monkeypatch):
    queue = _InterruptedQueue()
    monkeypatch.setattr(runner, "_worker", {"messages": queue, "held": False, "stop": False})
    previous = signal.signal(signal.SIGTERM, runner._on_stop)
    try:
        with pytest.raises(SystemExit):
            runner._send("note", "hello")
        assert queue.items == [("note", "hello")]  # the put ran to its end before the worker unwound
        with pytest.raises(SystemExit):  # outside a message, SIGTERM unwinds at once
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _ignore_sigterm(ready):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready.set()
    time.sleep(120)


def _sleep(ready):
    ready.set()
    time.sleep(120)


def test_stop_processes_kills_a_worker_that_ignores_sigterm():
    context = multiprocessing.get_context("spawn")
    stubborn_ready, polite_ready = context.Event(), context.Event()
    stubborn = context.Process(target=_ignore_sigterm, args=(stubborn_ready,))
    polite = context.Process(target=_sleep, args=(polite_ready,))
    stubborn.start()
    polite.start()
    assert stubborn_ready.wait(60) and polite_ready.wait(60)
    start = time.monotonic()
    assert runner.stop_processes([stubborn, polite], timeout=1.0) == 1
    assert time.monotonic() - start < 10
    assert stubborn.exitcode == -signal.SIGKILL and polite.exitcode == -signal.SIGTERM

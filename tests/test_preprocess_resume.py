"""Preprocessing is resumable and idempotent: a run killed in the middle and rerun gives exactly
what one clean run gives, and a run with nothing new writes nothing."""

import os
import subprocess
import sys
import time

import numpy as np
import soundfile as sf
from conftest import REPO, run_module

from data.generate import Take, generate


def files(folder):
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


def test_killed_run_resumes_to_the_clean_result_and_a_rerun_writes_nothing(tmp_path):
    root = tmp_path / "tree"
    takes = [Take("drummer1", "session1", "train", 3, bpm) for bpm in (90, 100, 110, 120, 130)]
    takes += [Take("drummer1", "session2", "validation", 3, 115)]
    generate(root, takes, ("brooklyn", "heavy"), renderer="procedural", seed=11)
    args = ["stemgmd", root, "--stems", "all", "-q"]
    clean = tmp_path / "clean"
    assert run_module("data.preprocess", *args[:2], clean, *args[2:]).returncode == 0

    resumed = tmp_path / "resumed"
    proc = subprocess.Popen([sys.executable, "-m", "data.preprocess", *map(str, args[:2]), str(resumed),
                             *args[2:]], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((resumed / "records").rglob("*.json"))) >= 3:
            break
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    done = len(list((resumed / "records").rglob("*.json")))
    assert 3 <= done < 12 and not (resumed / "manifest.csv").exists()  # killed while processing items

    rerun = run_module("data.preprocess", *args[:2], resumed, *args[2:])
    assert rerun.returncode == 0, rerun.stderr
    assert f"{12 - done} items processed, {done} already done, 0 failed" in rerun.stdout
    a, b = files(clean), files(resumed)
    assert sorted(a) == sorted(b) and not any(name.endswith(".tmp") for name in b)
    for name in a:
        if name.startswith("records/"):  # records name their sources, the same for both
            continue
        if name == "cache/index.npz":
            with np.load(a[name]) as x, np.load(b[name]) as y:
                assert all(np.array_equal(x[k], y[k]) for k in x.files)
        elif name.endswith(".wav"):  # samples; the header's PEAK chunk carries a time stamp
            assert np.array_equal(sf.read(str(a[name]))[0], sf.read(str(b[name]))[0]), name
        else:
            assert a[name].read_bytes() == b[name].read_bytes(), name

    before = {name: os.stat(p).st_mtime_ns for name, p in files(resumed).items()}
    again = run_module("data.preprocess", *args[:2], resumed, *args[2:])
    assert again.returncode == 0 and "0 items processed, 12 already done, 0 failed" in again.stdout
    assert {name: os.stat(p).st_mtime_ns for name, p in files(resumed).items()} == before

    stem = next((root / "audio" / "drummer1" / "session2" / "heavy" / "kick").glob("*.wav"))
    os.utime(stem, ns=(before["manifest.csv"] + 10**9, before["manifest.csv"] + 10**9))
    changed = run_module("data.preprocess", *args[:2], resumed, *args[2:])
    assert "1 items processed, 11 already done, 0 failed" in changed.stdout

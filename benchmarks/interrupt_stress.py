"""Ctrl-C during `idm separate -j 2`, many times over: how often does the command fail to exit?

Each run writes two 60 s grooves, starts the real `idm separate -j 2 --segment 1`, waits for the
first staged segment, sleeps a random 0 to --delay seconds, sends SIGINT to the command (only to
it, as a terminal's Ctrl-C reaches the parent first) and waits --limit seconds for it to exit.
A run is `ok` when it exits with 130 and leaves no staging folder (a track that was complete
before the SIGINT may stay, whole), `hang` when it is still running at the limit (it is then
killed), `bad` otherwise. --load busy processes run beside it, since the race
this guards against (a worker interrupted inside a queue's `put`) shows more often on a loaded
machine. Prints the counts, the median seconds from SIGINT to exit, and the machine.
"""

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from long_input import write_long_groove
from machine import cpu_name


def interrupt_once(folder: Path, songs: Path, delay: float, limit: float) -> tuple:
    """One interrupted run; returns (outcome, seconds from SIGINT to exit or None)."""
    out = folder / "out"
    proc = subprocess.Popen([sys.executable, "-m", "idm", "separate", str(songs), "-o", str(out), "-j", "2",
                             "--segment", "1", "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    while not any(out.glob(".idm-*/0.wav")) and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(random.uniform(0, delay))
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "hang", None
    took = time.monotonic() - sent
    staged = list(out.glob(".idm-*")) if out.exists() else []
    partial = [track for track in (out.iterdir() if out.exists() else []) if track.is_dir() and
               not track.name.startswith(".idm-") and not (track / "onsets.tsv").exists()]
    if proc.returncode == 130 and not staged and not partial:
        return "ok", took
    print(f"bad run: exit {proc.returncode}, left {staged + partial}: {stderr.strip()[-300:]}", file=sys.stderr)
    return "bad", took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--load", type=int, default=2, help="busy processes beside the command (default 2)")
    parser.add_argument("--delay", type=float, default=1.0, help="longest random wait before SIGINT, seconds")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds a run may take to exit")
    args = parser.parse_args()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    counts, exits = {"ok": 0, "hang": 0, "bad": 0}, []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            songs = Path(tmp) / "songs"
            songs.mkdir()
            for name in ("a", "b"):
                write_long_groove(songs / f"{name}.wav", minutes=1.0)
            for run in range(args.runs):
                with tempfile.TemporaryDirectory(dir=tmp) as folder:
                    outcome, took = interrupt_once(Path(folder), songs, args.delay, args.limit)
                counts[outcome] += 1
                if took is not None:
                    exits.append(took)
                print(f"run {run + 1}/{args.runs}: {outcome}" + (f", exited {took:.1f} s after SIGINT" if took else ""),
                      flush=True)
    finally:
        for process in busy:
            process.kill()
    median = f"{statistics.median(exits):.1f} s" if exits else "n/a"
    print(f"{args.runs} interrupts with {args.load} busy processes: {counts['ok']} ok, {counts['hang']} hung "
          f"(> {args.limit:.0f} s), {counts['bad']} bad; median exit {median} after SIGINT "
          f"({cpu_name()}, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()

"""Peak memory and wall time of `idm separate` on a generated long drum track (part of `make bench`).

Writes a --minutes long groove (four renderings of the 8-bar demo groove, with different
seeds, in turn until the length is reached) as a 32-bit float WAV, runs the real `idm separate`
command on it in a child process, and reports the child's wall time and peak resident
memory (ru_maxrss), with the machine. The command streams its outputs to disk
segment by segment, so memory does not grow with the input's length.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from idm.constants import SAMPLE_RATE
from idm.demo import groove

from machine import cpu_name


def write_long_groove(path, minutes: float) -> int:
    """Write a `minutes` long groove to `path` (streamed, float WAV); returns its length in samples."""
    total = int(minutes * 60 * SAMPLE_RATE)
    parts = [groove(bars=8, seed=seed)[0] for seed in range(4)]
    written = 0
    with sf.SoundFile(str(path), "w", SAMPLE_RATE, 1, "FLOAT", format="WAV") as f:
        while written < total:
            part = parts[(written // len(parts[0])) % len(parts)][: total - written]
            f.write(part)
            written += len(part)
    return total


def measure_separate(args, threads: int = 2) -> tuple:
    """Run `python -m idm separate ARGS` in a child process -> (wall seconds, peak RSS bytes, result).

    The child runs under a fresh Python wrapper, so ru_maxrss covers that command alone.
    """
    wrapper = ("import resource, subprocess, sys\n"
               "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
               "sys.stderr.write(r.stderr); sys.stdout.write(r.stdout)\n"
               "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
               "sys.exit(r.returncode)\n")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "idm", "separate", *map(str, args)],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    peak = [line for line in proc.stdout.splitlines() if line.startswith("PEAK_KB")]
    peak_bytes = int(peak[-1].split()[1]) * 1024 if peak else None
    return wall, peak_bytes, proc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        track = Path(tmp) / "long.wav"
        write_long_groove(track, args.minutes)
        walls, peaks = [], []
        for run in range(args.runs):
            wall, peak, proc = measure_separate([track, "-o", Path(tmp) / f"out{run}", "-q", "-d", "cpu"],
                                                args.threads)
            if proc.returncode != 0:
                sys.exit(f"idm separate failed: {proc.stderr.strip()}")
            walls.append(wall)
            peaks.append(peak)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, OMP_NUM_THREADS={args.threads}")
    print(f"idm separate on a {args.minutes:g} min generated drum track (CPU): wall {np.median(walls):.1f} s "
          f"(runs: {', '.join(f'{w:.1f}' for w in walls)}), peak RSS {max(peaks) / 2 ** 30:.2f} GB "
          f"(limit 2.5 GB)")


if __name__ == "__main__":
    main()

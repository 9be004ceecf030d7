"""Separate a long input (the demo loop tiled, every other copy reversed) and report time and memory.

`python benchmarks/long_input.py --minutes 60` checks that an hour of audio separates in
bounded memory (encoder in chunks, render and mask in segments) and prints the wall time,
the peak resident memory and the onset count.
"""

import argparse
import resource
import time

import torch

from idm import load_model, separate
from idm.audio import read_audio
from idm.constants import SAMPLE_RATE

from separate_speed import DEFAULT_INPUT, cpu_name


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--input", default=str(DEFAULT_INPUT))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    loop = read_audio(args.input)
    n = int(args.minutes * 60 * SAMPLE_RATE)
    reps = -(-n // loop.numel())
    audio = torch.cat([loop if i % 2 == 0 else loop.flip(0) for i in range(reps)])[:n]
    model = load_model("idm-44-train-kits")
    start = time.perf_counter()
    result = separate(audio, model, seed=0)
    wall = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    onsets = sum(len(v) for v in result.onsets[0].values())
    finite = bool(torch.isfinite(result.separated).all())
    print(f"machine: {cpu_name()}, {args.threads} torch threads")
    print(f"{args.minutes:g} min input: separate() {wall:.1f} s, peak RSS {peak_gb:.2f} GB "
          f"(the result alone: {2 * result.separated.numel() * 4 / 2 ** 30:.2f} GB), {onsets} onsets, finite={finite}")


if __name__ == "__main__":
    main()

"""Baselines: NMFD quality per case on a mixture of known one-shots, NMFD and LarsNet speed.

- Quality: the three-class mixture of the NMFD tests (procedural kick, high tom and ride,
  `data.generate.one_shot_mixture`), SI-SDR per class of every case, and of the ratio mask
  of the true stems in the same STFT (the bound of any such mask).
- Speed: median of --runs runs of each NMFD case on the 10 s demo loop (true onsets: none,
  so the onset cases get an onset every 0.25 s per class), and of LarsNet separating 10 s
  of stereo (random weights: the time does not depend on them). Prints the machine.

    python benchmarks/baselines_speed.py [--runs 3] [--device cuda]
"""

import argparse
import statistics
import time

import numpy as np
import torch

from baselines.larsnet import LarsNet
from baselines.nmf import CASES, separate
from baselines.nmf.nmfd import istft, stft
from baselines.nmf.templates import hit_template
from data.generate import one_shot_mixture
from evaluation.metrics import si_sdr
from idm.constants import CLASSES, SAMPLE_RATE
from idm.audio import read_audio
from machine import describe
from separate_speed import DEFAULT_INPUT

PITCHES = (36, 50, 51)


def median_seconds(fn, runs: int, device) -> float:
    times = []
    for _ in range(runs):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--input", default=str(DEFAULT_INPUT), help="audio file (default: the demo loop)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    print(f"machine: {describe(device)}; {torch.get_num_threads()} torch threads")

    stems, onsets, shots = one_shot_mixture(PITCHES)
    stems = torch.from_numpy(stems)
    mixture, present = stems.sum(0), [CLASSES.index(c) for c in shots]
    templates = torch.zeros(len(CLASSES), 1025, 87)
    for code, shot in shots.items():
        templates[CLASSES.index(code)] = hit_template(torch.from_numpy(shot)).float()

    def scores(estimate):
        return [si_sdr(stems[c].double().numpy(), estimate[c].double().numpy()) for c in present]

    spec, true = stft(mixture.double()), stft(stems.double()).abs()
    print("three-class mixture, SI-SDR (dB) of " + ", ".join(shots))
    print(f"  true-stem ratio mask: {np.round(scores(istft(true / (true.sum(0) + 1e-12) * spec, len(mixture))), 2)}")
    for case in CASES:
        print(f"  nmfd-{case}: {np.round(scores(separate(mixture, case, templates, onsets)), 2)}")

    loop = read_audio(args.input).to(device)
    grid = {c: np.arange(0.0, len(loop) / SAMPLE_RATE, 0.25) for c in CLASSES}
    bank = templates.to(device)
    for case in CASES:
        seconds = median_seconds(lambda: separate(loop, case, bank, grid), args.runs, device)
        print(f"nmfd-{case} on the 10 s demo loop: {seconds:.2f} s")
    torch.manual_seed(0)
    model = LarsNet().eval().to(device)
    stereo = 0.1 * torch.randn(2, 10 * SAMPLE_RATE, device=device)
    print(f"LarsNet, 10 s stereo: {median_seconds(lambda: model.separate(stereo), args.runs, device):.2f} s")


if __name__ == "__main__":
    main()

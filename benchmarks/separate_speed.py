"""Speed of separating the 10 s demo loop end to end on CPU (`make bench`).

Times `idm.separate` on the file (read, analyse, peak-pick, synthesise, sequence,
mask), median of --runs runs after one warm-up, with --threads torch threads, and the
median time of each stage. Also times the plain (definition) synthesiser once for the
ratio to the fast path, measured in the same run. Prints the machine it ran on.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from idm import load_model, separate
from idm.audio import read_audio
from idm.masking import ratio_mask
from idm.peaks import model_peak_params, peak_pick
from idm.synth import inference_noise
from machine import cpu_name

DEFAULT_INPUT = Path(__file__).resolve().parents[1] / "tests" / "reference" / "idm-demo-mix.flac"


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def stage_times(model, path, seed):
    x = read_audio(path).unsqueeze(0)
    t = {}
    analysis, t["analyse (encoder + heads)"] = timed(lambda: model.analyse(x))
    params = model_peak_params(model.config)
    grid, t["peak picking"] = timed(lambda: peak_pick(torch.sigmoid(analysis.onset_logits), **params))
    noise = inference_noise(seed, model.config.n_classes, model.config.one_shot_length)
    samples, t["one-shot synthesiser"] = timed(lambda: model.one_shots(analysis.kit_probs, noise))
    stems, t["sequencer + gains"] = timed(lambda: model.render(grid * analysis.velocity, samples, analysis.gains,
                                                             x.shape[-1]))
    _, t["ratio mask"] = timed(lambda: ratio_mask(x, stems))
    return t


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(DEFAULT_INPUT), help="audio file (default: the demo loop)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="idm-44-train-kits")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if not Path(args.input).is_file():
        sys.exit(f"bench: {args.input}: no such file (pass --input)")
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    model = load_model(args.model)
    separate(args.input, model, seed=1234)  # warm-up
    totals, stages = [], []
    for _ in range(args.runs):
        totals.append(timed(lambda: separate(args.input, model, seed=1234))[1])
        stages.append(stage_times(model, args.input, 1234))
    cond = model.conditioning(torch.softmax(torch.zeros(1, model.config.n_kits), -1))
    noise = inference_noise(1234, model.config.n_classes, model.config.one_shot_length)
    _, plain = timed(lambda: model.synth(noise, cond))
    fast = statistics.median(s["one-shot synthesiser"] for s in stages)
    result = {
        "machine": f"{cpu_name()}, {os.cpu_count()} cores visible, {args.threads} torch threads, "
                   f"torch {torch.__version__}",
        "input": args.input,
        "separate_median_s": statistics.median(totals),
        "separate_runs_s": totals,
        "stage_median_s": {k: statistics.median(s[k] for s in stages) for k in stages[0]},
        "plain_synth_s": plain,
        "synth_speedup": plain / fast,
    }
    print(f"machine: {result['machine']}")
    print(f"separate() on {Path(args.input).name}: median {result['separate_median_s']:.3f} s over "
          f"{args.runs} runs ({', '.join(f'{t:.3f}' for t in totals)})")
    for name, value in result["stage_median_s"].items():
        print(f"  {name:28s} {value:.3f} s")
    print(f"plain synthesiser (definition): {plain:.3f} s, fast path {result['synth_speedup']:.1f}x faster")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Training throughput of a config: steps/s, crops/s, peak memory, and where a step's time goes.

    python benchmarks/train_speed.py [--config configs/idm_stemgmd.yaml] [--batch N] [--runs 3]
                                     [--device auto|cpu|cuda] [--amp auto|bf16|fp16|off] [--recompute]
                                     [--synth fast|plain] [--no-stages] [--json OUT]

One step is what the trainer does for one optimiser step on one process: the gain and
noise of each example, the teacher-forced forward under autocast, the IDM loss, backward,
gradient clipping and Adam. The inputs are synthetic 6 s crops (noise mixtures, 2% of the
frames with onsets): speed does not depend on the audio. The first step is not timed; the
median of `--runs` steps is reported. Then each stage runs forward and backward alone, on
the same shapes, `--runs` times: encoder (log-mel, ConvNeXt, heads), synthesiser (the
one-shot TCN), sequencer (FFT convolution and track gains), loss (multi-resolution STFT,
BCE, CE) and the optimiser (clipping and Adam). Peak memory: `max_memory_allocated` on a
GPU, the process's peak resident set (ru_maxrss) on the CPU: run one path per process.

On the CPU the synthesiser takes its training path (`idm.synth_backward`); `--synth plain`
runs the definition instead. There the step is also set against the floor of
`tap_floor.py`, its rate measured before each timed step (the median), in the same run.
A config that fine-tunes (`train.trainable`, `objective.true_kit_conditioning`) is timed so.

Defaults: batch 1 on the CPU (the paper config takes tens of seconds per crop there) and
the config's batch on a GPU (7 for the released run), with AMP as the config says (off, fp32,
for the released run; bf16 for configs/idm_stemgmd_fast.yaml).
"""

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from idm.constants import SAMPLE_RATE  # noqa: E402
from idm.model import InverseDrumMachine, n_frames  # noqa: E402
from machine import describe  # noqa: E402
from tap_floor import synth_gemm_flops, tap_gemm_rate  # noqa: E402
from trainer.batches import example_randomness, step_noise  # noqa: E402
from trainer.config import load_config  # noqa: E402
from trainer.finetune import set_trainable  # noqa: E402
from trainer.objective import idm_loss  # noqa: E402
from trainer.optim import amp_dtype, build_optimizer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_runs(fn, device, runs: int, before=None) -> list:
    """Wall times of `runs` calls of `fn()`, after one untimed call; `before()` runs before each, untimed."""
    fn()
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def peak_memory_gib(device: torch.device) -> float:
    """Peak memory torch allocated on a GPU, or the process's peak resident set on the CPU (GiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def make_step(config, device: torch.device, batch: int, amp=None, recompute: bool = False, plain: bool = False):
    """One optimiser step of `config`'s IDM training on `batch` synthetic crops, as a function.

    Returns (step, model, trained parameters, optimizer, (mixture, grid, kit ids)). The inputs:
    noise mixtures of the config's crop length, peak-normalised, with 2% of the frames onsets;
    `step()` draws each example's gain and synthesiser noise as the trainer does, runs the
    teacher-forced forward under autocast (`amp`: a dtype or None), the IDM loss, backward,
    gradient clipping and Adam, and returns the loss (a float). Seeded: the same on every call
    of this function.
    """
    mc, objective = config.model, config.objective
    torch.manual_seed(0)
    model = InverseDrumMachine(mc).to(device).train()
    model.synth.recompute = recompute or config.train.recompute_synth
    model.synth.plain = plain
    set_trainable(model, config.train.trainable)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, config.optim)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    t = int(config.data.crop_seconds * SAMPLE_RATE)
    m = n_frames(t, mc)
    mixture = torch.randn(batch, t, device=device) * 0.1
    mixture /= mixture.abs().amax(1, keepdim=True)
    grid = (torch.rand(batch, mc.n_classes, m, device=device) < 0.02).float()
    kit_id = torch.randint(0, mc.n_kits, (batch,), device=device)
    sigmoid_grid = objective.teacher_forcing == "sigmoid"

    def step() -> float:
        gains, noise = example_randomness(0, 0, range(batch), objective, mc.n_classes, mc.one_shot_length, device)
        true_kit = None
        if objective.true_kit_conditioning:
            true_kit, noise = kit_id, step_noise(0, 0, mc.n_classes, mc.one_shot_length, device)
        x = mixture * gains[:, None]
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            out = model(x, grid, noise, sigmoid_grid=sigmoid_grid, kit_id=true_kit)
        terms = idm_loss(out, x, grid, kit_id, objective.onset_weight, objective.kit_weight)
        loss = terms["loss"].mean()
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, config.optim.clip_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        return float(loss)

    return step, model, params, optimizer, (mixture, grid, kit_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "idm_stemgmd.yaml"))
    parser.add_argument("--batch", type=int, help="crops per step (default: 1 on the CPU, the config's on a GPU)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), help="default: the config's train.amp")
    parser.add_argument("--recompute", action="store_true",
                        help="recompute the synthesiser's blocks in backward (train.recompute_synth)")
    parser.add_argument("--synth", choices=("fast", "plain"), default="fast",
                        help="the synthesiser's CPU training path, or its plain definition")
    parser.add_argument("--no-stages", action="store_true", help="time the whole step only")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    config = load_config(args.config)
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    batch = args.batch or (config.train.batch_size if device.type == "cuda" else 1)
    amp = amp_dtype(args.amp or config.train.amp, device)
    mc, objective = config.model, config.objective
    t = int(config.data.crop_seconds * SAMPLE_RATE)
    step, model, params, optimizer, (mixture, grid, kit_id) = make_step(config, device, batch, amp, args.recompute,
                                                                        args.synth == "plain")
    sigmoid_grid = objective.teacher_forcing == "sigmoid"

    def autocast():
        return torch.autocast(device.type, dtype=amp, enabled=amp is not None)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rates = []
    rate = None if device.type == "cuda" else lambda: rates.append(tap_gemm_rate(mc.synth_channels, mc.synth_kernel))
    step_times = timed_runs(step, device, args.runs, before=rate)
    step_time = statistics.median(step_times)
    peak_gib = peak_memory_gib(device)
    peak = f"{peak_gib:.2f} GiB " + ("allocated (GPU)" if device.type == "cuda" else "resident (process)")
    results = dict(config=args.config, synth=args.synth, batch=batch, machine=describe(device), step_s=step_time,
                   step_runs_s=step_times, peak_gib=peak_gib)
    if rates:
        results.update(gemm_gflops=statistics.median(rates) / 1e9,
                       floor_s=synth_gemm_flops(mc, batch * mc.n_classes) / statistics.median(rates))

    print(f"config: {args.config}; batch {batch} x {config.data.crop_seconds:g} s crops; "
          f"AMP {amp if amp is not None else 'off'}; {sum(p.numel() for p in params)} trained parameters; "
          f"synthesiser: {args.synth}{', recomputed in backward' if model.synth.recompute else ''}")
    print(f"machine: {describe(device)}; {torch.get_num_threads()} torch threads")
    print(f"step: {step_time:.3f} s median of {args.runs} -> {1 / step_time:.3f} steps/s, "
          f"{batch / step_time:.2f} crops/s; peak memory {peak}")
    print("step runs (s):", ", ".join(f"{s:.3f}" for s in step_times))
    if rates:
        floor = results["floor_s"]
        print(f"floor: {floor:.3f} s ({synth_gemm_flops(mc, batch * mc.n_classes) / 1e12:.3f} TFLOP of "
              f"{mc.synth_channels}x{mc.synth_channels} tap GEMMs at {results['gemm_gflops']:.0f} GFLOP/s, the "
              f"median of the rates measured before each step); step = {step_time / floor:.2f} x floor "
              f"(target 1.5 x floor + 1 s = {1.5 * floor + 1:.3f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.no_stages:
        return

    # each stage alone, forward and backward, on the shapes of the step above
    with torch.no_grad():
        analysis = model.analyse(mixture)
    noise = example_randomness(0, 0, range(batch), objective, mc.n_classes, mc.one_shot_length, device)[1]
    samples = model.one_shots(analysis.kit_probs, noise).detach()
    drive = (torch.sigmoid(grid) if sigmoid_grid else grid) * analysis.velocity

    def leaf(x):
        return x.detach().clone().requires_grad_(True)

    def encoder():
        with autocast():
            a = model.analyse(mixture)
        (a.onset_logits.float().mean() + a.velocity.float().mean() + a.kit_logits.float().mean()
         + a.gains.float().mean()).backward()

    def synthesiser():
        with autocast():
            s = model.one_shots(leaf(analysis.kit_probs), noise)
        s.float().square().mean().backward()

    def sequencer():
        with autocast():
            stems = model.render(leaf(drive), leaf(samples), leaf(analysis.gains), t)
        stems.float().square().mean().backward()

    estimate = leaf(model.render(drive, samples, analysis.gains, t).sum(1))

    def loss():
        class Heads:
            onset_logits, kit_logits = leaf(analysis.onset_logits), leaf(analysis.kit_logits)
        terms = idm_loss({"analysis": Heads, "mix_estimate": estimate}, mixture, grid, kit_id,
                         objective.onset_weight, objective.kit_weight)
        terms["loss"].mean().backward()

    def optimiser():
        for p in params:
            p.grad = torch.randn_like(p) * 1e-3
        torch.nn.utils.clip_grad_norm_(params, config.optim.clip_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    stages = {name: statistics.median(timed_runs(fn, device, args.runs)) for name, fn in
              (("encoder", encoder), ("synthesiser", synthesiser), ("sequencer", sequencer), ("loss", loss),
               ("optimiser", optimiser))}
    total = sum(stages.values())

    print("stage (forward + backward alone)   seconds   share of the stages")
    for name, seconds in stages.items():
        print(f"  {name:<32} {seconds:8.3f}   {100 * seconds / total:5.1f} %")
    print(f"  {'sum of the stages':<32} {total:8.3f}   ({100 * total / step_time:.0f} % of the step)")


if __name__ == "__main__":
    main()

"""The prepared device check: every GPU path of the trainer and the separator, in one call.

    python benchmarks/device_check.py [--device auto|cpu|cuda] [--out DIR] [--only NAME,...]
    make device-check [DEVICE=cuda] [OUT=DIR]

Runs the checks below in order, each in a process of its own (its peak memory is its own, a
crash or a hung kernel ends only it) with a time limit, continuing past a failing one, and
writes DIR/device_check.json (one entry per check: `ok` true or false, or null with `skipped`
and the reason; its figures and seconds) and DIR/device_check.md (a table), with the device,
the torch and CUDA versions and the total time. Exit status 1 when a check failed.

On a GPU every check runs at full size (about 7 minutes on one H100, see `ESTIMATE_S`); on the
CPU each runs small (a couple of minutes on 2 cores) and what needs a GPU is skipped, so the
code cannot rot between lent devices. The checks:

- separate_parity: the demo loop separated on the device and on the CPU: worst per-class SNR
  of the device's stems against the CPU's, onsets that differ, seconds per 10 s of audio. On
  the CPU the "device" side runs the synthesiser's definition, which is what a GPU runs.
- train_step_parity: one step of the paper config (batch 7, 6 s crops, fp32) from the released
  weights, the same crops, grid, gains and noise on the device and on the CPU: each loss term
  and each parameter's gradient norm, relative differences.
- train_speed_fp32: crops per second and peak device memory, fp32, with and without
  `train.recompute_synth`.
- max_batch: the largest batch that fits, fp32 and bf16: doubling, then bisection, within a
  time budget (GPU only).
- train_speed_bf16: as train_speed_fp32 under bf16 autocast, at batch 7 and at max_batch's
  largest bf16 batch (which is why max_batch runs first).
- ddp_resume: `torchrun` over NCCL (gloo on the CPU) on every device there is: a few steps on
  generated StemGMD-shaped data, the run killed (SIGKILL to torchrun and every worker) after its
  first checkpoint, resumed, and its weights compared with an uninterrupted run's: bit for bit
  on the CPU; on CUDA within 2 lr per resumed step (its kernels are not deterministic, and Adam
  can turn a sign flip of a near-zero gradient into an update that differs by 2 lr).
- separate_long: `idm separate` of a 10-minute file: seconds and peak device memory.
"""

import argparse
import gc
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from idm import load_model, separate  # noqa: E402
from idm.checkpoint import CheckpointError, resolve_checkpoint  # noqa: E402
from idm.constants import CLASSES, SAMPLE_RATE  # noqa: E402
from idm.peaks import model_peak_params, peak_pick  # noqa: E402
from machine import describe  # noqa: E402
from train_speed import make_step, peak_memory_gib, synchronize, timed_runs  # noqa: E402
from trainer.batches import example_randomness  # noqa: E402
from trainer.config import load_config  # noqa: E402
from trainer.objective import idm_loss  # noqa: E402

DEMO = REPO / "tests" / "reference" / "idm-demo-mix.flac"
"""The demo loop of ../shared/audio/idm-demo-mix.wav, the same samples, tracked in the tree."""
MODEL = "idm-44-train-kits"
CHECKS = ("separate_parity", "train_step_parity", "train_speed_fp32", "max_batch", "train_speed_bf16", "ddp_resume",
          "separate_long")
ESTIMATE_S = dict(separate_parity=25, train_step_parity=50, train_speed_fp32=45, max_batch=110, train_speed_bf16=45,
                  ddp_resume=80, separate_long=45)
"""Seconds each check is expected to take on one H100 (process start included): 400 in all."""
LIMIT_S = dict(separate_parity=60, train_step_parity=120, train_speed_fp32=90, max_batch=150, train_speed_bf16=90,
               ddp_resume=150, separate_long=120)
"""Each check's time limit on a GPU (seconds), cut to what is left of the run's `--limit`."""
CPU_LIMIT_S = dict(separate_parity=120, train_step_parity=150, train_speed_fp32=90, max_batch=30, train_speed_bf16=90,
                   ddp_resume=150, separate_long=150)
"""The same on the CPU, at the small sizes (2 cores, shared with nothing else)."""


@dataclass
class Sizes:
    """How big each check runs: `FULL` on a GPU, `SMALL` on the CPU."""
    separate_runs: int
    step_batch: int
    step_seconds: float
    speed_batch: int
    speed_seconds: float
    speed_runs: int
    max_batch_cap: int
    max_batch_budget_s: float
    ddp_steps: int
    ddp_checkpoint_every: int
    ddp_batch: int
    ddp_seconds: float
    long_seconds: float
    model_overrides: tuple = ()
    """Overrides of the model for the speed checks and ddp_resume (the released architecture when empty)."""


FULL = Sizes(separate_runs=3, step_batch=7, step_seconds=6.0, speed_batch=7, speed_seconds=6.0, speed_runs=5,
             max_batch_cap=1024, max_batch_budget_s=45.0, ddp_steps=8, ddp_checkpoint_every=2, ddp_batch=4,
             ddp_seconds=2.0, long_seconds=600.0)
MICRO_MODEL = ("model.encoder_depths=[1,1,1,1]", "model.synth_channels=4", "model.synth_layers=3",
               "model.synth_kernel=3", "model.one_shot_length=2205")
"""A very small IDM for the CPU's speed and ddp_resume checks: there they check the code path, not speed."""
SMALL = Sizes(separate_runs=1, step_batch=1, step_seconds=1.0, speed_batch=1, speed_seconds=1.0, speed_runs=2,
              max_batch_cap=0, max_batch_budget_s=0.0, ddp_steps=8, ddp_checkpoint_every=2, ddp_batch=2,
              ddp_seconds=1.0, long_seconds=30.0, model_overrides=MICRO_MODEL)


def snr_db(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    """SNR of `estimate` against `reference` in dB, capped at 200 (identical, or both silent)."""
    signal_energy = float(reference.double().square().sum())
    error = float((reference.double() - estimate.double()).square().sum())
    if error <= signal_energy * 1e-20:
        return 200.0
    return min(200.0, 10 * math.log10(max(signal_energy, 1e-30) / error))


def skipped(why: str) -> dict:
    return {"ok": None, "skipped": why}


def check_separate_parity(device, sizes: Sizes, prior: dict) -> dict:
    cpu = torch.device("cpu")
    reference_model, device_model = load_model(MODEL), load_model(MODEL, device)
    device_model.synth.plain = device.type == "cpu"
    reference = separate(str(DEMO), reference_model, seed=1234, device=cpu)
    times = []
    for _ in range(sizes.separate_runs):
        synchronize(device)
        start = time.perf_counter()
        on_device = separate(str(DEMO), device_model, seed=1234, device=device)
        synchronize(device)
        times.append(time.perf_counter() - start)
    seconds = reference.separated.shape[-1] / SAMPLE_RATE
    per_class = {code: snr_db(reference.separated[0, k], on_device.separated[0, k]) for k, code in enumerate(CLASSES)
                 if reference.separated[0, k].abs().max() > 0}
    onsets = {code: (len(reference.onsets[0][code]), len(on_device.onsets[0][code])) for code in reference.onsets[0]}
    moved = sum(abs(a - b) for a, b in onsets.values())
    worst = min(per_class, key=per_class.get)
    return dict(ok=per_class[worst] >= 30.0, worst_class=worst, worst_snr_db=per_class[worst], snr_db=per_class,
                onset_count_differences=moved, seconds_per_10s=statistics.median(times) * 10 / seconds,
                device_path="synthesiser definition" if device.type == "cpu" else device.type,
                criterion="every class's SNR >= 30 dB",
                summary=f"worst SNR {per_class[worst]:.1f} dB ({worst}); {moved} onsets differ; "
                        f"{statistics.median(times) * 10 / seconds:.3f} s per 10 s")


def demo_crops(batch: int, seconds: float) -> torch.Tensor:
    """`batch` crops of the demo loop, evenly spread, each divided by its peak (as the trainer's)."""
    audio = torch.from_numpy(sf.read(str(DEMO), dtype="float32")[0])
    n = int(seconds * SAMPLE_RATE)
    starts = np.linspace(0, len(audio) - n, batch).astype(int)
    crops = torch.stack([audio[s:s + n] for s in starts])
    return crops / crops.abs().amax(1, keepdim=True)


def parity_step(model, x, grid, kit_id, gains, noise, objective) -> tuple:
    """Loss terms (means) and per-parameter gradient norms of one training forward and backward."""
    model.train()
    model.zero_grad(set_to_none=True)
    x = x * gains[:, None]
    out = model(x, grid, noise, sigmoid_grid=objective.teacher_forcing == "sigmoid")
    terms = idm_loss(out, x, grid, kit_id, objective.onset_weight, objective.kit_weight)
    terms["loss"].mean().backward()
    losses = {name: float(value.detach().double().mean()) for name, value in terms.items()}
    norms = {name: float(p.grad.double().norm()) for name, p in model.named_parameters() if p.grad is not None}
    return losses, norms


def check_train_step_parity(device, sizes: Sizes, prior: dict) -> dict:
    config = load_config(None)  # the released run: batch 7, 6 s crops, fp32
    mc, objective = config.model, config.objective
    cpu = torch.device("cpu")
    x = demo_crops(sizes.step_batch, sizes.step_seconds)
    model = load_model(MODEL)
    with torch.no_grad():
        analysis = model.analyse(x)
    grid = peak_pick(torch.sigmoid(analysis.onset_logits), **model_peak_params(model.config))
    kit_id = analysis.kit_probs.argmax(1)
    gains, noise = example_randomness(config.train.seed, 0, range(sizes.step_batch), objective, mc.n_classes,
                                      mc.one_shot_length, cpu)
    start = time.perf_counter()
    cpu_losses, cpu_norms = parity_step(model, x, grid, kit_id, gains, noise, objective)
    cpu_s = time.perf_counter() - start
    device_model = load_model(MODEL, device)
    device_model.synth.plain = device.type == "cpu"
    inputs = [t.to(device) for t in (x, grid, kit_id, gains, noise)]
    if device.type == "cuda":
        parity_step(device_model, *inputs, objective)  # warm-up: kernels chosen, memory pools filled
    synchronize(device)
    start = time.perf_counter()
    dev_losses, dev_norms = parity_step(device_model, *inputs, objective)
    synchronize(device)
    device_s = time.perf_counter() - start
    result = dict(batch=sizes.step_batch, crop_seconds=sizes.step_seconds, losses_cpu=cpu_losses,
                  cpu_step_s=cpu_s, device_step_s=device_s,
                  criterion="every loss term within 1e-3 (relative; near-zero terms: of 1e-3 of the total) and "
                            "every gradient norm within 1e-2 (relative), in strict fp32")
    as_trained = differences(cpu_losses, cpu_norms, dev_losses, dev_norms)
    strict = as_trained
    if device.type == "cuda":  # the trainer's default lets cuDNN convolve in TF32; judge strict fp32, show both
        tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        strict = differences(cpu_losses, cpu_norms, *parity_step(device_model, *inputs, objective))
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
        result["tf32_as_trained"] = as_trained
    worst_loss = max(strict["loss_relative_difference"].values())
    worst_grad = strict["grad_norm_relative_difference_max"]
    summary = (f"loss terms within {worst_loss:.1e}, gradient norms within {worst_grad:.1e} "
               f"(worst {strict['worst_parameter']}){' in strict fp32' if device.type == 'cuda' else ''}")
    if device.type == "cuda":
        summary += (f"; as trained (TF32 convolutions): {max(as_trained['loss_relative_difference'].values()):.1e} "
                    f"and {as_trained['grad_norm_relative_difference_max']:.1e}")
    return dict(ok=worst_loss < 1e-3 and worst_grad < 1e-2, **result, **strict,
                summary=f"{summary}; step {device_s:.2f} s on the device, {cpu_s:.2f} s on the CPU")


def differences(cpu_losses: dict, cpu_norms: dict, losses: dict, norms: dict) -> dict:
    """Relative differences of the loss terms and gradient norms of a device's step from the CPU's."""
    # a term near zero (the kit CE of a confident classifier) is compared on the scale of 1e-3 of the total
    scale = 1e-3 * abs(cpu_losses["loss"])
    loss_diff = {k: abs(losses[k] - v) / max(abs(v), scale, 1e-12) for k, v in cpu_losses.items()}
    largest = max(cpu_norms.values())
    grad_diff = {k: abs(norms[k] - v) / v for k, v in cpu_norms.items() if v > 1e-6 * largest}
    worst = max(grad_diff, key=grad_diff.get)
    return dict(losses_device=losses, loss_relative_difference=loss_diff,
                grad_norm_relative_difference_max=grad_diff[worst], worst_parameter=worst,
                grad_norm_relative_difference_median=statistics.median(grad_diff.values()),
                parameters_compared=len(grad_diff))


def speed(device, sizes: Sizes, batch: int, amp, recompute: bool) -> dict:
    """Crops per second and peak memory of the paper config's step at `batch` (one process's peak on the CPU)."""
    config = load_config(None, [f"data.crop_seconds={sizes.speed_seconds}", *sizes.model_overrides])
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    step, *_ = make_step(config, device, batch, amp, recompute)
    losses = []
    times = timed_runs(lambda: losses.append(step()), device, sizes.speed_runs)
    median = statistics.median(times)
    return dict(batch=batch, recompute_synth=recompute, step_s=median, crops_per_s=batch / median,
                peak_gib=peak_memory_gib(device), finite=all(math.isfinite(v) for v in losses))


def speed_report(device, sizes: Sizes, rows: list, **extra) -> dict:
    """A speed check's result from its `speed` rows: ok when every loss was finite."""
    return dict(ok=all(r["finite"] for r in rows), crop_seconds=sizes.speed_seconds, runs=rows, **extra,
                model="micro (code path only)" if sizes.model_overrides else "released architecture",
                memory="torch's peak allocation" if device.type == "cuda" else "the process's peak resident set",
                summary="; ".join(f"batch {r['batch']}{' recompute' if r['recompute_synth'] else ''}: "
                                  f"{r['crops_per_s']:.2f} crops/s, {r['peak_gib']:.2f} GiB" for r in rows))


def check_train_speed_fp32(device, sizes: Sizes, prior: dict) -> dict:
    return speed_report(device, sizes, [speed(device, sizes, sizes.speed_batch, None, recompute)
                                        for recompute in (False, True)])


def out_of_memory(exc: Exception) -> bool:
    """Whether `exc` is the device running out of memory (torch's own error, or a library's allocation failure)."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and ("out of memory" in str(exc) or "ALLOC_FAILED" in str(exc)))


def fits(device, batch: int, amp) -> bool:
    """Whether two training steps of the paper config at `batch` run without running out of device memory."""
    ok = True
    try:
        step = make_step(load_config(None), device, batch, amp)[0]
        step()
        step()
    except RuntimeError as exc:
        if not out_of_memory(exc):
            raise
        ok = False
    step = None  # the model, optimizer and batch go with the step's closure
    gc.collect()
    torch.cuda.empty_cache()
    return ok


def largest_batch(device, amp, cap: int, budget_s: float) -> dict:
    """Doubling from 7, then bisection, until the gap closes or `budget_s` runs out: (largest that fit,
    smallest that did not, or None)."""
    start, fit, fail = time.perf_counter(), 0, None
    batch = 7
    while batch <= cap and time.perf_counter() - start < budget_s:
        if not fits(device, batch, amp):
            fail = batch
            break
        fit, batch = batch, 2 * batch
    while fail is not None and fail - fit > 1 and time.perf_counter() - start < budget_s:
        middle = (fit + fail) // 2
        if fits(device, middle, amp):
            fit = middle
        else:
            fail = middle
    return dict(largest=fit, first_failing=fail, exact=fail is not None and fail - fit == 1,
                seconds=time.perf_counter() - start)


def check_max_batch(device, sizes: Sizes, prior: dict) -> dict:
    if device.type != "cuda":
        return skipped("needs a GPU: on the CPU memory is the host's, and running it out would swap, not fail")
    found = {name: largest_batch(device, amp, sizes.max_batch_cap, sizes.max_batch_budget_s)
             for name, amp in (("fp32", None), ("bf16", torch.bfloat16))}
    return dict(ok=found["fp32"]["largest"] >= 7, **found, crop_seconds=6.0,
                criterion="the paper's batch of 7 fits in fp32",
                summary="; ".join(f"{k}: {v['largest']}" + ("" if v["exact"] else
                                  " (at least: the cap or the time budget came first)") for k, v in found.items()))


def check_train_speed_bf16(device, sizes: Sizes, prior: dict) -> dict:
    amp = torch.bfloat16
    rows = [speed(device, sizes, sizes.speed_batch, amp, False)]
    largest = (prior.get("max_batch") or {}).get("bf16", {}).get("largest")
    note = None
    if largest and largest > sizes.speed_batch:
        rows.append(speed(device, sizes, largest, amp, False))
    elif device.type != "cuda":
        note = "the largest batch needs a GPU (max_batch)"
    else:
        note = "max_batch did not run" if largest is None else f"max_batch's largest bf16 batch is {largest}"
    return speed_report(device, sizes, rows, note=note)


def wait_for(path: Path, proc: subprocess.Popen, limit_s: float) -> bool:
    """Whether `path` appears before `proc` ends or `limit_s` passes."""
    end = time.perf_counter() + limit_s
    while time.perf_counter() < end and proc.poll() is None:
        if path.exists():
            return True
        time.sleep(0.02)
    return path.exists()


def kill_tree(pid: int) -> None:
    """SIGKILL to `pid` and every process descended from it (torchrun, its workers, their loaders), at once."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], []))
    for p in tree:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def check_ddp_resume(device, sizes: Sizes, prior: dict) -> dict:
    from data.generate import Take, generate
    nproc = torch.cuda.device_count() if device.type == "cuda" else 2
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        takes = (Take("drummer1", "session1", "train", 4, 120, True),
                 Take("drummer1", "session2", "validation", 2, 120, True))
        generate(tmp / "tree", takes, ("brooklyn",), renderer="procedural", seed=5)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        subprocess.run([sys.executable, "-m", "data.preprocess", "stemgmd", str(tmp / "tree"), str(tmp / "data"),
                        "-j", "2"], check=True, capture_output=True, cwd=REPO, env=env)
        overrides = [f"data.folder={tmp / 'data'}", f"data.crop_seconds={sizes.ddp_seconds}", "data.sampling=duration",
                     "data.val_crops=2", "data.workers=1", f"train.device={device.type}",
                     f"train.batch_size={sizes.ddp_batch * nproc}", f"train.steps={sizes.ddp_steps}", "log.every=1",
                     f"log.val_every={sizes.ddp_steps}", f"log.checkpoint_every={sizes.ddp_checkpoint_every}",
                     "log.media_every=0",
                     *sizes.model_overrides]
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                    "-m", "trainer.train"]

        def run(out: Path, *extra) -> subprocess.CompletedProcess:
            return subprocess.run(launcher + overrides + [f"log.out={out}", *extra], capture_output=True, text=True,
                                  cwd=REPO, env=env)

        start = time.perf_counter()
        straight = run(tmp / "straight")
        straight_s = time.perf_counter() - start
        if straight.returncode:
            return dict(ok=False, error=f"the uninterrupted run failed: {straight.stderr.strip()[-500:]}")
        killed = subprocess.Popen(launcher + overrides + [f"log.out={tmp / 'split'}"], cwd=REPO, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        checkpoint = tmp / "split" / "checkpoints" / "last.pt"
        appeared = wait_for(checkpoint, killed, 120)
        kill_tree(killed.pid)
        killed.wait()
        if not appeared:
            return dict(ok=False, error="the run to kill never wrote its first checkpoint")
        killed_at = torch.load(checkpoint, map_location="cpu", weights_only=False)["step"]
        resumed = run(tmp / "split", "--resume")
        if resumed.returncode:
            return dict(ok=False, error=f"the resumed run failed: {resumed.stderr.strip()[-500:]}")
        a = torch.load(tmp / "straight" / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
        b = torch.load(checkpoint, map_location="cpu", weights_only=False)
    differences = {k: float((v.double() - b["model"][k].double()).abs().max()) for k, v in a["model"].items()
                   if v.is_floating_point()}
    worst = max(differences, key=differences.get)
    lr = load_config(None).optim.lr
    # CUDA kernels are not bit-deterministic; Adam turns a sign flip of a near-zero gradient into an
    # update that differs by up to 2 lr, so after s steps weights may differ by 2 lr s, never more
    tolerance = 0.0 if device.type == "cpu" else 2 * lr * (sizes.ddp_steps - killed_at)
    ok = killed_at < sizes.ddp_steps and a["step"] == b["step"] == sizes.ddp_steps and differences[worst] <= tolerance
    return dict(ok=ok, ranks=nproc,
                backend="nccl" if device.type == "cuda" else "gloo", steps=sizes.ddp_steps, killed_after_step=killed_at,
                max_weight_difference=differences[worst], worst_tensor=worst, tolerance=tolerance,
                median_weight_difference=statistics.median(differences.values()),
                uninterrupted_run_s=straight_s,
                summary=f"{nproc} rank(s) over {'NCCL' if device.type == 'cuda' else 'gloo'}; killed after step "
                        f"{killed_at}, resumed to {b['step']}: largest weight difference {differences[worst]:.2e} "
                        f"(tolerance {tolerance:.1e})")


def check_separate_long(device, sizes: Sizes, prior: dict) -> dict:
    from idm.cli import main as idm_main
    audio = sf.read(str(DEMO), dtype="int16")[0]
    n = int(sizes.long_seconds * SAMPLE_RATE)
    long = np.tile(audio, -(-n // len(audio)))[:n]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        sf.write(str(path), long, SAMPLE_RATE, subtype="PCM_16")
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        status = idm_main(["separate", str(path), "-o", str(Path(tmp) / "out"), "-d", device.type, "-q"])
        seconds = time.perf_counter() - start
        stems = sorted((Path(tmp) / "out" / "long").glob("*.wav"))
        lengths = {p.stem: sf.info(str(p)).frames for p in stems}
    ok = status == 0 and len(lengths) == len(CLASSES) and set(lengths.values()) == {n}
    peak = peak_memory_gib(device)
    error = None if ok else (f"idm separate exited with status {status}" if status else
                             f"{len(lengths)} stems written, lengths {sorted(set(lengths.values()))}, expected {n}")
    return dict(ok=ok, error=error, exit_status=status, audio_seconds=sizes.long_seconds, seconds=seconds,
                realtime_factor=sizes.long_seconds / seconds, peak_gib=peak, stems_written=len(lengths),
                summary=f"{sizes.long_seconds / 60:g} min in {seconds:.1f} s ({sizes.long_seconds / seconds:.0f}x real "
                        f"time), peak {peak:.2f} GiB{'' if device.type == 'cuda' else ' resident'}")


def run_check(name: str, device: torch.device, prior: dict) -> dict:
    """One check in this process: its figures, or ok false and the error's last line."""
    sizes = FULL if device.type == "cuda" else SMALL
    try:
        return globals()[f"check_{name}"](device, sizes, prior)
    except Exception as exc:  # a failing check is a result, not the end of the run
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return dict(ok=False, error=f"{type(exc).__name__}: {first_line}")


def run_isolated(name: str, device: torch.device, prior_file: Path, limit: float) -> dict:
    """Check `name` in a process group of its own, killed with every descendant (torchrun's workers too)
    past `limit` seconds."""
    proc = subprocess.Popen([sys.executable, __file__, "--check", name, "--device", device.type, "--prior",
                             str(prior_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)  # torchrun starts each worker in a session of its own: follow the parents
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return dict(ok=False, error=f"ran past its limit of {limit} s")
    lines = out.strip().splitlines()
    if proc.returncode or not lines:
        return dict(ok=False, error=f"exit status {proc.returncode}: {err.strip()[-400:]}")
    return json.loads(lines[-1])


def versions(device: torch.device) -> dict:
    info = dict(machine=describe(device), torch=torch.__version__, cuda=torch.version.cuda,
                python=sys.version.split()[0])
    if device.type == "cuda":
        info["device"] = torch.cuda.get_device_name(device)
        info["devices"] = torch.cuda.device_count()
    else:
        info["device"] = "cpu"
    return info


def markdown(report: dict) -> str:
    lines = [f"# Device check: {report['device']}", "",
             f"{report['machine']}; CUDA {report['cuda']}; "
             f"{report['total_s']:.0f} s in all; {report['size']} size.", "",
             "| check | ok | seconds | figures |", "|---|---|---|---|"]
    for name, r in report["checks"].items():
        ok = {True: "yes", False: "**no**", None: "skipped"}[r["ok"]]
        figures = "; ".join(filter(None, (r.get("error"), r.get("summary"), r.get("skipped"), r.get("note"))))
        lines.append(f"| {name} | {ok} | {r.get('seconds', 0):.1f} | {figures} |")
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--out", default="results/device_check", help="report folder (default: %(default)s)")
    parser.add_argument("--only", help=f"comma-separated checks to run (default: all of {', '.join(CHECKS)})")
    parser.add_argument("--limit", type=float, default=540.0,
                        help="seconds the whole run may take: each check's limit is cut to what is left, and "
                             "a check with under 15 s left is skipped (default: %(default)s)")
    parser.add_argument("--check", choices=CHECKS, help=argparse.SUPPRESS)  # one check in this process
    parser.add_argument("--prior", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("device_check: error: --device cuda, but CUDA is not available on this machine", file=sys.stderr)
        return 2
    if args.check:
        prior = json.loads(Path(args.prior).read_text()) if args.prior else {}
        print(json.dumps(run_check(args.check, device, prior)))
        return 0
    names = args.only.split(",") if args.only else list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        print(f"device_check: error: unknown check {unknown[0]!r} (checks: {', '.join(CHECKS)})", file=sys.stderr)
        return 2
    try:
        resolve_checkpoint(MODEL)
    except CheckpointError as exc:
        print(f"device_check: error: {exc} (benchmarks/device_check.sh prepares it beside the tree)", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = dict(versions(device), size="full" if device.type == "cuda" else "small (CPU)", checks={})
    limits = LIMIT_S if device.type == "cuda" else CPU_LIMIT_S
    began = time.perf_counter()
    prior_file = out / "device_check.prior.json"
    for name in names:
        left = args.limit - (time.perf_counter() - began)
        if left < 15:
            result = skipped(f"the run's limit of {args.limit:.0f} s was reached")
        else:
            write_atomic(prior_file, json.dumps(report["checks"]))
            limit = round(min(limits[name], left))
            print(f"{name} ... (limit {limit} s)", flush=True)
            start = time.perf_counter()
            result = run_isolated(name, device, prior_file, limit)
            result["seconds"] = time.perf_counter() - start
        result["estimate_h100_s"] = ESTIMATE_S[name]
        report["checks"][name] = result
        state = {True: "ok", False: "FAILED", None: "skipped"}[result["ok"]]
        print(f"{name}: {state} in {result.get('seconds', 0):.1f} s: "
              f"{'; '.join(filter(None, (result.get('error'), result.get('summary'), result.get('skipped'))))}",
              flush=True)
    prior_file.unlink(missing_ok=True)
    report["total_s"] = time.perf_counter() - began
    write_atomic(out / "device_check.json", json.dumps(report, indent=1))
    write_atomic(out / "device_check.md", markdown(report))
    failed = [n for n, r in report["checks"].items() if r["ok"] is False]
    print(f"device check: {len(names) - len(failed)} of {len(names)} passed or skipped, {report['total_s']:.0f} s; "
          f"report in {out}/device_check.md" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

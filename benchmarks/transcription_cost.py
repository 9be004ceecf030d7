"""Cost per crop of the transcription task's step against IDM's full step, in one run.

    python benchmarks/transcription_cost.py [--batch 8] [--full-batch 1] [--runs 5] [--context 32] [--spectral 64] [--json OUT]

Both start from the released model on synthetic 6 s crops (noise mixtures, 2% of the frames with
onsets: speed does not depend on the audio), forward and backward plus Adam, on the CPU:

- transcription (`task: transcription`): the frozen teacher's analysis (no gradient), the
  student's analysis, the transcription objective, backward over the analysis parameters;
- full (`task: idm`, the paper's step): the teacher-forced forward through the synthesiser (its
  CPU training path), sequencer and mix, the IDM objective, backward over every parameter;
- with `--context WIDTH`, also the transcription step of a student with a track context
  (`model.onset_context`, `idm.encoder.TrackContext`) of that width; with `--spectral WIDTH`, that
  student with a spectral onset branch too (`model.onset_spectral`, `idm.encoder.SpectralOnsets`).

The first step of each is not timed; medians of `--runs` steps, divided by the batch.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from idm.checkpoint import load_model  # noqa: E402
from idm.constants import SAMPLE_RATE  # noqa: E402
from idm.model import n_frames  # noqa: E402
from machine import describe  # noqa: E402
from trainer.finetune import set_trainable, with_onset_branches  # noqa: E402
from trainer.objective import idm_loss  # noqa: E402
from trainer.transcription_objective import transcription_loss  # noqa: E402


def crops(batch: int, model, seconds: float = 6.0) -> tuple:
    """Noise mixtures (B, T) and onset grids (B, K, M) with 2% of the frames set."""
    generator = torch.Generator().manual_seed(0)
    n = int(seconds * SAMPLE_RATE)
    x = torch.randn(batch, n, generator=generator) * 0.1
    m = n_frames(n, model.config)
    grid = (torch.rand(batch, model.config.n_classes, m, generator=generator) < 0.02).float()
    return x, grid


def median_step(step, runs: int) -> float:
    step()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def transcription_step(batch: int, context: int = 0, spectral: int = 0):
    student, teacher = load_model("idm-44-train-kits"), load_model("idm-44-train-kits")
    if context or spectral:
        student = with_onset_branches(student, onset_context=context, onset_spectral=spectral)
    student.train()
    teacher.requires_grad_(False)
    set_trainable(student, "analysis")
    optimizer = torch.optim.Adam([p for p in student.parameters() if p.requires_grad], 3e-4)
    x, grid = crops(batch, student)

    def step():
        with torch.no_grad():
            reference = teacher.analyse(x)
        terms = transcription_loss(student(x)["analysis"], reference, grid, 10.0, 1.0, 1.0)
        terms["loss"].mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def full_step(batch: int):
    model = load_model("idm-44-train-kits").train()
    optimizer = torch.optim.Adam(model.parameters(), 5e-3)
    x, grid = crops(batch, model)
    noise = torch.randn(batch * model.config.n_classes, 1, model.config.one_shot_length,
                        generator=torch.Generator().manual_seed(1))
    kit_id = torch.zeros(batch, dtype=torch.long)

    def step():
        out = model(x, grid, noise)
        idm_loss(out, x, grid, kit_id, 10.0, 1.0)["loss"].mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8, help="crops per transcription step (default 8)")
    parser.add_argument("--full-batch", type=int, default=1, help="crops per full step (default 1)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--context", type=int, default=0,
                        help="also time the transcription step with a track context of this width")
    parser.add_argument("--spectral", type=int, default=0,
                        help="also time it with a spectral onset branch of this width (beside the context)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    transcription = median_step(transcription_step(args.batch), args.runs) / args.batch
    full = median_step(full_step(args.full_batch), max(1, args.runs // 2)) / args.full_batch
    figures = {"machine": describe(), "threads": torch.get_num_threads(),
               "transcription_s_per_crop": transcription, "transcription_batch": args.batch,
               "full_s_per_crop": full, "full_batch": args.full_batch, "ratio": full / transcription}
    print(f"{figures['machine']}, {figures['threads']} threads")
    print(f"transcription step: {transcription:.3f} s per 6 s crop (batch {args.batch})")
    print(f"full IDM step:      {full:.3f} s per 6 s crop (batch {args.full_batch})")
    print(f"the transcription step is {full / transcription:.1f}x cheaper per crop")
    if args.context:
        with_context = median_step(transcription_step(args.batch, args.context), args.runs) / args.batch
        figures.update(context=args.context, context_s_per_crop=with_context)
        print(f"with a track context of width {args.context}: {with_context:.3f} s per 6 s crop "
              f"({with_context / transcription:.2f}x the transcription step)")
    if args.spectral:
        with_spectral = median_step(transcription_step(args.batch, args.context, args.spectral), args.runs) / args.batch
        figures.update(spectral=args.spectral, spectral_s_per_crop=with_spectral)
        print(f"with a spectral onset branch of width {args.spectral} too: {with_spectral:.3f} s per 6 s crop "
              f"({with_spectral / transcription:.2f}x the transcription step)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `idm` command: a thin layer over the `idm` API."""

import argparse
import sys
from pathlib import Path

import torch

from .audio import AudioError, stderr_note
from .checkpoint import DEFAULT_MODEL, CheckpointError, load_model
from .outputs import write_track
from .separate import MASKING, separate


def parse_device(name: str) -> torch.device:
    """A torch device from its name, checked to be usable here."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device {name!r}: not a torch device (e.g. cpu, cuda, cuda:1, mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available on this machine")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA devices")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r}: MPS is not available on this machine")
    return device


def _separate_command(args) -> int:
    model = load_model(args.checkpoint or args.name, device=parse_device(args.device))
    failed = []
    for path in args.files:
        try:
            result = separate(path, model, masking=args.masking, alpha=args.alpha, seed=args.seed,
                              notes=stderr_note)
        except AudioError as exc:
            print(f"idm: error: {exc}", file=sys.stderr)
            failed.append(path)
            continue
        folder = write_track(args.out, Path(path).stem, result)
        n = sum(len(v) for v in result.onsets[0].values())
        print(f"{path}: {n} onsets, stems in {folder}")
    if failed and len(args.files) > 1:
        print(f"idm: {len(failed)} of {len(args.files)} files failed: {', '.join(map(str, failed))}",
              file=sys.stderr)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="idm", description="Drum source separation and transcription "
                                     "with the Inverse Drum Machine.")
    sub = parser.add_subparsers(dest="command", required=True)
    sep = sub.add_parser("separate", help="separate drum recordings into nine stems and onsets",
                         description="Write OUT/<track>/<stem>.wav (32-bit float, 44.1 kHz mono) and "
                                     "OUT/<track>/onsets.tsv for each input file.")
    sep.add_argument("files", nargs="+", help="audio files (any rate; multichannel is downmixed)")
    sep.add_argument("-o", "--out", default="separated", help="output folder (default: %(default)s)")
    sep.add_argument("-n", "--name", default=DEFAULT_MODEL, help="model name (default: %(default)s)")
    sep.add_argument("--checkpoint", help="checkpoint file to use instead of a named model")
    sep.add_argument("--masking", choices=MASKING, default="wiener",
                     help="wiener: ratio-mask the mixture; none: write the raw resynthesis")
    sep.add_argument("--alpha", type=float, default=1.0, help="mask exponent (default: %(default)s)")
    sep.add_argument("--seed", type=int, default=0, help="synthesiser noise seed (default: %(default)s)")
    sep.add_argument("-d", "--device", default="cpu", help="torch device (default: %(default)s)")
    sep.set_defaults(run=_separate_command)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CheckpointError, AudioError, ValueError) as exc:
        print(f"idm: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("idm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main())

"""The `idm` command: a thin layer over the `idm` API."""

import argparse
import sys
from pathlib import Path

import torch

from .audio import AudioError, stderr_note
from .checkpoint import DEFAULT_MODEL, PRETRAINED, CheckpointError, cache_dir, load_model, local_checkpoint
from .inputs import find_inputs
from .one_shots import read_one_shots
from .onset_files import read_onsets
from .runner import SeparateSettings, run_batch
from .separate import MASKING, listed_kits, segment_samples
from .stems import select_stems, stem_layout
from .track_writer import CLIP_MODES, DEFAULT_TEMPLATE, DEPTHS, FORMATS, OutputError, OutputSpec


def parse_device(name: str) -> torch.device:
    """A torch device from its name (`auto`: CUDA, else MPS, else CPU), checked to be usable here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device {name!r}: not a torch device (auto, cpu, cuda, cuda:1, mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available on this machine")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA devices")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r}: MPS is not available on this machine")
    return device


def _gap(text: str) -> float:
    """`--mid-tom-gap`: a non-negative number of semitones."""
    try:
        gap = float(text)
    except ValueError:
        gap = float("nan")
    if not gap >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative number of semitones")
    return gap


def _kits_line(kits) -> str:
    return "    kits (--kit NAME or ID): " + listed_kits(kits)


def _list_models(checkpoint=None) -> int:
    for name, info in PRETRAINED.items():
        local = local_checkpoint(name)
        where = local or ("missing from this installation" if info.get("bundled")
                          else f"downloaded on first use to {cache_dir() / name}/")
        default = " (default)" if name == DEFAULT_MODEL else ""
        print(f"{name}{default}: {info['description']}\n    {where}\n{_kits_line(info['kits'])}")
    if checkpoint:
        print(f"{checkpoint}: checkpoint\n{_kits_line(load_model(checkpoint).config.kits)}")
    return 0


def _settings(args, notes) -> SeparateSettings:
    segment_samples(args.segment)
    if args.jobs < 1:
        raise ValueError(f"-j must be at least 1, not {args.jobs}")
    device = parse_device(args.device)
    if args.jobs > 1 and device.type != "cpu":
        raise ValueError(f"-j {args.jobs} runs parallel files on the CPU; with device {device} use -j 1")
    layout = select_stems(stem_layout(args.merge), [s.strip() for s in args.stems.split(",")] if args.stems else None)
    output = OutputSpec(Path(args.out), args.filename, args.format, args.depth, args.clip_mode,
                        Path(args.checkpoint).stem if args.checkpoint else args.name, args.overwrite)
    return SeparateSettings(model=args.checkpoint or args.name, output=output, layout=layout, device=str(device),
                            masking=args.masking, alpha=args.alpha, seed=args.seed, segment=args.segment,
                            residual=args.residual, midi=args.midi, keep_sr=args.keep_sr,
                            onsets=read_onsets(args.onsets, notes) if args.onsets else None,
                            one_shots=read_one_shots(args.one_shots, notes) if args.one_shots else None,
                            kit=args.kit, mid_tom_gap=args.mid_tom_gap)


def _name_clashes(inputs, settings) -> list:
    """Inputs whose output files would be those of an earlier input (a template without {track})."""
    owner, clashes = {}, []
    for item in inputs:
        paths = settings.writer(item.track).targets.values()
        other = next((owner[p] for p in paths if p in owner), None)
        if other is not None:
            clashes.append((item.path, f"{item.path}: its outputs would have the names of {other}'s "
                                  "(put {track} in --filename)"))
            continue
        owner.update({p: item.path for p in paths})
    return clashes


def _separate_command(args) -> int:
    if args.list_models:
        return _list_models(args.checkpoint)
    if not args.inputs:
        raise ValueError("give audio files or folders to separate (or --list-models)")
    inputs, errors = find_inputs(args.inputs, exclude=[args.out], skipped=lambda path, why: print(
        f"idm: warning: {path}: skipped: {why}", file=sys.stderr))
    if args.onsets and len(inputs) + len(errors) != 1:
        raise ValueError(f"--onsets gives the transcription of one input, but there are {len(inputs) + len(errors)}")
    settings = _settings(args, None if args.quiet else stderr_note)
    clashes = _name_clashes(inputs, settings)
    clashing = {path for path, _ in clashes}
    inputs = [item for item in inputs if item.path not in clashing]
    errors += clashes
    for _, line in errors:
        print(f"idm: error: {line}", file=sys.stderr)
    failed = errors + (run_batch(inputs, settings, args.jobs, args.quiet) if inputs else [])
    n_total = len(inputs) + len(errors)
    if failed and n_total > 1:
        print(f"idm: {len(failed)} of {n_total} files failed: {', '.join(str(p) for p, _ in failed)}",
              file=sys.stderr)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="idm", description="Drum source separation and transcription "
                                     "with the Inverse Drum Machine.")
    sub = parser.add_subparsers(dest="command", required=True)
    sep = sub.add_parser(
        "separate", help="separate drum recordings into stems and onsets",
        description="Separate drum recordings into stems, with onsets (TSV) and optionally MIDI. Writes "
                    "OUT/<track>/<stem>.wav (32-bit float, 44.1 kHz, mono) and OUT/<track>/onsets.tsv "
                    "per input; folders are searched recursively.")
    sep.add_argument("inputs", nargs="*", metavar="INPUT", help="audio files or folders (any rate and "
                     "channel count: resampled to 44.1 kHz and downmixed)")
    where = sep.add_argument_group("outputs")
    where.add_argument("-o", "--out", default="separated", help="output folder (default: %(default)s)")
    where.add_argument("--filename", default=DEFAULT_TEMPLATE,
                       help="output path template in OUT with {track}, {stem}, {ext}, {model} (default: "
                            "%(default)s; onsets files use stem 'onsets')")
    where.add_argument("--stems", help="comma-separated stems to write (default: all), e.g. kick,snare")
    where.add_argument("--merge", type=int, choices=(9, 5), default=9,
                       help="9: one stem per class; 5: LarsNet's kick, snare, toms, hihat, cymbals")
    where.add_argument("--residual", action="store_true",
                       help="also write 'residual': the mixture minus the written stems")
    where.add_argument("--format", choices=FORMATS, default="wav", help="audio file format (default: wav)")
    depth = where.add_mutually_exclusive_group()
    for name in DEPTHS:
        depth.add_argument(f"--{name}", dest="depth", action="store_const", const=name,
                           help=f"{name} samples (default: float32 for wav, int24 for flac)")
    where.add_argument("--clip-mode", choices=CLIP_MODES, default="rescale",
                       help="rescale: scale a track's stems together if any would clip (default); clamp: "
                            "limit samples to +-0.99; none: leave as is (integer formats saturate)")
    where.add_argument("--keep-sr", action="store_true", help="write at the input's sample rate")
    where.add_argument("--midi", action="store_true", help="also write onsets.mid (General MIDI drums, ch. 10)")
    where.add_argument("--overwrite", action="store_true", help="replace existing output files")
    model = sep.add_argument_group("model")
    model.add_argument("-n", "--name", default=DEFAULT_MODEL, help="model name (default: %(default)s)")
    model.add_argument("--checkpoint", help="checkpoint file to use instead of a named model")
    model.add_argument("--list-models", action="store_true", help="list the named models (and --checkpoint) with "
                       "their kits, and exit")
    model.add_argument("--onsets", metavar="FILE", help="use this transcription (TSV time_s/class, or MIDI) "
                       "instead of the model's; one input only")
    model.add_argument("--one-shots", metavar="DIR", help="recorded one-shots that replace the synthesised ones "
                       "of their classes: DIR/<stem>.wav (kick, snare, ..., class codes or StemGMD single-hit "
                       "names; several files of a class are velocity layers)")
    model.add_argument("--kit", metavar="NAME|ID", help="condition the synthesiser on this kit of the model "
                       "instead of the predicted one (--list-models shows them)")
    model.add_argument("--mid-tom-gap", type=_gap, metavar="SEMITONES",
                       help="split a track's mid tom off its low or high tom where their hits' pitches part by "
                            "this many semitones (0: never; default: the model's, 0 for idm-44-train-kits)")
    model.add_argument("--masking", choices=MASKING, default="wiener",
                       help="wiener: ratio-mask the mixture (default); none: write the raw resynthesis")
    model.add_argument("--alpha", type=float, default=1.0, help="mask exponent (default: %(default)s)")
    model.add_argument("--seed", type=int, default=0, help="synthesiser noise seed (default: %(default)s)")
    run = sep.add_argument_group("running")
    run.add_argument("--segment", type=float, default=30.0, metavar="SECONDS",
                     help="render and write this many seconds at a time (default: %(default)s; "
                          "the output does not depend on it)")
    run.add_argument("-d", "--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    run.add_argument("-j", "--jobs", type=int, default=1, help="files separated in parallel on the CPU")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bars, notes or per-file lines")
    sep.set_defaults(run=_separate_command)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CheckpointError, AudioError, OutputError, ValueError) as exc:
        print(f"idm: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("idm: interrupted", file=sys.stderr)
        return 130

"""`python -m trainer.export CHECKPOINT OUT`: a training checkpoint's model alone, for shipping.

Writes the model's weights and config in this project's format (`idm.save_model`: no optimiser
or generator states), atomically, and prints the file's size and sha256, the two facts a model
that ships in `idm/models/` is registered with (`idm.checkpoint.PRETRAINED`).
"""

import argparse
import sys
from pathlib import Path

from idm.checkpoint import CheckpointError, load_model, save_model, sha256_of


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a checkpoint of an IDM or transcription run")
    parser.add_argument("out", type=Path, help="the model file to write")
    args = parser.parse_args(argv)
    try:
        model = load_model(args.checkpoint)
        save_model(model, args.out)
    except (CheckpointError, OSError) as exc:
        print(f"export: error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out}: {args.out.stat().st_size} bytes, sha256 {sha256_of(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

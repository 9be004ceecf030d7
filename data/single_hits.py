"""StemGMD's isolated single hits -> one-shot files named as idm names its stems.

The authors' training config points at a folder of isolated hits per kit,
`Stem_GMD_single_hits/<kit>/<name>-<n>.wav` (`kick-1.wav`, ...). In these files the toms are
named the other way round from StemGMD's multitrack stem folders (the authors' code notes it):
the single hit `hi_tom` is the high floor tom TT_HFT, `low_tom` is the high tom TT_HMT, and
`mid_tom` is TT_LMT. `import_single_hits` applies that swap and writes
`OUT/<kit>/<stem>.wav` (`kick.wav`, `tom_low.wav`, ...: `idm.constants.CLASS_NAMES`), mono at
44.1 kHz: the layout `python -m baselines.nmf.templates --one-shots OUT` reads.

    python -m data.single_hits Stem_GMD_single_hits one_shots
"""

import argparse
import re
import sys
from pathlib import Path

from idm.audio import AudioError, read_audio, write_wav
from idm.constants import CLASS_NAMES, CLASSES, SINGLE_HIT_CLASSES
from idm.inputs import AUDIO_SUFFIXES

_NAME = re.compile(r"(?P<name>.+)-(?P<take>\d+)")


def find_single_hits(folder) -> tuple:
    """({kit: {class code: [paths, take 1 first]}}, [(path, why) of files not understood])."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder")
    hits, not_understood = {}, []
    for kit in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(kit.iterdir()):
            if path.suffix.lower() not in AUDIO_SUFFIXES or path.name.startswith("."):
                continue
            m = _NAME.fullmatch(path.stem)
            code = SINGLE_HIT_CLASSES.get(m["name"]) if m else None
            if code is None:
                not_understood.append((path, f"not <name>-<n> with a name among {', '.join(SINGLE_HIT_CLASSES)}"))
                continue
            hits.setdefault(kit.name, {}).setdefault(code, []).append((int(m["take"]), path))
    ordered = {kit: {code: [p for _, p in sorted(takes)] for code, takes in classes.items()}
               for kit, classes in hits.items()}
    if not ordered:
        raise ValueError(f"{folder}: no single hits found (expected <kit>/<name>-<n>.wav, names "
                         f"{', '.join(SINGLE_HIT_CLASSES)})")
    return ordered, not_understood


def import_single_hits(folder, out) -> tuple:
    """Write the first take of each kit's hits as `out/<kit>/<stem>.wav`; returns what was written,
    {kit: {class code: source path}}, and the files not understood, [(path, why)]."""
    hits, not_understood = find_single_hits(folder)
    written = {}
    for kit, classes in hits.items():
        for code, paths in classes.items():
            write_wav(Path(out) / kit / f"{CLASS_NAMES[code]}.wav", read_audio(paths[0]))
            written.setdefault(kit, {})[code] = paths[0]
    return written, not_understood


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.single_hits",
                                     description="StemGMD's isolated single hits -> OUT/<kit>/<stem>.wav one-shots "
                                                 "(toms renamed as the single hits name them).")
    parser.add_argument("folder", type=Path, help="the single hits: <kit>/<name>-<n>.wav")
    parser.add_argument("out", type=Path, help="folder to write <kit>/<stem>.wav into")
    args = parser.parse_args(argv)
    try:
        written, not_understood = import_single_hits(args.folder, args.out)
    except (ValueError, AudioError, OSError) as exc:
        print(f"single_hits: error: {exc}", file=sys.stderr)
        return 2
    for path, why in not_understood:
        print(f"skipped {path}: {why}", file=sys.stderr)
    for kit, classes in written.items():
        absent = [CLASS_NAMES[c] for c in CLASSES if c not in classes]
        print(f"{kit}: {len(classes)} one-shots" + (f" (none for {', '.join(absent)})" if absent else ""))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One-shot templates for NMFD: magnitude spectrograms of 1 s hits, per kit and class.

`python -m baselines.nmf.templates OUT.pt --one-shots DIR` takes isolated hits laid out as
`DIR/<kit>/<stem>.<ext>` (stem names as `idm separate` writes them: `kick`, `snare`,
`hihat_closed`, ...). Without isolated hits, `python -m baselines.nmf.templates OUT.pt
--data PREPROCESSED --split SPLIT ...` averages the magnitude spectrograms of 1 s windows of
each class's stem starting at its onsets, per kit, over the items of the splits (they must
have stems: the evaluation splits keep them by default).

A template file holds, per kit name, a (9, 1025, 87) tensor in CLASSES order (a class with
no hit is all zeros, and NMFD starts it from random values), the number of hits averaged,
and the kit `any`: the average over every kit, used for tracks whose kit is unknown.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from idm.audio import AudioError, read_audio
from idm.constants import CLASS_NAMES, CLASSES, ONE_SHOT_SECONDS, SAMPLE_RATE
from idm.files import atomic_path
from idm.inputs import AUDIO_SUFFIXES

from .nmfd import N_FFT, stft, template_frames

FORMAT = "idm-nmfd-templates-v1"
ANY_KIT = "any"
WINDOW = int(ONE_SHOT_SECONDS * SAMPLE_RATE)
"""Samples of a one-shot (1 s)."""


def hit_template(audio: torch.Tensor) -> torch.Tensor:
    """Magnitude STFT (1025, 87) of the first second of a hit (zero-padded when shorter)."""
    window = torch.zeros(WINDOW, dtype=torch.float64)
    n = min(WINDOW, audio.shape[-1])
    window[:n] = audio[:n].double()
    return stft(window).abs()


class TemplateBank:
    """Templates per kit name: `templates[kit]` (9, 1025, 87) and `hits[kit]` (9,) counts."""

    def __init__(self, templates: dict, hits: dict, source: str):
        self.templates, self.hits, self.source = templates, hits, source

    def for_kit(self, kit: str):
        """Templates of the kit named `kit` (any case; the `any` kit when the name is unknown: ''); None
        when absent."""
        return self.templates.get(kit.lower() if kit else ANY_KIT)

    def save(self, path) -> None:
        blob = {"format": FORMAT, "classes": list(CLASSES), "source": self.source,
                "templates": {k: v.float() for k, v in self.templates.items()},
                "hits": {k: v for k, v in self.hits.items()}}
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)

    @classmethod
    def load(cls, path) -> "TemplateBank":
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such template file (make one with `python -m baselines.nmf.templates`)")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"{path}: not a readable template file ({type(exc).__name__})") from None
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise ValueError(f"{path}: not an NMFD template file (no format {FORMAT!r})")
        if list(blob["classes"]) != list(CLASSES):
            raise ValueError(f"{path}: templates in class order {blob['classes']}, expected {list(CLASSES)}")
        return cls(dict(blob["templates"]), dict(blob["hits"]), blob.get("source", ""))


def _empty_kit() -> tuple:
    """Zero template sums (9, 1025, 87) and hit counts (9,) of one kit."""
    return torch.zeros(len(CLASSES), N_FFT // 2 + 1, template_frames(), dtype=torch.float64), torch.zeros(len(CLASSES))


def _bank(sums: dict, counts: dict, source: str) -> TemplateBank:
    """Average summed templates per kit, and over every kit as `any`."""
    sums[ANY_KIT] = sum(sums.values())
    counts[ANY_KIT] = sum(counts.values())
    templates = {kit: s / counts[kit].clamp_min(1)[:, None, None] for kit, s in sums.items()}
    return TemplateBank(templates, counts, source)


def from_one_shots(folder) -> TemplateBank:
    """Templates from isolated hits `folder/<kit>/<stem>.<ext>`."""
    folder = Path(folder)
    kits = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    sums, counts = {}, {}
    for kit in kits:
        files = {p.stem: p for p in kit.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES}
        found = [(c, files[CLASS_NAMES[code]]) for c, code in enumerate(CLASSES) if CLASS_NAMES[code] in files]
        if not found:
            continue
        name = kit.name.lower()
        sums[name], counts[name] = _empty_kit()
        for c, path in found:
            sums[name][c] = hit_template(read_audio(path))
            counts[name][c] = 1
    if not sums:
        raise ValueError(f"{folder}: no one-shots found (expected <kit>/<stem>.wav, stems named "
                         f"{', '.join(CLASS_NAMES[c] for c in CLASSES)})")
    return _bank(sums, counts, f"one-shots in {folder}")


def from_stems(data, splits, max_hits: int = 200, progress: bool = True) -> TemplateBank:
    """Templates averaged over up to `max_hits` onsets per kit and class of the splits' stems."""
    from data.datasets import ClipDataset

    clips = ClipDataset(data, splits, normalize=False, stems=True)
    sums, counts = {}, {}
    for i in tqdm(range(len(clips)), desc="templates", unit="item", disable=not progress, file=sys.stderr):
        example = clips[i]
        kit = clips.rows[i]["kit"].lower()
        if kit not in sums:
            sums[kit], counts[kit] = _empty_kit()
        for c, times in enumerate(example["onsets"]):
            for t in np.asarray(times).reshape(-1):
                if counts[kit][c] >= max_hits:
                    break
                start = int(round(float(t) * SAMPLE_RATE))
                sums[kit][c] += hit_template(example["stems"][c, start:start + WINDOW])
                counts[kit][c] += 1
    return _bank(sums, counts, f"stems of {data} ({', '.join(splits)})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m baselines.nmf.templates",
                                     description="Write the one-shot templates of the NMFD baselines.")
    parser.add_argument("out", type=Path, help="template file to write (.pt)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--one-shots", type=Path, metavar="DIR", help="isolated hits, DIR/<kit>/<stem>.wav")
    source.add_argument("--data", type=Path, metavar="DIR", help="a folder written by `make preprocess`")
    parser.add_argument("--split", nargs="+", default=["eval_session_test_kits"],
                        help="splits whose stems are averaged around their onsets (default: %(default)s)")
    parser.add_argument("--max-hits", type=int, default=200, help="hits averaged per kit and class (default 200)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        bank = (from_one_shots(args.one_shots) if args.one_shots
                else from_stems(args.data, args.split, args.max_hits, progress=not args.quiet))
        bank.save(args.out)
    except (ValueError, AudioError, OSError) as exc:
        print(f"templates: error: {exc}", file=sys.stderr)
        return 2
    for kit, hits in bank.hits.items():
        print(f"{kit}: " + ", ".join(f"{CLASS_NAMES[c]} {int(n)}" for c, n in zip(CLASSES, hits)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

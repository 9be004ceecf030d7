"""Writing one track's outputs: streamed into a hidden staging folder, then moved into place.

Audio arrives segment by segment (`TrackWriter.write`) and goes to 32-bit float WAVs in
`OUT/.idm-*/`, so memory does not grow with the track's length. `commit` then applies
the clip mode, the sample format and the output rate in a second streaming pass (or
just renames when nothing changes) and moves every file to its name, with Ctrl-C and SIGTERM
held back until the last one is in place. An error at any point removes the staging folder:
OUT never holds a half-written file.
"""

import os
import shutil
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .audio import resampled_blocks
from .constants import SAMPLE_RATE
from .files import default_mode
from .signals_held import signals_held

FORMATS = {"wav": "WAV", "flac": "FLAC"}
DEPTHS = {"float32": "FLOAT", "int24": "PCM_24", "int16": "PCM_16"}
DEFAULT_DEPTH = {"wav": "float32", "flac": "int24"}
CLIP_MODES = ("rescale", "clamp", "none")
DEFAULT_TEMPLATE = "{track}/{stem}.{ext}"
TEMPLATE_FIELDS = ("track", "stem", "ext", "model")
CLAMP_LIMIT = 0.99
"""`clamp` keeps samples within +-0.99, and `rescale` brings a track's peak to 1/1.01, as Demucs does."""
_BLOCK = 1 << 18


class OutputError(ValueError):
    """Outputs that cannot be written (a name clash, an existing file, a bad template)."""


@dataclass(frozen=True)
class OutputSpec:
    """Where and how a command writes its outputs."""

    out_dir: Path
    template: str = DEFAULT_TEMPLATE
    format: str = "wav"
    depth: str = None  # float32, int24 or int16; None: the format's default
    clip_mode: str = "rescale"
    model: str = ""
    overwrite: bool = False

    def __post_init__(self):
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.format not in FORMATS:
            raise OutputError(f"format must be one of {', '.join(FORMATS)}, not {self.format!r}")
        if self.depth is not None and self.depth not in DEPTHS:
            raise OutputError(f"sample format must be one of {', '.join(DEPTHS)}, not {self.depth!r}")
        if not sf.check_format(FORMATS[self.format], self.subtype):
            usable = [f"--{d}" for d in DEPTHS if sf.check_format(FORMATS[self.format], DEPTHS[d])]
            raise OutputError(f"{self.format} files cannot hold {self.depth} samples; use {' or '.join(usable)}")
        if self.clip_mode not in CLIP_MODES:
            raise OutputError(f"clip mode must be one of {', '.join(CLIP_MODES)}, not {self.clip_mode!r}")
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(self.template) if f is not None}
        except ValueError as exc:
            raise OutputError(f"file name template {self.template!r}: {exc}") from None
        if not fields <= set(TEMPLATE_FIELDS) or "stem" not in fields:
            raise OutputError(f"file name template {self.template!r}: use the fields "
                              f"{', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}, with {{stem}} in it")

    @property
    def ext(self) -> str:
        return self.format

    @property
    def subtype(self) -> str:
        return DEPTHS[self.depth or DEFAULT_DEPTH[self.format]]

    def relative_path(self, track: str, stem: str, ext: str = None) -> Path:
        """The output path of `stem` of `track` relative to `out_dir` (`ext` defaults to the format's)."""
        name = self.template.format(track=track, stem=stem, ext=ext or self.ext, model=self.model)
        path = Path(name)
        if path.is_absolute() or ".." in path.parts or not path.name or path.name.startswith("."):
            raise OutputError(f"file name template {self.template!r} gives {name!r}, which is not a plain "
                              "relative file name inside the output folder")
        return path


def _scale_for(peak: float, clip_mode: str) -> float:
    return 1.0 / max(1.01 * peak, 1.0) if clip_mode == "rescale" else 1.0


class TrackWriter:
    """Write one track's stems (streamed) and text files, then move them into `spec.out_dir`.

    Use as a context manager; `commit()` makes the files appear, leaving the block without
    committing (an error) removes everything staged. `stems` are the audio outputs in order;
    `extra` lists (stem, ext) of the other files (transcriptions), staged with `add`. `rate` is the output
    sample rate; when it is not 44.1 kHz, `frames` is the output length at that rate
    (the input file's length, for `--keep-sr`).
    """

    def __init__(self, spec: OutputSpec, track: str, stems, extra=(), rate: int = SAMPLE_RATE,
                 frames: int = None, notes=None):
        self.spec, self.track, self.stems = spec, track, list(stems)
        self.rate, self.frames, self.notes = rate, frames, notes
        self.targets = {stem: spec.relative_path(track, stem) for stem in self.stems}
        self.targets.update({(stem, ext): spec.relative_path(track, stem, ext) for stem, ext in extra})
        self.staging = None
        self._files, self._peaks, self._texts = {}, {}, {}

    def check(self) -> None:
        """Refuse to replace existing files unless the spec allows it."""
        existing = [self.spec.out_dir / p for p in self.targets.values() if (self.spec.out_dir / p).exists()]
        if existing and not self.spec.overwrite:
            raise OutputError(f"{existing[0]}: exists (use --overwrite to replace this track's outputs)")
        for path in existing:
            if path.is_dir():
                raise OutputError(f"{path}: is a folder, not a file")

    def __enter__(self):
        self.check()
        self.spec.out_dir.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(dir=self.spec.out_dir, prefix=".idm-"))
        for i, stem in enumerate(self.stems):
            self._files[stem] = sf.SoundFile(str(self.staging / f"{i}.wav"), "w", SAMPLE_RATE, 1, "FLOAT",
                                             format="WAV")
            self._peaks[stem] = 0.0
        return self

    def write(self, blocks: dict) -> None:
        """Append the next samples (1-D float arrays at 44.1 kHz) of every stem."""
        for stem in self.stems:
            block = np.asarray(blocks[stem], dtype=np.float32)
            self._files[stem].write(block)
            if block.size:
                self._peaks[stem] = max(self._peaks[stem], float(np.abs(block).max()))

    def add(self, stem: str, ext: str, content) -> None:
        """Stage a text (str) or binary (bytes) file named by the template with `stem` and `ext`."""
        path = self.staging / f"{stem}.{ext}"
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        self._texts[(stem, ext)] = path

    def _finish_audio(self, index: int, stem: str, scale: float) -> Path:
        staged = self.staging / f"{index}.wav"
        spec = self.spec
        clamp = spec.clip_mode == "clamp" and self._peaks[stem] > CLAMP_LIMIT
        integer = spec.subtype != "FLOAT"
        if (spec.format, spec.subtype, self.rate, scale, clamp) == ("wav", "FLOAT", SAMPLE_RATE, 1.0, False):
            return staged
        final = self.staging / f"{index}.out"
        with sf.SoundFile(str(staged)) as src, \
                sf.SoundFile(str(final), "w", self.rate, 1, spec.subtype, format=FORMATS[spec.format]) as dst:
            total = src.frames

            def read(a, b):
                src.seek(a)
                return src.read(b - a, dtype="float32") * np.float32(scale)
            if self.rate == SAMPLE_RATE:
                pieces = (read(a, min(total, a + _BLOCK)) for a in range(0, total, _BLOCK))
            else:
                pieces = resampled_blocks(read, total, SAMPLE_RATE, self.rate, _BLOCK)
            written, wanted = 0, (self.frames if self.rate != SAMPLE_RATE else None)
            for piece in pieces:
                if wanted is not None:
                    piece = piece[: max(0, wanted - written)]
                if clamp:
                    piece = np.clip(piece, -CLAMP_LIMIT, CLAMP_LIMIT)
                elif integer:
                    piece = np.clip(piece, -1.0, 1.0)  # integer samples saturate at full scale
                dst.write(piece)
                written += len(piece)
            if wanted is not None and written < wanted:
                dst.write(np.zeros(wanted - written, np.float32))
        return final

    def commit(self) -> list:
        """Finish every file and move it to its name; returns the final paths."""
        for f in self._files.values():
            f.close()
        peak = max(self._peaks.values(), default=0.0)
        scale = _scale_for(peak, self.spec.clip_mode)
        if scale != 1.0 and self.notes:
            self.notes(f"{self.track}: stems peak at {peak:.3f}; all scaled by {scale:.4f} to avoid clipping")
        ready = {stem: self._finish_audio(i, stem, scale) for i, stem in enumerate(self.stems)}
        ready.update(self._texts)
        moves = [(source, self.spec.out_dir / self.targets[key]) for key, source in ready.items()]
        for source, target in moves:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(source, default_mode())
        with signals_held():  # Ctrl-C or a stop lands before the first rename or after the last
            for source, target in moves:
                os.replace(source, target)
        return [target for _, target in moves]

    def __exit__(self, *exc):
        for f in self._files.values():
            if not f.closed:
                f.close()
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
        return False

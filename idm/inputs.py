"""The audio files a command works on: files as given, folders searched recursively, track names."""

import os
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

_SUFFIXES_BY_FORMAT = {
    "WAV": (".wav", ".wave"), "FLAC": (".flac",), "OGG": (".ogg", ".oga", ".opus"), "MP3": (".mp3",),
    "AIFF": (".aif", ".aiff", ".aifc"), "AU": (".au", ".snd"), "CAF": (".caf",), "W64": (".w64",),
    "RF64": (".rf64",),
}
AUDIO_SUFFIXES = tuple(s for fmt, suffixes in _SUFFIXES_BY_FORMAT.items()
                       if fmt in sf.available_formats() for s in suffixes)
"""File suffixes picked up in folders: the audio formats this machine's libsndfile reads."""


@dataclass(frozen=True)
class Input:
    """One audio file to process and the track name its outputs get."""

    path: Path
    track: str


def audio_files(folder, exclude=(), skipped=None):
    """Paths (str) of the audio files below `folder`, by suffix, streamed folder by folder.

    Hidden files and folders (idm's own staging folders among them) are skipped, and so is
    every folder in `exclude` (an output folder inside the input, say). Symbolic links to
    folders are not followed. A broken symbolic link with an audio suffix is left out and
    told to `skipped(path, reason)`, when given.
    """
    skip = {os.path.realpath(e) for e in exclude}
    if os.path.realpath(folder) in skip:
        return
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and os.path.realpath(os.path.join(dirpath, d)) not in skip)
        for name in sorted(filenames):
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in AUDIO_SUFFIXES:
                continue
            path = os.path.join(dirpath, name)
            if os.path.islink(path) and not os.path.exists(path):
                if skipped:
                    skipped(path, f"a broken symbolic link (to {os.readlink(path)}, which does not exist)")
                continue
            yield path


def _walk(folder: Path, exclude, skipped) -> list:
    paths = sorted(Path(p) for p in audio_files(folder, exclude, skipped))
    return [Input(p, p.relative_to(folder).with_suffix("").as_posix()) for p in paths if p.is_file()]


def find_inputs(paths, exclude=(), skipped=None) -> tuple:
    """Expand files and folders into `Input`s; returns (inputs, errors).

    A file given directly is used whatever its suffix, with its stem as track name. A
    folder contributes every audio file below it (hidden ones skipped, and none inside
    `exclude`, e.g. the output folder), named by its path relative to the folder without
    suffix (`live/take1`), so a library's structure is kept. Errors are (path, one-line
    message): a missing path, a folder without audio, or two inputs claiming one track name.
    Files left out of a folder (broken symbolic links) are told to `skipped(path, reason)`.
    """
    inputs, errors, seen, owner = [], [], set(), {}
    for given in map(Path, paths):
        if given.is_dir():
            found = _walk(given, [Path(e) for e in exclude], skipped)
            if not found:
                errors.append((given, f"{given}: no audio files in this folder ({', '.join(AUDIO_SUFFIXES)})"))
        elif given.exists():
            found = [Input(given, given.stem)]
        else:
            errors.append((given, f"{given}: no such file or folder"))
            found = []
        for item in found:
            key = item.path.resolve()
            if key in seen:
                continue
            seen.add(key)
            if item.track in owner:
                errors.append((item.path, f"{item.path}: its track name {item.track!r} is already used by "
                                          f"{owner[item.track]}; rename one of them"))
                continue
            owner[item.track] = item.path
            inputs.append(item)
    return inputs, errors

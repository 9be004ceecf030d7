"""Reading and writing audio: validated, mono, at the model's rate; atomic writes."""

import math
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from .constants import SAMPLE_RATE
from .files import atomic_path


class AudioError(ValueError):
    """An input file that cannot be used, with a one-line reason naming the file."""


def to_model_audio(audio: np.ndarray, sample_rate: int, name: str = "input", notes=None) -> torch.Tensor:
    """(T,) or (T, channels) float audio at any rate -> mono float32 (T',) at 44.1 kHz.

    Downmixing and resampling are stated through `notes` (a callable taking a line).
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        if audio.shape[1] > 1 and notes:
            notes(f"{name}: downmixing {audio.shape[1]} channels to mono")
        audio = audio.mean(axis=1)
    if audio.ndim != 1:
        raise AudioError(f"{name}: expected mono or multichannel audio, got shape {audio.shape}")
    if audio.size == 0:
        raise AudioError(f"{name}: empty audio (no samples)")
    if not np.isfinite(audio).all():
        raise AudioError(f"{name}: audio contains NaN or Inf samples")
    wave = torch.from_numpy(np.ascontiguousarray(audio))
    if sample_rate != SAMPLE_RATE:
        if notes:
            notes(f"{name}: resampling {sample_rate} Hz -> {SAMPLE_RATE} Hz")
        wave = AF.resample(wave, int(sample_rate), SAMPLE_RATE)
    return wave


def wav_declared_frames(path):
    """Frames a RIFF/WAVE file's header declares for its data chunk, or None (not a WAV, or a
    header that leaves the size open)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align = None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            size = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"fmt ":
                fmt = f.read(size + size % 2)
                block_align = int.from_bytes(fmt[12:14], "little") if len(fmt) >= 14 else None
            elif chunk[:4] == b"data":
                return size // block_align if block_align and size not in (0, 0xFFFFFFFF) else None
            else:
                f.seek(size + size % 2, 1)


def read_audio_file(path, notes=None) -> tuple:
    """Read any file soundfile reads -> (mono float32 (T,) at 44.1 kHz, the file's rate, its frames).

    A WAV file holding fewer samples than its header declares (cut off while copying, say) is
    read as far as it goes, and `notes` is told.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AudioError(f"{path}: cannot read audio ({reason})") from None
    declared = wav_declared_frames(path)
    if notes and declared is not None and declared > data.shape[0]:
        notes(f"{path}: truncated: its header declares {declared} samples, the file holds {data.shape[0]} "
              f"({data.shape[0] / rate:.2f} s of {declared / rate:.2f} s); using those")
    return to_model_audio(data, rate, str(path), notes), rate, data.shape[0]


def read_audio(path, notes=None) -> torch.Tensor:
    """Read any file soundfile reads as mono float32 at 44.1 kHz (see `to_model_audio`)."""
    return read_audio_file(path, notes)[0]


def resampled_blocks(read, total: int, orig: int, new: int, block: int = 1 << 20):
    """Resample a long signal block by block, equal to `torchaudio.functional.resample` of the whole.

    read(a, b) returns samples [a, b) of the signal (`total` samples at rate `orig`) as a 1-D
    float32 array. Blocks start on multiples of the reduced rate ratio and carry enough
    context for the resampling kernel, so the yielded pieces concatenate to the one-piece
    result (ceil(total * new / orig) samples).
    """
    g = math.gcd(orig, new)
    o, n = orig // g, new // g
    context = 10 * o  # >= torchaudio's kernel reach (6 / rolloff zero crossings + one period) on both sides
    step = max(1, block // o) * o
    for s0 in range(0, total, step):
        s1 = min(total, s0 + step)
        c0, c1 = max(0, s0 - context), min(total, s1 + context)
        y = AF.resample(torch.from_numpy(np.ascontiguousarray(read(c0, c1))), orig, new).numpy()
        first = (s0 - c0) // o * n
        yield y[first:] if s1 == total else y[first:first + (s1 - s0) // o * n]


def _zero_peak_timestamp(path) -> None:
    """Set the time stamp of a WAV file's PEAK chunk (libsndfile writes one into float WAVs) to 0, so
    that the same audio gives the same bytes."""
    with open(path, "r+b") as f:
        head = f.read(4096)
        offset = 12
        while offset + 8 <= len(head):
            chunk, size = head[offset:offset + 4], int.from_bytes(head[offset + 4:offset + 8], "little")
            if chunk == b"PEAK":
                f.seek(offset + 12)  # after the id, the size and the version
                f.write(bytes(4))
                return
            if chunk == b"data":
                return
            offset += 8 + size + (size & 1)


def write_wav(path, audio, sample_rate: int = SAMPLE_RATE, subtype: str = "FLOAT") -> None:
    """Write mono audio (T,) atomically: to a temporary name beside `path`, then rename. The same
    audio gives the same bytes."""
    data = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data.astype(np.float32), sample_rate, subtype=subtype, format="WAV")
        _zero_peak_timestamp(tmp)


def stderr_note(line: str) -> None:
    """Print a note for the user on stderr."""
    print(line, file=sys.stderr)

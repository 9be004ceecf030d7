"""Given one-shots: recorded hits that replace the one-shots the model synthesises for some classes.

A one-shot folder holds audio files (any format soundfile reads, any rate and channel count:
downmixed and resampled to 44.1 kHz) named after their class: a stem name (`kick`,
`tom_low`, ...), a class code (`KD`), or one of StemGMD's single-hit names (`kick`,
`hi_tom`, `crash_left`, ... with the single hits' own tom naming, see
`idm.constants.SINGLE_HIT_CLASSES`), optionally numbered (`kick-1.wav`, `snare_2.wav`). Files
may also lie one folder down (`velocity_40/kick.wav`). Classes without a file keep the
synthesised one-shot.

Each file starts at its attack (leading silence below `ATTACK_DB` is cut) and is cut or
zero-padded to the model's one-shot length, with a note. Several files of one class are
velocity layers: ordered from the quietest to the loudest (RMS), an onset plays the layer
whose rank matches its velocity relative to the loudest onset of that class in the track
(layer `min(L - 1, floor(L * v / v_max))` of L). Every given one-shot is scaled to the energy
of the one-shot the model synthesises for that class and track, so the model's velocities
and track gains set the levels as they do for its own one-shots; the file gives the sound.
"""

import re
from pathlib import Path

import torch

from .audio import AudioError, read_audio
from .constants import CLASS_NAMES, CLASSES, SAMPLE_RATE, SINGLE_HIT_CLASSES, class_code
from .inputs import AUDIO_SUFFIXES

MAX_SECONDS = 10.0
"""A longer file is not taken for a one-shot (it is most likely a whole track)."""
ATTACK_DB = -50.0
"""Leading samples quieter than this, relative to the file's peak, are cut."""
SILENT_PEAK = 1e-5
"""A one-shot whose peak is below this (-100 dBFS) is silent."""
_NUMBERED = re.compile(r"(?P<name>.+?)(?:[-_]\d+)?")


class OneShotError(ValueError):
    """A given one-shot that cannot be used; the message names the file or class and the problem."""


def one_shot_class(name: str):
    """The class code a one-shot file stem names (see the module docstring), or None."""
    m = _NUMBERED.fullmatch(name)
    for candidate in (name, m["name"] if m else name):
        code = (class_code(candidate) or class_code(candidate.upper()) or class_code(candidate.lower())
                or SINGLE_HIT_CLASSES.get(candidate.lower()))
        if code:
            return code
    return None


def _accepted_names() -> str:
    return (f"{', '.join(CLASS_NAMES.values())}, the class codes, or StemGMD single-hit names "
            f"({', '.join(SINGLE_HIT_CLASSES)})")


def checked_one_shot(audio: torch.Tensor, source: str, notes=None) -> torch.Tensor:
    """A mono 44.1 kHz one-shot, checked (finite, not silent, at most MAX_SECONDS) and cut to its attack."""
    audio = torch.as_tensor(audio, dtype=torch.float32).reshape(-1)
    if audio.numel() == 0 or not torch.isfinite(audio).all():
        raise OneShotError(f"{source}: " + ("empty" if audio.numel() == 0 else "contains NaN or Inf samples"))
    seconds = audio.numel() / SAMPLE_RATE
    if seconds > MAX_SECONDS:
        raise OneShotError(f"{source}: {seconds:.1f} s long, not a one-shot (at most {MAX_SECONDS:g} s; only the "
                           "start, the model's one-shot length, would be kept)")
    peak = float(audio.abs().max())
    if peak < SILENT_PEAK:
        raise OneShotError(f"{source}: silent (peak {peak:.1e})")
    start = int(torch.nonzero(audio.abs() >= peak * 10 ** (ATTACK_DB / 20))[0])
    if notes and start >= SAMPLE_RATE // 1000:
        notes(f"{source}: cut {1000 * start / SAMPLE_RATE:.1f} ms of silence before the attack")
    return audio[start:]


def read_one_shots(folder, notes=None) -> dict:
    """A one-shot folder -> {class code: [one-shots (n,), ...]} (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise OneShotError(f"{folder}: no such folder of one-shots")
    files = sorted(p for p in folder.iterdir() if p.is_file()) + sorted(
        p for sub in sorted(folder.iterdir()) if sub.is_dir() and not sub.name.startswith(".")
        for p in sub.iterdir() if p.is_file())
    found = {}
    for path in files:
        if path.suffix.lower() not in AUDIO_SUFFIXES or path.name.startswith("."):
            continue
        code = one_shot_class(path.stem)
        if code is None:
            raise OneShotError(f"{path}: {path.stem!r} names no drum class (name files {_accepted_names()})")
        try:
            audio = read_audio(path, notes)
        except AudioError as exc:
            raise OneShotError(str(exc)) from None
        found.setdefault(code, []).append(checked_one_shot(audio, str(path), notes))
    if not found:
        raise OneShotError(f"{folder}: no one-shot audio files (name them {_accepted_names()})")
    for code, layers in found.items():
        if len(layers) > 1 and notes:
            notes(f"{folder}: {len(layers)} velocity layers of {CLASS_NAMES[code]}")
    return {code: found[code] for code in CLASSES if code in found}


def as_one_shots(value, notes=None) -> dict:
    """Given one-shots as the API takes them -> {class code: [one-shots (n,), ...]}.

    `value`: a one-shot folder, or {class: audio} with classes named as files are, audio a
    1-D mono 44.1 kHz tensor, a list of them or an (L, n) tensor (L velocity layers).
    """
    if isinstance(value, (str, Path)):
        return read_one_shots(value, notes)
    if not isinstance(value, dict) or not value:
        raise OneShotError("one_shots: expected a folder or a non-empty {class: audio} dict")
    found = {}
    for name, audio in value.items():
        code = one_shot_class(str(name))
        if code is None:
            raise OneShotError(f"one_shots: {name!r} names no drum class (use {_accepted_names()})")
        layers = list(audio) if isinstance(audio, (list, tuple)) or getattr(audio, "ndim", 1) == 2 else [audio]
        found.setdefault(code, []).extend(checked_one_shot(a, f"one_shots[{name!r}]", notes) for a in layers)
    return {code: found[code] for code in CLASSES if code in found}


def fit_length(one_shots: dict, length: int, notes=None) -> dict:
    """Each one-shot cut or zero-padded to `length` samples, quietest layer first; a note for each change."""
    fitted = {}
    for code, layers in one_shots.items():
        out = []
        for i, audio in enumerate(layers):
            where = CLASS_NAMES[code] + (f" (layer {i + 1})" if len(layers) > 1 else "")
            if audio.numel() > length and notes:
                notes(f"one-shot {where}: kept the first {length / SAMPLE_RATE:.3f} s of "
                      f"{audio.numel() / SAMPLE_RATE:.3f} s (the model's one-shot length)")
            elif audio.numel() < length and notes:
                notes(f"one-shot {where}: {audio.numel() / SAMPLE_RATE:.3f} s, padded with silence to "
                      f"{length / SAMPLE_RATE:.3f} s")
            out.append(torch.nn.functional.pad(audio[:length], (0, max(0, length - audio.numel()))))
        fitted[code] = sorted(out, key=lambda a: float(a.square().mean()))
    return fitted


def replace_one_shots(synthesized: torch.Tensor, one_shots: dict) -> tuple:
    """Synthesised one-shots (B, K, N) and fitted given ones -> (samples (B, K, N), layers).

    Each given one-shot is scaled to the energy of the synthesised one of its class and item.
    `samples` holds, for a given class, its loudest layer; `layers` is {class index: (B, L, N)}
    for the classes with several layers (None when there are none).
    """
    samples, layers = synthesized.clone(), {}
    energy = synthesized.square().sum(-1, keepdim=True)  # (B, K, 1)
    for code, given in one_shots.items():
        k = CLASSES.index(code)
        stack = torch.stack(given).to(synthesized)  # (L, N)
        gain = (energy[:, k] / stack.square().sum(-1).clamp_min(1e-12)).sqrt()  # (B, L)
        scaled = stack * gain[..., None]  # (B, L, N)
        samples[:, k] = scaled[:, -1]
        if len(given) > 1:
            layers[k] = scaled
    return samples, layers or None


def layered_render(model, activations: torch.Tensor, samples: torch.Tensor, layers: dict, gains: torch.Tensor,
                   length: int, start: int = 0) -> torch.Tensor:
    """`model.render`, with the velocity layers of `replace_one_shots` played by velocity."""
    if not layers:
        return model.render(activations, samples, gains, length, start)
    rows, row_samples, row_class = [], [], []
    loudest = activations.amax(-1, keepdim=True).clamp_min(1e-12)  # (B, K, 1)
    for k in range(activations.shape[1]):
        if k not in layers:
            rows.append(activations[:, k])
            row_samples.append(samples[:, k])
            row_class.append(k)
            continue
        n = layers[k].shape[1]
        rank = (activations[:, k] / loudest[:, k] * n).floor().clamp(max=n - 1)
        for layer in range(n):
            rows.append(activations[:, k] * (rank == layer))
            row_samples.append(layers[k][:, layer])
            row_class.append(k)
    index = torch.tensor(row_class, device=activations.device)
    tracks = model.render(torch.stack(rows, 1), torch.stack(row_samples, 1), gains[:, index], length, start)
    stems = torch.zeros(tracks.shape[0], activations.shape[1], tracks.shape[-1], dtype=tracks.dtype,
                        device=tracks.device)
    return stems.index_add_(1, index, tracks)

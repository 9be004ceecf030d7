"""The mid tom found by pitch within a track, where the transcription heard it as another tom.

On a kit it never heard, a transcription tells a floor tom from a rack tom by timbre, but a mid
tom a few semitones from its neighbours goes to one of them (the released model hears it as the
high tom, `idm-44-recorded-kits` as the low one). Within one track the toms are told apart by
their pitch relative to each other: where the hits of the low (or high) tom output form two pitch
groups with an empty gap of at least `gap` semitones between them, and the group nearer the mid
tom is pitched between the low and the high toms, that group becomes the mid tom. A track whose
toms form no such groups is left as it was.
"""

import numpy as np
import torch

from .constants import CLASSES, HOP_LENGTH, SAMPLE_RATE

LOW, MID, HIGH = (CLASSES.index(code) for code in ("TT_HFT", "TT_LMT", "TT_HMT"))

MID_TOM_GAP = 2.0
"""The gap (semitones) `idm-44-recorded-kits` splits at, and the `+tom-pitch` evaluation variant's:
chosen on val_train_kits (`benchmarks/tom_pitch_split.py`; 1.5 to 3 do alike)."""

PITCH_BAND = (50.0, 400.0)
"""Hz within which a tom hit's pitch is sought (a tom's fundamental)."""

HIT_WINDOW = (0.015, 0.135)
"""Seconds after the onset whose spectrum gives the hit's pitch (past the attack's noise)."""

MIN_GROUP_SHARE = 0.25
"""Fewest hits of a split class, as a share, that each pitch group holds (at least two)."""

MAX_GROUP_DISTANCE = 10.0
"""Most semitones between the two groups' medians: further apart, one is a harmonic or another drum."""

_FFT_SIZE = 16384
_FREQS = np.fft.rfftfreq(_FFT_SIZE, 1.0 / SAMPLE_RATE)
_BAND = (_FREQS >= PITCH_BAND[0]) & (_FREQS <= PITCH_BAND[1])
_BAND_FREQS = _FREQS[_BAND]


def _magnitude(segment: np.ndarray) -> np.ndarray:
    return np.abs(np.fft.rfft(segment * np.hanning(len(segment)), _FFT_SIZE))


def hit_pitch(audio: np.ndarray, frame: int) -> float:
    """Pitch in Hz of a hit at onset `frame` of `audio` (mono, SAMPLE_RATE): the strongest
    frequency of PITCH_BAND that the hit adds to the mixture (the spectrum of HIT_WINDOW after
    the onset, less that of as long before it); NaN where the track ends within the window."""
    onset = frame * HOP_LENGTH
    a, b = onset + int(HIT_WINDOW[0] * SAMPLE_RATE), onset + int(HIT_WINDOW[1] * SAMPLE_RATE)
    if b > len(audio):
        return float("nan")
    added = _magnitude(audio[a:b])
    before = audio[max(0, onset - (b - a)):onset]
    if len(before) > 1:
        added = np.maximum(added - _magnitude(before), 0.0)
    return float(_BAND_FREQS[np.argmax(added[_BAND])])


def _semitones(hz: np.ndarray) -> np.ndarray:
    return 12.0 * np.log2(hz / 440.0)


def pitch_groups(semitones: np.ndarray, gap: float):
    """The split of `semitones` (one class's hits) at the widest empty gap of at least `gap` that
    leaves MIN_GROUP_SHARE of the hits on each side: (lower mask, upper mask), or None."""
    n = len(semitones)
    least = max(2, int(np.ceil(MIN_GROUP_SHARE * n)))
    if n < 2 * least:
        return None
    s = np.sort(semitones)
    gaps = np.diff(s)[least - 1:n - least]  # gaps with at least `least` values each side
    if len(gaps) == 0 or gaps.max() < gap:
        return None
    cut = s[least - 1 + int(np.argmax(gaps))]
    lower = semitones <= cut
    if np.median(semitones[~lower]) - np.median(semitones[lower]) > MAX_GROUP_DISTANCE:
        return None
    return lower, ~lower


def split_mid_tom(grid: np.ndarray, audio: np.ndarray, gap: float) -> np.ndarray:
    """`grid` (K, M) of picked onsets with the mid tom split off the low or high tom by pitch
    (the module's rule; of two possible splits, the one with the wider gap)."""
    pitch, frames = {}, {}
    for k in (LOW, HIGH):  # the mid tom's own hits are never read
        found = np.flatnonzero(grid[k])
        semitones = _semitones(np.array([hit_pitch(audio, f) for f in found]))
        known = np.isfinite(semitones)
        pitch[k], frames[k] = semitones[known], found[known]
    candidates = []
    for k, near_mid in ((LOW, 1), (HIGH, 0)):
        groups = pitch_groups(pitch[k], gap)
        if groups is None:
            continue
        group = groups[near_mid]
        other = pitch[HIGH if k == LOW else LOW]
        if len(other) and (np.median(pitch[k][group]) >= np.median(other)) == (k == LOW):
            continue  # the group is not between the low and the high toms
        width = np.min(pitch[k][groups[1]]) - np.max(pitch[k][groups[0]])
        candidates.append((width, k, frames[k][group]))
    grid = grid.copy()
    if candidates:
        _, k, moved = max(candidates, key=lambda c: c[0])
        grid[MID, moved] = grid[k, moved]
        grid[k, moved] = 0
    return grid


def split_toms(grid: torch.Tensor, audio: torch.Tensor, config, mid_tom_gap: float = None) -> torch.Tensor:
    """Picked onset grids (B, K, M) of mixtures `audio` (B, T) with `split_mid_tom` applied at
    `mid_tom_gap` semitones (None: the model's `config.mid_tom_gap`; 0: returned as they are)."""
    gap = config.mid_tom_gap if mid_tom_gap is None else mid_tom_gap
    if not gap:
        return grid
    picked, mixtures = grid.cpu().numpy(), audio.detach().cpu().numpy()
    split = np.stack([split_mid_tom(g, x, gap) for g, x in zip(picked, mixtures)])
    return torch.from_numpy(split).to(grid.device, grid.dtype)


def carried_velocity(velocity: torch.Tensor, picked: torch.Tensor, split: torch.Tensor) -> torch.Tensor:
    """Velocities (B, K, M) with each hit `split_toms` moved to the mid tom given the velocity
    estimated for the tom it was picked as (`picked` before, `split` after)."""
    velocity = velocity.clone()
    for source in (LOW, HIGH):
        moved = (picked[:, source] > 0) & (split[:, source] == 0) & (split[:, MID] > 0)
        velocity[:, MID][moved] = velocity[:, source][moved]
    return velocity

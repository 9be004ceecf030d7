"""A short synthesised drum groove for `make demo`: kick, snare, hi-hats and a crash.

`python -m idm.demo OUT.wav` writes it (44.1 kHz mono float WAV, 8 s at 120 BPM).
"""

import argparse

import numpy as np

from .audio import write_wav
from .constants import SAMPLE_RATE


def _decay(n: int, seconds: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (seconds * SAMPLE_RATE))


def _kick(rng, n):
    t = np.arange(n) / SAMPLE_RATE
    freq = 45 + 75 * np.exp(-t / 0.04)
    return np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) * _decay(n, 0.25)


def _snare(rng, n):
    t = np.arange(n) / SAMPLE_RATE
    return 0.6 * rng.standard_normal(n) * _decay(n, 0.12) + 0.5 * np.sin(2 * np.pi * 185 * t) * _decay(n, 0.08)


def _hat(seconds):
    def make(rng, n):
        return 0.5 * np.diff(rng.standard_normal(n + 1)) * _decay(n, seconds)
    return make


VOICES = {"kick": _kick, "snare": _snare, "hihat_closed": _hat(0.03), "hihat_open": _hat(0.25),
          "crash": _hat(1.2)}

PATTERN = {  # sixteenth-note steps of one 4/4 bar
    "kick": [0, 6, 8, 10],
    "snare": [4, 12],
    "hihat_closed": [0, 2, 4, 6, 8, 10, 12],
    "hihat_open": [14],
}


def groove(bars: int = 4, bpm: float = 120.0, seed: int = 0) -> tuple:
    """Render the groove: returns (mixture (T,), {voice: onset times in seconds})."""
    rng = np.random.default_rng(seed)
    step = 60.0 / bpm / 4
    length = int(round(bars * 16 * step * SAMPLE_RATE))
    mix = np.zeros(length)
    onsets = {voice: [] for voice in VOICES}
    hits = [(bar * 16 + s, voice) for bar in range(bars) for voice, steps in PATTERN.items() for s in steps]
    hits.append((0, "crash"))
    for index, voice in hits:
        start = int(round(index * step * SAMPLE_RATE))
        n = min(length - start, SAMPLE_RATE * 2)
        velocity = 0.8 + 0.2 * rng.random()
        mix[start:start + n] += velocity * VOICES[voice](rng, n)
        onsets[voice].append(start / SAMPLE_RATE)
    mix *= 0.9 / np.abs(mix).max()
    return mix.astype(np.float32), {v: sorted(t) for v, t in onsets.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="WAV file to write")
    parser.add_argument("--bars", type=int, default=4)
    parser.add_argument("--bpm", type=float, default=120.0)
    args = parser.parse_args(argv)
    mix, _ = groove(args.bars, args.bpm)
    write_wav(args.out, mix)
    print(f"wrote {args.out} ({len(mix) / SAMPLE_RATE:.1f} s)")


if __name__ == "__main__":
    main()

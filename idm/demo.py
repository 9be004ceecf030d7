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
    freq = 45 + 200 * np.exp(-t / 0.02)  # pitch drop
    body = 2.0 * np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) * _decay(n, 0.4)
    click = 0.5 * rng.standard_normal(n) * _decay(n, 0.004)
    return np.tanh(1.5 * (body + click))


def _snare(rng, n):
    t = np.arange(n) / SAMPLE_RATE
    rattle = 0.7 * np.diff(rng.standard_normal(n), prepend=0.0) * _decay(n, 0.15)
    shell = 0.6 * (np.sin(2 * np.pi * 190 * t) + 0.5 * np.sin(2 * np.pi * 330 * t)) * _decay(n, 0.07)
    return 0.8 * rattle + shell


def _metal(seconds):
    """Six detuned square waves, high-passed, plus noise: a cymbal-like timbre."""
    def make(rng, n):
        t = np.arange(n) / SAMPLE_RATE
        x = sum(np.sign(np.sin(2 * np.pi * 1.7 * f * t + 6 * rng.random()))
                for f in (205.3, 304.4, 369.6, 522.7, 540.0, 800.0))
        x = np.diff(np.diff(x, prepend=0.0), prepend=0.0) + 0.5 * np.diff(rng.standard_normal(n), prepend=0.0)
        return 0.25 * x * _decay(n, seconds)
    return make


VOICES = {"kick": _kick, "snare": _snare, "hihat_closed": _metal(0.04), "hihat_open": _metal(0.3),
          "crash": _metal(1.0)}

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

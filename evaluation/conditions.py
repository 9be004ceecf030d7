"""Recording conditions for robustness: a test track as it is, in a room, or bus-compressed.

`in_condition(track, condition)` returns the track with the condition applied alike to every
reference stem, so the stems still add up to the mixture, then scaled again so the mixture peaks
at 1. Deterministic: the same track always gets the same room.

- `clean`: the track as it is;
- `room`: every stem convolved with one synthetic room response (`data.mixing.room_response`:
  the direct sound, then noise decaying by 60 dB in RT60 = 0.5 s, 35% of the energy wet), drawn
  from a generator seeded by the track's id;
- `compressed`: the gain curve of bus compression of the mixture (threshold 12 dB below its peak,
  ratio 4, attack 5 ms, release 100 ms; `data.mixing.compressor_gain`) applied to every stem.

The onsets do not move: the direct sound keeps its time, and a gain is not a delay.
"""

import zlib
from dataclasses import replace

import numpy as np
import torch
from scipy import signal

from data.mixing import compressor_gain, room_response

from .tracks import Track

CONDITIONS = ("clean", "room", "compressed")
ROOM = dict(rt60=0.5, wet=0.35)
COMPRESSION = dict(below_peak_db=12.0, ratio=4.0, attack=0.005, release=0.1)


def in_condition(track: Track, condition: str) -> Track:
    """`track` recorded in `condition` (see the module)."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown recording condition {condition!r} (conditions: {', '.join(CONDITIONS)})")
    if condition == "clean":
        return track
    stems = track.stems.double().numpy()
    if condition == "room":
        rng = np.random.default_rng([zlib.crc32(track.id.encode()), 1])
        ir = room_response(rng, ROOM["rt60"], ROOM["wet"])
        stems = signal.fftconvolve(stems, ir[None], axes=-1)[:, :stems.shape[-1]]
    else:
        mixture = stems.sum(0)
        peak = float(np.abs(mixture).max()) or 1.0
        stems = stems * compressor_gain(mixture, 20 * np.log10(peak) - COMPRESSION["below_peak_db"],
                                        COMPRESSION["ratio"], COMPRESSION["attack"], COMPRESSION["release"])[None]
    mixture = stems.sum(0)
    peak = float(np.abs(mixture).max())
    scale = 1.0 / peak if peak > 0 else 1.0
    return replace(track, mixture=torch.from_numpy(mixture * scale).float(),
                   stems=torch.from_numpy(stems * scale).float())

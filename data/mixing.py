"""Training crops mixed on the fly: new performances on virtual kits, in varied recording conditions.

`MixedCropDataset(bank, seconds, seed, settings)` gives crops shaped like `CropDataset`'s. Crop
(epoch, index) is a pure function of (seed, epoch, index):

1. **A performance** from `data.grooves` (a random style and tempo), with the rare classes made
   frequent: with probability `fill_rate` a phrase is one or two bars long, so nearly every bar
   ends in a tom fill over three toms and a crash; open hi-hats on at least a random share up to
   `open_hats` of the "and"s.
2. **A virtual kit** from the bank's recorded kits (`data.kit_bank`): a base kit, and each class
   taken from another kit with probability `swap`. The toms come as a set of three: a kit
   without a mid tom gets one made from its high tom tuned down or its low tom tuned up (2 to 5
   semitones), and the set is retuned together (at most `tom_pitch` semitones). Every other
   class is pitch-shifted (resampled, at most `pitch` semitones); every class is equalised (low
   shelf, peak and high shelf, at most `eq_db`) and given a level (`class_gain_db`). With
   probability `hat_pair` the open hi-hat is the closed one's kit's, shifted and equalised alike.
   With probability `open_hat_ring` the open hi-hat rings longer and darker: convolved with a
   synthetic ring (the room response's decaying, darkened noise, RT60 1 to 3 s, 30 to 70% of it).
3. **The hits** placed at their notes as `make kits-data` places them: the kit's recorded hit of
   the nearest velocity layer, scaled to the note's velocity, attack on the annotated time.
4. **Recording conditions** on the mixture: a synthetic room (exponentially decaying noise,
   RT60 and wet share drawn) with probability `room`, bus compression with `compress`, tanh
   saturation with `saturate`, and low-level noise with `noise`. Then the crop is divided by
   its peak, as the released model was trained.

The labels are the notes: onsets and velocities (MIDI / 127) per class, shifted into the crop.
"""

from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy import signal
from torch.utils.data import Dataset

from idm.constants import CLASSES, GMD_PITCH_TO_CLASS, SAMPLE_RATE

from .grooves import STYLES, TICKS_PER_BEAT, performance
from .kit_bank import KitBank

TOMS = ("TT_HFT", "TT_LMT", "TT_HMT")
"""Low (floor), mid and high tom: the tom set of a virtual kit, lowest first."""
LEAD_SECONDS = 2.0
"""Seconds of performance before a crop may start, so hits before it ring into it."""


@dataclass
class MixConfig:
    bank: str = ""
    """Kit bank folder (`python -m data.kit_bank`); empty: train on the crops of `data.folder` as
    they are. Set: training crops are mixed on the fly from it (`data.mixing`)."""
    fill_rate: float = 0.5
    """Chance that a crop's phrases are one or two bars long (a tom fill and a crash nearly every bar)."""
    open_hats: float = 0.6
    """Open hi-hats on a random share, up to this, of the hi-hat "and"s (at least the style's own)."""
    swap: float = 0.5
    """Chance that a class (the toms: the tom set) sounds from another kit than the crop's base kit."""
    hat_pair: float = 0.0
    """Chance that the open hi-hat is the closed one's kit's, with its pitch shift and equaliser (one
    hi-hat, open and closed), so that the ring, not each one's timbre, tells them apart."""
    open_hat_ring: float = 0.0
    """Chance that the open hi-hat rings longer and darker (convolved with a synthetic ring): the bank
    holds four open hi-hats (0.5 to 1.9 s to 40 dB below), and an unheard kit's may ring like a ride."""
    derived_mid_tom: float = 0.3
    """Chance that a tom set with its own mid tom gets a made one instead (as kits without one do)."""
    pitch: float = 2.0
    """Pitch shift of each class but the toms, uniform within +-pitch semitones."""
    tom_pitch: float = 2.0
    """Pitch shift of the tom set, together, uniform within +-tom_pitch semitones: wide, so that a
    tom's pitch relative to the others, not its absolute pitch, names it."""
    eq_db: float = 6.0
    """Equaliser gains (low shelf, a peak, high shelf) per class, uniform within +-eq_db."""
    class_gain_db: tuple = (-12.0, 4.0)
    """Level of each class, uniform in this range of dB."""
    room: float = 0.5
    """Chance of a synthetic room: RT60 0.2 to 1.2 s, 10 to 50% wet."""
    compress: float = 0.4
    """Chance of bus compression: threshold 6 to 24 dB below the peak, ratio 2 to 8."""
    saturate: float = 0.2
    """Chance of tanh saturation, drive 1 to 4."""
    noise: float = 0.5
    """Chance of white noise 35 to 70 dB below the mixture's RMS."""
    hold_out: tuple = ()
    """Kits of the bank never mixed: held out of training, so that validation on their items
    (`data.val_kits`) measures kits the model never heard."""


def pitch_shift(shot: np.ndarray, semitones: float) -> np.ndarray:
    """The one-shot resampled so it plays `semitones` higher (and shorter), as a retuned drum."""
    if abs(semitones) < 1e-3:
        return shot
    positions = np.arange(0, len(shot) - 1, 2.0 ** (semitones / 12))
    left = positions.astype(np.int64)
    frac = (positions - left).astype(np.float32)
    return shot[left] * (1 - frac) + shot[left + 1] * frac


def _biquad(kind: str, freq: float, gain_db: float, q: float = 0.707) -> np.ndarray:
    """One second-order section (RBJ cookbook): `low`/`high` shelf or `peak`."""
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * freq / SAMPLE_RATE
    alpha, cos = np.sin(w) / (2 * q), np.cos(w)
    if kind == "peak":
        b = [1 + alpha * a, -2 * cos, 1 - alpha * a]
        den = [1 + alpha / a, -2 * cos, 1 - alpha / a]
    else:
        sign = 1 if kind == "low" else -1
        root = 2 * np.sqrt(a) * alpha
        b = [a * ((a + 1) - sign * (a - 1) * cos + root), sign * 2 * a * ((a - 1) - sign * (a + 1) * cos),
             a * ((a + 1) - sign * (a - 1) * cos - root)]
        den = [(a + 1) + sign * (a - 1) * cos + root, -sign * 2 * ((a - 1) + sign * (a + 1) * cos),
               (a + 1) + sign * (a - 1) * cos - root]
    return np.concatenate([b, den]) / den[0]


def random_eq(rng: np.random.Generator, max_db: float) -> np.ndarray:
    """Sections of a random equaliser: low shelf (60-250 Hz), peak (200 Hz-8 kHz), high shelf (3-12 kHz)."""
    return np.stack([_biquad("low", rng.uniform(60, 250), rng.uniform(-max_db, max_db)),
                     _biquad("peak", np.exp(rng.uniform(np.log(200), np.log(8000))), rng.uniform(-max_db, max_db),
                             rng.uniform(0.5, 2.0)),
                     _biquad("high", rng.uniform(3000, 12000), rng.uniform(-max_db, max_db))])


def room_response(rng: np.random.Generator, rt60: float, wet: float) -> np.ndarray:
    """A synthetic room impulse response: the direct sound, then noise decaying by 60 dB in `rt60`
    seconds, darkened by a one-pole low-pass, with `wet` of the energy in the reverberation."""
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    damp = rng.uniform(0.2, 0.8)
    tail = signal.lfilter([1 - damp], [1, -damp], tail)
    tail *= np.sqrt(wet / (1 - wet) / np.sum(tail ** 2))
    predelay = int(rng.uniform(0.002, 0.02) * SAMPLE_RATE)
    ir = np.zeros(n + predelay)
    ir[0] = 1.0
    ir[predelay:] += tail
    return ir


def compressor_gain(x: np.ndarray, threshold_db: float, ratio: float, attack: float, release: float,
                    block: int = 64) -> np.ndarray:
    """Per-sample gain of feed-forward bus compression of `x`: block peaks in dB over the threshold
    are reduced by the ratio, smoothed with attack and release time constants (seconds)."""
    n = -(-len(x) // block)
    padded = np.pad(np.abs(x), (0, n * block - len(x)))
    level = 20 * np.log10(padded.reshape(n, block).max(1) + 1e-9)
    target = -np.maximum(level - threshold_db, 0) * (1 - 1 / ratio)
    rates = [np.exp(-block / (tc * SAMPLE_RATE)) for tc in (attack, release)]
    gain, g = np.empty(n), 0.0
    for i, want in enumerate(target):
        coef = rates[0] if want < g else rates[1]
        g = coef * g + (1 - coef) * want
        gain[i] = g
    return np.repeat(10 ** (gain / 20), block)[:len(x)]


class MixedCropDataset(Dataset):
    """`size` crops of `seconds` an epoch, mixed on the fly from the kit bank at `bank` (see the module):
    a bank folder, whose kits in `settings.hold_out` are left out, or a loaded `KitBank`, used as it is."""

    def __init__(self, bank, seconds: float = 6.0, seed: int = 0, size: int = 10_000, settings: MixConfig = None):
        self.settings = settings or MixConfig()
        self.bank = bank if isinstance(bank, KitBank) else KitBank(bank, leave_out=self.settings.hold_out)
        self.n = int(round(seconds * SAMPLE_RATE))
        self.seed, self.size, self.epoch = seed, size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key) -> dict:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        if not 0 <= index < self.size:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, epoch, index, 7])
        notes, start = self.performance(rng)
        kit = self.virtual_kit(rng)
        stems = self.render(kit, notes, start)
        mixture = self.record(rng, stems.sum(0))
        peak = float(np.abs(mixture).max())
        scale = 1.0 / peak if peak > 0 else 1.0
        end = start + self.n / SAMPLE_RATE
        onsets, velocities = [], []
        for code in CLASSES:
            hits = [(t - start, v / 127) for t, c, v in notes if c == code and start <= t < end]
            onsets.append(np.array([t for t, _ in hits], dtype=np.float64))
            velocities.append(np.array([v for _, v in hits], dtype=np.float32))
        return {"mixture": torch.from_numpy((mixture * scale).astype(np.float32)), "onsets": onsets,
                "velocities": velocities, "kit_id": -1, "id": f"mix/{epoch}/{index}/{kit['name']}", "offset": 0.0,
                "length": self.n, "scale": scale}

    def performance(self, rng: np.random.Generator) -> tuple:
        """([(seconds, class, velocity)], crop start in seconds) of a fresh performance."""
        s = self.settings
        style = STYLES[rng.integers(len(STYLES))]
        phrase = int(rng.choice([1, 2])) if rng.random() < s.fill_rate else style.phrase
        style = replace(style, phrase=phrase, open_hats=max(style.open_hats, rng.uniform(0, s.open_hats)))
        bpm = int(rng.integers(style.tempo[0], style.tempo[1] + 1))
        seconds = self.n / SAMPLE_RATE + LEAD_SECONDS
        bars = int(np.ceil(seconds * bpm / 240)) + 1
        tick_seconds = 60 / (bpm * TICKS_PER_BEAT)
        notes = [(tick * tick_seconds, GMD_PITCH_TO_CLASS[pitch], velocity)
                 for tick, pitch, velocity in performance(rng, style, bpm, bars)]
        latest = bars * 240 / bpm - self.n / SAMPLE_RATE
        return notes, float(rng.uniform(min(LEAD_SECONDS, latest), latest))

    def virtual_kit(self, rng: np.random.Generator) -> dict:
        """{class: (bank kit, the class whose hits it plays, semitones, eq sections, gain, ring impulse
        response or None)} and the base kit's `name`, drawn from the bank."""
        s, bank = self.settings, self.bank
        base = bank.kits[rng.integers(len(bank.kits))]

        def source(code):
            have = bank.kits_with(code)
            return base if base in have and rng.random() >= s.swap else have[rng.integers(len(have))]

        kit = {"name": base}
        for code in CLASSES:
            if code not in TOMS:
                kit[code] = (source(code), code, rng.uniform(-s.pitch, s.pitch))
        toms = source("TT_HFT")
        shift = rng.uniform(-s.tom_pitch, s.tom_pitch)
        kit["TT_HFT"] = (toms, "TT_HFT", shift + rng.uniform(-0.5, 0.5))
        kit["TT_HMT"] = (toms, "TT_HMT", shift + rng.uniform(-0.5, 0.5))
        if "TT_LMT" in bank.hits[toms] and rng.random() >= s.derived_mid_tom:
            kit["TT_LMT"] = (toms, "TT_LMT", shift + rng.uniform(-0.5, 0.5))
        elif rng.random() < 0.5:
            kit["TT_LMT"] = (toms, "TT_HMT", shift - rng.uniform(2, 5))
        else:
            kit["TT_LMT"] = (toms, "TT_HFT", shift + rng.uniform(2, 5))
        paired = s.hat_pair > 0 and rng.random() < s.hat_pair and "HH_OHH" in bank.hits[kit["HH_CHH"][0]]
        if paired:
            kit["HH_OHH"] = (kit["HH_CHH"][0], "HH_OHH", kit["HH_CHH"][2])
        for code in CLASSES:
            name, played, semitones = kit[code]
            gain = 10 ** (rng.uniform(*s.class_gain_db) / 20)
            eq = kit["HH_CHH"][3] if paired and code == "HH_OHH" else random_eq(rng, s.eq_db)  # CHH comes first
            kit[code] = (name, played, semitones, eq, gain, None)
        if s.open_hat_ring > 0 and rng.random() < s.open_hat_ring:
            ring = room_response(rng, rng.uniform(1.0, 3.0), rng.uniform(0.3, 0.7))
            kit["HH_OHH"] = kit["HH_OHH"][:5] + (ring,)
        return kit

    def render(self, kit: dict, notes: list, start: float) -> np.ndarray:
        """Stems (K, n) of the crop: each class's hits at their notes, pitched, equalised, levelled and rung."""
        first = int(round(start * SAMPLE_RATE))
        stems = np.zeros((len(CLASSES), self.n), dtype=np.float32)
        for c, code in enumerate(CLASSES):
            name, played, semitones, eq, gain, ring = kit[code]
            by_layer = {}
            for t, note_code, velocity in notes:
                at = int(round(t * SAMPLE_RATE)) - first
                if note_code == code and at < self.n:
                    layer, scale = self.bank.hit(name, played, velocity)
                    by_layer.setdefault(layer, []).append((at, scale))
            for layer, hits in by_layer.items():
                needed = self.n - max(0, min(at for at, _ in hits))  # samples of the shot the crop can hold
                shot = self.bank.hits[name][played][layer][1]
                shot = pitch_shift(shot[:int(needed * 2 ** (semitones / 12)) + 2], semitones)
                for at, scale in hits:
                    a, b = max(0, at), min(self.n, at + len(shot))
                    if b > a:
                        stems[c, a:b] += scale * shot[a - at:b - at]
            if by_layer:
                stems[c] = gain * signal.sosfilt(eq, stems[c])
                if ring is not None:
                    stems[c] = signal.fftconvolve(stems[c], ring)[:self.n]
        return stems

    def record(self, rng: np.random.Generator, mix: np.ndarray) -> np.ndarray:
        """The mixture through the drawn recording conditions (room, compression, saturation, noise)."""
        s = self.settings
        draws = rng.random(4)
        if draws[0] < s.room:
            ir = room_response(rng, rng.uniform(0.2, 1.2), rng.uniform(0.1, 0.5))
            mix = signal.fftconvolve(mix, ir)[:len(mix)]
        peak = float(np.abs(mix).max()) or 1.0
        if draws[1] < s.compress:
            mix = mix * compressor_gain(mix, 20 * np.log10(peak) - rng.uniform(6, 24), rng.uniform(2, 8),
                                        rng.uniform(0.001, 0.01), rng.uniform(0.05, 0.3))
            peak = float(np.abs(mix).max()) or 1.0
        if draws[2] < s.saturate:
            drive = rng.uniform(1, 4)
            mix = np.tanh(drive * mix / peak) / np.tanh(drive) * peak
        if draws[3] < s.noise:
            rms = float(np.sqrt(np.mean(mix ** 2)))
            mix = mix + rng.standard_normal(len(mix)) * rms * 10 ** (-rng.uniform(35, 70) / 20)
        return mix

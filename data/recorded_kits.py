"""Recorded drum kits as one-shots per class and velocity: SF2 soundfonts and Hydrogen kits.

A kit list (`configs/recorded_kits.yaml`) names each kit's sounds and, per class, an SF2 note
or a Hydrogen instrument. `KitSounds(entry, velocities)` loads one entry; whose `hit(code,
velocity)` is a mono 44.1 kHz one-shot that starts at its attack, so a hit placed at an
annotated time sounds at that time:

- SF2: FluidSynth renders each needed velocity of a note alone (FluidSynth starts notes on
  64-sample block boundaries, so the render is cut at its first non-zero sample, where the
  note begins). Drum-kit soundfonts whose kits are bank-0 presets are played on MIDI channel 1;
  a General MIDI soundfont, whose bank 0 holds melodic instruments, needs `channel: 10`, the
  percussion channel (on channel 1 its notes would be piano notes).
- Hydrogen: the instrument's velocity layer for the velocity (its `min`..`max` range), times
  velocity, layer gain, instrument gain and volume, as Hydrogen's sampler plays it.

Either way the hit is downmixed to mono, resampled to 44.1 kHz, trimmed before its attack
(`PRE_ROLL` before the first sample within `ATTACK_DB` of its early peak) and after its
decay below `TAIL_DB`, and
scaled by one gain per kit that brings the kick at full velocity to a peak of `KICK_PEAK`.
"""

import functools
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from idm.audio import read_audio
from idm.constants import CLASSES, SAMPLE_RATE
from idm.midi import smf_bytes

ATTACK_DB = -30.0
"""A hit's attack is its first sample within this many dB of the peak of its first 20 ms."""
PRE_ROLL = 0.00025
"""Seconds kept before the attack."""
TAIL_DB = -80.0
"""A hit ends after its last sample within this many dB of its peak."""
KICK_PEAK = 0.5
"""Peak of each kit's kick at velocity 127, after the kit's gain."""
SF2_SLOT_SECONDS = 9.0
"""Seconds each SF2 hit is given to ring out before the next one is rendered (the longest rings ~8 s)."""


class KitError(ValueError):
    """A kit that cannot be loaded, in one line naming the kit and the problem."""


@dataclass(frozen=True)
class KitSource:
    """One entry of the kit list: where its sounds are and which of them plays each class."""

    name: str
    group: str
    package: str
    license: str
    kind: str
    """'sf2' or 'hydrogen'."""
    path: str
    classes: dict
    """{class code: SF2 note (int) or Hydrogen instrument name}; a class without an entry is lacking."""
    channel: int = 1
    """MIDI channel (1 to 16) an SF2 kit is played on: 10 for a General MIDI soundfont's drums."""

    @property
    def lacks(self) -> tuple:
        return tuple(c for c in CLASSES if c not in self.classes)


def read_kit_list(path) -> list:
    """The kits of a kit list YAML file, in file order."""
    path = Path(path)
    entries = (yaml.safe_load(path.read_text()) or {}).get("kits") or []
    kits = []
    for i, entry in enumerate(entries):
        kinds = [k for k in ("sf2", "hydrogen") if k in entry]
        if len(kinds) != 1 or "name" not in entry or entry.get("group") not in ("train", "test"):
            raise KitError(f"{path}: kit {i + 1} needs a name, a group (train or test) and one of sf2 or hydrogen")
        unknown = [c for c in entry.get("classes", {}) if c not in CLASSES]
        if unknown:
            raise KitError(f"{path}: kit {entry['name']}: unknown classes {', '.join(unknown)}")
        channel = entry.get("channel", 1)
        if not isinstance(channel, int) or not 1 <= channel <= 16:
            raise KitError(f"{path}: kit {entry['name']}: channel must be a MIDI channel from 1 to 16, not {channel!r}")
        kits.append(KitSource(entry["name"].lower(), entry["group"], entry.get("package", ""),
                              entry.get("license", ""), kinds[0], str(entry[kinds[0]]), dict(entry["classes"]),
                              channel))
    if not kits:
        raise KitError(f"{path}: no kits listed")
    return kits


def attack_and_tail(hit: np.ndarray) -> np.ndarray:
    """The hit from PRE_ROLL before its attack to its tail (the last sample within TAIL_DB of its peak).

    The attack is the first sample within ATTACK_DB of the peak of the 20 ms that start at it.
    """
    magnitude = np.abs(hit)
    peak = magnitude.max(initial=0.0)
    if peak == 0:
        return hit[:0]
    audible = magnitude >= peak * 10 ** (TAIL_DB / 20)
    rise = attack = int(np.argmax(audible))
    while True:  # the 20 ms after the attack hold the peak the attack is measured against
        early_peak = magnitude[attack:attack + int(0.020 * SAMPLE_RATE)].max()
        found = rise + int(np.argmax(magnitude[rise:] >= early_peak * 10 ** (ATTACK_DB / 20)))
        if found == attack:
            break
        attack = found
    end = len(hit) - int(np.argmax(audible[::-1]))
    return hit[max(0, attack - round(PRE_ROLL * SAMPLE_RATE)):end]


def render_sf2_note(sf2: str, note: int, velocities, slot_seconds: float = SF2_SLOT_SECONDS,
                    channel: int = 1) -> dict:
    """{velocity: mono 44.1 kHz hit} of one SF2 note on MIDI `channel` (1 to 16), rendered alone by
    FluidSynth at each velocity, `slot_seconds` apart (long enough for the note to ring out)."""
    if shutil.which("fluidsynth") is None:
        raise KitError(f"{sf2}: rendering a soundfont needs FluidSynth (Debian: apt-get install fluidsynth)")
    velocities = sorted(set(int(v) for v in velocities))
    beat_us, ticks = 500_000, 480
    slot = int(np.ceil(slot_seconds * 2)) * ticks  # whole beats a slot: two beats a second
    ch = channel - 1
    events = [(0, 0, bytes([0xB0 | ch, 0, 0])), (0, 0, bytes([0xC0 | ch, 0]))]  # bank 0, program 0
    for i, v in enumerate(velocities):
        events += [(i * slot, 2, bytes([0x90 | ch, note, v])),
                   (i * slot + slot - ticks // 4, 1, bytes([0x80 | ch, note, 0]))]
    with tempfile.TemporaryDirectory() as tmp:
        midi, wav = Path(tmp) / "hits.mid", Path(tmp) / "hits.wav"
        midi.write_bytes(smf_bytes(events, [(0, beat_us)], "hits", ticks))
        proc = subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "1.0", "-r", str(SAMPLE_RATE),
                               "-F", str(wav), sf2, str(midi)], capture_output=True, text=True)
        if proc.returncode != 0 or not wav.is_file():
            raise KitError(f"{sf2}: FluidSynth failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
        audio = sf.read(str(wav), dtype="float32", always_2d=True)[0].mean(axis=1)
    hits, length = {}, slot * SAMPLE_RATE // (2 * ticks)
    for i, v in enumerate(velocities):
        slot_audio = audio[i * length:(i + 1) * length]
        nonzero = np.flatnonzero(slot_audio)
        if nonzero.size == 0:
            raise KitError(f"{sf2}: note {note} at velocity {v} renders silence (is it a drum-kit soundfont?)")
        hits[v] = attack_and_tail(slot_audio[nonzero[0]:])
    return hits


@dataclass(frozen=True)
class Layer:
    """One velocity layer of a Hydrogen instrument."""

    low: float
    high: float
    gain: float
    path: str


def _text(element, tag: str, namespace: str, default: str = "") -> str:
    found = element.find(namespace + tag)
    return found.text.strip() if found is not None and found.text else default


def hydrogen_instruments(folder) -> dict:
    """{instrument name: (gain (volume x gain), [Layer])} of a Hydrogen kit folder's drumkit.xml."""
    xml = Path(folder) / "drumkit.xml"
    if not xml.is_file():
        raise KitError(f"{folder}: no drumkit.xml (is hydrogen-drumkits installed?)")
    root = ET.parse(xml).getroot()
    ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
    instruments = {}
    for instrument in root.iter(ns + "instrument"):
        gain = float(_text(instrument, "volume", ns, "1")) * float(_text(instrument, "gain", ns, "1"))
        layers = [Layer(float(_text(layer, "min", ns, "0")), float(_text(layer, "max", ns, "1")),
                        float(_text(layer, "gain", ns, "1")), str(Path(folder) / _text(layer, "filename", ns)))
                  for layer in instrument.iter(ns + "layer")]
        if not layers and _text(instrument, "filename", ns):
            layers = [Layer(0.0, 1.0, 1.0, str(Path(folder) / _text(instrument, "filename", ns)))]
        instruments[_text(instrument, "name", ns)] = (gain, sorted(layers, key=lambda layer: layer.low))
    return instruments


def hydrogen_layer(layers: list, velocity: int) -> Layer:
    """The layer Hydrogen plays at MIDI `velocity`: the first whose range holds it, else the nearest."""
    v = velocity / 127
    for layer in layers:
        if layer.low <= v <= layer.high:
            return layer
    return min(layers, key=lambda layer: min(abs(v - layer.low), abs(v - layer.high)))


class KitSounds:
    """A recorded kit's one-shots: `hit(code, velocity)` (mono 44.1 kHz float32, from its attack)."""

    def __init__(self, source: KitSource, velocities: dict):
        self.source = source
        self.name = source.name
        self._hits = {}
        if source.kind == "sf2":
            if not Path(source.path).is_file():
                raise KitError(f"{source.name}: no soundfont {source.path} (apt-get install {source.package})")
            for code, note in source.classes.items():
                loudest = render_sf2_note(source.path, int(note), [127], channel=source.channel)
                ring = len(loudest[127]) / SAMPLE_RATE + 0.5  # softer hits ring no longer than the loudest
                self._hits[code] = {**render_sf2_note(source.path, int(note), set(velocities.get(code, ())), ring,
                                                      source.channel), **loudest}
        else:
            instruments = hydrogen_instruments(source.path)
            for code, name in source.classes.items():
                if name not in instruments or not instruments[name][1]:
                    raise KitError(f"{source.name}: no instrument {name!r} with samples in {source.path}")
                gain, layers = instruments[name]
                self._hits[code] = {v: self._hydrogen_hit(layers, gain, v)
                                    for v in set(velocities.get(code, ())) | {127}}
        self.gain = KICK_PEAK / float(np.abs(self._hits["KD"][127]).max()) if "KD" in self._hits else 1.0

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def _layer_audio(path: str) -> np.ndarray:
        try:
            return read_audio(path).numpy()
        except (OSError, RuntimeError, ValueError) as exc:
            raise KitError(f"{path}: unreadable sample ({exc})") from None

    def _hydrogen_hit(self, layers: list, gain: float, velocity: int) -> np.ndarray:
        layer = hydrogen_layer(layers, velocity)
        return attack_and_tail(self._layer_audio(layer.path) * (velocity / 127 * layer.gain * gain))

    def hit(self, code: str, velocity: int) -> np.ndarray:
        """The kit's one-shot of class `code` at MIDI `velocity` (one loaded for it)."""
        return (self._hits[code][int(velocity)] * self.gain).astype(np.float32)

    def has(self, code: str) -> bool:
        return code in self._hits


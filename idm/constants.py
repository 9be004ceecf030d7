"""Facts shared by the whole toolkit: one source of truth for classes, kits and rates.

Every other module imports these names; none repeats the values.
"""

SAMPLE_RATE = 44100
"""Audio sample rate of the model, in Hz (mono)."""

HOP_LENGTH = 256
"""Hop of the log-mel front end, in samples; also the sequencer's upsampling factor."""

FRAME_RATE = SAMPLE_RATE / HOP_LENGTH
"""Frames per second of the model's onset grid (172.265625 Hz)."""

CLASSES = ("CY_CR", "CY_RD", "HH_CHH", "HH_OHH", "KD", "SD", "TT_HFT", "TT_HMT", "TT_LMT")
"""The nine drum classes, in the channel order of every class-sized tensor."""

CLASS_NAMES = {
    "CY_CR": "crash",
    "CY_RD": "ride",
    "HH_CHH": "hihat_closed",
    "HH_OHH": "hihat_open",
    "KD": "kick",
    "SD": "snare",
    "TT_HFT": "tom_low",
    "TT_HMT": "tom_high",
    "TT_LMT": "tom_mid",
}
"""Readable stem name of each class code, used for file names."""


def class_code(name: str):
    """The class code of a code (`KD`) or a readable stem name (`kick`); None if neither."""
    code = {v: k for k, v in CLASS_NAMES.items()}.get(name, name)
    return code if code in CLASSES else None


SINGLE_HIT_CLASSES = {
    "kick": "KD",
    "snare": "SD",
    "hihat_closed": "HH_CHH",
    "hihat_open": "HH_OHH",
    "hi_tom": "TT_HFT",  # swapped against StemGMD's stem folders (where hi_tom is TT_HMT)
    "low_tom": "TT_HMT",  # swapped against StemGMD's stem folders (where low_tom is TT_HFT)
    "mid_tom": "TT_LMT",
    "crash_left": "CY_CR",
    "ride": "CY_RD",
}
"""StemGMD's single-hit file names (`<name>-<n>.wav`) -> class code, with the single hits' own tom
naming: `hi_tom` is the high floor tom TT_HFT and `low_tom` the high tom TT_HMT."""


GM_NOTES = {
    "KD": 36,
    "SD": 38,
    "HH_CHH": 42,
    "HH_OHH": 46,
    "TT_HFT": 43,
    "TT_LMT": 47,
    "TT_HMT": 50,
    "CY_CR": 49,
    "CY_RD": 51,
}
"""General MIDI drum note written for each class (channel 10)."""

GMD_PITCH_TO_CLASS = {
    36: "KD",
    38: "SD", 37: "SD", 40: "SD",
    42: "HH_CHH", 22: "HH_CHH", 44: "HH_CHH",
    46: "HH_OHH", 26: "HH_OHH",
    43: "TT_HFT", 58: "TT_HFT",
    47: "TT_LMT", 45: "TT_LMT",
    50: "TT_HMT", 48: "TT_HMT",
    49: "CY_CR", 52: "CY_CR", 55: "CY_CR", 57: "CY_CR",
    51: "CY_RD", 53: "CY_RD", 59: "CY_RD",
}
"""The Groove MIDI Dataset's 22 drum pitches folded into the nine classes."""

TRAIN_KITS = ("brooklyn", "heavy", "east_bay", "retro_rock", "socal", "portland")
"""StemGMD training kits, in the order of the released kit classifier's outputs."""

TEST_KITS = ("bluebird", "detroit_garage", "roots", "motown_revisited")
"""StemGMD kits held out from training (kit ids 6..9)."""

ONE_SHOT_SECONDS = 1.0
"""Length of the synthesised one-shot samples of the released model."""

STEM_GROUPS = {
    "kick": ("KD",),
    "snare": ("SD",),
    "toms": ("TT_HFT", "TT_LMT", "TT_HMT"),
    "hihat": ("HH_CHH", "HH_OHH"),
    "cymbals": ("CY_CR", "CY_RD"),
}
"""LarsNet's five stems as sums of the nine classes (`idm separate --merge 5`, 5-group scores)."""

"""Model hyper-parameters: every size of the IDM network lives in one dataclass."""

from dataclasses import asdict, dataclass, fields

from .constants import CLASSES, SAMPLE_RATE, TRAIN_KITS


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of an Inverse Drum Machine; the defaults are the released model's."""

    n_mels: int = 128
    n_fft: int = 1024
    encoder_dims: tuple = (4, 8, 16, 32)
    encoder_depths: tuple = (3, 3, 9, 3)
    head_kernel: int = 7
    n_kits: int = len(TRAIN_KITS)
    kit_names: tuple = ()
    """Names of the kit classifier's outputs, in order; empty: unnamed (`kit0`, `kit1`, ...)."""
    synth_channels: int = 48
    synth_layers: int = 12
    synth_kernel: int = 15
    dilation_base: int = 2
    one_shot_length: int = SAMPLE_RATE
    envelope_scale: float = 20.0
    gain_hidden: int = 8
    onset_context: int = 0
    """Width of the track context (`idm.encoder.TrackContext`) added to the onset logits; 0 (the
    released model): none."""
    onset_spectral: int = 0
    """Width of the spectral onset branch (`idm.encoder.SpectralOnsets`) added to the onset logits;
    0 (the released model): none."""
    onset_spectral_level: bool = True
    """Whether the spectral onset branch reads each band's level beside its rise; False: the rise
    alone (less of a kit's steady spectrum)."""
    onset_spectral_relative: bool = False
    """Whether the spectral onset branch reads each band's level relative to that band's mean over the
    input (the track at inference, the crop in training): blind to a fixed equaliser, as the rise
    alone is, but keeping how each frame's spectrum differs from the track's."""
    onset_delta: tuple = ()
    """Peak-picking threshold `delta` per class, in `CLASSES` order (chosen on a validation split:
    `python -m trainer.thresholds`); empty: the released 0.2 for every class."""
    mid_tom_gap: float = 0.0
    """Pitch gap in semitones at which a track's mid tom is split off its low or high tom after peak
    picking (`idm.tom_order`); 0 (the released model): never."""

    def __post_init__(self):
        object.__setattr__(self, "encoder_dims", tuple(self.encoder_dims))
        object.__setattr__(self, "encoder_depths", tuple(self.encoder_depths))
        object.__setattr__(self, "kit_names", tuple(str(n).lower() for n in self.kit_names))
        object.__setattr__(self, "onset_delta", tuple(float(d) for d in self.onset_delta))
        if self.onset_delta and len(self.onset_delta) != len(CLASSES):
            raise ValueError(f"onset_delta lists {len(self.onset_delta)} thresholds, one per class ({len(CLASSES)}) expected")
        if self.kit_names and len(self.kit_names) != self.n_kits:
            raise ValueError(f"kit_names lists {len(self.kit_names)} kits, n_kits is {self.n_kits}")
        if len(set(self.kit_names)) != len(self.kit_names):
            raise ValueError(f"kit_names lists a kit twice: {', '.join(self.kit_names)}")
        if not self.mid_tom_gap >= 0:
            raise ValueError(f"mid_tom_gap {self.mid_tom_gap}: semitones, 0 for none")
        if self.onset_context < 0:
            raise ValueError(f"onset_context {self.onset_context}: a width, 0 for none")
        if self.onset_spectral < 0:
            raise ValueError(f"onset_spectral {self.onset_spectral}: a width, 0 for none")
        if len(self.encoder_dims) != len(self.encoder_depths):
            raise ValueError("encoder_dims and encoder_depths must have the same length")

    @property
    def n_classes(self) -> int:
        return len(CLASSES)

    @property
    def feature_dim(self) -> int:
        return self.encoder_dims[-1]

    @property
    def kits(self) -> tuple:
        """The kit names, `kit<i>` where unnamed."""
        return self.kit_names or tuple(f"kit{i}" for i in range(self.n_kits))

    @property
    def cond_dim(self) -> int:
        """Size of the synthesiser's conditioning vector: class one-hot + kit probabilities."""
        return self.n_classes + self.n_kits

    def to_dict(self) -> dict:
        """A JSON-able dict of the config."""
        d = asdict(self)
        d["encoder_dims"] = list(self.encoder_dims)
        d["encoder_depths"] = list(self.encoder_depths)
        d["kit_names"] = list(self.kit_names)
        d["onset_delta"] = list(self.onset_delta)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Build a config from a dict, rejecting unknown keys by name."""
        return dataclass_from_dict(cls, d)


def dataclass_from_dict(cls, d: dict):
    """`cls(**d)` for a config dataclass, with unknown keys named in the ValueError."""
    unknown = sorted(set(d) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown model config keys: {', '.join(unknown)}")
    return cls(**d)

"""Training configuration: one dataclass per YAML section, loaded from a file plus `key=value` overrides.

A config file has a `task` (`idm`, the default; `transcription`: only the encoder and its
heads, see `trainer.tasks`; or `larsnet`: the baseline) and up to seven sections (`model`,
`data`, `objective`, `optim`, `train`, `log`, `mix`); anything left out keeps the defaults
below, which are the released model's training. The `model` section is the task's:
`idm.config.ModelConfig` or `baselines.larsnet.LarsNetConfig`; LarsNet uses only the gain
settings of `objective`. `mix` (`data.mixing.MixConfig`) mixes training crops on the fly from
a kit bank when `mix.bank` is set.
Overrides on the command line address a key by its dotted path, for example
`train.steps=1000` or `optim.betas=[0.9,0.99]`; values are read as YAML.
"""

from dataclasses import asdict, dataclass, field, fields, replace

import yaml

from baselines.larsnet.model import LarsNetConfig
from data.datasets import SAMPLINGS
from data.kit_table import find_kit_table
from data.mixing import MixConfig
from idm.config import ModelConfig
from idm.constants import CLASS_NAMES, class_code


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the key."""


@dataclass
class DataConfig:
    folder: str = "data/stemgmd"
    """A folder written by `python -m data.preprocess` (manifest, annotations, cache)."""
    train_split: str = "train_train_kits"
    val_split: str = "val_train_kits"
    val_kits: tuple = ()
    """Validate on the items of these kits only (empty: every kit of `val_split`); with
    `mix.hold_out`, a kit the model never hears."""
    crop_seconds: float = 6.0
    sampling: str = "items"
    """`items`: an epoch is one random crop of every training item, in a fresh order (the
    released run); `duration`: items drawn in proportion to their duration."""
    crops_per_epoch: int = 0
    """Crops in one epoch; 0: one per item (`items`) or as many as fit end to end (`duration`)."""
    val_crops: int = 1750
    """Fixed random crops of the validation split, the same at every validation: with `items`
    one per item, at most this many (0: every item); with `duration` this many."""
    workers: int = 4
    """DataLoader worker processes per rank."""


@dataclass
class ObjectiveConfig:
    teacher_forcing: str = "sigmoid"
    """`sigmoid`: drive the decoder with sigmoid(grid) * velocity, as the released model was
    trained; `plain`: grid * velocity."""
    true_kit_conditioning: bool = False
    """False: condition the synthesiser on the kit classifier's probabilities, as the released
    model was trained; true: on each crop's true kit (one-hot) where the model knows it, as
    `idm separate --kit` does at inference. The crops of a step then share one noise block, so
    the synthesiser runs once per kit in the batch, not once per crop (fine-tuning: a new
    kit's conditioning trains from the first step, and a step costs far less)."""
    onset_weight: float = 10.0
    kit_weight: float = 1.0
    """IDM: the kit cross-entropy; the transcription task: the KL divergence from the teacher's kit
    probabilities."""
    distill_weight: float = 1.0
    """The transcription task: weight of the velocity and track-gain distances to the teacher."""
    onset_class_weight: dict = field(default_factory=dict)
    """The transcription task: weight of a class's onset frames in the onset BCE, by class code or
    name (`{hihat_open: 4}`); a class not named weighs 1. Validation reports the plain BCE."""
    gain_probability: float = 0.8
    """Probability that a training crop is multiplied by a random gain."""
    gain_min: float = 0.3
    gain_max: float = 1.0

    def __post_init__(self):
        named = {}
        for name, weight in self.onset_class_weight.items():
            code = class_code(name)
            if code is None:
                hint = " (YAML: a space after the colon, or the class quoted: {\"crash\":3})" if ":" in str(name) else ""
                raise ValueError(f"onset_class_weight: {name!r} is not a class{hint} "
                                 f"(classes: {', '.join(CLASS_NAMES.values())})")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
                raise ValueError(f"onset_class_weight: the weight of {name} must be a positive number, got {weight!r}")
            if code in named:
                raise ValueError(f"onset_class_weight: {named[code]} and {name} name the same class")
            named[code] = name


@dataclass
class OptimConfig:
    optimizer: str = "adam"
    """`adam` or `adamw`."""
    lr: float = 5e-3
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    clip_grad_norm: float = 1.0
    """Maximum global gradient norm; 0 turns clipping off."""
    schedule: str = "constant"
    """`constant`, `cosine` or `linear` decay to `min_lr` at the last step, after the warm-up."""
    warmup_steps: int = 0
    min_lr: float = 0.0


@dataclass
class RunConfig:
    steps: int = 400_000
    batch_size: int = 7
    """Crops per optimiser step, over all ranks and accumulation micro-steps."""
    accumulate: int = 1
    """Micro-steps per optimiser step (gradient accumulation)."""
    seed: int = 1964
    amp: str = "off"
    """`off` (fp32, as released), `auto` (bf16 where the GPU supports it, else fp16 with a
    gradient scaler; off on the CPU), `bf16` or `fp16`."""
    compile: bool = False
    """Compile the model with `torch.compile`."""
    recompute_synth: bool = False
    """IDM: recompute the synthesiser's blocks in backward instead of storing their activations:
    the same gradients, about half the peak memory, about a quarter more time per step
    (docs/training.md). Lets the released batch of 7 train in fp32 on a 24 GB machine."""
    device: str = "auto"
    """`auto` (one CUDA device per local rank when there are GPUs, else the CPU), `cuda` or `cpu`."""
    init: str = ""
    """Fine-tuning: start from this model (a released name or a checkpoint path) instead of random
    weights; its kits are kept and the training split's other kits added (see `trainer.finetune`).
    The model section must describe its architecture (leave it out for the released model)."""
    trainable: str = "all"
    """What trains: `all`, `no-encoder` (the encoder is frozen), `conditioning` (only the kit
    classifier and the layers that read the synthesiser's conditioning: FiLM and envelope), or
    `analysis` (the encoder and every head that reads it, not the synthesiser: the transcription task)."""


@dataclass
class LogConfig:
    out: str = "runs/idm_stemgmd"
    """Run folder: `config.yaml`, `checkpoints/{last,best}.pt`, `tensorboard/`."""
    every: int = 50
    """Steps between TensorBoard scalar points."""
    val_every: int = 0
    """Steps between validations; 0: once per epoch."""
    checkpoint_every: int = 0
    """Steps between writes of `last.pt`; 0: once per epoch."""
    media_clips: int = 3
    """Validation clips whose audio and onset images go to TensorBoard."""
    media_every: int = 20000
    """Steps between media logs (also at the first validation); 0 turns them off."""


CHOICES = {
    ("data", "sampling"): SAMPLINGS,
    ("objective", "teacher_forcing"): ("sigmoid", "plain"),
    ("optim", "optimizer"): ("adam", "adamw"),
    ("optim", "schedule"): ("constant", "cosine", "linear"),
    ("train", "amp"): ("auto", "bf16", "fp16", "off"),
    ("train", "device"): ("auto", "cuda", "cpu"),
    ("train", "trainable"): ("all", "no-encoder", "conditioning", "analysis"),
}
POSITIVE = {("data", "crop_seconds"), ("train", "steps"), ("train", "batch_size"), ("train", "accumulate"),
            ("log", "every"), ("optim", "lr")}
NON_NEGATIVE = {("data", "crops_per_epoch"), ("data", "val_crops"), ("log", "val_every"),
                ("log", "checkpoint_every"), ("model", "n_kits")}
"""0 means a default (see each key; model.n_kits 0: the training kits of data.folder's kit table)."""


MODEL_CONFIGS = {"idm": ModelConfig, "transcription": ModelConfig, "larsnet": LarsNetConfig}
"""The `model` section's dataclass of each task."""


@dataclass
class Config:
    task: str = "idm"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: RunConfig = field(default_factory=RunConfig)
    log: LogConfig = field(default_factory=LogConfig)
    mix: MixConfig = field(default_factory=MixConfig)

    def to_dict(self) -> dict:
        """The task, then plain lists, numbers and strings section by section (YAML- and checkpoint-safe)."""
        return {"task": self.task, **{name: _plain(asdict(getattr(self, name))) for name in SECTIONS}}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _coerce(value, default, where: str):
    """`value` as the type of the field's default (ints widen to floats, lists become tuples)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or (default and not value):  # an empty default: none is fine
            raise ConfigError(f"{where}: expected a non-empty list, got {value!r}")
        return tuple(_coerce(v, default[0], where) for v in value) if default else tuple(value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _section(cls, values: dict, name: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{name}: expected a mapping of keys to values, got {values!r}")
    defaults = {f.name: getattr(cls(), f.name) for f in fields(cls)}
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown key {name}.{unknown[0]} (keys of {name}: {', '.join(defaults)})")
    kwargs = {}
    for key, value in values.items():
        where = f"{name}.{key}"
        value = _coerce(value, defaults[key], where)
        if (name, key) in CHOICES and value not in CHOICES[name, key]:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(CHOICES[name, key])}")
        if (name, key) in POSITIVE and not value > 0:
            raise ConfigError(f"{where}: must be positive, got {value!r}")
        if (name, key) in NON_NEGATIVE and value < 0:
            raise ConfigError(f"{where}: must be 0 or more, got {value!r}")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from None


def apply_override(raw: dict, override: str) -> None:
    """Set `section.key=value` (value read as YAML) in the raw config mapping."""
    path, sep, text = override.partition("=")
    parts = path.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise ConfigError(f"override {override!r}: expected section.key=value, e.g. train.steps=1000")
    section, key = parts
    if section not in SECTIONS:
        raise ConfigError(f"override {override!r}: unknown section {section!r} (sections: {', '.join(SECTIONS)})")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"override {override!r}: the value is not valid YAML") from None
    raw.setdefault(section, {})
    if not isinstance(raw[section], dict):
        raise ConfigError(f"override {override!r}: section {section} is not a mapping")
    raw[section][key] = value


SECTIONS = {f.name: f.default_factory for f in fields(Config) if f.name != "task"}


def config_from_dict(raw: dict, source: str = "config") -> Config:
    """Build and check a Config from a mapping of sections."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(SECTIONS) - {"task"})
    if unknown:
        raise ConfigError(f"{source}: unknown section {unknown[0]!r} (sections: task, {', '.join(SECTIONS)})")
    task = raw.get("task", "idm")
    if task not in MODEL_CONFIGS:
        raise ConfigError(f"{source}: task {task!r} is not one of {', '.join(MODEL_CONFIGS)}")
    classes = {**SECTIONS, "model": MODEL_CONFIGS[task]}
    return Config(task, **{name: _section(cls, raw.get(name) or {}, name) for name, cls in classes.items()})


def with_data_kits(config: Config) -> Config:
    """The config with the kits of the data (`kits.csv` beside the manifest; StemGMD's without one)
    named: `model.n_kits: 0` becomes the number of training kits, and unnamed kits take the names
    of the training kits, in kit id order (kit i is the training kit with id i; `kit<i>` if none)."""
    if config.task != "idm" or config.model.kit_names:
        return config
    try:
        table = find_kit_table(config.data.folder)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"model.n_kits 0 reads the kits of data.folder: {exc}") from None
    train = sorted((k for k in table.kits.values() if k.group == "train"), key=lambda k: k.kit_id)
    if not config.model.n_kits:
        names = [k.name for k in train]
    else:
        by_id = {k.kit_id: k.name for k in train}
        names = [by_id.get(i, f"kit{i}") for i in range(config.model.n_kits)]
    if not names:
        raise ConfigError(f"model.n_kits 0: the kit table of {config.data.folder} has no training kits")
    if len(set(names)) != len(names):  # a kit named like a placeholder: keep the kits unnamed
        return config
    return replace(config, model=replace(config.model, n_kits=len(names), kit_names=tuple(names)))


def load_config(path=None, overrides=()) -> Config:
    """The config of `path` (a YAML file; None: all defaults) with `overrides` applied."""
    raw = {}
    if path is not None:
        try:
            with open(path) as f:
                raw = yaml.safe_load(f) or {}
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config ({exc.strerror or exc})") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{path}: not valid YAML{where}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    for override in overrides:
        apply_override(raw, override)
    return config_from_dict(raw, str(path or "config"))

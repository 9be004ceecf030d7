"""The systems `make eval` compares, behind one interface: a track in, estimated stems out.

A system's `__call__(track)` returns an `Estimate`: `synth`, stems it synthesised (the
evaluator ratio-masks the mixture with them, per class space, to get the `masked` output),
and/or `separated`, stems it separated itself; plus the onsets it transcribed, or None
when it has none of its own to score. It returns None for a track it cannot process, and
says why through `skip_reason` (a system that cannot run at all, e.g. LarsNet without its
weights, gives the same reason for every track and is reported as unavailable).

Names (`system_names()` lists them; `describe(name)` says what information each one uses):

- `idm-44-train-kits` or any other released model name, or a checkpoint path from our
  trainer (e.g. `runs/x/checkpoints/best.pt`): IDM with its own transcription;
- `<model>+gt-onsets`: IDM driven by the ground-truth onsets (the "corrected transcription"
  setting); its onsets are the reference's, so they are not scored;
- `<model>+gt-kit`: IDM with the ground-truth kit label instead of its kit classifier
  (matched by name; tracks of kits the model does not know are skipped);
- `<model>+gt-one-shots`: IDM with the recorded one-shots of the track's kit in place of the
  synthesised ones (the authors' ablation), read from a one-shot folder per kit
  (`ONE_SHOTS/<kit>/`, as `make kits-data` writes them; see `idm.one_shots`);
- `<model>+tom-pitch`: IDM with the mid tom split off by pitch within each track
  (`idm.tom_order`, at `MID_TOM_GAP` semitones) whatever the model's own `mid_tom_gap`;
- variants combine: `<model>+gt-onsets+gt-one-shots`;
- `nmfd-1a`, `nmfd-1b`, `nmfd-2`, `nmfd-3`, `nmfd-4`: the authors' NMFD cases
  (`baselines.nmf`); 1a, 1b and 2 take one-shot templates of the track's kit from a template
  file (`baselines.nmf.templates`), 1a, 1b and 3 the true onsets;
- `larsnet`, `larsnet+wiener` (alpha-Wiener, alpha 2): LarsNet with the authors' weights
  (`baselines.larsnet.weights`), or `larsnet:PATH` / `larsnet+wiener:PATH` with a checkpoint
  of our trainer or a folder of the released files; five stems, scored in the 5-group space;
- `oracle-irm`: the ideal ratio mask, the true stems used as synthetic stems (upper bound).
"""

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from baselines import nmf
from baselines.larsnet import WeightsError, load_larsnet
from baselines.nmf.templates import TemplateBank
from baselines.larsnet.weights import find_released
from data.datasets import kit_label
from idm.checkpoint import PRETRAINED, load_model, resolve_checkpoint, sha256_of
from idm.one_shots import OneShotError, read_one_shots
from idm.separate import detect_onsets, separate
from idm.tom_order import MID_TOM_GAP

from .tracks import Track

ORACLES = ("oracle-irm",)
IDM_VARIANTS = ("gt-onsets", "gt-kit", "gt-one-shots", "tom-pitch")
NMFD_PREFIX = "nmfd-"
LARSNET = "larsnet"
LARSNET_VARIANTS = ("wiener",)
WIENER_ALPHA = 2.0
"""Exponent of `larsnet+wiener` (power spectra: the classic Wiener filter)."""


@dataclass
class Estimate:
    """A system's output on one track; stems are (S, T) in CLASSES order (S = 9) or the 5 groups."""

    synth: torch.Tensor = None
    separated: torch.Tensor = None
    onsets: dict = None  # {class code: times} of the system's own transcription
    score_synth: bool = True  # False where `synth` is not an output of the system (the oracle's true stems)


class OracleIRM:
    """The ideal ratio mask: the reference stems stand in for the synthetic stems."""

    def skip_reason(self, track: Track):
        return None

    def __call__(self, track: Track) -> Estimate:
        return Estimate(synth=track.stems, score_synth=False)


class IDMSystem:
    """IDM from a released name or checkpoint, optionally with ground-truth onsets, kit or one-shots."""

    def __init__(self, model: str, variants=(), seed: int = 0, one_shots=None):
        self.model_name, self.variants, self.seed = model, frozenset(variants), seed
        self.model = load_model(model)
        self.mid_tom_gap = MID_TOM_GAP if "tom-pitch" in self.variants else None
        self.one_shot_root, self.kit_one_shots = (Path(one_shots) if one_shots else None), {}

    def model_kit(self, track: Track):
        """The model's kit id of the track's kit: by name where the model names its kits, else the
        track's kit id; None when the model does not know the kit."""
        config = self.model.config
        label = kit_label(config.kit_names, track.kit) if config.kit_names else track.kit_id
        return label if 0 <= label < config.n_kits else None

    def skip_reason(self, track: Track):
        if "gt-kit" in self.variants and self.model_kit(track) is None:
            known = ", ".join(self.model.config.kits)
            return f"kit {track.kit or track.kit_id!r} is not one of the model's kits ({known})"
        if "gt-onsets" in self.variants and track.onsets is None:
            return "the track has no reference onsets"
        if "gt-one-shots" in self.variants:
            return self._one_shot_problem(track)
        return None

    def _one_shot_problem(self, track: Track):
        if self.one_shot_root is None:
            return "no one-shot folder (pass --one-shots, or put the kits' one-shots in DATA/one_shots)"
        if not track.kit:
            return "the track's kit is unknown"
        if track.kit not in self.kit_one_shots:
            try:
                self.kit_one_shots[track.kit] = read_one_shots(self.one_shot_root / track.kit)
            except OneShotError as exc:
                self.kit_one_shots[track.kit] = str(exc)
        found = self.kit_one_shots[track.kit]
        return found if isinstance(found, str) else None

    def transcribes(self) -> bool:
        """Whether the system has a transcription of its own to score."""
        return "gt-onsets" not in self.variants

    def transcription(self, track: Track) -> Estimate:
        """The system's onsets alone (no synthesis): what `--transcription-only` scores."""
        return Estimate(onsets=detect_onsets(track.mixture, self.model, mid_tom_gap=self.mid_tom_gap)[0])

    @torch.no_grad()
    def __call__(self, track: Track) -> Estimate:
        gt_onsets = "gt-onsets" in self.variants
        result = separate(track.mixture, self.model, masking="none", onsets=track.onsets if gt_onsets else None,
                          seed=self.seed, kit=self.model_kit(track) if "gt-kit" in self.variants else None,
                          one_shots=self.kit_one_shots[track.kit] if "gt-one-shots" in self.variants else None,
                          mid_tom_gap=self.mid_tom_gap)
        return Estimate(synth=result.synthesized[0], onsets=None if gt_onsets else result.onsets[0])


class NMFDSystem:
    """One of the authors' NMFD cases, with templates of the track's kit where the case needs them."""

    def __init__(self, case: str, templates=None):
        self.case = nmf.CASES[case]
        self.bank, self.problem = None, None
        if self.case.one_shot_templates:
            try:
                self.bank = TemplateBank.load(templates) if templates else None
            except ValueError as exc:
                self.problem = str(exc)
            if templates is None:
                self.problem = ("no one-shot template file: make one with `python -m baselines.nmf.templates` "
                                "and pass --nmfd-templates (or put it at DATA/nmfd_templates.pt)")

    def skip_reason(self, track: Track):
        if self.problem:
            return self.problem
        if self.bank is not None and self.bank.for_kit(track.kit) is None:
            return f"the template file has no templates for kit {track.kit!r}"
        if self.case.onset_activations and track.onsets is None:
            return "the track has no reference onsets"
        return None

    def __call__(self, track: Track) -> Estimate:
        templates = self.bank.for_kit(track.kit) if self.bank is not None else None
        stems = nmf.separate(track.mixture, self.case.name, templates, track.onsets)
        return Estimate(separated=stems)


class LarsNetSystem:
    """LarsNet from the released weights or a path; unavailable (every track skipped) without weights."""

    def __init__(self, path=None, wiener: bool = False):
        self.alpha = WIENER_ALPHA if wiener else 0.0
        self.model, self.problem = None, None
        try:
            self.model = load_larsnet(path)
        except WeightsError as exc:
            if path is not None:
                raise
            self.problem = str(exc)

    def skip_reason(self, track: Track):
        return self.problem

    @torch.no_grad()
    def __call__(self, track: Track) -> Estimate:
        stems = self.model.separate(track.mixture, wiener_alpha=self.alpha)  # (5, C, T)
        return Estimate(separated=stems.mean(1))  # channels averaged to mono, as the authors scored it


def parse_system(name: str) -> tuple:
    """A system name -> (kind, model or path or None, variant or None); ValueError for unknown names."""
    if name in ORACLES:
        return name, None, None
    if name.startswith(NMFD_PREFIX):
        case = name[len(NMFD_PREFIX):]
        if case not in nmf.CASES:
            raise ValueError(f"{name}: unknown NMFD case (cases: {', '.join(nmf.CASES)})")
        return "nmfd", None, case
    if name == LARSNET or name.startswith((LARSNET + "+", LARSNET + ":")):
        head, _, path = name.partition(":")
        _, _, variant = head.partition("+")
        if variant and variant not in LARSNET_VARIANTS:
            raise ValueError(f"{name}: unknown LarsNet variant {variant!r} (variants: {', '.join(LARSNET_VARIANTS)})")
        if path and not Path(path).exists():
            raise ValueError(f"{name}: {path} does not exist (a LarsNet checkpoint or a folder of the released files)")
        return LARSNET, path or None, variant or None
    model, _, variant = name.partition("+")
    variants = variant.split("+") if variant else []
    unknown = [v for v in variants if v not in IDM_VARIANTS]
    if unknown or len(set(variants)) != len(variants):
        raise ValueError(f"{name}: unknown or repeated IDM variant {(unknown or variants)[0]!r} (variants: "
                         f"{', '.join(IDM_VARIANTS)}, combined with +)")
    if model not in PRETRAINED:
        try:
            resolve_checkpoint(model)
        except Exception as exc:
            raise ValueError(f"{name}: not a system name ({', '.join(system_names())}) "
                             f"and not a checkpoint ({exc})") from None
    return "idm", model, variant or None


def build_system(name: str, nmfd_templates=None, one_shots=None):
    """The system called `name` (see the module docstring); NMFD cases 1a, 1b and 2 read their
    one-shot templates from the file `nmfd_templates`, `+gt-one-shots` the folder `one_shots`."""
    kind, model, variant = parse_system(name)
    if kind == "oracle-irm":
        return OracleIRM()
    if kind == "nmfd":
        return NMFDSystem(variant, nmfd_templates)
    if kind == LARSNET:
        return LarsNetSystem(model, wiener=variant == "wiener")
    return IDMSystem(model, variant.split("+") if variant else (), one_shots=one_shots)


def describe(name: str) -> str:
    """The information system `name` uses, for the reports."""
    kind, _, variant = parse_system(name)
    if kind == "oracle-irm":
        return "true stems (upper bound)"
    if kind == "nmfd":
        return nmf.CASES[variant].info
    if kind == LARSNET:
        return "mixture (supervised on isolated stems)" + (f"; alpha-Wiener, alpha {WIENER_ALPHA:g}" if variant else "")
    given = {"gt-onsets": "true onsets", "gt-kit": "true kit label", "gt-one-shots": "true one-shots",
             "tom-pitch": "mid tom split by pitch"}
    return " + ".join(["mixture"] + [given[v] for v in (variant.split("+") if variant else [])])


def _files_identity(paths) -> list:
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in paths]


def system_identity(name: str, nmfd_templates=None, one_shots=None) -> dict:
    """What a system's cached results depend on besides its name: a checkpoint's or template
    file's hash, the one-shot files, the released LarsNet files (or their absence)."""
    kind, model, variant = parse_system(name)
    identity = {"name": name}
    if kind == "idm":  # a named model's weights are its registry sha256: a new release re-evaluates it
        identity["checkpoint_sha256"] = (PRETRAINED[model]["sha256"] if model in PRETRAINED
                                         else sha256_of(resolve_checkpoint(model)))
    if kind == "idm" and "gt-one-shots" in (variant or "").split("+"):
        files = sorted(p for p in Path(one_shots).rglob("*") if p.is_file()) if one_shots else None
        identity["one_shots"] = _files_identity(files) if files is not None else None
    elif kind == "nmfd" and nmf.CASES[variant].one_shot_templates:
        path = Path(nmfd_templates) if nmfd_templates else None
        identity["templates_sha256"] = sha256_of(path) if path and path.is_file() else None
    elif kind == LARSNET:
        path = Path(model) if model else find_released()
        if path is None:
            identity["weights"] = None
        elif path.is_file():
            identity["checkpoint_sha256"] = sha256_of(path)
        else:
            identity["weights"] = _files_identity(sorted(Path(path).rglob("*.pth")))
    return identity


def system_names() -> list:
    """The named systems (checkpoint paths are accepted too)."""
    released = list(PRETRAINED)
    return (released + [f"{m}+{v}" for m in released for v in IDM_VARIANTS]
            + [f"{m}+gt-onsets+gt-one-shots" for m in released]
            + [NMFD_PREFIX + c for c in nmf.CASES] + [LARSNET] + [f"{LARSNET}+{v}" for v in LARSNET_VARIANTS]
            + list(ORACLES))


def system_key(name: str) -> str:
    """A file-name-safe key for a system's cache folder."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("_")

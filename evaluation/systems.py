"""The systems `make eval` compares, behind one interface: a track in, estimated stems out.

A system's `__call__(track)` returns an `Estimate`: `synth`, stems it synthesised (the
evaluator ratio-masks the mixture with them, per class space, to get the `masked` output),
and/or `separated`, stems it separated itself; plus the onsets it transcribed, or None
when it has none of its own to score. It returns None for a track it cannot process, and
says why through `skip_reason`.

Names (`system_names()` lists them):

- `idm-44-train-kits` or any other released model name, or a checkpoint path from our
  trainer (e.g. `runs/x/checkpoints/best.pt`): IDM with its own transcription;
- `<model>+gt-onsets`: IDM driven by the ground-truth onsets (the "corrected transcription"
  setting); its onsets are the reference's, so they are not scored;
- `<model>+gt-kit`: IDM with the ground-truth kit label instead of its kit classifier
  (tracks of kits the model was not trained on are skipped);
- `oracle-irm`: the ideal ratio mask, the true stems used as synthetic stems (upper bound).
"""

import re
from dataclasses import dataclass

import torch

from idm.checkpoint import PRETRAINED, load_model, resolve_checkpoint
from idm.separate import separate

from .tracks import Track

ORACLES = ("oracle-irm",)
IDM_VARIANTS = ("gt-onsets", "gt-kit")


@dataclass
class Estimate:
    """A system's output on one track; stems are (S, T) in CLASSES order (S = 9) or the 5 groups."""

    synth: torch.Tensor = None
    separated: torch.Tensor = None
    onsets: dict = None  # {class code: times} of the system's own transcription
    score_synth: bool = True  # False where `synth` is not an output of the system (the oracle's true stems)


class OracleIRM:
    """The ideal ratio mask: the reference stems stand in for the synthetic stems."""

    info = "true stems (upper bound)"
    needs_onsets = False

    def skip_reason(self, track: Track):
        return None

    def __call__(self, track: Track) -> Estimate:
        return Estimate(synth=track.stems, score_synth=False)


class IDMSystem:
    """IDM from a released name or checkpoint, optionally with ground-truth onsets or kit."""

    def __init__(self, model: str, variant: str = None, seed: int = 0):
        self.model_name, self.variant, self.seed = model, variant, seed
        self.model = load_model(model)
        self.info = {None: "mixture", "gt-onsets": "mixture + true onsets",
                     "gt-kit": "mixture + true kit label"}[variant]
        self.needs_onsets = variant == "gt-onsets"

    def skip_reason(self, track: Track):
        if self.variant == "gt-kit" and not 0 <= track.kit_id < self.model.config.n_kits:
            return f"kit id {track.kit_id} is not one of the model's {self.model.config.n_kits} training kits"
        if self.variant == "gt-onsets" and track.onsets is None:
            return "the track has no reference onsets"
        return None

    @torch.no_grad()
    def __call__(self, track: Track) -> Estimate:
        onsets = track.onsets if self.variant == "gt-onsets" else None
        kit = track.kit_id if self.variant == "gt-kit" else None
        result = separate(track.mixture, self.model, masking="none", onsets=onsets, seed=self.seed, kit=kit)
        return Estimate(synth=result.synthesized[0], onsets=None if self.variant == "gt-onsets" else result.onsets[0])


def parse_system(name: str) -> tuple:
    """A system name -> (kind, model or None, variant or None); raises ValueError for unknown names."""
    if name in ORACLES:
        return name, None, None
    model, _, variant = name.partition("+")
    if variant and variant not in IDM_VARIANTS:
        raise ValueError(f"{name}: unknown IDM variant {variant!r} (variants: {', '.join(IDM_VARIANTS)})")
    if model not in PRETRAINED:
        try:
            resolve_checkpoint(model)
        except Exception as exc:
            raise ValueError(f"{name}: not a system name ({', '.join(system_names())}) "
                             f"and not a checkpoint ({exc})") from None
    return "idm", model, variant or None


def build_system(name: str):
    """The system called `name` (see the module docstring)."""
    kind, model, variant = parse_system(name)
    if kind == "oracle-irm":
        return OracleIRM()
    return IDMSystem(model, variant)


def system_names() -> list:
    """The named systems (checkpoint paths are accepted too)."""
    released = list(PRETRAINED)
    return released + [f"{m}+{v}" for m in released for v in IDM_VARIANTS] + list(ORACLES)


def system_key(name: str) -> str:
    """A file-name-safe key for a system's cache folder."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("_")

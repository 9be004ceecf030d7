"""Fine-tuning: start from a trained model (`train.init`), add the data's new kits, and choose
what trains (`train.trainable`).

The model keeps its own kits and gains the training split's kits it does not know, through
`idm.new_kits.with_new_kits`, which leaves its outputs on the known kits unchanged at step 0.
"""

from dataclasses import replace

import torch

from data.datasets import ClipDataset
from idm.checkpoint import CheckpointError, load_model
from idm.model import InverseDrumMachine
from idm.new_kits import with_new_kits

from .config import Config, ConfigError

TRAINABLE = {
    "all": lambda name: True,
    "no-encoder": lambda name: not name.startswith("encoder."),
    "conditioning": lambda name: name.startswith(("kit_classifier.", "synth.envelope.")) or ".film." in name,
    "analysis": lambda name: not name.startswith("synth."),
}
"""`train.trainable` -> which parameters (by name) train."""
_KIT_KEYS = ("n_kits", "kit_names")
GROWN = {"onset_context": "context", "onset_spectral": "spectral"}
"""Model settings of onset branches a run may add to its `train.init` model -> their module's name."""
BRANCH_SETTINGS = {"onset_spectral_level": "onset_spectral", "onset_spectral_relative": "onset_spectral"}
"""Other settings of those branches -> the branch's width setting: free where the branch is added."""
LIKE_ITEMS = 8
"""Training items of a new kit the classifier listens to, to choose the known kit it starts as."""


def initial_model(config: Config, kits) -> tuple:
    """(model, like): the model named by `config.train.init`, extended with the kits `kits` it does
    not know, each started as the known kit its recordings sound like to the classifier (`like`,
    {new kit: known kit}). ConfigError when it cannot be loaded or its architecture is not the
    config's model section."""
    try:
        model = load_model(config.train.init)
    except CheckpointError as exc:
        raise ConfigError(f"train.init: {exc}") from None
    theirs, ours = model.config.to_dict(), config.model.to_dict()
    lacks = {k for k in GROWN if not theirs[k]} | {k for k, branch in BRANCH_SETTINGS.items() if not theirs[branch]}
    differ = [k for k in ours if k not in _KIT_KEYS and ours[k] != theirs[k]
              and k not in lacks]  # an onset branch it lacks is added below, with its settings
    if differ:
        raise ConfigError(f"train.init: {config.train.init} is not the model section's architecture ("
                          + ", ".join(f"model.{k} {ours[k]} != {theirs[k]}" for k in differ)
                          + "): leave the model section out for the released model, or copy the run's")
    grow = {k: ours[k] for k in lacks if ours[k] != theirs[k]}
    if grow:
        model = with_onset_branches(model, **grow)
    new = [k.lower() for k in kits if k.lower() not in model.config.kits]
    like = closest_known_kits(model, config.data, new) if new else {}
    return with_new_kits(model, new, like).train(), like


def with_onset_branches(model: InverseDrumMachine, **widths) -> InverseDrumMachine:
    """`model` with new onset branches of the given widths (`onset_context`: `idm.encoder.TrackContext`,
    `onset_spectral`: `idm.encoder.SpectralOnsets`) and settings (`BRANCH_SETTINGS`), every other
    tensor kept: its onsets are unchanged until the branches train (their last layers start at 0)."""
    grown = InverseDrumMachine(replace(model.config, **widths))
    missing, unused = grown.load_state_dict(model.state_dict(), strict=False)
    added = {GROWN[k] for k in widths if k in GROWN}
    assert not unused and all(name.split(".")[0] in added for name in missing), (missing, unused)
    return grown


@torch.no_grad()
def closest_known_kits(model: InverseDrumMachine, data, new) -> dict:
    """{new kit: the known kit with the highest mean classifier probability over the first crop
    of up to LIKE_ITEMS of its training items}."""
    clips = ClipDataset(data.folder, data.train_split, seconds=data.crop_seconds)
    probs = {}
    for k, row in enumerate(clips.rows):
        kit = row["kit"].lower()
        if kit in new and len(probs.setdefault(kit, [])) < LIKE_ITEMS:
            probs[kit].append(model.eval().analyse(clips[k]["mixture"][None]).kit_probs[0])
    return {kit: model.config.kits[int(torch.stack(p).mean(0).argmax())] for kit, p in probs.items() if p}


def set_trainable(model, which: str) -> int:
    """Freeze the parameters `which` does not train; returns the number of trainable values."""
    keep = TRAINABLE[which]
    for name, param in model.named_parameters():
        param.requires_grad_(keep(name))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

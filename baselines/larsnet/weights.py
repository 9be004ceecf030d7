"""LarsNet weights: the authors' five released `.pth` files, or a checkpoint of our trainer.

The released weights (CC BY-NC 4.0, so never bundled) are one archive linked from the README
of https://github.com/polimi-ispl/larsnet ("pretrained LarsNet models", about 562 MB). Unpack
it so that `<folder>/kick/pretrained_kick_unet.pth`, ... `<folder>/cymbals/pretrained_cymbals_unet.pth`
exist, with `<folder>` one of: `$IDM_CHECKPOINTS/larsnet`, `~/.cache/idm/larsnet` (or either
with one more folder level, as the archive unpacks). Each file is a dict whose
`model_state_dict` holds one U-Net's tensors; they are loaded with a strict key and shape check.
"""

from pathlib import Path

import torch

from idm.checkpoint import OUR_FORMAT, checkpoint_roots

from .model import STEMS, LarsNet, LarsNetConfig

ARCHIVE_URL = "https://github.com/polimi-ispl/larsnet"
TASK = "larsnet"
"""The `task` of a LarsNet checkpoint written by our trainer."""


class WeightsError(ValueError):
    """Weights that are missing or do not fit; the message says what and where."""


def stem_file(folder: Path, stem: str) -> Path:
    return Path(folder) / stem / f"pretrained_{stem}_unet.pth"


def search_folders() -> list:
    """Where the released weights are looked for, in order (the released IDM models' roots)."""
    return [root / "larsnet" for root in checkpoint_roots()]


def find_released(folders=None):
    """The folder holding the five released files (itself or one level down), or None."""
    for folder in folders or search_folders():
        candidates = [folder] + (sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else [])
        for candidate in candidates:
            if all(stem_file(candidate, s).is_file() for s in STEMS):
                return candidate
    return None


def missing_message() -> str:
    """One line: the weights are missing, where to get them and where to put them."""
    where = " or ".join(str(f) for f in search_folders())
    return (f"LarsNet weights not found: download the pretrained LarsNet models (CC BY-NC 4.0) linked from "
            f"{ARCHIVE_URL} and unpack them into {where}, so that kick/pretrained_kick_unet.pth (and snare, "
            f"toms, hihat, cymbals) lie in it; or train LarsNet with configs/larsnet_stemgmd.yaml")


def _strict(net: torch.nn.Module, state: dict, source) -> None:
    """Load `state` into `net`, naming the first missing, unexpected or mis-shaped tensor."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = ([f"missing {len(missing)} tensors (first {missing[0]})"] if missing else []) + \
                ([f"unexpected {len(unexpected)} (first {unexpected[0]})"] if unexpected else [])
        raise WeightsError(f"{source}: does not fit the LarsNet U-Net: {'; '.join(parts)}")
    for key, value in expected.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise WeightsError(f"{source}: {key} has shape {tuple(state[key].shape)}, "
                               f"the U-Net expects {tuple(value.shape)}")
    net.load_state_dict(state, strict=True)


def _read(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{path}: not a readable weight file ({reason})") from None


def load_released(folder) -> LarsNet:
    """LarsNet from the five released files in `folder`."""
    model = LarsNet()
    for stem in STEMS:
        path = stem_file(folder, stem)
        if not path.is_file():
            raise WeightsError(f"{path}: no such file ({missing_message()})")
        blob = _read(path)
        if not isinstance(blob, dict) or not isinstance(blob.get("model_state_dict"), dict):
            raise WeightsError(f"{path}: no model_state_dict in the file")
        _strict(model.nets[stem], blob["model_state_dict"], path)
    return model.eval()


def save_released(model: LarsNet, folder) -> None:
    """Write `model` as five files in the released layout (for tests and for sharing trained nets)."""
    for stem in STEMS:
        path = stem_file(folder, stem)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model_state_dict": model.nets[stem].state_dict()}, path)


def load_checkpoint(path) -> LarsNet:
    """LarsNet from a checkpoint of our trainer (`task: larsnet`)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such checkpoint file")
    blob = _read(path)
    if not isinstance(blob, dict) or blob.get("format") != OUR_FORMAT or blob.get("task") != TASK:
        raise WeightsError(f"{path}: not a LarsNet checkpoint of our trainer (task: larsnet)")
    model = LarsNet(LarsNetConfig.from_dict(dict(blob["config"])))
    _strict(model, blob["model"], path)
    return model.eval()


def load_larsnet(path=None) -> LarsNet:
    """LarsNet from `path` (a trainer checkpoint, or a folder of the released files) or, without one,
    the released weights where `search_folders` looks; `WeightsError` says what is missing."""
    if path is None:
        folder = find_released()
        if folder is None:
            raise WeightsError(missing_message())
        return load_released(folder)
    path = Path(path)
    if path.is_dir():
        folder = find_released([path])
        if folder is None:
            raise WeightsError(f"{path}: no kick/pretrained_kick_unet.pth ... cymbals/pretrained_cymbals_unet.pth "
                               "in it or one level down")
        return load_released(folder)
    return load_checkpoint(path)

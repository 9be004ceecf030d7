"""Loading models: the authors' released checkpoint (through one name table) and our own format.

Resolution of a model name: an explicit path; a model that ships with this package
(`idm/models/`, verified against its sha256); else `$IDM_CHECKPOINTS/<name>/`; else the
user cache `~/.cache/idm/<name>/`; else a download from the authors' repository into the
cache, verified against its sha256 and written atomically.
"""

import hashlib
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import torch
from tqdm import tqdm

from .config import ModelConfig
from .constants import TRAIN_KITS
from .files import atomic_path
from .model import InverseDrumMachine

OUR_FORMAT = "idm-checkpoint-v1"
IDM_TASKS = ("idm", "transcription")
"""Training tasks whose checkpoints hold a whole IDM model (the transcription task trains its analysis)."""

PRETRAINED = {
    "idm-44-train-kits": dict(
        filename="val-epoch=518-global_step=0.ckpt",
        url="https://github.com/bernardo-torres/inverse-drum-machine/raw/main/pretrained/"
            "idm-44-train-kits/checkpoints/val-epoch=518-global_step=0.ckpt",
        sha256="5856a9bee7c6d503842795756d238dc8470f6f3e010e9e4f33ede0362850cb4c",
        description="released IDM, trained on StemGMD's six training kits (Apache-2.0)",
        kits=TRAIN_KITS,
    ),
    "idm-44-recorded-kits": dict(
        filename="idm-44-recorded-kits.pt",
        bundled=True,
        sha256="7b0bb30f375ac3ce32f958578c087d4e795156ae086f226ba33b0f71152af560",
        description="idm-44-train-kits with its transcription trained on recorded acoustic kits "
                    "(idm/models/idm-44-recorded-kits.md; Apache-2.0)",
        kits=TRAIN_KITS,
    ),
}
"""Models known by name: the released one, and ours that ship in `idm/models/` (`bundled`)."""
BUNDLED = Path(__file__).resolve().parent / "models"
"""The folder of the models that ship with the package."""

DEFAULT_MODEL = "idm-44-train-kits"

_W = r"(weight|bias)"
RELEASED_NAMES = [
    (r"conditioning_vector", None),
    (r"encoder\.transform\.mel_transform\.spectrogram\.window", "encoder.mel.window"),
    (r"encoder\.transform\.mel_transform\.mel_scale\.fb", "encoder.mel.filterbank"),
    (rf"encoder\.backbone\.downsample_layers\.0\.0\.{_W}", r"encoder.backbone.stem.conv.\1"),
    (rf"encoder\.backbone\.downsample_layers\.0\.1\.{_W}", r"encoder.backbone.stem.norm.\1"),
    (rf"encoder\.backbone\.downsample_layers\.([1-9])\.0\.{_W}",
     lambda m: f"encoder.backbone.downsample.{int(m[1]) - 1}.norm.{m[2]}"),
    (rf"encoder\.backbone\.downsample_layers\.([1-9])\.1\.{_W}",
     lambda m: f"encoder.backbone.downsample.{int(m[1]) - 1}.conv.{m[2]}"),
    (rf"encoder\.backbone\.stages\.(\d+)\.(\d+)\.dwconv\.{_W}", r"encoder.backbone.stages.\1.\2.depthwise.\3"),
    (rf"encoder\.backbone\.stages\.(\d+)\.(\d+)\.norm\.{_W}", r"encoder.backbone.stages.\1.\2.norm.\3"),
    (rf"encoder\.backbone\.stages\.(\d+)\.(\d+)\.pwconv1\.{_W}", r"encoder.backbone.stages.\1.\2.expand.\3"),
    (rf"encoder\.backbone\.stages\.(\d+)\.(\d+)\.pwconv2\.{_W}", r"encoder.backbone.stages.\1.\2.project.\3"),
    (r"encoder\.backbone\.stages\.(\d+)\.(\d+)\.gamma", r"encoder.backbone.stages.\1.\2.gamma"),
    (rf"encoder\.backbone\.norm\.{_W}", r"encoder.backbone.out_norm.\1"),
    (rf"encoder\.pooling\.norm\.{_W}", r"kit_classifier.norm.\1"),
    (rf"encoder\.pooling\.classifier\.0\.{_W}", r"kit_classifier.hidden.\1"),
    (rf"encoder\.pooling\.classifier\.2\.{_W}", r"kit_classifier.out.\1"),
    (rf"encoder\.transcription_head\.conv\.{_W}", r"transcriber.conv.\1"),
    (rf"encoder\.transcription_head\.onset_mlp\.{_W}", r"transcriber.onset.\1"),
    (rf"encoder\.transcription_head\.velocity_mlp\.{_W}", r"transcriber.velocity.\1"),
    (r"decoder\.sample_synth\.scale", "synth.envelope.scale"),
    (rf"decoder\.sample_synth\.tcn\.in_projection\.{_W}", r"synth.in_proj.\1"),
    (rf"decoder\.sample_synth\.tcn\.out_projection\.{_W}", r"synth.out_proj.\1"),
    (rf"decoder\.sample_synth\.tcn\.net\.(\d+)\.net\.2\.{_W}", r"synth.blocks.\1.conv.\2"),
    (rf"decoder\.sample_synth\.tcn\.net\.(\d+)\.film\.net\.{_W}", r"synth.blocks.\1.film.\2"),
    (rf"decoder\.sample_synth\.tcn\.net\.(\d+)\.residual\.{_W}", r"synth.blocks.\1.residual.\2"),
    (rf"decoder\.sample_synth\.emb_to_gain_latent\.0\.{_W}", r"synth.envelope.hidden.\1"),
    (rf"decoder\.sample_synth\.emb_to_gain_latent\.2\.{_W}", r"synth.envelope.out.\1"),
    (rf"decoder\.processors\.latent_to_params\.latent_mlps\.gain\.(\d+)\.([0-2])\.0\.{_W}",
     lambda m: f"track_gains.mlps.{m[1]}.{2 * int(m[2])}.{m[3]}"),
]
"""The released checkpoint's tensor names -> this project's module names (None: unused buffer)."""


class CheckpointError(RuntimeError):
    """A checkpoint cannot be found, read, verified or matched to the model."""


def rename_released(state_dict: dict) -> dict:
    """Map the authors' tensor names to ours; unknown names are an error that lists them."""
    renamed, unknown = {}, []
    for name, tensor in state_dict.items():
        for pattern, target in RELEASED_NAMES:
            m = re.fullmatch(pattern, name)
            if m:
                if target is not None:
                    renamed[m.expand(target) if isinstance(target, str) else target(m)] = tensor
                break
        else:
            unknown.append(name)
    if unknown:
        raise CheckpointError(f"{len(unknown)} tensors of the checkpoint have no place in the model: "
                              + ", ".join(sorted(unknown)))
    return renamed


def _load_strict(model: torch.nn.Module, state: dict, source) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unused = sorted(set(state) - set(expected))
    wrong = sorted(n for n in set(expected) & set(state) if expected[n].shape != state[n].shape)
    problems = []
    if missing:
        problems.append(f"missing {len(missing)}: " + ", ".join(missing))
    if unused:
        problems.append(f"unused {len(unused)}: " + ", ".join(unused))
    if wrong:
        problems.append("wrong shape: " + ", ".join(
            f"{n} {tuple(state[n].shape)} != {tuple(expected[n].shape)}" for n in wrong))
    if problems:
        raise CheckpointError(f"{source}: tensors do not match the model ({'; '.join(problems)})")
    model.load_state_dict(state, strict=True)


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_from_file(path, device="cpu") -> InverseDrumMachine:
    """Build a model from a checkpoint file: the released Lightning file or our own format."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(blob, dict):
        raise CheckpointError(f"{path}: not a checkpoint (a {type(blob).__name__}, not a dict)")
    if blob.get("format") == OUR_FORMAT:
        if blob.get("task", "idm") not in IDM_TASKS:
            raise CheckpointError(f"{path}: a {blob['task']} checkpoint, not an IDM model "
                                  f"(evaluate it as the system {blob['task']}:{path})")
        try:
            config = ModelConfig.from_dict(dict(blob["config"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: bad model config ({exc})") from None
        state = blob.get("model", {})
    elif isinstance(blob.get("state_dict"), dict):
        config = ModelConfig(kit_names=TRAIN_KITS)  # the released file names no kits: its classifier's order
        try:
            state = rename_released(blob["state_dict"])
        except CheckpointError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
    else:
        raise CheckpointError(f"{path}: neither a released IDM checkpoint nor an idm checkpoint")
    model = InverseDrumMachine(config)
    _load_strict(model, state, path)
    return model.to(device).eval()


def save_model(model: InverseDrumMachine, path) -> None:
    """Write `model` in this project's format (tensors + JSON-able config), atomically."""
    blob = {"format": OUR_FORMAT, "config": model.config.to_dict(),
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def cache_dir() -> Path:
    """The user cache for downloaded models (`$XDG_CACHE_HOME/idm` or `~/.cache/idm`)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "idm"


def _verified(path: Path, sha256: str) -> Path:
    actual = sha256_of(path)
    if actual != sha256:
        raise CheckpointError(f"{path}: checksum mismatch (sha256 {actual}, expected {sha256}); "
                              "delete the file and fetch it again")
    return path


def _download(url: str, dest: Path, sha256: str) -> Path:
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}") as bar:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        _verified(tmp, sha256)
    return dest


def checkpoint_roots() -> list:
    """Where released weights are looked for, in order: `$IDM_CHECKPOINTS` (when set), the user cache."""
    roots = [Path(os.environ["IDM_CHECKPOINTS"]).expanduser()] if os.environ.get("IDM_CHECKPOINTS") else []
    return roots + [cache_dir()]


def local_checkpoint(name: str):
    """The file of model `name` in the package, `$IDM_CHECKPOINTS` or the cache, or None (not verified)."""
    if PRETRAINED[name].get("bundled"):
        path = BUNDLED / PRETRAINED[name]["filename"]
        return path if path.is_file() else None
    for root in checkpoint_roots():
        path = root / name / PRETRAINED[name]["filename"]
        if path.is_file():
            return path
    return None


def resolve_checkpoint(name_or_path) -> Path:
    """Find (or fetch) the checkpoint file for a model name or path."""
    candidate = Path(name_or_path).expanduser()
    if str(name_or_path) not in PRETRAINED:
        if candidate.is_dir():
            files = sorted(candidate.glob("*.ckpt")) + sorted(candidate.glob("*.pt"))
            if len(files) != 1:
                raise CheckpointError(f"{candidate}: expected one .ckpt or .pt file, found {len(files)}")
            return files[0]
        if candidate.is_file():
            return candidate
        raise CheckpointError(f"{name_or_path}: no such checkpoint file and not a known model "
                              f"(known: {', '.join(PRETRAINED)})")
    info = PRETRAINED[str(name_or_path)]
    local = local_checkpoint(str(name_or_path))
    if local is not None:
        return _verified(local, info["sha256"])
    if info.get("bundled"):
        raise CheckpointError(f"{name_or_path}: {BUNDLED / info['filename']} is missing from this installation "
                              "(it ships with the package: reinstall idm)")
    dest = cache_dir() / str(name_or_path) / info["filename"]
    try:
        return _download(info["url"], dest, info["sha256"])
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise CheckpointError(
            f"cannot download {name_or_path} ({getattr(exc, 'reason', exc)}); offline, put "
            f"{info['filename']} from {info['url']} in {dest.parent}/ or in $IDM_CHECKPOINTS/{name_or_path}/"
        ) from None


def load_model(name_or_path=DEFAULT_MODEL, device="cpu") -> InverseDrumMachine:
    """Load a model by name (e.g. `idm-44-train-kits`) or checkpoint path, in eval mode on `device`."""
    return model_from_file(resolve_checkpoint(name_or_path), device)

"""LarsNet: architecture size, strict loading of the released layout, separation, supervised training."""

import math
import os
import zlib

import numpy as np
import pytest
import soundfile as sf
import torch

from baselines.larsnet import STEMS, LarsNet, WeightsError, load_larsnet
from baselines.larsnet.model import BINS, padded_length, parameter_count, stft
from baselines.larsnet.weights import save_released, stem_file
from conftest import REFERENCE, REPO, reference_file, run_idm, run_module, snr_db
from trainer.config import load_config
from trainer.distributed import Context
from trainer.tasks import LarsNetTask
from trainer.validation import validation_loader, validation_set


@pytest.fixture(scope="module")
def larsnet():
    torch.manual_seed(0)
    return LarsNet().eval()


@pytest.fixture(scope="module")
def released(larsnet, tmp_path_factory):
    """`larsnet` written as the authors' five files: <folder>/<stem>/pretrained_<stem>_unet.pth."""
    folder = tmp_path_factory.mktemp("larsnet") / "pretrained_larsnet_models"
    save_released(larsnet, folder)
    return folder


def rule_weights(stem: str, keys, shapes) -> dict:
    """One U-Net's tensors by the rule written in the reference file (its key `rule`)."""
    state = {}
    for key, text in zip(map(str, keys), map(str, shapes)):
        shape = tuple(int(v) for v in text.split(",")) if text else ()
        g = torch.Generator().manual_seed(zlib.crc32(f"{stem}/{key}".encode()))
        if key.endswith("num_batches_tracked"):
            value = torch.tensor(0)
        elif key.endswith("running_var"):
            value = 0.5 + torch.rand(shape, generator=g)
        elif key.endswith("running_mean"):
            value = 0.1 * torch.randn(shape, generator=g)
        elif key == "input_norm.weight" or key.endswith(".bn.weight"):
            value = 1 + 0.1 * torch.randn(shape, generator=g)
        elif key.endswith("bias"):
            value = 0.01 * torch.randn(shape, generator=g)
        else:
            value = torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
        state[key] = value
    return state


def test_official_code_outputs_with_rule_weights(tmp_path):
    """Rule-made weights written in the released layout, loaded by `load_larsnet(folder)`, separate
    14 s of stereo as the official code did (plain and alpha-Wiener 2), at >= 60 dB."""
    ref = reference_file("larsnet-rule-weights.npz")
    assert "zlib.crc32" in str(ref["rule"])
    for stem in map(str, ref["stems"]):
        path = stem_file(tmp_path, stem)
        path.parent.mkdir(parents=True)
        torch.save({"model_state_dict": rule_weights(stem, ref["keys"], ref["shapes"])}, path)
    model = load_larsnet(tmp_path)
    assert tuple(ref["stems"]) == STEMS
    assert list(model.nets["kick"].state_dict()) == list(map(str, ref["keys"]))  # the official module tree

    loop = sf.read(str(REFERENCE / "idm-demo-mix.flac"), dtype="float32")[0]
    left = np.resize(loop, int(ref["input_length"]))
    mixture = torch.from_numpy(np.stack([left, np.float32(0.7) * np.roll(left, 300)]))
    for tag, alpha in (("plain", None), ("wiener2", 2.0)):
        stems = model.separate(mixture, wiener_alpha=alpha or 0.0).numpy()
        assert stems.shape == (5, 2, mixture.shape[-1])
        for stem, ours in zip(STEMS, stems):
            expected = ref[f"{tag}_{stem}_at_index"]
            assert snr_db(expected, ours[:, ref["sample_index"]]) >= 60, (tag, stem)
            np.testing.assert_allclose(np.linalg.norm(ours, axis=-1), ref[f"{tag}_{stem}_norm"], rtol=1e-5)


def test_each_unet_has_the_published_size(larsnet):
    counts = [parameter_count(larsnet.nets[s]) for s in STEMS]
    assert len(counts) == 5 and len(set(counts)) == 1
    assert abs(counts[0] - 9.83e6) < 0.01e6, counts[0]


def test_released_layout_loads_strictly_and_mismatches_are_named(larsnet, released, tmp_path):
    blob = torch.load(stem_file(released, "kick"), weights_only=True)
    assert set(blob) == {"model_state_dict"} and "input_norm.running_mean" in blob["model_state_dict"]
    loaded = load_larsnet(released.parent)  # found one folder level down, as the archive unpacks
    for a, b in zip(loaded.state_dict().values(), larsnet.state_dict().values()):
        assert torch.equal(a, b)

    bad = tmp_path / "bad"
    save_released(larsnet, bad)
    state = torch.load(stem_file(bad, "toms"), weights_only=True)["model_state_dict"]
    state["dec1.conv_trans.weights"] = state.pop("dec1.conv_trans.weight")
    torch.save({"model_state_dict": state}, stem_file(bad, "toms"))
    with pytest.raises(WeightsError, match=r"toms.*missing 1 tensors \(first dec1.conv_trans.weight\); "
                                           r"unexpected 1 \(first dec1.conv_trans.weights\)"):
        load_larsnet(bad)
    state["dec1.conv_trans.weight"] = state.pop("dec1.conv_trans.weights")[:, :128]
    torch.save({"model_state_dict": state}, stem_file(bad, "toms"))
    with pytest.raises(WeightsError, match=r"dec1.conv_trans.weight has shape \(512, 128, 5, 5\), "
                                           r"the U-Net expects \(512, 256, 5, 5\)"):
        load_larsnet(bad)
    stem_file(bad, "cymbals").unlink()
    with pytest.raises(WeightsError, match="no kick/pretrained_kick_unet.pth"):
        load_larsnet(bad)


def test_ten_seconds_of_stereo_give_five_stems(larsnet):
    torch.manual_seed(1)
    n = 10 * 44100
    mixture = 0.1 * torch.randn(2, n)
    stems = larsnet.separate(mixture)
    assert stems.shape == (5, 2, n) and torch.isfinite(stems).all()
    assert padded_length(n) == 4096 + 427 * 1024
    # alpha-Wiener masks are complementary: the stems add up to the mixture less its Nyquist bin
    complementary = larsnet.separate(mixture, wiener_alpha=1.0)
    padded = torch.nn.functional.pad(mixture, (0, padded_length(n) - n))
    spec = stft(padded)
    spec[:, BINS:] = 0
    window = torch.hann_window(4096, periodic=True)
    expected = torch.istft(spec, 4096, 1024, 4096, window, center=True, length=padded.shape[-1])[:, :n]
    assert torch.allclose(complementary.sum(0), expected, atol=1e-4)
    assert not torch.allclose(stems.sum(0), expected, atol=1e-2)  # plain soft masks are not complementary
    mono = larsnet.separate(mixture[0])  # duplicated to two channels
    assert mono.shape == (5, 2, n) and torch.equal(mono, larsnet.separate(mixture[:1].expand(2, -1)))


@pytest.fixture(scope="module")
def stems_data(stemgmd_tree, tmp_path_factory):
    """The generated tree preprocessed with every item's stems (LarsNet trains on them)."""
    out = tmp_path_factory.mktemp("stems-all")
    proc = run_module("data.preprocess", "stemgmd", stemgmd_tree[0], out, "--stems", "all", "-j", "2")
    assert proc.returncode == 0, proc.stderr
    return out


def test_supervised_training_lowers_the_loss(stems_data, tmp_path):
    run = tmp_path / "run"
    overrides = [f"data.folder={stems_data}", "data.crop_seconds=1.0", "data.val_crops=6", "data.workers=0",
                 "train.steps=12", "train.batch_size=2", "train.device=cpu", "optim.lr=0.001",
                 f"log.out={run}", "log.val_every=6", "log.checkpoint_every=6", "log.media_every=6",
                 "log.media_clips=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    proc = run_module("trainer.train", "--config", REPO / "configs" / "larsnet_stemgmd.yaml", *overrides, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "step 12: val loss" in proc.stdout and "kick" in proc.stdout
    saved = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert saved["task"] == "larsnet" and saved["step"] in (6, 12)

    # the same validation crops through the untrained nets (the trainer's seed gives its initial weights)
    config = load_config(REPO / "configs" / "larsnet_stemgmd.yaml", overrides)
    torch.manual_seed(config.train.seed)
    untrained = LarsNetTask.build(config.model)
    val_set = validation_set(config.data, stems=True)
    loader = validation_loader(val_set, Context(), 4, 0)
    before = LarsNetTask.validate(untrained, loader, Context(), config, None)["loss"]
    trained = load_larsnet(run / "checkpoints" / "best.pt")
    after = LarsNetTask.validate(trained, loader, Context(), config, None)["loss"]
    assert after == pytest.approx(saved["best_val_loss"], rel=1e-4)
    assert after < 0.9 * before, (before, after)  # measured: 8.58 -> 6.06

    proc = run_idm("separate", REPO / "README.md", "--checkpoint", run / "checkpoints" / "best.pt")
    assert proc.returncode != 0 and "a larsnet checkpoint, not an IDM model" in proc.stderr

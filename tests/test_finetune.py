"""Adapting a model to new kits: the extended model equals the original on its known kits at step 0;
fine-tuning from a checkpoint (`train.init`) trains only what `train.trainable` says, on the
adaptation split of kits the model never heard."""

import re

import pytest
import torch

from conftest import run_module
from idm import InverseDrumMachine, ModelConfig, load_model, save_model
from idm.constants import TRAIN_KITS
from idm.new_kits import with_new_kits
from idm.separate import separate
from trainer.finetune import TRAINABLE

NEW = ("avl_red_zeppelin", "millo_multilayered3")


def test_new_kits_leave_the_known_kits_outputs_unchanged(model, demo_audio, tmp_path):
    grown = with_new_kits(model, NEW + ("heavy",), like={NEW[0]: "heavy"})  # a known kit is not added again
    assert grown.config.kits == TRAIN_KITS + NEW and model.config.n_kits == 6
    x = demo_audio[: 2 * 44100]
    before, after = separate(x, model, seed=2), separate(x, grown, seed=2)
    torch.testing.assert_close(after.kit_probs[:, :6], before.kit_probs, rtol=0, atol=1e-5)
    assert float(after.kit_probs[:, 6:].max()) < 1e-5
    torch.testing.assert_close(after.samples, before.samples, rtol=0, atol=1e-5)
    torch.testing.assert_close(after.separated, before.separated, rtol=0, atol=1e-5)
    for kit in TRAIN_KITS:  # every known kit, forced: the same one-shots and stems
        before, after = separate(x, model, seed=2, kit=kit), separate(x, grown, seed=2, kit=kit)
        torch.testing.assert_close(after.separated, before.separated, rtol=0, atol=1e-5)
    copied, heavy = separate(x, grown, seed=2, kit=NEW[0]), separate(x, model, seed=2, kit="heavy")
    torch.testing.assert_close(copied.samples, heavy.samples, rtol=0, atol=1e-5)  # starts as the kit it copies
    new = separate(x, grown, seed=2, kit=NEW[1])  # without one to copy: the average known kit, a real sound
    assert float(new.samples.abs().max()) > 0.5 and not torch.allclose(new.samples, heavy.samples, atol=1e-3)
    save_model(grown, tmp_path / "grown.pt")
    assert load_model(tmp_path / "grown.pt").config.kits == TRAIN_KITS + NEW


def _train(*overrides):
    return run_module("trainer.train", "--config", "configs/tiny.yaml", "data.val_crops=4", "train.batch_size=2",
                      "log.every=1", "log.media_every=0", *overrides, timeout=900)


@pytest.fixture(scope="module")
def adaptation_data(stemgmd_tree, tmp_path_factory):
    """The generated tree preprocessed with --keep-unsplit: its test kit (bluebird) on the train and
    validation takes lands in the adaptation splits."""
    out = tmp_path_factory.mktemp("adaptation")
    proc = run_module("data.preprocess", "stemgmd", stemgmd_tree[0], out, "--keep-unsplit")
    assert proc.returncode == 0, proc.stderr
    assert "adapt_test_kits" in proc.stdout and "adapt_val_test_kits" in proc.stdout, proc.stdout
    return out


def test_finetune_adds_the_new_kit_and_trains_only_the_conditioning(adaptation_data, tmp_path):
    base = tmp_path / "base"
    proc = _train(f"data.folder={adaptation_data}", f"log.out={base}", "train.steps=2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    init = base / "checkpoints" / "last.pt"
    tuned = tmp_path / "tuned"
    proc = _train(f"data.folder={adaptation_data}", f"log.out={tuned}", "train.steps=3", f"train.init={init}",
                  "train.trainable=conditioning", "objective.true_kit_conditioning=true", "data.train_split=adapt_test_kits",
                  "data.val_split=adapt_val_test_kits", "log.val_every=3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"model: {init} weights, kits {', '.join(TRAIN_KITS)}, bluebird; new kit bluebird starts as " in proc.stderr
    assert "; training conditioning (" in proc.stderr
    assert "kit accuracy" in proc.stdout + proc.stderr  # validated on the adaptation split
    like = re.search(r"new kit bluebird starts as (\w+);", proc.stderr)[1]
    before, after = load_model(init), load_model(tuned / "checkpoints" / "last.pt")
    assert after.config.kits == TRAIN_KITS + ("bluebird",) and like in TRAIN_KITS
    grown = dict(with_new_kits(before, ["bluebird"], {"bluebird": like}).named_parameters())
    changed = [name for name, p in after.named_parameters() if not torch.equal(p, grown[name])]
    assert changed and all(TRAINABLE["conditioning"](name) for name in changed), changed
    assert any(".film." in name for name in changed) and "kit_classifier.out.bias" in changed


def test_finetune_refuses_another_architecture_and_bad_choices(adaptation_data, tmp_path):
    proc = _train(f"data.folder={adaptation_data}", f"log.out={tmp_path / 'x'}", "train.steps=1",
                  "train.init=idm-44-train-kits")
    assert proc.returncode == 1
    assert "train.init: idm-44-train-kits is not the model section's architecture (model.encoder_depths" in proc.stderr
    proc = _train(f"data.folder={adaptation_data}", f"log.out={tmp_path / 'y'}", "train.trainable=decoder")
    assert proc.returncode == 2
    assert "train.trainable: 'decoder' is not one of all, no-encoder, conditioning" in proc.stderr


def test_true_kit_one_shots_are_synthesised_once_per_kit_with_the_same_numbers():
    config = ModelConfig(encoder_depths=(1, 1, 2, 1), synth_channels=8, synth_layers=5, synth_kernel=5,
                         one_shot_length=4410)
    torch.manual_seed(0)
    model = InverseDrumMachine(config)
    kit_probs = torch.softmax(torch.randn(4, config.n_kits), -1)
    kit_id = torch.tensor([1, -1, 1, 4])  # -1: unknown, keeps its predicted probabilities
    noise = torch.randn(config.n_classes, 1, config.one_shot_length)
    calls = []
    model.synth.plain = True  # the module's own forward, so that its hook counts the rows synthesised
    model.synth.register_forward_hook(lambda module, args, out: calls.append(out.shape[0]))
    shared = model.true_kit_one_shots(kit_probs, kit_id, noise)
    forced = kit_probs.clone()
    forced[[0, 2, 3]] = torch.nn.functional.one_hot(kit_id[[0, 2, 3]], config.n_kits).float()
    per_crop = model.one_shots(forced, noise.repeat(4, 1, 1))
    assert calls == [3 * config.n_classes, 4 * config.n_classes]  # kits 1 and 4 and the unknown one: 3 syntheses
    torch.testing.assert_close(shared, per_crop, rtol=0, atol=1e-6)

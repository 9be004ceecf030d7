"""Trainer pieces on their own: configs, schedule, batch slots and sampling, objective, randomness."""

import math

import numpy as np
import pytest
import torch

from conftest import REPO, run_module
from idm.constants import CLASSES
from idm.model import InverseDrumMachine, n_frames
from trainer.batches import StepSampler, example_randomness, slots
from trainer.config import Config, ConfigError, load_config
from trainer.objective import RESOLUTIONS, idm_loss, mrstft
from trainer.optim import lr_at


def test_paper_config_is_the_released_training():
    config = load_config(REPO / "configs" / "idm_stemgmd.yaml")
    assert config.to_dict() == Config().to_dict()  # the file spells out every default
    m, d, o, opt, t, log = config.model, config.data, config.objective, config.optim, config.train, config.log
    assert (m.n_classes, m.n_kits, m.encoder_dims, m.encoder_depths) == (9, 6, (4, 8, 16, 32), (3, 3, 9, 3))
    assert (m.synth_channels, m.synth_layers, m.synth_kernel, m.one_shot_length) == (48, 12, 15, 44100)
    assert (d.crop_seconds, d.train_split, d.val_split) == (6.0, "train_train_kits", "val_train_kits")
    assert (o.teacher_forcing, o.onset_weight, o.kit_weight) == ("sigmoid", 10.0, 1.0)
    assert (o.gain_probability, o.gain_min, o.gain_max) == (0.8, 0.3, 1.0)
    assert (opt.optimizer, opt.lr, opt.betas, opt.clip_grad_norm, opt.schedule) == \
        ("adam", 0.005, (0.9, 0.999), 1.0, "constant")
    # the released run's resolved config: batch 7 on one GPU, fp32, seed 1964, 400k steps, an epoch
    # of one crop per training item, validation (and checkpoint selection) once per epoch on at most
    # 250 batches of 7
    assert (t.batch_size, t.accumulate, t.amp, t.seed, t.steps) == (7, 1, "off", 1964, 400_000)
    assert (d.sampling, d.crops_per_epoch, d.val_crops) == ("items", 0, 250 * 7)
    assert (log.val_every, log.checkpoint_every) == (0, 0)


def test_fast_config_differs_from_the_released_run_where_it_says():
    released, fast = Config().to_dict(), load_config(REPO / "configs" / "idm_stemgmd_fast.yaml").to_dict()
    differ = {(s, k) for s in released if isinstance(released[s], dict) for k in released[s]
              if released[s][k] != fast[s][k]}
    assert differ == {("train", "batch_size"), ("train", "steps"), ("train", "amp"), ("log", "out")}
    assert fast["train"]["amp"] == "bf16" and fast["optim"]["lr"] == 0.005
    assert fast["train"]["batch_size"] * fast["train"]["steps"] == 7 * 400_000


def test_tiny_config_is_a_smaller_model():
    tiny = load_config(REPO / "configs" / "tiny.yaml")
    assert tiny.model.synth_channels < 48 and tiny.model.one_shot_length < 44100
    assert sum(tiny.model.encoder_depths) < 18 and tiny.data.folder == "demo/data"


def test_overrides_are_typed_and_checked(tmp_path):
    config = load_config(REPO / "configs" / "tiny.yaml", ["train.steps=7", "optim.lr=1e-3", "optim.betas=[0.8, 0.9]",
                                                          "model.encoder_dims=[2,4,8,16]", "train.compile=true"])
    assert config.train.steps == 7 and config.optim.lr == 1e-3 and config.optim.betas == (0.8, 0.9)
    assert config.model.encoder_dims == (2, 4, 8, 16) and config.train.compile is True
    assert isinstance(load_config(None, ["optim.lr=1"]).optim.lr, float)
    saved = tmp_path / "saved.yaml"  # as a run writes its config.yaml: empty lists (no thresholds) included
    saved.write_text(config.to_yaml())
    assert config.model.onset_delta == () and load_config(saved).to_dict() == config.to_dict()
    assert load_config(saved, ["model.onset_delta=[0.1,0.1,0.1,0.2,0.2,0.2,0.3,0.3,0.3]"]).model.onset_delta[-1] == 0.3
    weighted = load_config(saved, ['objective.onset_class_weight={"hihat_open":3,"TT_LMT":2}'])
    assert weighted.objective.onset_class_weight == {"hihat_open": 3, "TT_LMT": 2}
    saved.write_text(weighted.to_yaml())
    assert load_config(saved).to_dict() == weighted.to_dict()
    bad = {"train.stepz=3": "unknown key train.stepz", "trian.steps=3": "unknown section 'trian'",
           "train.steps=many": "train.steps: expected an integer", "train.amp=fp8": "train.amp: 'fp8' is not one",
           "train.batch_size=0": "must be positive", "steps=3": "expected section.key=value",
           "objective.teacher_forcing=relu": "is not one of sigmoid, plain",
           "data.val_crops=-1": "data.val_crops: must be 0 or more", "data.sampling=random": "is not one of items",
           "optim.betas=[]": "optim.betas: expected a non-empty list",
           "objective.onset_class_weight=3": "expected a mapping",
           "objective.onset_class_weight={hat: 2}": "'hat' is not a class",
           "objective.onset_class_weight={crash:3}": "a space after the colon",
           "objective.onset_class_weight={kick: -1}": "the weight of kick must be a positive number",
           "objective.onset_class_weight={crash: 2, CY_CR: 3}": "crash and CY_CR name the same class"}
    for override, message in bad.items():
        with pytest.raises(ConfigError, match=message):
            load_config(None, [override])
    broken = tmp_path / "broken.yaml"
    broken.write_text("train:\n  steps: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(broken)


def test_command_line_config_errors_are_one_line():
    proc = run_module("trainer.train", "--config", REPO / "configs" / "tiny.yaml", "train.stepz=3")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: unknown key train.stepz (keys of train: steps, batch_size, accumulate, " \
                                  "seed, amp, compile, recompute_synth, device, init, trainable)"
    proc = run_module("trainer.train", "--config", "/nonexistent.yaml")
    assert proc.returncode == 2 and proc.stderr.startswith("error: /nonexistent.yaml: cannot read the config")


def test_learning_rate_schedules():
    opt = load_config(None, ["optim.warmup_steps=10", "optim.schedule=cosine", "optim.min_lr=1e-4"]).optim
    assert lr_at(0, opt, 110) == pytest.approx(5e-4) and lr_at(9, opt, 110) == pytest.approx(5e-3)
    assert lr_at(10, opt, 110) == pytest.approx(5e-3) and lr_at(109, opt, 110) == pytest.approx(1e-4)
    assert lr_at(60, opt, 110) == pytest.approx(1e-4 + (5e-3 - 1e-4) * 0.5 * (1 + math.cos(math.pi * 50 / 99)))
    linear = load_config(None, ["optim.schedule=linear"]).optim
    assert lr_at(0, linear, 101) == 5e-3 and lr_at(50, linear, 101) == pytest.approx(2.5e-3)
    assert lr_at(12345, load_config().optim, 400_000) == 5e-3


def test_slots_split_a_step_evenly():
    assert slots(33, 2, 1) == [(0, 17), (17, 33)]
    assert slots(33, 1, 1) == [(0, 33)]
    assert [b - a for a, b in slots(10, 3, 2)] == [2, 2, 2, 2, 1, 1]
    with pytest.raises(ValueError, match="smaller than ranks x accumulate"):
        slots(3, 2, 2)


def test_ranks_share_the_crops_of_one_process():
    one = list(StepSampler(40, 4, 1, 0, 1, 0, 25))
    ranks = [list(StepSampler(40, 4, 2, r, 1, 0, 25)) for r in range(2)]
    assert len(one) == 25 and all(len(b) == 4 for b in one)
    for step, batch in enumerate(one):
        assert ranks[0][step] + ranks[1][step] == batch
        assert batch[0] == (step // 10, (step % 10) * 4)  # 10 steps per epoch, then the next epoch
    accumulated = list(StepSampler(40, 4, 2, 1, 2, 3, 5))  # rank 1, two micro-steps, from step 3
    assert accumulated == [[(0, 13)], [(0, 15)], [(0, 17)], [(0, 19)]]
    with pytest.raises(ValueError, match="holds no batch"):
        StepSampler(10, 33, 1, 0, 1, 0, 5)


def test_example_randomness_depends_on_seed_step_and_position_only():
    objective = load_config().objective
    gains, noise = example_randomness(0, 5, range(0, 4), objective, 9, 100, "cpu")
    tail_gains, tail_noise = example_randomness(0, 5, range(2, 4), objective, 9, 100, "cpu")
    assert torch.equal(gains[2:], tail_gains) and torch.equal(noise[18:], tail_noise)
    assert noise.shape == (36, 1, 100) and not torch.equal(noise[:9], noise[9:18])
    other_step = example_randomness(0, 6, range(0, 4), objective, 9, 100, "cpu")[1]
    assert not torch.equal(noise, other_step)
    many = example_randomness(1, 0, range(2000), objective, 1, 1, "cpu")[0].numpy()
    augmented = many[many != 1.0]
    assert 0.77 < len(augmented) / len(many) < 0.83
    assert augmented.min() >= 0.3 and augmented.max() <= 1.0 and abs(augmented.mean() - 0.65) < 0.02


def _numpy_magnitudes(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| written out: reflect-padded, periodic Hann, frames every `hop`, floored at 1e-4."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.pad(x.astype(np.float64), n_fft // 2, mode="reflect")
    frames = np.stack([padded[i:i + n_fft] for i in range(0, len(padded) - n_fft + 1, hop)])
    return np.sqrt(np.maximum(np.abs(np.fft.rfft(frames * window, axis=1)) ** 2, 1e-8))


def test_mrstft_matches_a_direct_computation_per_example():
    rng = np.random.default_rng(0)
    target = rng.standard_normal((3, 8000)).astype(np.float32) * 0.3
    estimate = (target + 0.1 * rng.standard_normal((3, 8000))).astype(np.float32)
    estimate[2] = 0.0
    got = mrstft(torch.from_numpy(estimate), torch.from_numpy(target)).numpy()
    for i in range(3):
        total = 0.0
        for n_fft, hop in RESOLUTIONS:
            x, y = _numpy_magnitudes(estimate[i], n_fft, hop), _numpy_magnitudes(target[i], n_fft, hop)
            total += np.linalg.norm(y - x) / np.linalg.norm(y) + np.abs(np.log(x) - np.log(y)).mean() \
                + np.abs(x - y).mean()
        assert got[i] == pytest.approx(total / len(RESOLUTIONS), rel=1e-4)
    assert mrstft(torch.from_numpy(target), torch.from_numpy(target)).abs().max() < 1e-5


def test_loss_terms_are_per_example():
    torch.manual_seed(0)
    b, m = 3, 40
    logits = torch.randn(b, len(CLASSES), m)

    class Analysis:
        onset_logits = logits
        kit_logits = torch.randn(b, 6)

    out = {"analysis": Analysis, "mix_estimate": torch.randn(b, 4096)}
    mixture, grid = torch.randn(b, 4096), (torch.rand(b, len(CLASSES), m) < 0.1).float()
    kit_id = torch.tensor([2, -1, 7])  # a known kit, an unlabelled item, a test kit the classifier lacks
    terms = idm_loss(out, mixture, grid, kit_id, onset_weight=10.0, kit_weight=1.0)
    expected_kit = torch.nn.functional.cross_entropy(Analysis.kit_logits[:1], kit_id[:1])
    assert torch.allclose(terms["kit_ce"], torch.stack([expected_kit, torch.tensor(0.0), torch.tensor(0.0)]))
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits[1], grid[1])
    assert torch.allclose(terms["onset_bce"][1], bce)
    assert torch.allclose(terms["loss"], terms["mrstft"] + 10 * terms["onset_bce"] + terms["kit_ce"])
    assert torch.allclose(terms["mrstft"][1:2], mrstft(out["mix_estimate"][1:2], mixture[1:2]))


def test_batch_norm_is_synchronised_on_gpus_and_the_cpu_says_it_is_not():
    from baselines.larsnet import LarsNet
    from trainer.distributed import Context, rank_seed, sync_batch_norm

    def count(model, kind):
        return sum(isinstance(m, kind) for m in model.modules())

    net = LarsNet()
    assert sync_batch_norm(net, Context()) == (net, None)  # one process: nothing to synchronise
    model, note = sync_batch_norm(net, Context(world_size=2, device=torch.device("cpu")))
    assert model is net and count(model, torch.nn.SyncBatchNorm) == 0
    assert note.startswith("note: BatchNorm statistics are per rank on the CPU") and "2 ranks" in note
    model, note = sync_batch_norm(net, Context(world_size=2, device=torch.device("cuda", 0)))
    assert note is None and count(model, torch.nn.SyncBatchNorm) == 5 * 13  # input norm, 6 + 6 blocks per net
    assert list(model.state_dict()) == list(LarsNet().state_dict())  # checkpoints keep the released names
    idm = InverseDrumMachine(load_config(REPO / "configs" / "tiny.yaml").model)
    assert sync_batch_norm(idm, Context(world_size=2, device=torch.device("cuda", 0))) == (idm, None)
    seeds = {rank_seed(1964, r) for r in range(8)}
    assert len(seeds) == 8 and all(0 <= s < 2 ** 63 for s in seeds) and rank_seed(1964, 0) == rank_seed(1964, 0)


def test_recomputing_the_synthesiser_gives_the_same_gradients():
    config = load_config(REPO / "configs" / "tiny.yaml").model
    torch.manual_seed(0)
    model = InverseDrumMachine(config)
    x = 0.1 * torch.randn(2, 44100)
    grid = (torch.rand(2, 9, n_frames(44100, config)) > 0.97).float()
    noise = torch.randn(18, 1, config.one_shot_length)
    grads = []
    for recompute in (False, True):
        model.synth.recompute = recompute
        model.zero_grad()
        model(x, grid, noise)["mix_estimate"].square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and any(n.startswith("synth.blocks.") for n in grads[0])
    for name, g in grads[0].items():
        assert torch.allclose(g, grads[1][name], rtol=1e-5, atol=1e-8), name

"""The fast inference synthesiser computes the plain definition's numbers."""

import torch

from idm.fast_synth import fast_one_shots
from idm.synth import inference_noise


def test_fast_path_equals_definition(model):
    torch.manual_seed(0)
    kit_probs = torch.softmax(3 * torch.randn(2, 6), -1)  # two items, soft kit mixtures
    cond = model.conditioning(kit_probs)
    noise = inference_noise(7, 9, 44100).repeat(2, 1, 1)
    with torch.no_grad():
        plain = model.synth(noise, cond)
        fast = fast_one_shots(model.synth, noise, cond)
    assert fast.shape == plain.shape == (18, 44100)
    assert (fast - plain).abs().max() < 1e-5
    assert plain.abs().max() > 0.5


def test_fast_path_handles_chunk_tails(model):
    kit_probs = torch.softmax(torch.randn(1, 6), -1)
    cond = model.conditioning(kit_probs)
    noise = inference_noise(3, 9, 44100)
    with torch.no_grad():
        a = fast_one_shots(model.synth, noise, cond, chunk=1000)
        b = fast_one_shots(model.synth, noise, cond, chunk=4096)
    assert (a - b).abs().max() < 1e-5


def test_noise_is_seeded_and_shared_by_items():
    assert torch.equal(inference_noise(5, 9, 100), inference_noise(5, 9, 100))
    assert not torch.equal(inference_noise(5, 9, 100), inference_noise(6, 9, 100))


def test_fast_path_equals_definition_for_small_synths():
    from idm import InverseDrumMachine, ModelConfig

    for layers in (1, 2, 4):
        torch.manual_seed(layers)
        model = InverseDrumMachine(ModelConfig(synth_channels=8, synth_layers=layers, one_shot_length=3000)).eval()
        cond = model.conditioning(torch.softmax(torch.randn(2, 6), -1))
        noise = torch.randn(18, 1, 3000)
        with torch.no_grad():
            plain = model.synth(noise, cond)
            fast = fast_one_shots(model.synth, noise, cond, chunk=700)
        assert (fast - plain).abs().max() < 1e-5, layers

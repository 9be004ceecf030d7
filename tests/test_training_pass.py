"""The teacher-forced forward pass used for training: gradients, and agreement with inference."""

import torch

from idm import InverseDrumMachine, ModelConfig
from idm.model import n_frames
from idm.sequencer import onset_times_to_grid
from idm.synth import inference_noise


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    config = ModelConfig(synth_channels=8, synth_layers=3, one_shot_length=2205, encoder_depths=(1, 1, 1, 1))
    model = InverseDrumMachine(config)
    audio = torch.randn(2, 22050) * 0.1
    m = n_frames(22050, config)
    grid = torch.stack([onset_times_to_grid([[0.1, 0.3]] + [[]] * 8, m) for _ in range(2)])
    noise = torch.randn(2 * 9, 1, config.one_shot_length)
    out = model(audio, grid, noise)
    assert out["mix_estimate"].shape == (2, 22050) and out["samples"].shape == (2, 9, 2205)
    (out["mix_estimate"].square().mean() + out["analysis"].onset_logits.mean()
     + out["analysis"].kit_logits.mean()).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert no_grad == []


def test_plain_grid_drive_equals_inference_rendering(model, demo_audio):
    x = demo_audio[: 44100 * 3].unsqueeze(0)
    with torch.no_grad():
        analysis = model.analyse(x)
        grid = (torch.sigmoid(analysis.onset_logits) > 0.5).float()
        noise = inference_noise(4, 9, 44100)
        samples = model.one_shots(analysis.kit_probs, noise)
        expected = model.render(grid * analysis.velocity, samples, analysis.gains, x.shape[-1])
    out = model(x, grid, noise, sigmoid_grid=False)  # autograd on: plain synth and FFT sequencer
    assert torch.count_nonzero(grid) > 5
    assert (out["stems"].detach() - expected).abs().max() < 1e-4
    assert (out["samples"].detach() - samples).abs().max() < 1e-5

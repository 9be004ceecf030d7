"""The synthesiser's training path gives the definition's gradients (idm/synth_backward.py).

The reference is the plain module run in float64; the fast path runs in float32 and must come
within 1e-4 relative of it for every parameter and the conditioning, at 1, 2, 4 and 12 blocks
(the plain module in float32 itself drifts further at 12: its time sums cancel).
"""

import copy

import pytest
import torch

from idm import InverseDrumMachine, ModelConfig
from idm.synth_backward import trained_one_shots

from conftest import autograd_nodes


def _gradients(synth, noise, cond, weights, fast, peak=None):
    synth.zero_grad()
    cond = cond.clone().requires_grad_(True)
    kwargs = {} if peak is None else {"peak": peak}
    out = trained_one_shots(synth, noise, cond, chunk=700, **kwargs) if fast else synth(noise, cond, **kwargs)
    (out * weights).sum().backward()
    grads = {name: p.grad.double().clone() for name, p in synth.named_parameters() if p.grad is not None}
    grads["conditioning"] = cond.grad.double()
    return out.detach(), grads


@pytest.mark.parametrize("layers", [1, 2, 4, 12])
def test_gradients_equal_the_definition(layers):
    torch.manual_seed(layers)
    n = 5000 if layers == 12 else 3000  # at 12 blocks the receptive field is 30721 samples: 5000 reach
    model = InverseDrumMachine(ModelConfig(synth_layers=layers, one_shot_length=n)).train()
    cond = model.conditioning(torch.softmax(2 * torch.randn(1, 6), -1)).detach()
    noise, weights = torch.randn(9, 1, n), torch.randn(9, n)
    fast_out, fast = _gradients(model.synth, noise, cond, weights, fast=True)
    exact = copy.deepcopy(model.synth).double()
    exact_out, reference = _gradients(exact, noise.double(), cond.double(), weights.double(), fast=False)
    assert (fast_out.double() - exact_out).abs().max() < 1e-5
    assert set(fast) == set(reference) and len(reference) == 6 * layers + 4 + 4 + 1  # + in/out proj, envelope
    for name, g in reference.items():
        error = ((fast[name] - g).norm() / g.norm()).item()
        assert error < 1e-4, (layers, name, error)


def test_model_one_shots_take_the_training_path(model):
    """`one_shots` under autograd on the CPU runs the training path (the inference path's numbers);
    `synth.plain` forces the definition."""
    model = copy.deepcopy(model).train()
    kit_probs = torch.softmax(torch.randn(1, model.config.n_kits), -1).requires_grad_(True)
    noise = torch.randn(9, 1, 44100, generator=torch.Generator().manual_seed(3))
    trained = model.one_shots(kit_probs, noise)
    with torch.no_grad():
        inferred = model.one_shots(kit_probs, noise)
    assert "_TCNBackward" in autograd_nodes(trained) and torch.equal(trained.detach(), inferred)
    small = InverseDrumMachine(ModelConfig(synth_layers=2, one_shot_length=1000))
    small.synth.plain = True
    plain = small.one_shots(torch.softmax(torch.randn(1, 6), -1), torch.randn(9, 1, 1000))
    assert "_TCNBackward" not in autograd_nodes(plain)


def _released_rows(model, rows: int = 2):
    """The released synthesiser, the conditioning of its first `rows` one-shots and their noise."""
    cond = model.conditioning(torch.softmax(torch.randn(1, model.config.n_kits, generator=torch.Generator()
                                                        .manual_seed(1)), -1))[:rows].detach()
    return copy.deepcopy(model.synth).train(), cond, torch.randn(rows, 1, 44100, generator=torch.Generator()
                                                                  .manual_seed(2))


def test_released_weights_gradients_equal_the_definition(model):
    """On the released weights, with a per-row peak, against the float64 definition: within 2e-4 per
    parameter and for the conditioning (float32 itself, the plain module's, is 1.1e-4 off on block 0's
    FiLM and the conditioning here; the fast path 1.05e-4)."""
    synth, cond, noise = _released_rows(model)
    weights = torch.randn(noise.shape[0], 44100, generator=torch.Generator().manual_seed(4))

    def per_row(x):
        return x.abs().amax(-1, keepdim=True)

    _, fast = _gradients(synth, noise, cond, weights, fast=True, peak=per_row)
    _, exact = _gradients(synth.double(), noise.double(), cond.double(), weights.double(), fast=False, peak=per_row)
    for name, g in exact.items():
        error = ((fast[name] - g).norm() / g.norm()).item()
        assert error < 2e-4, (name, error)


def test_frozen_tcn_trains_only_the_conditioning(model):
    """Fine-tuning `conditioning`: the TCN's weights are frozen, FiLM's still get the definition's gradients."""
    synth, cond, noise = _released_rows(model, rows=1)
    for name, p in synth.named_parameters():
        p.requires_grad_(".film." in name)
    weights = torch.randn(noise.shape[0], 44100, generator=torch.Generator().manual_seed(5))
    _, fast = _gradients(synth, noise, cond, weights, fast=True)
    _, exact = _gradients(synth.double(), noise.double(), cond.double(), weights.double(), fast=False)
    assert set(fast) == set(exact) == {n for n, _ in synth.named_parameters() if ".film." in n} | {"conditioning"}
    for name, g in exact.items():
        assert ((fast[name] - g).norm() / g.norm()) < 2e-4, name

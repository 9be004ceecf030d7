"""Sequencer (exact linear convolution, overlap-add blocks) and the ratio-mask separation."""

import numpy as np
import pytest
import torch

from idm.constants import HOP_LENGTH
from idm.masking import ratio_mask
from idm.sequencer import onset_times_to_grid, sequence


@pytest.mark.parametrize("density", [0.05, 0.5])  # sparse: direct placement; dense: FFT blocks
@pytest.mark.parametrize("length", [None, 50 * HOP_LENGTH + 699, 3000])
def test_sequence_equals_direct_convolution(density, length):
    rng = np.random.default_rng(0)
    act = np.zeros((2, 3, 50), np.float32)
    act[rng.random(act.shape) < density] = 1.0
    act *= rng.random(act.shape).astype(np.float32)
    samples = rng.standard_normal((2, 3, 700)).astype(np.float32)
    out = sequence(torch.from_numpy(act), torch.from_numpy(samples), length, block_frames=7).numpy()
    size = 50 * HOP_LENGTH if length is None else length
    assert out.shape == (2, 3, size)
    for b in range(2):
        for k in range(3):
            up = np.zeros(50 * HOP_LENGTH)
            up[::HOP_LENGTH] = act[b, k]
            full = np.convolve(up, samples[b, k])
            np.testing.assert_allclose(out[b, k], full[:size], atol=1e-5)


def test_sparse_tracks_are_exactly_zero_out_of_reach():
    act = torch.zeros(1, 2, 100)
    act[0, 0, 10] = 0.7
    out = sequence(act, torch.ones(1, 2, 300))
    assert torch.count_nonzero(out[0, 1]) == 0
    assert torch.count_nonzero(out[0, 0]) == 300 and out[0, 0, 2560] == 0.7


def test_onset_grid_floor_and_range():
    grid = onset_times_to_grid([[0.0, 0.0057], [1.0, 1.1551, 1.1552, 99.0], []], n_frames=200)
    assert grid[0].nonzero().flatten().tolist() == [0]  # 0.0057 s * 172.27 = 0.98 -> frame 0
    assert grid[1].nonzero().flatten().tolist() == [172, 198, 199]  # 99 s lies past the grid: dropped
    assert grid[2].sum() == 0


def test_ratio_mask_shares_out_the_mixture():
    rng = np.random.default_rng(1)
    t = 30000
    stems = torch.from_numpy(rng.standard_normal((1, 3, t)).astype(np.float32))
    mixture = torch.from_numpy(rng.standard_normal((1, t)).astype(np.float32))
    out = ratio_mask(mixture, stems)
    assert out.shape == (1, 3, t)
    assert (out.sum(1) - mixture).abs().max() < 1e-4  # masks sum to 1 where stems have energy
    silent = ratio_mask(mixture, torch.zeros(1, 3, t))
    assert torch.count_nonzero(silent) == 0  # all-silent stems take nothing, no NaN

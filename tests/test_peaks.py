"""Peak picking agrees with librosa.util.peak_pick's algorithm, written out here with scipy."""

import numpy as np
import pytest
import scipy.ndimage
import torch

from idm.config import ModelConfig
from idm.peaks import default_peak_params, model_peak_params, peak_pick


def librosa_peak_pick(x, pre_max, post_max, pre_avg, post_avg, delta, wait):
    """librosa 0.10's peak_pick on one row, transcribed from its documented algorithm."""
    mov_max = scipy.ndimage.maximum_filter1d(x, pre_max + post_max, mode="constant",
                                             origin=int(np.ceil(0.5 * (pre_max - post_max))), cval=x.min())
    mov_avg = scipy.ndimage.uniform_filter1d(x, pre_avg + post_avg, mode="nearest",
                                             origin=int(np.ceil(0.5 * (pre_avg - post_avg))))
    n = 0
    while n - pre_avg < 0 and n < x.shape[0]:
        mov_avg[n] = np.mean(x[max(n - pre_avg, 0): n + post_avg])
        n += 1
    n = max(x.shape[0] - post_avg, 0)
    while n < x.shape[0]:
        mov_avg[n] = np.mean(x[max(n - pre_avg, 0): n + post_avg])
        n += 1
    detections = x * (x == mov_max)
    detections = detections * (detections >= mov_avg + delta)
    peaks, last = [], -np.inf
    for i in np.nonzero(detections)[0]:
        if i > last + wait:
            peaks.append(i)
            last = i
    return np.array(peaks, dtype=int)


def test_default_parameters_from_frame_rate():
    assert default_peak_params() == dict(pre_max=8, post_max=8, pre_avg=17, post_avg=17, delta=0.2, wait=10)


def test_matches_librosa_algorithm_per_row():
    rng = np.random.default_rng(0)
    params = default_peak_params()
    rows = []
    for _ in range(40):
        n = int(rng.integers(5, 600))
        x = rng.random(n) ** 3
        spikes = rng.integers(0, n, size=max(1, n // 15))
        x[spikes] += rng.random(spikes.size)  # close spikes exercise the wait rule
        rows.append(x.astype(np.float32))
    for x in rows:
        grid = peak_pick(torch.from_numpy(x), **params).numpy()
        np.testing.assert_array_equal(np.flatnonzero(grid), librosa_peak_pick(x, **params))


def test_batched_rows_are_independent():
    rng = np.random.default_rng(1)
    x = (rng.random((3, 9, 300)) ** 4).astype(np.float32)
    grid = peak_pick(torch.from_numpy(x), **default_peak_params()).numpy()
    for b in range(3):
        for k in range(9):
            np.testing.assert_array_equal(np.flatnonzero(grid[b, k]),
                                          librosa_peak_pick(x[b, k], **default_peak_params()))


def test_asymmetric_windows():
    rng = np.random.default_rng(2)
    params = dict(pre_max=3, post_max=6, pre_avg=10, post_avg=4, delta=0.05, wait=2)
    for _ in range(20):
        x = rng.random(int(rng.integers(20, 200))).astype(np.float32)
        np.testing.assert_array_equal(np.flatnonzero(peak_pick(torch.from_numpy(x), **params).numpy()),
                                      librosa_peak_pick(x, **params))


def test_a_threshold_per_class_picks_each_class_with_its_own():
    rng = np.random.default_rng(3)
    x = (rng.random((2, 9, 300)) ** 4).astype(np.float32)
    deltas = tuple(0.05 + 0.04 * k for k in range(9))
    params = model_peak_params(ModelConfig(onset_delta=deltas))
    assert params["delta"] == deltas and model_peak_params(ModelConfig()) == default_peak_params()
    grid = peak_pick(torch.from_numpy(x), **params).numpy()
    for b in range(2):
        for k in range(9):
            np.testing.assert_array_equal(np.flatnonzero(grid[b, k]),
                                          librosa_peak_pick(x[b, k], **{**params, "delta": deltas[k]}))
    with pytest.raises(ValueError, match="onset_delta lists 2 thresholds"):
        ModelConfig(onset_delta=(0.1, 0.2))

"""Separating two clips as one batch gives each clip's own result."""

import numpy as np
import torch

from idm import separate
from idm.demo import groove


def test_batch_of_two_matches_single_items(model, demo_audio):
    first = demo_audio[: 44100 * 6]
    second = torch.from_numpy(groove(bars=3)[0][: 44100 * 6])
    batch = separate(torch.stack([first, second]), model, seed=3)
    singles = [separate(clip, model, seed=3) for clip in (first, second)]
    for i, single in enumerate(singles):
        assert batch.onsets[i].keys() == single.onsets[0].keys()
        for code in single.onsets[0]:
            np.testing.assert_array_equal(batch.onsets[i][code], single.onsets[0][code])
        assert (batch.separated[i] - single.separated[0]).abs().max() < 1e-4
        # the synthesised stems may differ by the whole-batch normalisation scale only
        ours, alone = batch.synthesized[i], single.synthesized[0]
        scale = (ours * alone).sum() / (alone * alone).sum()
        assert (ours - scale * alone).abs().max() < 1e-4 * alone.abs().max()
    assert sum(len(v) for v in singles[0].onsets[0].values()) > 10

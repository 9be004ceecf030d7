"""Long inputs are processed in pieces (encoder chunks, render/mask segments) with the same result."""

import numpy as np
import torch

from idm import separate
from idm.model import encoder_input


def _long_clip(demo_audio, seconds):
    reps = int(np.ceil(seconds * 44100 / len(demo_audio)))
    parts = [demo_audio if i % 2 == 0 else demo_audio.flip(0) for i in range(reps)]
    return torch.cat(parts)[: int(seconds * 44100) + 123]


def test_chunked_encoder_equals_one_piece(model, demo_audio):
    x = encoder_input(_long_clip(demo_audio, 25).unsqueeze(0), model.config.n_fft)
    with torch.no_grad():
        whole = model.encoder(x, chunk_frames=10 ** 9)
        for chunk in (150, 1000):
            pieces = model.encoder(x, chunk_frames=chunk)
            assert pieces.shape == whole.shape
            assert (pieces - whole).abs().max() < 1e-4


def test_segmented_render_and_mask_equal_one_piece(model, demo_audio):
    clip = _long_clip(demo_audio, 25)
    whole = separate(clip, model, seed=2, segment=1000)
    pieces = separate(clip, model, seed=2, segment=3.3)
    assert pieces.separated.shape == whole.separated.shape == (1, 9, len(clip))
    assert (pieces.synthesized - whole.synthesized).abs().max() < 1e-5
    assert (pieces.separated - whole.separated).abs().max() < 1e-5
    assert whole.separated.abs().max() > 0.1

"""Every stage of the released model against the authors' implementation's outputs (seed 1234)."""

import numpy as np
import pytest
import torch

from idm.constants import CLASSES
from idm.masking import ratio_mask
from idm.peaks import default_peak_params, peak_pick
from idm.synth import inference_noise

from conftest import snr_db


@pytest.fixture(scope="module")
def stages(model, demo_audio):
    x = demo_audio.unsqueeze(0)
    with torch.no_grad():
        analysis = model.analyse(x)
        onsets = peak_pick(torch.sigmoid(analysis.onset_logits), **default_peak_params())
        noise = inference_noise(1234, len(CLASSES), 44100)
        samples = model.one_shots(analysis.kit_probs, noise)
        stems = model.render(onsets * analysis.velocity, samples, analysis.gains, x.shape[-1])
        separated = ratio_mask(x, stems)
    return dict(onset_logits=analysis.onset_logits, velocity=analysis.velocity, kit_probs=analysis.kit_probs,
                onsets=onsets, noise=noise, samples=samples, synth_stems=stems, separated=separated)


def _diff(stages, reference, name):
    ours, ref = stages[name].numpy(), reference[name]
    assert ours.shape == ref.shape, name
    return np.abs(ours - ref).max()


def test_noise_block_is_the_specified_generator(stages, reference):
    assert _diff(stages, reference, "noise") == 0


def test_encoder_heads(stages, reference):
    assert _diff(stages, reference, "onset_logits") < 1e-2
    assert _diff(stages, reference, "velocity") < 1e-4
    assert _diff(stages, reference, "kit_probs") < 1e-5


def test_onset_grid_identical(stages, reference):
    assert np.array_equal(stages["onsets"].numpy(), reference["onsets"])
    assert reference["onsets"].sum() > 50


def test_one_shots(stages, reference):
    assert _diff(stages, reference, "samples") < 1e-5


def test_synthesised_stems(stages, reference):
    assert _diff(stages, reference, "synth_stems") < 1e-4


def test_separated_stems(stages, reference):
    ours, ref = stages["separated"].numpy()[0], reference["separated"][0]
    for k, name in enumerate(CLASSES):
        if np.any(ref[k]):
            assert snr_db(ref[k], ours[k]) >= 50, name
        else:
            assert not np.any(ours[k]), f"{name} should be exactly silent"

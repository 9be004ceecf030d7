"""Every stage of the released model against the authors' implementation's outputs (seed 1234)."""

import hashlib

import numpy as np
import pytest
import torch

from idm.constants import CLASSES
from idm.masking import ratio_mask
from idm.peaks import default_peak_params, peak_pick
from idm.synth import inference_noise

from conftest import assert_matches_at_positions


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
    noise = stages["noise"].numpy()
    assert noise.shape == (9, 1, 44100) and noise.dtype == np.float32
    assert hashlib.sha256(noise.tobytes()).hexdigest() == str(reference["noise_sha256"])


def test_encoder_heads(stages, reference):
    assert _diff(stages, reference, "onset_logits") < 1e-2
    assert _diff(stages, reference, "velocity") < 1e-4
    assert _diff(stages, reference, "kit_probs") < 1e-5


def test_onset_grid_identical(stages, reference):
    onsets = stages["onsets"][0].numpy()
    assert onsets.shape[-1] == reference["n_frames"]
    assert np.array_equal(np.argwhere(onsets > 0), reference["onset_frames"])
    assert len(reference["onset_frames"]) > 50


def test_one_shots(stages, reference):
    samples = stages["samples"][0].numpy()
    assert np.abs(samples[:, reference["samples_index"]] - reference["samples_at_index"]).max() < 1e-5
    assert_matches_at_positions(samples, reference, "samples", min_snr_db=80)


def test_synthesised_stems(stages, reference):
    stems = stages["synth_stems"][0].numpy()
    assert stems.shape[-1] == reference["length"]
    assert np.abs(stems[:, reference["synth_stems_index"]] - reference["synth_stems_at_index"]).max() < 1e-4
    assert_matches_at_positions(stems, reference, "synth_stems", min_snr_db=60)


def test_separated_stems(stages, reference):
    separated = stages["separated"][0].numpy()
    assert separated.shape[-1] == reference["length"]
    assert_matches_at_positions(separated, reference, "separated", min_snr_db=50, norm_rtol=1e-3)

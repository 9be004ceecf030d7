"""Separation and transcription metrics against values worked out by hand in each test."""

import math

import mir_eval
import numpy as np
import pytest
import torch

from evaluation.metrics import frame_energy_db, lsd, nsdr, pes_eps, si_sdr
from evaluation.separation import score_stem
from evaluation.spaces import fold_onsets, stem_names
from idm.stems import fold_stems
from evaluation.transcription import pooled, score_onsets

N = 44100


def sine(period: int, n: int = N, phase: float = 0.0) -> np.ndarray:
    """A unit sine of `period` samples; n a multiple of the period makes it exactly zero-mean."""
    return np.sin(2 * np.pi * np.arange(n) / period + phase)


def test_nsdr_is_the_zero_mean_snr():
    r = sine(100)
    assert nsdr(r, 0.5 * r) == pytest.approx(10 * math.log10(1 / 0.25), abs=1e-6)  # error -0.5 r: 6.02 dB
    assert nsdr(r + 3.0, 0.5 * r - 1.0) == pytest.approx(6.0206, abs=1e-4)  # offsets are removed
    tone = 0.1 * sine(50, phase=0.3)  # orthogonal to r over whole periods, 1/100 of its energy
    assert nsdr(r, r + tone) == pytest.approx(20.0, abs=1e-6)
    assert nsdr(r, r) == pytest.approx(10 * math.log10(np.sum(r ** 2) / 1e-8), abs=1e-6)


def test_si_sdr_ignores_scale_and_sees_delays():
    r = sine(100, 44100)
    noise = 0.1 * sine(50, 44100, phase=0.3)  # orthogonal to r over whole periods: energy ratio 100
    assert si_sdr(r, r + noise) == pytest.approx(20.0, abs=1e-6)
    assert si_sdr(r, 3.0 * (r + noise)) == pytest.approx(20.0, abs=1e-6)
    assert nsdr(r, 3.0 * (r + noise)) == pytest.approx(10 * math.log10(1 / (4 + 9 * 0.01)), abs=1e-6)
    assert si_sdr(r, np.zeros_like(r)) == pytest.approx(-80.0)  # a silent estimate: no projection at all
    assert nsdr(r, np.zeros_like(r)) == pytest.approx(0.0, abs=1e-6)  # its error is the whole reference
    # a delay of d samples is a phase shift phi: projection cos(phi) r, residual of energy sin^2(phi)
    d = 10
    phi = 2 * np.pi * d / 100
    delayed = sine(100, 44100, phase=-phi)
    assert si_sdr(r, delayed) == pytest.approx(10 * math.log10(math.cos(phi) ** 2 / math.sin(phi) ** 2), abs=1e-6)


def test_lsd_of_a_gain_is_the_log_power_ratio():
    rng = np.random.default_rng(0)
    r = 0.1 * rng.standard_normal(N)
    assert lsd(r, r) == 0.0
    assert lsd(r, 2 * r) == pytest.approx(2 * math.log(2), rel=1e-4)
    # a silent estimate: every bin differs by ln(|R|^2 + 1e-8) - ln(1e-8)
    spec = torch.stft(torch.from_numpy(r), 2048, 512, 2048, torch.hann_window(2048, dtype=torch.float64),
                      center=True, pad_mode="constant", return_complex=True).abs().numpy() ** 2
    expected = np.mean(np.sqrt(np.mean((np.log(spec + 1e-8) - np.log(1e-8)) ** 2, axis=0)))
    assert lsd(r, np.zeros(N)) == pytest.approx(expected, rel=1e-9)


def test_pes_and_eps_measure_leakage_and_holes():
    half = 512 * 40
    reference = np.concatenate([np.zeros(half), sine(64, half)])  # silent, then 8 periods per frame
    estimate = np.concatenate([np.full(half, 0.01), np.zeros(half)])  # leaks a DC level, then a hole
    energy = frame_energy_db(reference)
    assert len(energy) == 80 and (energy[:40] == -60).all()
    assert energy[40:] == pytest.approx(10 * math.log10(256 + 1e-8))
    pes, eps = pes_eps(reference, estimate)
    assert pes == pytest.approx(10 * math.log10(512 * 1e-4 + 1e-8))  # -12.9 dB in the silent frames
    assert eps == pytest.approx(10 * math.log10(256 + 1e-8))  # 24.1 dB missed where the estimate is silent
    perfect = pes_eps(reference, reference)
    assert perfect[0] == -60.0 and perfect[1] == -60.0  # nothing leaks, no hole where the reference plays
    assert all(math.isnan(v) for v in pes_eps(sine(64, 1024), sine(64, 1024)))  # no silent frames at all
    assert len(frame_energy_db(np.ones(513))) == 2  # the last frame is zero-padded


def test_silent_references_are_excluded_or_zero():
    silent, leak = np.zeros(N), 0.001 * sine(100)
    excluded = score_stem(silent, leak)
    assert excluded["silent"] and math.isnan(excluded["nsdr"]) and math.isnan(excluded["si_sdr"])
    assert excluded["segments"] == 0
    assert excluded["pes"] == pytest.approx(np.mean(frame_energy_db(leak)))
    assert excluded["pes_silent"] == excluded["pes"]  # the silent references' own summary column
    zero = score_stem(silent, leak, silent="zero")
    assert zero["nsdr"] == 0.0 and zero["si_sdr"] == 0.0 and zero["pes"] == excluded["pes"]
    quiet = 0.004 * sine(100)  # energy 0.35 > 1e-4: not silent
    assert not score_stem(quiet, leak)["silent"] and math.isnan(score_stem(quiet, leak)["pes_silent"])
    # LSD against a silent reference measures leakage alone: 0 for exact zeros, ~2 for -100 dBFS
    # noise, 10.8 for -60 dBFS; under `exclude` it is NaN like the SDRs, under `zero` it is kept
    noise = np.random.default_rng(1).standard_normal(N)
    assert lsd(silent, np.zeros(N)) == 0.0
    assert lsd(silent, 1e-5 * noise) == pytest.approx(2.0, abs=0.3)
    assert lsd(silent, 1e-3 * noise) == pytest.approx(10.8, abs=0.3)
    assert math.isnan(excluded["lsd"]) and math.isnan(score_stem(silent, 1e-3 * noise)["lsd"])
    assert score_stem(silent, 1e-3 * noise, silent="zero")["lsd"] == pytest.approx(10.8, abs=0.3)
    with pytest.raises(ValueError, match="silent must be"):
        score_stem(silent, leak, silent="drop")


def test_segment_scores_drop_silent_segments():
    played = 0.1 * np.random.default_rng(0).standard_normal(N)
    r = np.concatenate([played, np.zeros(N)])
    e = np.concatenate([0.5 * played, 0.1 * sine(50, N)])  # 6 dB in segment 1, leakage in segment 2
    whole = score_stem(r, e)
    rz, ez = r - r.mean(), e - e.mean()
    assert whole["nsdr"] == pytest.approx(10 * math.log10(np.sum(rz ** 2) / np.sum((ez - rz) ** 2)), abs=1e-6)
    segmented = score_stem(r, e, segment_samples=N)
    assert segmented["segments"] == 1 and segmented["nsdr"] == pytest.approx(6.0206, abs=1e-4)
    assert segmented["lsd"] == pytest.approx(2 * math.log(2), rel=1e-3)  # segment 1 alone: a gain of 1/2
    halves = score_stem(np.concatenate([r, r]), np.concatenate([e, 0.25 * r]), segment_samples=N)
    assert halves["segments"] == 2  # segments 1 and 3: errors -r/2 and -3r/4
    assert halves["nsdr"] == pytest.approx((10 * math.log10(4) + 10 * math.log10(16 / 9)) / 2, abs=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_onset_scores_agree_with_mir_eval(seed):
    rng = np.random.default_rng(seed)
    reference = np.sort(rng.uniform(0, 20, 40))
    kept = reference[rng.random(40) < 0.7]
    estimate = np.sort(np.concatenate([kept + rng.normal(0, 0.03, len(kept)), rng.uniform(0, 20, 10)]))
    scores = score_onsets(reference, estimate)
    f, p, r = mir_eval.onset.f_measure(reference, estimate, 0.05)
    assert (scores["f"], scores["precision"], scores["recall"]) == pytest.approx((f, p, r), abs=1e-12)
    assert scores["tp"] == round(r * 40) and scores["n_est"] == len(estimate)
    assert pooled(scores["tp"], scores["n_ref"], scores["n_est"])["f"] == pytest.approx(f, abs=1e-12)


def test_empty_onset_lists_are_explicit():
    none = score_onsets([], [])
    assert math.isnan(none["f"]) and none["false_onsets"] == 0 and none["tp"] == 0
    false = score_onsets([], [1.0, 2.0])
    assert math.isnan(false["f"]) and math.isnan(false["recall"]) and false["false_onsets"] == 2
    missed = score_onsets([1.0, 2.0], [])
    assert (missed["f"], missed["precision"], missed["recall"], missed["tp"]) == (0.0, 0.0, 0.0, 0)
    exact = score_onsets([0.5, 1.0], [1.04, 0.49])  # unsorted estimates are sorted first
    assert exact["f"] == 1.0 and exact["tp"] == 2
    assert score_onsets([1.0], [1.06])["f"] == 0.0  # outside the 50 ms window
    # pooled over tracks: 3 hits of 4 references and 6 estimates
    assert pooled(3, 4, 6) == pytest.approx({"f": 0.6, "precision": 0.5, "recall": 0.75})
    assert math.isnan(pooled(0, 0, 2)["f"]) and pooled(0, 3, 0)["f"] == 0.0


def test_five_groups_sum_stems_and_merge_onsets():
    assert stem_names(5) == ("kick", "snare", "toms", "hihat", "cymbals")
    stems = torch.arange(9, dtype=torch.float64)[:, None].expand(9, 4)  # class k is the constant k
    groups = fold_stems(stems, 5)
    # CLASSES = CY_CR, CY_RD, HH_CHH, HH_OHH, KD, SD, TT_HFT, TT_HMT, TT_LMT
    assert groups[:, 0].tolist() == [4, 5, 6 + 7 + 8, 2 + 3, 0 + 1]
    assert fold_stems(groups, 5) is groups
    onsets = {"CY_CR": [3.0], "CY_RD": [1.0, 2.0], "HH_CHH": [], "HH_OHH": [], "KD": [0.5], "SD": [],
              "TT_HFT": [], "TT_HMT": [4.0], "TT_LMT": [0.1]}
    merged = fold_onsets(onsets, 5)
    assert merged["cymbals"].tolist() == [1.0, 2.0, 3.0] and merged["toms"].tolist() == [0.1, 4.0]
    assert merged["hihat"].tolist() == [] and fold_onsets(onsets, 9)["kick"].tolist() == [0.5]

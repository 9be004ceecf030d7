"""NMFD baselines on generated mixtures whose one-shots are known, and the template command."""

import numpy as np
import pytest
import soundfile as sf
import torch

from baselines.nmf import CASES, separate
from baselines.nmf.nmfd import istft, nema, nmfd, onset_activations, random_templates, stft
from baselines.nmf.templates import TemplateBank, hit_template
from data.generate import one_shot, one_shot_mixture
from evaluation.metrics import si_sdr
from idm.constants import CLASS_NAMES, CLASSES, SAMPLE_RATE

from conftest import run_module

PITCHES = {"KD": 36, "TT_HMT": 50, "CY_RD": 51}
"""Three classes of the procedural kit 0 (kick, high tom, ride)."""


@pytest.fixture(scope="module")
def three_class_mixture():
    """5.5 s: 12 hits per class at random velocities over 4 s, then a 1.5 s tail; templates are
    the spectrograms of the very one-shots played."""
    stems, onsets, shots = one_shot_mixture(PITCHES.values())
    templates = torch.zeros(len(CLASSES), 1025, 87)
    for code, shot in shots.items():
        templates[CLASSES.index(code)] = hit_template(torch.from_numpy(shot)).float()
    return torch.from_numpy(stems), templates, onsets


def class_scores(stems, estimate) -> list:
    return [si_sdr(stems[CLASSES.index(c)].double().numpy(), estimate[CLASSES.index(c)].double().numpy())
            for c in PITCHES]


def test_nema_and_onset_grid():
    x = torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.5, 0.0]])
    y = nema(x, 0.5)
    assert torch.allclose(y, torch.tensor([[0.0, 1.0, 0.5, 0.25, 0.5, 0.25]]))
    grid = onset_activations([[0.0, 0.01, 1.0], [5.0]], 100)  # 0.01 s is still frame 0; 5 s is past the grid
    assert grid[0, 0] == 1 and grid[0, 86] == 1 and grid[0, 1] == pytest.approx(0.55 * 1 + 0.45 * 1e-10)
    assert grid[1].max() == pytest.approx(1e-10)


def test_kl_updates_never_increase_the_divergence():
    torch.manual_seed(0)
    V = torch.rand(1025, 200, dtype=torch.float64) ** 4
    _, _, divergences = nmfd(V, random_templates(1025, 9, 15, 1), torch.ones(9, 186, dtype=torch.float64), 30,
                             tolerance=0)
    assert len(divergences) == 31
    assert all(b <= a * (1 + 1e-9) for a, b in zip(divergences, divergences[1:]))
    assert divergences[-1] < 0.5 * divergences[0]


def test_nmfd_1a_separates_known_one_shots(three_class_mixture):
    stems, templates, onsets = three_class_mixture
    mixture = stems.sum(0)
    estimate = separate(mixture, "1a", templates, onsets)
    assert estimate.shape == stems.shape
    scores = class_scores(stems, estimate)
    # the bound of any ratio mask in this STFT: the true stems' magnitudes as masks
    spec, true = stft(mixture.double()), stft(stems.double()).abs()
    oracle = class_scores(stems, istft(true / (true.sum(0) + 1e-12) * spec, mixture.shape[-1]))
    assert min(scores) >= 10.0, scores
    assert all(s > o - 2.0 for s, o in zip(scores, oracle)), (scores, oracle)
    silent = [k for k, c in enumerate(CLASSES) if c not in PITCHES]
    assert float(estimate[silent].pow(2).sum()) < 1e-3 * float(mixture.pow(2).sum())  # absent classes: < -30 dB


def test_informed_cases_beat_the_blind_case(three_class_mixture):
    stems, templates, onsets = three_class_mixture
    mixture = stems.sum(0)
    means = {case: float(np.mean(class_scores(stems, separate(mixture, case, templates, onsets))))
             for case in CASES}
    assert all(means[case] > means["4"] + 3.0 for case in ("1a", "1b", "2", "3")), means
    with pytest.raises(ValueError, match="needs one-shot templates"):
        separate(mixture, "2")
    with pytest.raises(ValueError, match="needs the onsets"):
        separate(mixture, "3")


def test_template_command_from_one_shots_and_from_stems(tmp_path, stemgmd_data):
    folder = tmp_path / "hits" / "bluebird"
    folder.mkdir(parents=True)
    shots = {code: one_shot(pitch, 6) for code, pitch in PITCHES.items()}
    for code, shot in shots.items():
        sf.write(str(folder / f"{CLASS_NAMES[code]}.wav"), shot, SAMPLE_RATE, subtype="FLOAT")
    proc = run_module("baselines.nmf.templates", tmp_path / "hits.pt", "--one-shots", tmp_path / "hits", "-q")
    assert proc.returncode == 0, proc.stderr
    bank = TemplateBank.load(tmp_path / "hits.pt")
    assert set(bank.templates) == {"bluebird", "any"}
    for code, shot in shots.items():
        expected = hit_template(torch.from_numpy(shot)).float()
        assert torch.allclose(bank.for_kit("bluebird")[CLASSES.index(code)], expected, atol=1e-5)
    assert bank.for_kit("") is not None and bank.for_kit("brooklyn") is None
    assert float(bank.for_kit("bluebird")[CLASSES.index("SD")].abs().max()) == 0  # no hit: NMFD starts it at random

    out, _ = stemgmd_data
    proc = run_module("baselines.nmf.templates", tmp_path / "stems.pt", "--data", out, "--split",
                      "eval_session_test_kits", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "bluebird: crash" in proc.stdout
    bank = TemplateBank.load(tmp_path / "stems.pt")
    assert bank.templates["bluebird"].shape == (9, 1025, 87)
    assert (bank.hits["bluebird"] > 0).all()
    proc = run_module("baselines.nmf.templates", tmp_path / "x.pt", "--data", out, "--split", "train_train_kits")
    assert proc.returncode == 2 and "without stems" in proc.stderr and not (tmp_path / "x.pt").exists()


def test_stemgmd_single_hits_are_imported_with_the_toms_swapped(tmp_path):
    """`<kit>/<name>-<n>.wav` as StemGMD's single hits name them: the single hit `hi_tom` is TT_HFT and
    `low_tom` is TT_HMT (the other way round from the stem folders); take 1 is used."""
    from data.single_hits import SINGLE_HIT_CLASSES
    from data.stemgmd import STEM_FOLDERS

    pitches = {"kick": 36, "snare": 38, "hihat_closed": 42, "hihat_open": 46, "hi_tom": 43, "low_tom": 50,
               "mid_tom": 47, "crash_left": 49, "ride": 51}
    kit = tmp_path / "Stem_GMD_single_hits" / "heavy"
    kit.mkdir(parents=True)
    for name, pitch in pitches.items():
        sf.write(str(kit / f"{name}-1.wav"), one_shot(pitch, 1), SAMPLE_RATE, subtype="FLOAT")
        sf.write(str(kit / f"{name}-2.wav"), 0.5 * one_shot(pitch, 1), SAMPLE_RATE, subtype="FLOAT")
    sf.write(str(kit / "cowbell-1.wav"), one_shot(56, 1), SAMPLE_RATE, subtype="FLOAT")
    proc = run_module("data.single_hits", kit.parent, tmp_path / "one_shots")
    assert proc.returncode == 0, proc.stderr
    assert f"skipped {kit / 'cowbell-1.wav'}: not <name>-<n>" in proc.stderr and "heavy: 9 one-shots" in proc.stdout
    assert (SINGLE_HIT_CLASSES["hi_tom"], SINGLE_HIT_CLASSES["low_tom"]) == ("TT_HFT", "TT_HMT")
    assert (STEM_FOLDERS["hi_tom"], STEM_FOLDERS["low_tom"]) == ("TT_HMT", "TT_HFT")
    for name, code in SINGLE_HIT_CLASSES.items():
        written = sf.read(str(tmp_path / "one_shots" / "heavy" / f"{CLASS_NAMES[code]}.wav"), dtype="float32")[0]
        source = sf.read(str(kit / f"{name}-1.wav"), dtype="float32")[0]
        assert np.array_equal(written, source), name
    proc = run_module("baselines.nmf.templates", tmp_path / "t.pt", "--one-shots", tmp_path / "one_shots", "-q")
    assert proc.returncode == 0, proc.stderr
    templates = TemplateBank.load(tmp_path / "t.pt").for_kit("heavy")
    low_tom = hit_template(torch.from_numpy(one_shot(50, 1))).float()
    assert torch.allclose(templates[CLASSES.index("TT_HMT")], low_tom, atol=1e-5)
    bad = run_module("data.single_hits", tmp_path / "one_shots", tmp_path / "x")
    assert bad.returncode == 2 and "no single hits found" in bad.stderr and not (tmp_path / "x").exists()

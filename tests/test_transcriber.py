"""The transcriber's pieces: the kit bank, crops mixed on the fly, the transcription objective and
task (resumed bit for bit), recording conditions and the confusion table."""

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import REPO, run_module
from data.datasets import ClipDataset
from data.kit_bank import BANK_LIST, BANK_VELOCITIES, KitBank, build_bank, hit_measures
from data.kits_data import attack_lags
from data.kits_data import build as build_kits
from data.mixing import TOMS, MixConfig, MixedCropDataset, compressor_gain, pitch_shift, room_response
from evaluation.conditions import in_condition
from evaluation.confusion import COLUMNS, ROWS, confusion_counts
from evaluation.tracks import Track
from idm.checkpoint import load_model, save_model
from idm.config import ModelConfig
from idm.constants import CLASS_NAMES, CLASSES, FRAME_RATE, SAMPLE_RATE
from idm.model import encoder_input
from idm.separate import detect_onsets
from idm.tom_order import MID_TOM_GAP
from trainer.config import DataConfig
from trainer.finetune import with_onset_branches
from trainer.thresholds import DELTAS
from trainer.transcription_objective import onset_class_weights, transcription_loss
from trainer.validation import validation_set

HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
SOUNDFONTS = ("/usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2", "/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2",
              "/usr/share/sounds/sf2/TimGM6mb.sf2")
needs_hydrogen = pytest.mark.skipif(not (HYDROGEN / "ForzeeStereo").is_dir() or not (HYDROGEN / "BJA_Pacific").is_dir(),
                                    reason="needs hydrogen-drumkits (apt-get install; .ci/run installs it)")
TWO_KITS = """kits:
  - name: bja_pacific
    hydrogen: /usr/share/hydrogen/data/drumkits/BJA_Pacific
    group: train
    classes: {KD: BassDrum, SD: Snare, HH_CHH: Hi Hat Closed, HH_OHH: Hi Hat Opened, TT_HFT: Floor Tom,
              TT_HMT: Tom, CY_CR: Crash Left, CY_RD: Ride}
  - name: forzee_stereo
    hydrogen: /usr/share/hydrogen/data/drumkits/ForzeeStereo
    group: train
    classes: {KD: 'Kick (Tama Superstar 22")', SD: Snare (Pearl Free Floating Maple 14x3.5),
              HH_CHH: 'Hi-Hat Closed (Paiste Alpha Metal edge 14")', HH_OHH: 'Hi-Hat Open (Paiste Alpha Metal edge 14")',
              TT_HFT: 'Tom Low (Tama Superstar 16")', TT_LMT: 'Tom Mid (Tama Superstar 13")',
              TT_HMT: 'Tom High (Tama Superstar 12")', CY_CR: 'Crash (Paiste Rude Thin 18")',
              CY_RD: 'Ride (Custom, Zagrebin 22")'}
  - name: millo_multilayered3
    hydrogen: /usr/share/hydrogen/data/drumkits/Millo_MultiLayered3
    group: test
    classes: {KD: Kick, SD: Snare Rock, HH_CHH: Closed HH, HH_OHH: Open HH, TT_HFT: Tom Low, TT_LMT: Tom Mid,
              TT_HMT: Tom Hi, CY_CR: Crash, CY_RD: Ride Jazz}
"""
DRY = MixConfig(swap=0.0, derived_mid_tom=0.0, pitch=0.0, tom_pitch=0.0, eq_db=0.0, class_gain_db=(0.0, 0.0), room=0.0,
                compress=0.0, saturate=0.0, noise=0.0)
"""Mixing with every augmentation off: the bank's hits at the notes, as `make kits-data` renders."""


@pytest.fixture(scope="module")
def kit_list(tmp_path_factory):
    path = tmp_path_factory.mktemp("kitlist") / "kits.yaml"
    path.write_text(TWO_KITS)
    return path


@pytest.fixture(scope="module")
def bank(kit_list, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bank")
    assert build_bank(folder, [kit_list], say=lambda _: None) == ["bja_pacific", "forzee_stereo"]
    return folder


@needs_hydrogen
def test_the_bank_holds_the_training_kits_at_every_velocity(bank):
    assert not (bank / "millo_multilayered3").exists()  # a test kit never reaches the bank
    assert [line.split("\t")[0] for line in (bank / BANK_LIST).read_text().splitlines()] == ["bja_pacific",
                                                                                             "forzee_stereo"]
    loaded = KitBank(bank)
    assert "TT_LMT" not in loaded.hits["bja_pacific"] and len(loaded.hits["forzee_stereo"]) == 9
    for kit, classes in loaded.hits.items():
        for code, layers in classes.items():
            assert [v for v, _ in layers] == list(BANK_VELOCITIES), (kit, code)
            assert all(np.abs(shot).max() > 0 for _, shot in layers)
    assert loaded.hit("forzee_stereo", "KD", 70) == (3, 70 / 64)
    (bank / "incomplete").mkdir(exist_ok=True)
    with pytest.raises(ValueError, match="no complete kit bank"):
        KitBank(bank / "incomplete")


@needs_hydrogen
def test_mixed_crops_are_a_function_of_seed_epoch_and_index(bank):
    crops = MixedCropDataset(bank, seconds=3.0, seed=5, size=20)
    a, b, other = crops[(0, 3)], crops[(0, 3)], crops[(1, 3)]
    assert torch.equal(a["mixture"], b["mixture"]) and not torch.equal(a["mixture"], other["mixture"])
    assert a["mixture"].shape == (3 * SAMPLE_RATE,) and float(a["mixture"].abs().max()) == pytest.approx(1.0)
    assert a["kit_id"] == -1 and len(a["onsets"]) == len(CLASSES)
    for times, velocities in zip(a["onsets"], a["velocities"]):
        assert np.all((times >= 0) & (times < 3.0)) and np.all((velocities > 0) & (velocities <= 1))
    with pytest.raises(IndexError):
        crops[(0, 20)]


@needs_hydrogen
def test_dry_stems_sound_where_the_notes_are(bank):
    """Every augmentation off: each class's stem attacks on its notes, measured as `make kits-data`
    measures its own stems (`data.kits_data.attack_lags`)."""
    crops = MixedCropDataset(bank, seconds=4.0, seed=1, size=8, settings=DRY)
    lags, measured, notes_seen = [], 0, 0
    for i in range(8):
        rng = np.random.default_rng(i)
        notes, start = crops.performance(rng)
        stems = crops.render(crops.virtual_kit(rng), notes, start)
        for c, code in enumerate(CLASSES):
            times = [t - start for t, note_code, _ in notes if note_code == code and 0.01 < t - start < 3.98]
            found, unmeasured = attack_lags(stems[c], times)
            lags += found
            notes_seen += len(times)
            measured += len(times) - unmeasured
    assert notes_seen > 200 and measured > notes_seen / 4, (measured, notes_seen)  # the rest ring over earlier hits
    assert np.median(lags) < 0.3 and np.max(lags) < 1.0, (np.median(lags), np.max(lags))


@needs_hydrogen
def test_rare_classes_are_frequent_and_every_kit_gets_a_mid_tom(bank):
    crops = MixedCropDataset(bank, seconds=6.0, seed=0, size=40)
    counts = np.mean([[len(t) for t in crops[(0, i)]["onsets"]] for i in range(40)], axis=0)
    per_crop = dict(zip(CLASSES, counts))
    assert min(per_crop["TT_HFT"], per_crop["TT_LMT"], per_crop["TT_HMT"]) > 1.5, per_crop
    assert per_crop["HH_OHH"] > 0.7 and per_crop["CY_CR"] > 0.7, per_crop
    rng = np.random.default_rng(0)
    for _ in range(50):  # the mid tom of a kit without one: its high tom tuned down or its low tom tuned up
        kit = crops.virtual_kit(rng)
        source, played, semitones = kit["TT_LMT"][:3]
        if source == "bja_pacific":
            neighbour = kit[played][2]
            assert played in ("TT_HMT", "TT_HFT")
            assert semitones < neighbour - 1 if played == "TT_HMT" else semitones > neighbour + 1


@needs_hydrogen
def test_a_held_out_kit_is_never_mixed(bank):
    assert KitBank(bank, leave_out=["forzee_stereo"]).kits == ["bja_pacific"]
    crops = MixedCropDataset(bank, seconds=2.0, seed=0, size=30, settings=MixConfig(hold_out=("forzee_stereo",)))
    rng = np.random.default_rng(0)
    for _ in range(30):  # base kit and every class's source, the toms included, from the kits kept
        kit = crops.virtual_kit(rng)
        assert kit["name"] == "bja_pacific" and {kit[code][0] for code in CLASSES} == {"bja_pacific"}
    assert all(crops[(0, i)]["id"].endswith("/bja_pacific") for i in range(3))
    with pytest.raises(ValueError, match="no kit nope in the bank to leave out"):
        KitBank(bank, leave_out=["nope"])
    with pytest.raises(ValueError, match="every kit of the bank is left out"):
        KitBank(bank, leave_out=["bja_pacific", "forzee_stereo"])


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not all(Path(p).exists() for p in SOUNDFONTS)
                    or not (HYDROGEN / "ForzeeStereo").is_dir(),
                    reason="needs fluidsynth, avldrums.lv2-soundfont, timgm6mb-soundfont and hydrogen-drumkits "
                           "(apt-get install; .ci/run installs them)")
def test_other_strokes_of_the_kits_sound_as_their_class_and_are_held_out_with_their_kit(kit_list, tmp_path):
    """configs/articulation_kits.yaml: every stroke it names sounds (a kit bank is built from it), its
    open hi-hats ring longer than the closed ones, crops mix from its partial kits, and holding a
    recorded kit out holds out its strokes."""
    strokes = REPO / "configs" / "articulation_kits.yaml"
    names = build_bank(tmp_path, [kit_list, strokes], say=lambda _: None)
    assert names == ["bja_pacific", "forzee_stereo", "avl_black_pearl+strokes", "avl_red_zeppelin+strokes",
                     "bja_pacific+strokes", "forzee_stereo+strokes", "timgm6mb+strokes"]
    bank = KitBank(tmp_path)
    closed = [hit_measures(dict(bank.hits[k]["HH_CHH"])[96])[1] for k in bank.kits_with("HH_CHH")]
    opened = [hit_measures(dict(bank.hits[k]["HH_OHH"])[96])[1] for k in bank.kits_with("HH_OHH")]
    assert len(opened) == 6 and max(closed) < min(opened), (closed, opened)
    assert "KD" not in bank.hits["timgm6mb+strokes"] and len(bank.hits["timgm6mb+strokes"]["TT_LMT"]) == 8
    kept = KitBank(tmp_path, leave_out=["forzee_stereo"])
    assert kept.kits == sorted(set(names) - {"forzee_stereo", "forzee_stereo+strokes"})
    crops = MixedCropDataset(kept, seconds=2.0, seed=0, size=8)
    for i in range(8):  # a partial base kit takes the classes it lacks (the kick) from the full kits
        crop = crops[(0, i)]
        assert torch.isfinite(crop["mixture"]).all() and float(crop["mixture"].abs().max()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"no kit forzee_stereo\+strokes in the bank to leave out \(it has "
                                         r"avl_black_pearl, avl_red_zeppelin, bja_pacific, forzee_stereo, timgm6mb\)"):
        KitBank(tmp_path, leave_out=["forzee_stereo+strokes"])


def test_the_tom_set_is_tuned_together_within_tom_pitch_and_the_rest_within_pitch(bank):
    crops = MixedCropDataset(bank, seconds=6.0, seed=0, size=1, settings=MixConfig(pitch=1.0, tom_pitch=6.0))
    rng = np.random.default_rng(1)
    floor_shifts = []
    for _ in range(200):
        kit = crops.virtual_kit(rng)
        assert all(abs(kit[code][2]) <= 1.0 for code in CLASSES if code not in TOMS)
        low, high = kit["TT_HFT"][2], kit["TT_HMT"][2]
        assert abs(low) <= 6.5 and abs(high) <= 6.5 and abs(low - high) <= 1.0  # one shift for the set, +-0.5 each
        floor_shifts.append(low)
    assert max(floor_shifts) > 4.0 and min(floor_shifts) < -4.0


def test_hat_pairs_play_one_hi_hat_open_and_closed(bank):
    def hats(hat_pair):
        crops = MixedCropDataset(bank, seconds=6.0, seed=0, size=1, settings=MixConfig(hat_pair=hat_pair))
        rng = np.random.default_rng(2)
        return [(kit["HH_CHH"], kit["HH_OHH"]) for kit in (crops.virtual_kit(rng) for _ in range(100))]

    for closed, opened in hats(1.0):
        assert opened[:3] == (closed[0], "HH_OHH", closed[2]) and np.array_equal(opened[3], closed[3])
    apart = hats(0.0)
    assert sum(closed[0] != opened[0] for closed, opened in apart) > 20  # unpaired: often two kits' hats
    assert all(closed[2] != opened[2] and not np.array_equal(closed[3], opened[3]) for closed, opened in apart)


def test_a_rung_open_hi_hat_rings_longer_and_only_the_open_hi_hat_rings(bank):
    def open_hat(ring):
        crops = MixedCropDataset(bank, seconds=4.0, seed=0, size=1, settings=replace(DRY, open_hat_ring=ring))
        kit = crops.virtual_kit(np.random.default_rng(3))
        return kit, crops.render(kit, [(0.1, "HH_OHH", 100)], start=0.0)[CLASSES.index("HH_OHH")]

    dry_kit, dry = open_hat(0.0)
    rung_kit, rung = open_hat(1.0)
    assert all(dry_kit[code][5] is None for code in CLASSES)
    assert [code for code in CLASSES if rung_kit[code][5] is not None] == ["HH_OHH"]
    assert rung_kit["HH_OHH"][:3] == dry_kit["HH_OHH"][:3]
    assert hit_measures(rung)[1] > hit_measures(dry)[1] + 0.3  # seconds to 40 dB below the peak


def test_pitch_shift_retunes_a_sine_by_an_octave():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    shifted = pitch_shift(np.sin(2 * np.pi * 440 * t).astype(np.float32), 12.0)
    assert len(shifted) == pytest.approx(SAMPLE_RATE / 2, abs=2)
    spectrum = np.abs(np.fft.rfft(shifted * np.hanning(len(shifted))))
    assert np.argmax(spectrum) * SAMPLE_RATE / len(shifted) == pytest.approx(880, abs=4)


def test_room_and_compression():
    ir = room_response(np.random.default_rng(0), rt60=0.5, wet=0.35)
    assert ir[0] == 1.0 and np.sum(ir[1:] ** 2) / np.sum(ir ** 2) == pytest.approx(0.35, abs=1e-6)
    burst = np.concatenate([np.full(4410, 0.01), np.full(22050, 1.0), np.full(22050, 0.01)])
    gain = compressor_gain(burst, threshold_db=-12, ratio=4, attack=0.001, release=0.1)
    assert gain[:4000].min() > 0.99  # below the threshold: untouched
    assert 20 * np.log10(gain[20000]) == pytest.approx(-9.0, abs=0.3)  # 12 dB over, ratio 4: 9 dB less


def test_recording_conditions_keep_stems_adding_up_and_onsets_in_place():
    rng = np.random.default_rng(0)
    stems = torch.zeros(9, 2 * SAMPLE_RATE)
    stems[4, 1000:3000] = torch.from_numpy(rng.standard_normal(2000)).float()
    stems[5, 40000:42000] = 0.3 * torch.from_numpy(rng.standard_normal(2000)).float()
    track = Track("a/b", stems.sum(0), stems, {"KD": np.array([1000 / SAMPLE_RATE])})
    assert in_condition(track, "clean") is track
    for condition in ("room", "compressed"):
        recorded = in_condition(track, condition)
        assert torch.allclose(recorded.stems.sum(0), recorded.mixture, atol=1e-6)
        assert float(recorded.mixture.abs().max()) == pytest.approx(1.0)
        assert torch.equal(recorded.mixture, in_condition(track, condition).mixture)  # deterministic
        assert recorded.onsets is track.onsets
    room = in_condition(track, "room").stems[4]
    assert float(room[3000 + 4410:].abs().max()) > 1e-3  # it rings after the hit ends
    with pytest.raises(ValueError, match="unknown recording condition"):
        in_condition(track, "hall")


def test_confusion_counts_errors_not_simultaneous_hits():
    reference = {"TT_LMT": [1.0, 2.0, 3.0], "KD": [1.0, 2.0], "HH_OHH": [4.0]}
    estimate = {"TT_HMT": [1.01, 2.0], "KD": [1.0, 2.02], "HH_CHH": [4.01], "SD": [5.0]}
    counts = confusion_counts(reference, estimate)
    table = {(ROWS[i], COLUMNS[j]): int(v) for i, row in enumerate(counts) for j, v in enumerate(row) if v}
    assert table == {("kick", "kick"): 2, ("tom_mid", "tom_high"): 2, ("tom_mid", "missed"): 1,
                     ("hihat_open", "hihat_closed"): 1, ("false", "snare"): 1}


def test_the_objective_is_onset_bce_alone_where_the_student_is_the_teacher(model):
    x = torch.randn(2, SAMPLE_RATE) * 0.1
    with torch.no_grad():
        analysis = model.analyse(x)
    grid = (torch.rand_like(analysis.onset_logits) < 0.05).float()
    with torch.no_grad():
        terms = transcription_loss(analysis, model.analyse(x), grid, 10.0, 1.0, 1.0)
    assert terms["loss"].shape == (2,)
    assert float(terms["velocity_l1"].abs().max()) == 0 and float(terms["gain_l1"].abs().max()) == 0
    assert float(terms["kit_kl"].abs().max()) < 1e-6
    assert torch.allclose(terms["loss"], 10 * terms["onset_bce"] + terms["kit_kl"])


def test_a_class_weight_scales_the_bce_of_that_class_onset_frames_alone(model):
    x = torch.randn(2, SAMPLE_RATE) * 0.1
    with torch.no_grad():
        analysis = model.analyse(x)
    grid = (torch.rand_like(analysis.onset_logits) < 0.05).float()
    weights = onset_class_weights({"hihat_open": 3.0, "TT_LMT": 2.0})
    assert weights.flatten().tolist() == [2.0 if c == "TT_LMT" else 3.0 if c == "HH_OHH" else 1.0 for c in CLASSES]
    plain = F.binary_cross_entropy_with_logits(analysis.onset_logits, grid, reduction="none")
    positive = F.binary_cross_entropy_with_logits(analysis.onset_logits, torch.ones_like(grid), reduction="none")
    expected = (plain + (weights - 1) * grid * positive).mean((1, 2))
    terms = transcription_loss(analysis, analysis, grid, 10.0, 1.0, 1.0, weights)
    assert torch.allclose(terms["onset_bce"], expected, rtol=1e-5)
    assert float((terms["onset_bce"] - plain.mean((1, 2))).min()) > 0
    assert onset_class_weights({}) is None


@pytest.fixture(scope="module")
def small_set(kit_list, tmp_path_factory):
    """A small preprocessed set of the two training kits (its validation split validates)."""
    root = tmp_path_factory.mktemp("set")
    build_kits(root, kit_list, performances=6, seconds=4.0, progress=False, say=lambda _: None, adapt=0)
    proc = run_module("data.preprocess", "stemgmd", root / "stemgmd", root / "data", "-j", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root / "data"


def train(out, data, bank, *args):
    return run_module("trainer.train", "--config", REPO / "configs" / "transcriber_kits.yaml",
                      f"data.folder={data}", f"mix.bank={bank}", f"log.out={out}", "train.steps=4",
                      "train.batch_size=2", "data.crop_seconds=2.0", "data.val_crops=2", "data.workers=0",
                      "log.every=1", "log.val_every=2", "log.checkpoint_every=2", "log.media_every=2", *args)


@needs_hydrogen
def test_transcription_task_trains_the_analysis_resumes_bit_for_bit_and_logs_onset_f(small_set, bank, model,
                                                                                      tmp_path):
    whole = train(tmp_path / "whole", small_set, bank)
    assert whole.returncode == 0, whole.stderr[-3000:]
    assert "training analysis (108099 of 570452 values)" in whole.stderr  # the config's context (32), branch (16)
    assert "step 2: val loss" in whole.stdout and "kit as the teacher's" in whole.stdout
    stopped = train(tmp_path / "resumed", small_set, bank, "train.steps=2")
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    resumed = train(tmp_path / "resumed", small_set, bank, "--resume")
    assert resumed.returncode == 0 and "resuming" in resumed.stderr, resumed.stderr[-3000:]
    a = load_model(tmp_path / "whole" / "checkpoints" / "last.pt")
    b = load_model(tmp_path / "resumed" / "checkpoints" / "last.pt")
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    released = model.state_dict()  # the synthesiser is the released one; the analysis trained
    changed = {name for name, tensor in a.state_dict().items()
               if name in released and not torch.equal(tensor, released[name])}
    assert {name.split(".")[0] for name in changed} == {"encoder", "transcriber", "kit_classifier", "track_gains"}
    assert {name.split(".")[0] for name in set(a.state_dict()) - set(released)} == {"context", "spectral"}
    events = EventAccumulator(str(next((tmp_path / "whole" / "tensorboard").glob("events.*")))).Reload()
    tags = events.Tags()["scalars"]
    assert {f"val/onset_f/{c}" for c in CLASSES} <= set(tags) and "train/onset_bce" in tags
    assert "clip0/onsets" in events.Tags()["images"]


def grown_alike(model, x, module: str, **widths):
    """`model` grown with the onset branch `widths` names (its module `module`, the only new one),
    checked to transcribe `x` exactly as `model` does before it trains."""
    grown = with_onset_branches(model, **widths).eval()
    assert {name.split(".")[0] for name in set(grown.state_dict()) - set(model.state_dict())} == {module}
    with torch.no_grad():
        assert torch.equal(grown.analyse(x).onset_logits, model.eval().analyse(x).onset_logits)
    return grown


def test_a_track_context_is_added_without_changing_the_onsets_and_pools_the_whole_track(model):
    x = torch.randn(1, 3 * SAMPLE_RATE) * 0.1
    grown = grown_alike(model, x, "context", onset_context=16)
    with torch.no_grad():
        torch.nn.init.normal_(grown.context.out.weight)
        features = grown.encoder(x)
        offsets = grown.context(features)
        later = features.clone()
        later[:, -50:] += torch.randn(50, later.shape[-1])  # the track's end changes what every frame hears
        assert (grown.context(later)[..., :50] - offsets[..., :50]).abs().min() > 0


def test_a_spectral_branch_is_added_without_changing_the_onsets_and_hears_its_own_frames(model):
    torch.manual_seed(0)
    x = torch.randn(1, 3 * SAMPLE_RATE) * 0.01
    grown = grown_alike(model, x, "spectral", onset_spectral=8)
    with torch.no_grad():
        torch.nn.init.normal_(grown.spectral.out.weight)
        struck = x.clone()
        struck[0, SAMPLE_RATE: SAMPLE_RATE + 200] += 0.9  # a click one second in
        logits = [m.analyse(audio).onset_logits for m in (grown, model) for audio in (struck, x)]
        change = (logits[0] - logits[1] - (logits[2] - logits[3])).abs().amax((0, 1))
    # the branch moves the logits only within its 87 ms either side of the click, on the onset grid's times;
    # elsewhere only float32 rounding of logits near 1000 (a few 1e-6) differs, so that is the floor
    rounding = 16 * torch.finfo(torch.float32).eps * torch.stack(logits).abs().max()
    moved = torch.nonzero(change > rounding).flatten() / FRAME_RATE
    assert len(moved) and moved.min() > 0.88 and moved.max() < 1.12, moved
    assert abs((moved.min() + moved.max()) / 2 - 1.0) < 0.01, moved


def test_a_spectral_branch_of_the_rise_alone_or_of_relative_levels_is_blind_to_a_fixed_equaliser(model):
    torch.manual_seed(0)
    x = torch.randn(1, 3 * SAMPLE_RATE) * 0.1
    mel = model.encoder(encoder_input(x, model.config.n_fft), with_mel=True)[1]
    tilt = torch.linspace(-12, 12, mel.shape[1])[None, :, None]  # a fixed EQ: a constant per log-mel band
    darker = mel.clone()
    darker[:, -40:, 300:] -= 12  # the high bands fall from frame 300 on, and stay down: no rise anywhere
    moved, heard, inputs = {}, {}, {}
    for setting in ("level", "rise", "relative"):
        grown = grown_alike(model, x, "spectral", onset_spectral=8, onset_spectral_level=setting != "rise",
                            onset_spectral_relative=setting == "relative")
        with torch.no_grad():
            torch.nn.init.normal_(grown.spectral.out.weight)
            moved[setting] = (grown.spectral(mel + tilt) - grown.spectral(mel)).abs().max()
            heard[setting] = (grown.spectral(darker) - grown.spectral(mel)).abs().amax((0, 1))
        inputs[setting] = grown.spectral.convs[0].in_channels
    assert inputs == {"level": 2 * mel.shape[1], "rise": mel.shape[1], "relative": 2 * mel.shape[1]}
    # the level hears the EQ; the rise alone and the levels relative to the track's do not
    assert moved["level"] > 1e-2 and moved["rise"] < 1e-5 and moved["relative"] < 1e-5, moved
    # beyond the convolutions' 15 frames from the fall, the rise alone hears nothing; the relative level
    # hears the darker frames
    after = slice(320, 500)
    assert heard["relative"][after].min() > 1e-3 and heard["rise"][after].max() < 1e-5, heard


@needs_hydrogen
def test_a_model_gains_a_track_context_in_training_and_keeps_it(small_set, bank, tmp_path):
    run = train(tmp_path / "run", small_set, bank, "model.onset_context=16", "model.onset_spectral=8",
                "model.onset_spectral_level=false", 'objective.onset_class_weight={"crash":3}')
    assert run.returncode == 0, run.stderr[-3000:]
    assert "onset_class_weight:\n    crash: 3\n" in (tmp_path / "run" / "config.yaml").read_text()
    assert "training analysis (88187 of 550540 values)" in run.stderr  # the branch reads the rise alone
    exported = tmp_path / "context.pt"
    proc = run_module("trainer.export", tmp_path / "run" / "checkpoints" / "last.pt", exported)
    assert proc.returncode == 0, proc.stderr[-2000:]
    trained = load_model(exported)
    assert trained.config.onset_context == 16 and trained.context.out.weight.abs().sum() > 0
    assert trained.config.onset_spectral == 8 and trained.spectral.out.weight.abs().sum() > 0
    assert trained.config.onset_spectral_level is False and trained.spectral.level_norm is None
    again = train(tmp_path / "again", small_set, bank, f"train.init={exported}")
    assert again.returncode != 0 and "model.onset_context 32 != 16" in again.stderr


@needs_hydrogen
def test_transcription_task_needs_a_model_to_start_from(small_set, bank, tmp_path):
    proc = train(tmp_path / "run", small_set, bank, "train.init=''")
    assert proc.returncode == 1 and "set train.init" in proc.stderr.splitlines()[-1]
    proc = train(tmp_path / "run2", small_set, tmp_path / "nothing")
    assert proc.returncode == 1 and "no complete kit bank" in proc.stderr.splitlines()[-1]
    proc = train(tmp_path / "run3", small_set, bank, "mix.hold_out=[nope]")
    assert proc.returncode == 1 and "no kit nope in the bank to leave out" in proc.stderr.splitlines()[-1]


@needs_hydrogen
def test_validation_can_keep_to_a_held_out_kit(small_set):
    data = DataConfig(folder=str(small_set), val_split="val_train_kits", sampling="items", val_crops=0)
    every = validation_set(data)
    held_out = validation_set(replace(data, val_kits=("forzee_stereo",)))
    assert {r["kit"] for r in every.rows} == {"bja_pacific", "forzee_stereo"}
    assert [r["id"] for r in held_out.rows] == [r["id"] for r in every.rows if r["kit"] == "forzee_stereo"]
    assert len(held_out) == len(held_out.rows) > 0
    with pytest.raises(ValueError, match="no items of kits nope in split"):
        validation_set(replace(data, val_kits=("nope",)))


@needs_hydrogen
def test_thresholds_are_chosen_per_class_on_validation_and_read_at_inference(small_set, model, tmp_path):
    save_model(model, tmp_path / "released.pt")
    refused = run_module("trainer.thresholds", tmp_path / "released.pt", "--data", small_set, "--split",
                         "test_train_kits", "--out", tmp_path / "tuned.pt")
    assert refused.returncode == 1 and "test_train_kits holds test items" in refused.stderr.splitlines()[-1]
    refused = run_module("trainer.thresholds", tmp_path / "released.pt", "--data", small_set, "--split",
                         "val_train_kits", "eval_session_test_kits", "--out", tmp_path / "tuned.pt")
    assert refused.returncode == 1 and "eval_session_test_kits holds test items" in refused.stderr.splitlines()[-1]
    refused = run_module("trainer.thresholds", tmp_path / "released.pt", "--data", small_set, "--mid-tom-gap", "-1",
                         "--out", tmp_path / "tuned.pt")
    assert refused.returncode == 1 and "--mid-tom-gap -1.0: semitones" in refused.stderr.splitlines()[-1]
    assert not (tmp_path / "tuned.pt").exists()
    proc = run_module("trainer.thresholds", tmp_path / "released.pt", "--data", small_set, "--out",
                      tmp_path / "tuned.pt", "--mid-tom-gap")
    assert proc.returncode == 0, proc.stderr[-2000:]
    tuned = load_model(tmp_path / "tuned.pt")
    assert tuned.config.mid_tom_gap == MID_TOM_GAP and model.config.mid_tom_gap == 0
    assert len(tuned.config.onset_delta) == len(CLASSES) and set(tuned.config.onset_delta) <= set(DELTAS)
    names = [CLASS_NAMES[code] for code in CLASSES]
    rows = {line.split("|")[1].strip(): line.split("|")[2:6] for line in proc.stdout.splitlines()
            if line.startswith("| ") and line.split("|")[1].strip() in names}
    assert list(rows) == names
    for k, name in enumerate(names):  # the chosen value is printed, and never scores below 0.2
        delta, with_released, with_chosen, n_ref = (cell.strip() for cell in rows[name])
        assert float(delta) == tuned.config.onset_delta[k] and float(with_chosen) >= float(with_released)
        if int(n_ref) == 0:
            assert float(delta) == 0.2
    assert all(torch.equal(p, q) for p, q in zip(model.state_dict().values(), tuned.state_dict().values()))
    both = run_module("trainer.thresholds", tmp_path / "released.pt", "--data", small_set, "--split",
                      "train_train_kits", "val_train_kits", "--kits", "forzee_stereo", "--out", tmp_path / "held.pt")
    assert both.returncode == 0, both.stderr[-2000:]
    n = len(ClipDataset(small_set, ["train_train_kits", "val_train_kits"], from_kits=["forzee_stereo"]))
    assert f"{n} items of train_train_kits, val_train_kits (forzee_stereo)" in both.stdout
    assert n == len(ClipDataset(small_set, ["train_train_kits", "val_train_kits"])) / 2
    other = load_model(tmp_path / "released.pt")  # another model: the held-out chooser's thresholds go into it
    with torch.no_grad():
        other.transcriber.onset.weight.mul_(0.5)
    save_model(other, tmp_path / "other.pt")
    chosen_with = run_module("trainer.thresholds", tmp_path / "other.pt", "--choose-with", tmp_path / "released.pt",
                             "--data", small_set, "--split", "train_train_kits", "val_train_kits", "--kits",
                             "forzee_stereo", "--out", tmp_path / "other_tuned.pt")
    assert chosen_with.returncode == 0 and "chosen with" in chosen_with.stdout, chosen_with.stderr[-2000:]
    other_tuned = load_model(tmp_path / "other_tuned.pt")
    assert other_tuned.config.mid_tom_gap == 0  # kept: not asked for
    assert other_tuned.config.onset_delta == load_model(tmp_path / "held.pt").config.onset_delta
    assert all(torch.equal(p, q) for p, q in zip(other.state_dict().values(), other_tuned.state_dict().values()))
    kits = sorted({row["kit"] for row in ClipDataset(small_set, "val_train_kits").rows})
    pooled = run_module("trainer.thresholds", tmp_path / "other.pt", "--choose-with",
                        *[f"{tmp_path / 'released.pt'}:{kit}" for kit in kits], "--data", small_set,
                        "--out", tmp_path / "pooled.pt")  # each chooser on its own kit's items, counts pooled
    at_once = run_module("trainer.thresholds", tmp_path / "other.pt", "--choose-with", tmp_path / "released.pt",
                         "--data", small_set, "--out", tmp_path / "at_once.pt")  # one chooser on every kit's items
    assert pooled.returncode == 0 and at_once.returncode == 0, pooled.stderr[-2000:] + at_once.stderr[-2000:]
    assert f"({', '.join(kits)}), pooled onset F" in pooled.stdout and len(kits) == 2
    table = [[line for line in proc.stdout.splitlines() if line.startswith("| ")] for proc in (pooled, at_once)]
    assert table[0] == table[1] and len(table[0]) == len(CLASSES) + 3
    chosen = [load_model(tmp_path / name).config.onset_delta for name in ("pooled.pt", "at_once.pt")]
    assert chosen[0] == chosen[1]
    mixture = ClipDataset(small_set, "val_train_kits")[0]["mixture"]
    released = detect_onsets(mixture, model)[0]
    assert len(released["KD"]) > 0  # the released threshold finds the kicks;
    tuned.config = ModelConfig.from_dict({**tuned.config.to_dict(), "onset_delta": (0.2,) * 4 + (1.5,) + (0.2,) * 4})
    found = detect_onsets(mixture, tuned)[0]  # one above every probability finds none
    assert len(found["KD"]) == 0 and np.array_equal(found["SD"], released["SD"])

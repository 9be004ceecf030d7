"""Recorded acoustic kits (Debian's avldrums.lv2-soundfont and hydrogen-drumkits, installed by
.ci/run): the rendered set's audio agrees with its annotations, test kits and performances stay
out of training, lacked classes are stated and left out, and the same arguments give the same bytes."""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import REPO, make, run_module
from data.datasets import ClipDataset
from data.kit_bank import hit_measures
from data.kit_table import STEMGMD_KIT_TABLE, Kit, KitTable, find_kit_table, read_kit_table
from data.kits_data import STEMGMD_FOLDER, attack_lags, build, plan_performances
from data.manifest import read_manifest
from data.recorded_kits import KitError, Layer, hydrogen_layer, read_kit_list, render_sf2_note
from data.stemgmd import ADAPTATION_SPLITS
from evaluation.transcription import pooled_onset_f
from idm.checkpoint import load_model, sha256_of
from idm.constants import CLASSES, GMD_PITCH_TO_CLASS, SAMPLE_RATE, TRAIN_KITS
from idm.tom_order import MID_TOM_GAP
from trainer.config import load_config, with_data_kits

KIT_LIST = REPO / "configs" / "recorded_kits.yaml"
EXTRA_KIT_LIST = REPO / "configs" / "extra_training_kits.yaml"
PACKAGES = ("/usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2", "/usr/share/hydrogen/data/drumkits/ForzeeStereo")
needs_kits = pytest.mark.skipif(not all(Path(p).exists() for p in PACKAGES) or shutil.which("fluidsynth") is None,
                                reason="needs fluidsynth, avldrums.lv2-soundfont and hydrogen-drumkits "
                                       "(apt-get install; .ci/run installs them)")
SMALL_KITS = """kits:
  - name: avl_red_zeppelin
    sf2: /usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2
    group: train
    classes: {KD: 36, SD: 38, HH_CHH: 42, HH_OHH: 46, TT_HFT: 41, TT_HMT: 45, CY_CR: 49, CY_RD: 51}
  - name: millo_multilayered3
    hydrogen: /usr/share/hydrogen/data/drumkits/Millo_MultiLayered3
    group: test
    classes: {KD: Kick, SD: Snare Rock, HH_CHH: Closed HH, HH_OHH: Open HH, TT_HFT: Tom Low, TT_LMT: Tom Mid,
              TT_HMT: Tom Hi, CY_CR: Crash, CY_RD: Ride Jazz}
"""


def digest(folder: Path, skip=("records",)) -> dict:
    """{relative path: sha256} of every file under `folder` outside the `skip` folders."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not set(p.relative_to(folder).parts) & set(skip)}


@pytest.fixture(scope="module")
def kits_set(tmp_path_factory):
    """Every listed kit: 10 performances of ~6 s, made by `make kits-data` (rendered, preprocessed,
    NMFD templates), so that the make targets that need the set find it complete."""
    root = tmp_path_factory.mktemp("kits")
    proc = make("kits-data", f"OUT={root}", "PERFORMANCES=10", "PERFORMANCE_SECONDS=6", "JOBS=2", timeout=2700)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (root / "data" / "nmfd_templates.pt").is_file()
    return root, (root / "data" / "report.txt").read_text()


def test_kit_table_round_trip_and_bad_rows(tmp_path):
    table = KitTable([Kit("a", "train", 0, ("TT_LMT",)), Kit("b", "test", 1)])
    path = tmp_path / "kits.csv"
    path.write_text(table.text())
    again = read_kit_table(path)
    assert again.text() == table.text() and again.n_train_kits == 1 and again.get("A").lacks == ("TT_LMT",)
    assert find_kit_table(tmp_path).names() == ["a", "b"]
    assert find_kit_table(tmp_path / "elsewhere") is STEMGMD_KIT_TABLE and STEMGMD_KIT_TABLE.get("roots").kit_id == 8
    for row, problem in (("c,dev,2,", "kits.csv:4: a kit needs a name and a group"),
                         ("c,test,2,XX", "kits.csv:4: unknown classes XX"),
                         ("c,test,1,", "kits.csv: two kits share a kit id"),
                         ("a,test,2,", "kits.csv: kit 'a' is listed twice")):
        path.write_text(table.text() + row + "\n")
        with pytest.raises(ValueError, match=problem):
            read_kit_table(path)


def test_hydrogen_layer_choice():
    layers = [Layer(0.0, 0.3, 1.0, "soft"), Layer(0.25, 0.6, 1.0, "mid"), Layer(0.8, 1.0, 1.0, "hard")]
    assert [hydrogen_layer(layers, v).path for v in (1, 35, 40, 76, 100, 127)] == \
        ["soft", "soft", "mid", "mid", "hard", "hard"]  # overlaps: the first; gaps: the nearest


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not Path("/usr/share/sounds/sf2/TimGM6mb.sf2").is_file(),
                    reason="needs fluidsynth and timgm6mb-soundfont (apt-get install; .ci/run installs them)")
def test_a_general_midi_soundfont_plays_its_drums_on_channel_10():
    (gm,) = read_kit_list(EXTRA_KIT_LIST)
    assert gm.name == "timgm6mb" and gm.channel == 10
    kick, hat, open_hat = (hit_measures(render_sf2_note(gm.path, gm.classes[c], [100], 3.0, gm.channel)[100])
                           for c in ("KD", "HH_CHH", "HH_OHH"))
    assert kick[2] < 1500 and hat[2] > 6000 and open_hat[2] > 2500  # centroids
    assert hat[1] < 0.2 < open_hat[1]  # the closed hi-hat is short, the open one rings
    piano = hit_measures(render_sf2_note(gm.path, gm.classes["HH_CHH"], [100], 3.0, channel=1)[100])
    assert piano[2] < 1500 and piano[1] > 1.0  # channel 1: a piano's F#2


def test_a_kit_list_channel_must_be_a_midi_channel(tmp_path):
    for bad in ("0", "17", "ten"):
        listed = tmp_path / f"kits_{bad}.yaml"
        listed.write_text(f"kits:\n  - name: gm\n    sf2: /x.sf2\n    group: train\n    channel: {bad}\n"
                          f"    classes: {{KD: 36}}\n")
        with pytest.raises(KitError, match="kit gm: channel must be a MIDI channel from 1 to 16"):
            read_kit_list(listed)
    assert read_kit_list(KIT_LIST)[0].channel == 1  # unless listed: channel 1, as drum-kit soundfonts play


def test_performances_play_every_class_in_every_split():
    planned = plan_performances(30, 20, seed=0)
    assert [r["split"] for r, _, _ in planned].count("test") == 3
    assert [r["split"] for r, _, _ in planned].count("validation") == 3
    assert len({r["style"] for r, _, _ in planned}) == 10
    for split in ("train", "validation", "test"):
        codes = [GMD_PITCH_TO_CLASS[p] for r, notes, _ in planned if r["split"] == split for _, p, _ in notes]
        assert set(codes) == set(CLASSES), split
        assert min(codes.count(c) for c in CLASSES) >= 5, split


def test_attack_lag_measures_a_late_hit():
    stem = np.zeros(SAMPLE_RATE, dtype=np.float32)
    stem[4410 + 44:4410 + 500] = np.hanning(456) > 0  # a hit 1 ms late
    stem[22050:22100] = 0.5  # on time
    lags, unmeasured = attack_lags(stem, [0.1, 0.5, 0.8])
    assert unmeasured == 1 and lags == pytest.approx([1000 * 45 / SAMPLE_RATE, 0.0], abs=0.03)


@needs_kits
def test_kits_report_lags_counts_and_lacked_classes(kits_set):
    root, _ = kits_set
    report = (root / "kits_report.md").read_text()
    rows = [line.split("|")[1:-1] for line in report.splitlines()
            if line.startswith("| ") and not line.startswith("| ---") and "lag" not in line]
    lag_rows = [[c.strip() for c in r] for r in rows if len(r) == 7 and r[3].strip() not in ("lacked", "onsets")]
    sources = read_kit_list(KIT_LIST)
    assert len(lag_rows) + sum(len(s.lacks) for s in sources) == 9 * len(sources)
    for kit, group, code, onsets, measured, median, worst in lag_rows:
        if int(onsets):
            assert int(measured) > 0, (kit, code)
            assert float(worst) <= 1.0, (kit, code, worst)  # the audio starts within 1 ms of its annotation
    lacked = {(r[0].strip(), r[2].strip()) for r in rows if len(r) == 7 and r[3].strip() == "lacked"}
    assert lacked == {(s.name, c) for s in sources for c in s.lacks} and ("bja_pacific", "TT_LMT") in lacked
    for source in sources:
        mid_toms = list((root / STEMGMD_FOLDER / "audio").glob(f"*/*/{source.name}/mid_tom/*.flac"))
        assert bool(mid_toms) == ("TT_LMT" not in source.lacks), source.name
        shots = {p.stem for p in (root / "one_shots" / source.name).glob("*.wav")}
        assert len(shots) == 9 - len(source.lacks)
        assert {p.name for p in (root / "one_shots" / source.name).iterdir() if p.is_dir()} == \
            {"velocity_32", "velocity_64", "velocity_100", "velocity_127"}


@needs_kits
def test_preprocessed_kits_keep_test_kits_out_of_training(kits_set):
    root, report = kits_set
    rows = read_manifest(root / "data")
    table = read_kit_table(root / "data" / "kits.csv")
    assert table.text() == (root / STEMGMD_FOLDER / "kits.csv").read_text()
    test_kits = set(table.names("test"))
    assert test_kits == {"millo_multilayered3", "colombo_acoustic"}
    train_performances = {r["performance"] for r in rows if r["split"] == "train_train_kits"}
    test_performances = {r["performance"] for r in rows if r["split"] == "test_test_kits"}
    for r in rows:  # the test kits: their test split, and the adaptation splits for fine-tuning to them
        assert (r["kit"] in test_kits) == (r["split"] in ("test_test_kits",) + ADAPTATION_SPLITS), r["id"]
        assert r["kit_id"] == table.get(r["kit"]).kit_id
        if r["split"] in ADAPTATION_SPLITS:
            assert r["performance"] not in test_performances
        elif r["split"] != "train_train_kits":
            assert r["performance"] not in train_performances
        if r["kit"] in ("avl_black_pearl", "bja_pacific"):
            assert r["n_TT_LMT"] == 0 and r["annotation"].endswith(".without-TT_LMT.tsv")
            assert "\tTT_LMT\t" not in (root / "data" / r["annotation"]).read_text()
    assert {r["split"] for r in rows} == {"train_train_kits", "val_train_kits", "test_train_kits", "test_test_kits",
                                          *ADAPTATION_SPLITS}
    assert "kits lacking classes" in report and "avl_black_pearl TT_LMT" in report
    assert "files not understood: 0" in report


@needs_kits
def test_released_model_hears_kick_and_snare_where_annotated(kits_set, model):
    """The released IDM (trained on StemGMD's kits) transcribes kick and snare of these unseen
    recorded kits at the annotated times: the audio and the annotations agree."""
    root, _ = kits_set
    f = pooled_onset_f(model, ClipDataset(root / "data", "test_test_kits"))
    print("released model onset F on the test kits:", {c: round(f[c], 3) for c in ("KD", "SD")})
    assert f["KD"] > 0.8 and f["SD"] > 0.6


@needs_kits
def test_same_arguments_same_bytes(tmp_path):
    kits = tmp_path / "kits.yaml"
    kits.write_text(SMALL_KITS)
    digests = []
    for name in ("one", "two"):
        build(tmp_path / name, kits, performances=4, seconds=5, seed=3, progress=False, say=lambda _: None)
        proc = run_module("data.preprocess", "stemgmd", tmp_path / name / STEMGMD_FOLDER, tmp_path / name / "data",
                          "-q")
        assert proc.returncode == 0, proc.stderr
        digests.append(digest(tmp_path / name))
    assert digests[0] == digests[1]
    # a rerun into a built folder writes no audio or MIDI, so preprocessing has nothing to do
    times = {p: p.stat().st_mtime_ns for p in (tmp_path / "one" / STEMGMD_FOLDER).rglob("*") if p.is_file()}
    build(tmp_path / "one", kits, performances=4, seconds=5, seed=3, progress=False, say=lambda _: None)
    assert times == {p: p.stat().st_mtime_ns for p in (tmp_path / "one" / STEMGMD_FOLDER).rglob("*") if p.is_file()}
    proc = run_module("data.preprocess", "stemgmd", tmp_path / "one" / STEMGMD_FOLDER, tmp_path / "one" / "data")
    assert proc.returncode == 0 and "\n0 items processed," in proc.stdout, proc.stdout
    assert any(p.startswith("data/cache/") for p in digests[0]) and any(p.endswith(".flac") for p in digests[0])
    stems = sorted((tmp_path / "one" / STEMGMD_FOLDER / "audio").rglob("*.flac"))
    info = sf.info(str(stems[0]))
    assert info.samplerate == SAMPLE_RATE and info.channels == 1 and info.subtype == "PCM_24"


@needs_kits
def test_config_takes_the_kit_count_from_the_data(kits_set):
    root, _ = kits_set
    config = with_data_kits(load_config(REPO / "configs" / "idm_kits.yaml", [f"data.folder={root / 'data'}"]))
    assert config.model.n_kits == 4  # the training kits of kits.csv, named in kit id order
    assert config.model.kit_names == ("avl_black_pearl", "avl_red_zeppelin", "bja_pacific", "forzee_stereo")
    stemgmd = with_data_kits(load_config(REPO / "configs" / "tiny.yaml", [f"data.folder={root}"]))
    assert stemgmd.model.n_kits == 6 and stemgmd.model.kit_names == TRAIN_KITS  # no kits.csv: StemGMD's
    tiny = with_data_kits(load_config(REPO / "configs" / "tiny.yaml", [f"data.folder={root / 'data'}"]))
    assert tiny.model.kit_names == config.model.kit_names + ("kit4", "kit5")  # six outputs, four kits


@needs_kits
def test_cpu_training_config_trains_the_released_model_on_the_training_kits(kits_set, model, tmp_path):
    """`make kits-train` (configs/idm_kits_cpu.yaml, two steps): the released model gains the set's
    four training kits, every part of it trains, and the test kits stay out."""
    root, _ = kits_set
    out = tmp_path / "run"
    performances = (root / STEMGMD_FOLDER / "groove" / "info.csv").read_text()
    proc = make("kits-train", f"KITS={root}",
                f"ARGS=log.out={out} train.steps=2 log.val_every=2 data.val_crops=2 data.workers=0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (root / STEMGMD_FOLDER / "groove" / "info.csv").read_text() == performances  # the set as made, not remade
    assert "training all (546822 of 546822 values)" in proc.stderr
    trained = load_model(out / "checkpoints" / "last.pt")
    new = ("avl_black_pearl", "avl_red_zeppelin", "bja_pacific", "forzee_stereo")
    assert trained.config.kits == TRAIN_KITS + new
    released = dict(model.named_parameters())
    changed = {name.split(".")[0] for name, p in trained.named_parameters()
               if name in released and p.shape == released[name].shape and not torch.equal(p, released[name])}
    assert changed == {name.split(".")[0] for name in released}, changed  # every part: the encoder too


@needs_kits
def test_transcriber_target_trains_on_two_ranks_and_exports_the_model(kits_set, model, tmp_path):
    """`make transcriber` at CI size: the kit bank of the training kits (TimGM6mb added, no test kit),
    two cycles on two gloo ranks of the transcription task, and the exported model: the released
    synthesiser and kits with a trained encoder, loadable as a checkpoint file. Run again after its
    last cycle's model is lost, it skips the cycles done and resumes that one."""
    root, _ = kits_set
    run, exported, bank = tmp_path / "run", tmp_path / "model.pt", tmp_path / "bank"
    target = ("transcriber", f"KITS={root}", f"BANK={bank}", f"TRANSCRIBER_RUN={run}", f"TRANSCRIBER_MODEL={exported}",
              "NPROC=2", "ARGS=train.steps=2 train.batch_size=2 data.crop_seconds=2.0 log.val_every=2 "
              "log.checkpoint_every=2 data.val_crops=2 data.workers=0 log.media_every=0")
    proc = make(*target)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cycles = sorted(path.name for path in run.glob("cycle*.pt"))
    assert cycles == ["cycle1.pt", "cycle2.pt"], cycles  # the recipe's two cycles
    (run / "cycle2.pt").unlink()  # as if cut short in the last cycle: the cycles before are kept, that one resumed
    again = make(*target)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "cycle 1: done before" in again.stdout and "cycle 2: done before" not in again.stdout, again.stdout[-3000:]
    assert f"resuming {run / 'cycle2' / 'checkpoints' / 'last.pt'} at step 2" in again.stdout + again.stderr
    assert (run / "cycle2.pt").is_file()
    kits = [line.split("\t")[0] for line in (bank / "bank.txt").read_text().splitlines()]
    assert kits == ["avl_black_pearl", "avl_red_zeppelin", "bja_pacific", "forzee_stereo", "timgm6mb"]
    assert f"sha256 {sha256_of(exported)}" in again.stdout
    trained = load_model(exported)
    assert trained.config.kits == TRAIN_KITS
    assert (trained.config.onset_context, trained.config.onset_spectral, trained.config.mid_tom_gap) == (
        32, 16, MID_TOM_GAP)  # the recipe's
    released = model.state_dict()
    assert {name.split(".")[0] for name in set(trained.state_dict()) - set(released)} == {"context", "spectral"}
    changed = {name for name, p in trained.state_dict().items()
               if name in released and not torch.equal(p, released[name])}
    assert changed and all(not name.startswith("synth.") for name in changed)
    assert any(name.startswith("encoder.") for name in changed)

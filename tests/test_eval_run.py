"""`make eval` end to end: generated StemGMD -> `make preprocess` -> `make eval` (released IDM and
the ideal ratio mask), the CSVs read back; and a folder of track folders scored in process."""

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import make, run_module
from evaluation.run import evaluate
from evaluation.spaces import stem_names
from idm.separate import transcribe

def read_csv(path) -> list:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_make_preprocess_then_make_eval(stemgmd_tree, tmp_path):
    data, out = tmp_path / "data", tmp_path / "eval"
    proc = make("preprocess", f"STEMGMD={stemgmd_tree[0]}", f"OUT={data}", "JOBS=2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    args = [f"DATA={data}", "SPLIT=eval_session_train_kits", "MODELS=idm-44-train-kits oracle-irm", f"OUT={out}",
            "JOBS=2", "ARGS=-q"]
    proc = make("eval", *args)
    assert proc.returncode == 0, proc.stderr[-2000:]

    rows = read_csv(out / "scores.csv")
    assert {r["system"] for r in rows} == {"idm-44-train-kits", "oracle-irm"}
    for space in (5, 9):
        for stem in stem_names(space):
            scored = {r["system"]: r for r in rows if r["space"] == str(space) and r["stem"] == stem
                      and r["output"] == "masked"}
            assert len(scored) == 2
            if scored["oracle-irm"]["silent"] == "True":  # no energy: no SDR, and leakage is measured instead
                assert scored["oracle-irm"]["si_sdr"] == "nan" and float(scored["idm-44-train-kits"]["pes"]) <= 0
                continue
            for metric in ("si_sdr", "nsdr"):
                assert float(scored["oracle-irm"][metric]) > float(scored["idm-44-train-kits"][metric]), \
                    (space, stem, metric)
    assert any(r["output"] == "synth" and r["system"] == "idm-44-train-kits" for r in rows)
    assert not any(r["output"] == "synth" and r["system"] == "oracle-irm" for r in rows)
    onsets = read_csv(out / "onsets.csv")
    assert {r["system"] for r in onsets} == {"idm-44-train-kits"}  # the oracle transcribes nothing
    kick = next(r for r in onsets if r["space"] == "5" and r["stem"] == "kick")
    assert int(kick["n_ref"]) > 0 and 0 <= float(kick["f"]) <= 1
    summary = read_csv(out / "summary.csv")
    headline = [r for r in summary if r["space"] == "5" and r["metric"] == "si_sdr" and r["output"] == "masked"]
    assert len(headline) == 10 and all(r["n"] in ("0", "1") for r in headline)
    text = (out / "summary.md").read_text()
    assert "## 5 classes, masked: SI-SDR" in text and "onset F-measure" in text
    for png in ("bars.png", "bars9.png", "example.png", "confusion/idm-44-train-kits.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    confusion = {r["reference"]: r for r in read_csv(out / "confusion.csv")}  # the oracle transcribes nothing
    assert {r["system"] for r in confusion.values()} == {"idm-44-train-kits"} and len(confusion) == 10
    nine = {r["stem"]: r for r in onsets if r["space"] == "9"}
    for name, row in confusion.items():  # the diagonal is the onset F-measure's true positives
        if name != "false":
            assert row["onsets"] == nine[name]["n_ref"] and row[name] == nine[name]["tp"], name

    # resumable: a second run scores nothing again and writes the same tables
    before = (out / "scores.csv").read_text()
    cached = sorted((out / "cache").rglob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in cached]
    proc = make("eval", *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [p.stat().st_mtime_ns for p in cached] == stamps and (out / "scores.csv").read_text() == before
    proc = make("eval", *args[:-1], "ARGS=-q --silent zero")
    assert proc.returncode == 2 and "other options" in proc.stderr and "silent" in proc.stderr

    # recorded in a room, transcription only: the same tracks, other onsets, no separation, no oracle
    room = tmp_path / "room"
    proc = make("eval", *[a for a in args if not a.startswith(("OUT=", "ARGS="))], f"OUT={room}",
                "ARGS=-q --condition room --transcription-only")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not read_csv(room / "scores.csv") and "recorded in a room" in (room / "summary.md").read_text()
    in_room = read_csv(room / "onsets.csv")
    assert {r["system"] for r in in_room} == {"idm-44-train-kits"} and len(in_room) == len(onsets)
    assert [r["n_ref"] for r in in_room] == [r["n_ref"] for r in onsets]  # the onsets do not move


def write_track(folder: Path, stems: dict, onsets: str = None) -> None:
    folder.mkdir(parents=True)
    for name, audio in stems.items():
        sf.write(str(folder / f"{name}.wav"), audio, 44100, subtype="FLOAT")
    if onsets:
        (folder / "onsets.tsv").write_text(onsets)


def test_a_folder_of_tracks_is_scored_in_its_class_spaces(tmp_path):
    rng = np.random.default_rng(0)
    n = 3 * 44100
    hits = np.zeros(n)
    hits[[22050, 66150]] = 1.0
    kick = np.convolve(hits, np.exp(-np.arange(4410) / 400) * np.sin(np.arange(4410) * 0.02))[:n]
    snare = np.convolve(hits[::-1].copy(), 0.3 * rng.standard_normal(2205) * np.exp(-np.arange(2205) / 300))[:n]
    root = tmp_path / "tracks"
    write_track(root / "a", {"kick": kick, "snare": snare}, "time_s\tclass\tvelocity\n0.5\tKD\t1\n1.5\tkick\t1\n")
    write_track(root / "b", {"kick": kick, "hihat": snare})  # five-group names: scored in 5 classes only
    (root / "notes").mkdir()  # a folder without stems is not a track
    out = tmp_path / "out"
    result = evaluate(root, None, ["oracle-irm"], out, progress=False, notes=lambda line: None)
    rows = read_csv(out / "scores.csv")
    assert {(r["track"], r["space"]) for r in rows} == {("a", "5"), ("a", "9"), ("b", "5")}
    by = {(r["track"], r["space"], r["stem"]): r for r in rows}
    assert float(by[("a", "9", "kick")]["si_sdr"]) > 10 and by[("a", "9", "ride")]["silent"] == "True"
    assert float(by[("b", "5", "hihat")]["si_sdr"]) > 10 and by[("b", "5", "snare")]["silent"] == "True"
    silent_snare = next(r for r in result["separation"] if r["space"] == 5 and r["stem"] == "snare"
                        and r["metric"] == "si_sdr")
    assert silent_snare["n"] == 1 and silent_snare["n_silent"] == 1  # track b's snare is left out and counted
    assert by[("b", "5", "snare")]["lsd"] == "nan" and float(by[("a", "5", "snare")]["lsd"]) >= 0
    leak = next(r for r in result["separation"] if r["space"] == 5 and r["stem"] == "snare"
                and r["metric"] == "pes_silent" and r["output"] == "masked")
    assert leak["n"] == 1 and leak["mean"] == float(by[("b", "5", "snare")]["pes"])  # its own summary column
    summary = (out / "summary.md").read_text()
    assert "## 5 classes, masked: PES of the silent references alone" in summary

    with pytest.raises(ValueError, match="no track folders"):
        evaluate(root / "notes", None, ["oracle-irm"], tmp_path / "none", progress=False)
    with pytest.raises(ValueError, match="not a system name"):
        evaluate(root, None, ["larsnet-nonexistent"], tmp_path / "bad", progress=False)


def test_oracle_information_variants(stemgmd_data, tmp_path, model):
    data = stemgmd_data[0]
    systems = ["idm-44-train-kits+gt-onsets", "idm-44-train-kits+gt-kit"]
    train_kit = evaluate(data, "eval_session_train_kits", systems, tmp_path / "a", progress=False)
    assert train_kit["skipped"] == {}
    assert {r["system"] for r in train_kit["separation"]} == set(systems)
    assert {r["system"] for r in train_kit["transcription"]} == {"idm-44-train-kits+gt-kit"}  # gt onsets: not scored
    test_kit = evaluate(data, "eval_session_test_kits", systems, tmp_path / "b", progress=False,
                        notes=lambda line: None)
    assert test_kit["skipped"] == {"idm-44-train-kits+gt-kit": 1}  # bluebird is not one of the model's kits
    cached = [p for p in (tmp_path / "b" / "cache" / "idm-44-train-kits+gt-kit").rglob("*.json")
              if p.name != "system.json"]
    assert len(cached) == 1 and "kit 'bluebird' is not one of the model's kits (brooklyn, heavy" in cached[0].read_text()

    audio = torch.from_numpy(np.random.default_rng(0).standard_normal(44100).astype(np.float32) * 0.1)
    tr = transcribe(audio, model, kit=2)
    assert tr.kit_probs[0].tolist() == [0, 0, 1, 0, 0, 0]
    with pytest.raises(ValueError, match=r"kit 6 is not one of the model's kits: brooklyn \(0\)"):
        transcribe(audio, model, kit=6)


def test_kits_keeps_one_kits_items(stemgmd_data, tmp_path):
    """`--kits` scores only the named kits' items (a kit held out of training, on a split of several
    kits); a kit without items in the split is a one-line error with nothing written, and results
    of one kit are never mixed into a run of every kit."""
    data, out = stemgmd_data[0], tmp_path / "brooklyn"
    ids = [r["id"] for r in read_csv(data / "manifest.csv") if r["split"] == "eval_session_train_kits"]
    proc = run_module("evaluation.run", data, "--split", "eval_session_train_kits", "--models", "oracle-irm",
                      "--kits", "brooklyn", "--out", out, "-q")
    assert proc.returncode == 0, proc.stderr
    assert {r["track"] for r in read_csv(out / "scores.csv")} == set(ids) and ids
    proc = run_module("evaluation.run", data, "--split", "eval_session_train_kits", "--models", "oracle-irm",
                      "--kits", "bluebird", "--out", tmp_path / "bluebird", "-q")
    assert proc.returncode == 2 and not (tmp_path / "bluebird").exists()
    assert proc.stderr.strip().splitlines() == [
        f"evaluation: error: {data}: no items of kits bluebird in split 'eval_session_train_kits'"]
    proc = run_module("evaluation.run", data, "--split", "eval_session_train_kits", "--models", "oracle-irm",
                      "--out", out, "-q")
    assert proc.returncode == 2 and "holds results computed with other options (kits: ['brooklyn'] -> None)" \
        in proc.stderr
    with pytest.raises(ValueError, match="--kits needs a preprocessed folder"):
        evaluate(tmp_path, None, ["oracle-irm"], tmp_path / "x", progress=False, kits=["brooklyn"])


def test_given_one_shots_variants_read_each_kits_folder(stemgmd_data, tmp_path):
    """`+gt-one-shots` takes ONE_SHOTS/<kit>/ for each track (skipping kits without one), and combines
    with `+gt-onsets`; changing a one-shot file re-evaluates the system."""
    shots = tmp_path / "one_shots" / "brooklyn"
    shots.mkdir(parents=True)
    t = np.arange(22050) / 44100
    sf.write(str(shots / "kick.wav"), (np.sin(2 * np.pi * 50 * t) * np.exp(-8 * t)).astype(np.float32), 44100)
    systems = ["idm-44-train-kits", "idm-44-train-kits+gt-one-shots", "idm-44-train-kits+gt-onsets+gt-one-shots"]
    notes = []
    result = evaluate(stemgmd_data[0], "eval_session_train_kits", systems, tmp_path / "a", progress=False,
                      one_shots=tmp_path / "one_shots", notes=notes.append)
    assert result["skipped"] == {} and {r["system"] for r in result["separation"]} == set(systems)
    kick = {r["system"]: float(r["si_sdr"]) for r in read_csv(tmp_path / "a" / "scores.csv")
            if (r["space"], r["output"], r["stem"]) == ("9", "synth", "kick")}
    assert len(kick) == 3 and kick["idm-44-train-kits"] != kick["idm-44-train-kits+gt-one-shots"]
    test_kit = evaluate(stemgmd_data[0], "eval_session_test_kits", systems[1:2], tmp_path / "b", progress=False,
                        one_shots=tmp_path / "one_shots", notes=notes.append)
    assert test_kit["skipped"] == {"idm-44-train-kits+gt-one-shots": 1}  # no one-shots of bluebird
    sf.write(str(shots / "snare.wav"), 0.5 * np.sin(2 * np.pi * 200 * t).astype(np.float32), 44100)
    evaluate(stemgmd_data[0], "eval_session_train_kits", systems[1:2], tmp_path / "a", progress=False,
             one_shots=tmp_path / "one_shots", notes=notes.append)
    assert any("one-shots changed" in line and "re-evaluating 1 tracks" in line for line in notes), notes


def test_a_named_models_new_weights_drop_its_cached_results(tmp_path, monkeypatch):
    """A model known by name is cached under its registry sha256: a new release of its weights under
    the same name re-evaluates it instead of reporting the old weights' scores."""
    from evaluation.run import _check_system_cache
    from idm.checkpoint import PRETRAINED
    name, notes = "idm-44-recorded-kits+gt-onsets", []
    _check_system_cache(tmp_path, name, None, None, notes.append)
    track = tmp_path / "cache" / name / "drummer1" / "track.json"
    track.parent.mkdir(parents=True)
    track.write_text("{}")
    _check_system_cache(tmp_path, name, None, None, notes.append)
    assert track.is_file() and notes == []
    monkeypatch.setitem(PRETRAINED["idm-44-recorded-kits"], "sha256", "0" * 64)
    _check_system_cache(tmp_path, name, None, None, notes.append)
    assert not track.is_file() and len(notes) == 1 and "re-evaluating 1 tracks" in notes[0], notes
    assert '"checkpoint_sha256": "' + "0" * 64 in (tmp_path / "cache" / name / "system.json").read_text()

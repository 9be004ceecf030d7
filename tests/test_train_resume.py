"""Resuming: k steps, stop, resume to 2k equals 2k steps straight, bit for bit."""

import torch

from test_train_ddp import micro_config, train_worker
from conftest import run_module


def test_resume_is_bit_exact(stemgmd_data, tmp_path):
    folder = stemgmd_data[0]
    common = ["train.batch_size=2", "log.val_every=3", "log.checkpoint_every=100"]
    train_worker(tmp_path / "straight", micro_config(folder, tmp_path / "straight", "train.steps=6", *common))
    split = tmp_path / "split"
    train_worker(split, micro_config(folder, split, "train.steps=3", *common))
    first = torch.load(split / "checkpoints" / "last.pt")
    assert first["step"] == 3
    train_worker(split, micro_config(folder, split, "train.steps=6", *common) + ["--resume"])
    straight, resumed = torch.load(tmp_path / "straight" / "rank0.pt"), torch.load(split / "rank0.pt")
    for name, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][name]), name
    for index, s in straight["optimizer"]["state"].items():
        r = resumed["optimizer"]["state"][index]
        assert all(torch.equal(s[k], r[k]) for k in ("step", "exp_avg", "exp_avg_sq")), index
    assert not torch.equal(first["model"]["transcriber.onset.weight"], resumed["model"]["transcriber.onset.weight"])
    a, b = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt"), torch.load(split / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 6 and a["best_val_loss"] == b["best_val_loss"]
    assert torch.equal(a["rng"][0]["torch"], b["rng"][0]["torch"])


def test_a_finished_run_is_not_overwritten_and_resume_checks_the_model(stemgmd_data, tmp_path):
    folder = stemgmd_data[0]
    out = tmp_path / "run"
    train_worker(out, micro_config(folder, out, "train.steps=1", "train.batch_size=2"))
    before = (out / "checkpoints" / "last.pt").read_bytes()
    proc = run_module("trainer.train", *micro_config(folder, out, "train.steps=2", "train.batch_size=2"))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (f"error: {out}/checkpoints/last.pt exists: pass --resume "
                                                    "to continue that run, or choose another log.out")
    proc = run_module("trainer.train", *micro_config(folder, out, "train.steps=2", "train.batch_size=2",
                                                     "model.synth_channels=6"), "--resume")
    assert proc.returncode == 1
    assert "the checkpoint's model section differs from the config's" in proc.stderr.strip().splitlines()[-1]
    assert (out / "checkpoints" / "last.pt").read_bytes() == before
    proc = run_module("trainer.train", *micro_config(tmp_path / "nowhere", tmp_path / "other", "train.steps=1"))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (f"error: data.folder: {tmp_path}/nowhere/manifest.csv: no "
                                                    "manifest here; run `python -m data.preprocess` first")
    assert not (tmp_path / "other").exists()


def test_resume_never_replaces_a_better_best_checkpoint(stemgmd_data, tmp_path):
    """last.pt can predate the best validation (best.pt written after it): resuming from it keeps the
    lower of the two losses, so a worse validation does not overwrite best.pt."""
    folder, out = stemgmd_data[0], tmp_path / "run"
    common = ["train.batch_size=2", "log.val_every=1", "log.checkpoint_every=2"]
    train_worker(out, micro_config(folder, out, "train.steps=2", *common))
    best, last = out / "checkpoints" / "best.pt", out / "checkpoints" / "last.pt"
    blob = torch.load(best, weights_only=True)
    blob["best_val_loss"] = 0.0  # a model better than anything this run will validate
    torch.save(blob, best)
    blob = torch.load(last, weights_only=True)
    blob["best_val_loss"] = float("inf")  # last.pt knows no validation
    torch.save(blob, last)
    kept = best.read_bytes()
    train_worker(out, micro_config(folder, out, "train.steps=4", *common) + ["--resume"])
    assert best.read_bytes() == kept
    assert torch.load(last, weights_only=True)["best_val_loss"] == 0.0


def test_resume_auto_starts_a_new_run_then_continues_it(stemgmd_data, tmp_path):
    folder, out = stemgmd_data[0], tmp_path / "run"
    last = out / "checkpoints" / "last.pt"
    fresh = run_module("trainer.train", *micro_config(folder, out, "train.steps=1", "train.batch_size=2"),
                       "--resume", "auto")
    assert fresh.returncode == 0 and "resuming" not in fresh.stderr, fresh.stderr[-3000:]
    assert torch.load(last, weights_only=True)["step"] == 1
    again = run_module("trainer.train", *micro_config(folder, out, "train.steps=2", "train.batch_size=2"),
                       "--resume", "auto")
    assert again.returncode == 0 and f"resuming {last} at step 1" in again.stderr, again.stderr[-3000:]
    assert torch.load(last, weights_only=True)["step"] == 2
